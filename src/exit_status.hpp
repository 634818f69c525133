#pragma once

#include <string>

// pidshim's documented exit codes, and how a child's wait status becomes one.
namespace pidshim::exit_code {

inline constexpr int usage = 2;
inline constexpr int timeout = 124;
inline constexpr int internal = 125;
inline constexpr int not_executable = 126;
inline constexpr int not_found = 127;

// WEXITSTATUS, or 128+N when signal N killed the process (the shell's convention).
int from_wait_status(int wait_status);

// "exited with status 3" or "was killed by SIGKILL", for log lines.
std::string describe(int wait_status);

} // namespace pidshim::exit_code
