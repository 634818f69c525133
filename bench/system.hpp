#pragma once

// The operating-system side of the benchmark: processes, pidfds, /proc, binaries.

#include "probe_area.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace pidshim_bench {

// A probe_area in a file on tmpfs; the file is removed with the object.
class shared_area {
  public:
    explicit shared_area(std::string path);
    ~shared_area();
    shared_area(const shared_area&) = delete;
    shared_area& operator=(const shared_area&) = delete;

    probe_area& get() { return *area_; }
    const std::string& path() const { return path_; }
    void reset();

  private:
    std::string path_;
    probe_area* area_ = nullptr;
};

// An owned pidfd. A pidfd stays valid after its process is reaped, so polling it can never
// hit a reused pid.
class pidfd {
  public:
    pidfd() = default;
    explicit pidfd(pid_t pid);
    ~pidfd();
    pidfd(pidfd&& other) noexcept;
    pidfd& operator=(pidfd&& other) noexcept;

    bool valid() const { return fd_ >= 0; }
    // True once the process has exited, waiting at most timeout_ms (0: just look).
    bool wait_exit(int timeout_ms) const;
    void kill(int signo) const;
    // Collects the exit status if the process is our child; harmless otherwise.
    void reap() const;

  private:
    int fd_ = -1;
};

// fork + execv with stdin, stdout and stderr on /dev/null, a clean signal state, and the
// exec time stamped into `area` by the child just before execve. Returns -1 on failure.
pid_t spawn(const std::vector<std::string>& argv, probe_area& area);

// Reaps any child that has exited (orphans re-parented to the harness, a subreaper).
void reap_strays();

// Kills and reaps every child the harness still has. Daemons whose wrapper failed or was
// killed are re-parented to the harness, so this leaves nothing behind.
void kill_children();

// The one-letter state from /proc/PID/stat ('S' sleeping, 'R' running, ...), '?' if gone.
char process_state(pid_t pid);

struct process_status {
    long rss_anon_kb = -1;
    long rss_file_kb = -1;
    long vm_rss_kb = -1;
    long voluntary_switches = -1;
};
std::optional<process_status> read_status(pid_t pid);

// CPU time the process has used so far (/proc/PID/schedstat), also readable for a zombie.
std::optional<std::uint64_t> cpu_time_ns(pid_t pid);

// Absolute path of `name` in PATH, or empty.
std::string find_in_path(const std::string& name);

struct binary_size {
    long loaded_bytes = 0; // sum of the ELF's PT_LOAD segments as stored in the file
    long file_bytes = 0;
    std::string interpreter; // for a #! script: the program that runs it, which is measured
};
std::optional<binary_size> measure_binary(const std::string& path);

// First line a program prints to stdout, for version strings.
std::string first_output_line(const std::vector<std::string>& argv);

std::string machine_description();
std::string utc_now();

void sleep_ns(std::uint64_t ns);

} // namespace pidshim_bench
