#include "exit_status.hpp"

#include "signals.hpp"

#include <sys/wait.h>

namespace pidshim::exit_code {

int from_wait_status(int wait_status) {
    if (WIFEXITED(wait_status)) {
        return WEXITSTATUS(wait_status);
    }
    if (WIFSIGNALED(wait_status)) {
        return 128 + WTERMSIG(wait_status);
    }
    return internal;
}

std::string describe(int wait_status) {
    if (WIFEXITED(wait_status)) {
        return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
    }
    if (WIFSIGNALED(wait_status)) {
        return "was killed by " + signal_name(WTERMSIG(wait_status)) +
               (WCOREDUMP(wait_status) ? " (core dumped)" : "");
    }
    return "ended with wait status " + std::to_string(wait_status);
}

} // namespace pidshim::exit_code
