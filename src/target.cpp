#include "target.hpp"

#include "log.hpp"
#include "process_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <new>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pidshim {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds longest_check{1000};

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

// Set once pidfd_open said ENOSYS or EPERM: it will not work for any later pid either.
bool pidfds_unavailable = false;

void warn_once(bool& said, const std::string& message) {
    if (!said) {
        said = true;
        log::warning(message);
    }
}

bool said_no_pidfds = false;
bool said_no_epoll = false;
bool said_no_pidfd_signal = false;

// What /proc/PID/stat says about a process, for identifying it without a pidfd.
struct identity {
    enum class kind { alive, gone, unknown } what = kind::unknown;
    unsigned long long start_time = 0;
    int error = 0; // with unknown: why /proc could not be read
};

identity read_identity(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/stat";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT || err == ESRCH) {
            return {identity::kind::gone};
        }
        return {identity::kind::unknown, 0, err};
    }
    char buffer[1024];
    ssize_t n = 0;
    do {
        n = ::read(fd, buffer, sizeof buffer);
    } while (n < 0 && errno == EINTR);
    int err = errno;
    ::close(fd);
    if (n <= 0) {
        // A process reaped after the open reads as nothing, or as ESRCH.
        if (n == 0 || err == ESRCH) {
            return {identity::kind::gone};
        }
        return {identity::kind::unknown, 0, err};
    }
    // The name in parentheses may contain anything, so parse from the last ')'. Field 3 (the
    // state) follows it; the start time is field 22.
    std::string_view text(buffer, static_cast<std::size_t>(n));
    auto close = text.rfind(')');
    if (close == std::string_view::npos || close + 2 >= text.size()) {
        return {identity::kind::unknown, 0, EIO};
    }
    char state = text[close + 2];
    if (state == 'Z' || state == 'X' || state == 'x') {
        return {identity::kind::gone};
    }
    std::size_t at = close + 2;
    for (int field = 3; field < 22; ++field) {
        at = text.find(' ', at);
        if (at == std::string_view::npos) {
            return {identity::kind::unknown, 0, EIO};
        }
        ++at;
    }
    unsigned long long start = 0;
    if (std::from_chars(text.data() + at, text.data() + text.size(), start).ec != std::errc{}) {
        return {identity::kind::unknown, 0, EIO};
    }
    return {identity::kind::alive, start};
}

std::string not_running(pid_t pid) {
    return "pid " + std::to_string(pid) + " is not running";
}

// pidshim's own descriptor limit: no later attempt will do better. ENFILE and ENOMEM pass.
bool is_resource_error(int err) {
    return err == EMFILE;
}

std::string not_a_descendant(const std::string& who) {
    return "pid " + who + " is not a descendant of pidshim (pid " + std::to_string(::getpid()) +
           "); refusing to signal it";
}

} // namespace

target::pin_result target::pin(const boost::asio::any_io_executor& executor, pid_t pid) {
    try {
        if (pid == ::getpid()) {
            return {std::nullopt, "pid " + std::to_string(pid) + " is pidshim itself"};
        }
        auto s = std::make_shared<state>(executor, pid);
        if (!pidfds_unavailable) {
            int fd = pidfd_open(pid);
            if (fd < 0) {
                int err = errno;
                if (err == ESRCH) {
                    return {std::nullopt, not_running(pid)};
                }
                if (err != ENOSYS && err != EPERM) {
                    return {std::nullopt,
                            "cannot watch pid " + std::to_string(pid) + ": " + std::strerror(err),
                            is_resource_error(err)};
                }
                pidfds_unavailable = true;
                warn_once(said_no_pidfds,
                          std::string("running without pidfds (pidfd_open: ") + std::strerror(err) +
                              "): a pid is checked against its start time in /proc before "
                              "each signal, and a daemon's exit is noticed by polling");
            } else {
                boost::system::error_code ec;
                s->pidfd.emplace(executor);
                // Registering with epoll can fail (ENOMEM, ENOSPC): the pidfd is then closed
                // and the process is watched through /proc.
                s->pidfd->assign(fd, ec);
                if (ec) {
                    s->pidfd.reset();
                    ::close(fd);
                    warn_once(said_no_epoll, "cannot watch pid " + std::to_string(pid) +
                                                 " through a pidfd (epoll: " + ec.message() +
                                                 "); watching it through /proc instead");
                }
            }
        }

        if (s->pidfd) {
            int fd = s->pidfd->native_handle();
            if (has_exited(fd)) {
                return {std::nullopt, not_running(pid)};
            }
            if (!process_tree::is_descendant(pid, ::getpid())) {
                std::string who = process_tree::describe(pid);
                // Checked after the pidfd is open: if the process still lives now, /proc
                // described the pinned process and not a successor that reused its pid.
                if (has_exited(fd)) {
                    return {std::nullopt, not_running(pid)};
                }
                return {std::nullopt, not_a_descendant(who)};
            }
            if (has_exited(fd)) {
                return {std::nullopt, not_running(pid)};
            }
            return {target(std::move(s)), {}};
        }

        // Without a pidfd, the same checks; the start time read before and after them shows
        // that they were made about one process.
        identity before = read_identity(pid);
        if (before.what == identity::kind::gone) {
            return {std::nullopt, not_running(pid)};
        }
        if (before.what == identity::kind::unknown) {
            return {std::nullopt,
                    "cannot watch pid " + std::to_string(pid) + ": " + std::strerror(before.error),
                    is_resource_error(before.error)};
        }
        bool descends = process_tree::is_descendant(pid, ::getpid());
        std::string who = descends ? std::string() : process_tree::describe(pid);
        identity after = read_identity(pid);
        if (after.what == identity::kind::unknown) {
            return {std::nullopt,
                    "cannot watch pid " + std::to_string(pid) + ": " + std::strerror(after.error),
                    is_resource_error(after.error)};
        }
        if (after.what == identity::kind::gone || after.start_time != before.start_time) {
            return {std::nullopt, not_running(pid)};
        }
        if (!descends) {
            return {std::nullopt, not_a_descendant(who)};
        }
        s->start_time = before.start_time;
        return {target(std::move(s)), {}};
    } catch (const std::bad_alloc&) {
        return {std::nullopt, "cannot watch pid " + std::to_string(pid) + ": out of memory", true};
    } catch (const std::exception& e) {
        return {std::nullopt, "cannot watch pid " + std::to_string(pid) + ": " + e.what(), true};
    }
}

bool target::exited() {
    return ended(*state_);
}

bool target::ended(state& s) {
    if (s.pidfd) {
        return has_exited(s.pidfd->native_handle());
    }
    if (!s.dead) {
        identity now = read_identity(s.pid);
        // When /proc cannot be read, the process is taken to live on: pidshim must not end
        // while its daemon may still run.
        s.dead = now.what == identity::kind::gone ||
                 (now.what == identity::kind::alive && now.start_time != s.start_time);
    }
    return s.dead;
}

bool target::leads_group() const {
    return ::getpgid(state_->pid) == state_->pid;
}

int target::send(int signo) {
    if (state_->pidfd) {
        if (pidfd_send_signal(state_->pidfd->native_handle(), signo) == 0) {
            return 0;
        }
        int err = errno;
        // pidfd_open worked but pidfd_send_signal is filtered (a seccomp profile): the pidfd
        // still tells whether the process lives. EPERM may also be a real refusal, which
        // kill() then repeats.
        if (err != ENOSYS && err != EPERM) {
            return err;
        }
        if (exited()) {
            return ESRCH;
        }
        if (::kill(state_->pid, signo) != 0) {
            return errno;
        }
        warn_once(said_no_pidfd_signal, std::string("pidfd_send_signal: ") + std::strerror(err) +
                                            "; signalling with kill() after checking the pidfd");
        return 0;
    }
    identity now = read_identity(state_->pid);
    if (now.what == identity::kind::unknown) {
        return now.error;
    }
    if (now.what == identity::kind::gone || now.start_time != state_->start_time) {
        state_->dead = true;
        return ESRCH;
    }
    return ::kill(state_->pid, signo) == 0 ? 0 : errno;
}

int target::send_to_group(int signo) {
    // There is no pidfd for a group; the leader's pidfd (or start time) proves it is alive,
    // and a group id cannot be reused while its leader lives.
    if (exited()) {
        return ESRCH;
    }
    return ::kill(-state_->pid, signo) == 0 ? 0 : errno;
}

void target::recheck() {
    if (!state_->pidfd) {
        // Wakes the pending waits, which look at /proc and wait again if it is still alive.
        state_->timer.cancel();
    }
}

void target::wait_without_pidfd(const std::shared_ptr<state>& s, exit_handler handler) {
    if (s->timer.expiry() <= boost::asio::steady_timer::clock_type::now()) {
        // One schedule shared by every wait: the first to wake after a tick sets the next.
        s->timer.expires_after(s->next_check);
        s->next_check = std::min(s->next_check * 2, longest_check);
    }
    std::weak_ptr<state> weak = s;
    s->timer.async_wait(
        [weak, handler = std::move(handler)](const boost::system::error_code&) mutable {
            auto alive = weak.lock();
            if (!alive) {
                handler(boost::asio::error::operation_aborted);
                return;
            }
            if (ended(*alive)) {
                handler(boost::system::error_code{});
                return;
            }
            wait_without_pidfd(alive, std::move(handler));
        });
}

} // namespace pidshim
