#include "target.hpp"

#include "process_tree.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pidshim {
namespace {

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
}

int pidfd_send_signal(int pidfd, int signo) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0U));
}

bool has_exited(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

} // namespace

target::pin_result target::pin(const boost::asio::any_io_executor& executor, pid_t pid) {
    if (pid == ::getpid()) {
        return {std::nullopt, "pid " + std::to_string(pid) + " is pidshim itself"};
    }
    int fd = pidfd_open(pid);
    if (fd < 0) {
        if (errno == ESRCH) {
            return {std::nullopt, "pid " + std::to_string(pid) + " is not running"};
        }
        int err = errno;
        return {std::nullopt, "cannot watch pid " + std::to_string(pid) + ": " + std::strerror(err),
                err == EMFILE || err == ENFILE || err == ENOMEM};
    }
    boost::asio::posix::stream_descriptor pidfd(executor, fd);
    if (has_exited(fd)) {
        return {std::nullopt, "pid " + std::to_string(pid) + " is not running"};
    }
    if (!process_tree::is_descendant(pid, ::getpid())) {
        std::string who = process_tree::describe(pid);
        // Checked after the pidfd is open: if the process still lives now, /proc described
        // the pinned process and not a successor that reused its pid.
        if (has_exited(fd)) {
            return {std::nullopt, "pid " + std::to_string(pid) + " is not running"};
        }
        return {std::nullopt, "pid " + who + " is not a descendant of pidshim (pid " +
                                  std::to_string(::getpid()) + "); refusing to signal it"};
    }
    if (has_exited(fd)) {
        return {std::nullopt, "pid " + std::to_string(pid) + " is not running"};
    }
    return {target(std::move(pidfd), pid), {}};
}

bool target::exited() {
    return has_exited(pidfd_.native_handle());
}

bool target::leads_group() const {
    return ::getpgid(pid_) == pid_;
}

int target::send(int signo) {
    return pidfd_send_signal(pidfd_.native_handle(), signo) == 0 ? 0 : errno;
}

int target::send_to_group(int signo) {
    // There is no pidfd for a group; the leader's pidfd proves it is alive, and a group id
    // cannot be reused while its leader lives.
    if (exited()) {
        return ESRCH;
    }
    return ::kill(-pid_, signo) == 0 ? 0 : errno;
}

} // namespace pidshim
