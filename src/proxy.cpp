#include "proxy.hpp"

#include "exit_status.hpp"
#include "log.hpp"
#include "process_tree.hpp"
#include "spawn.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pidshim {
namespace {

// How long leftover processes get between SIGTERM and SIGKILL when --kill-after is not set.
constexpr milliseconds default_grace{5000};

std::string seconds_text(milliseconds ms) {
    auto whole = ms.count() / 1000;
    auto fraction = ms.count() % 1000;
    std::string text = std::to_string(whole);
    if (fraction != 0) {
        std::string digits = std::to_string(1000 + fraction).substr(1);
        while (digits.back() == '0') {
            digits.pop_back();
        }
        text += "." + digits;
    }
    return text + "s";
}

} // namespace

proxy::proxy(boost::asio::io_context& io, options opts)
    : io_(io), opts_(std::move(opts)), signals_(io.get_executor()),
      watch_(io.get_executor(), opts_.pidfile), notifier_(io), timeout_timer_(io), retry_timer_(io),
      kill_timer_(io), grace_timer_(io) {
    int first = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    reserve_.emplace_back(first);
    for (int i = 1; i < 4; ++i) {
        reserve_.emplace_back(::fcntl(first, F_DUPFD_CLOEXEC, 0));
    }
}

bool proxy::enough_descriptors() const {
    // Following a daemon needs a few descriptors at a time: COMMAND's and the daemon's
    // pidfds for as long as they run, and two more to read the pidfile on each signal, or a
    // pidfd and /proc to check a new pid. Failing now is better than failing the first time
    // a signal arrives.
    std::vector<spare_descriptor> probe;
    for (int i = 0; i < 6; ++i) {
        int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            log::error(std::string("too few file descriptors to follow a daemon (") +
                       std::strerror(errno) + "); raise the limit (ulimit -n)");
            return false;
        }
        probe.emplace_back(fd);
    }
    return true;
}

int proxy::run() {
    if (!enough_descriptors()) {
        return exit_code::internal;
    }
    // Signals are queued from before COMMAND starts, so none is lost in between.
    std::vector<int> received = forwarded_signals();
    received.push_back(SIGCHLD);
    std::string failure = signals_.start(received, [this](int signo) { on_signal(signo); });
    if (!failure.empty()) {
        log::error(failure);
        return exit_code::internal;
    }
    auto before = read_pidfile(opts_.pidfile);
    if (before.what == pidfile_content::status::ok) {
        stale_pidfile_ = before.version;
        log::info(opts_.pidfile + ": exists from before start (pid " + std::to_string(before.pid) +
                  "); waiting for it to be rewritten");
    }
    if (!start_command()) {
        return *exit_status_;
    }
    // Watched once COMMAND runs, since adding an inotify watch can take the kernel most of a
    // millisecond; a pidfile written before the watch is in place is read just after it.
    std::string problem = watch_.start([this] { on_pidfile_changed(); });
    if (!problem.empty()) {
        log::warning(problem);
    }
    wait_for_target();
    io_.run();
    return exit_status_.value_or(exit_code::internal);
}

bool proxy::start_command() {
    auto started = spawn_command(opts_.command);
    if (started.pid < 0) {
        log::error(started.error);
        exit_status_ = started.exit_code;
        return false;
    }
    child_pid_ = started.pid;
    log::debug("started " + opts_.command.front() + " as pid " + std::to_string(child_pid_));
    return true;
}

void proxy::wait_for_target() {
    if (opts_.timeout.count() > 0) {
        timeout_timer_.expires_after(opts_.timeout);
        timeout_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                on_timeout();
            }
        });
    }
    notify("STATUS=Waiting for " + opts_.pidfile + " to name the daemon");
    refresh_target();
}

void proxy::on_signal(int signo) {
    if (signo == SIGCHLD) {
        on_children_changed();
    } else {
        forward(signo);
    }
}

void proxy::forward(int received) {
    int signo = opts_.map[received];
    if (signo == signal_map::none) {
        log::debug("dropping " + signal_name(received) + " (--signal-map)");
        return;
    }
    if (is_stop_signal(received) && !stopping_) {
        stopping_ = true;
        notify("STOPPING=1\nSTATUS=Stopping on " + signal_name(received));
        if (opts_.kill_after.count() > 0) {
            kill_timer_.expires_after(opts_.kill_after);
            kill_timer_.async_wait([this](const boost::system::error_code& ec) {
                if (!ec) {
                    on_kill_after();
                }
            });
        }
    }
    if (ending_) {
        log::debug("ignoring " + signal_name(received) + ": the daemon is gone already");
        return;
    }
    bool unchanged = target_ && pidfile_unchanged_since_read() && !target_->exited();
    std::string why = unchanged ? std::string() : refresh_target();
    if (why.empty()) {
        if (deliver(received, signo)) {
            return;
        }
        why = "pid " + std::to_string(target_->pid()) + " is not running";
    } else if (!target_known_ && child_still_running()) {
        // The daemon is not known yet: the command that is starting it is the next best.
        if (::kill(child_pid_, signo) == 0) {
            log::info("forwarded " + signal_name(received) + " to " + opts_.command.front() +
                      " (pid " + std::to_string(child_pid_) + "): " + opts_.pidfile +
                      " does not name the daemon yet");
            return;
        }
    }
    hold(received, signo, why);
}

bool proxy::deliver(int received, int signo) {
    bool to_group = false;
    if (opts_.group) {
        to_group = target_->leads_group();
        if (!to_group && group_warning_pid_ != target_->pid()) {
            group_warning_pid_ = target_->pid();
            log::warning("pid " + std::to_string(target_->pid()) +
                         " does not lead its process group; sending signals to it alone "
                         "(--group)");
        }
    }
    int err = to_group ? target_->send_to_group(signo) : target_->send(signo);
    if (err == ESRCH) {
        return false;
    }
    if (err == 0 && !log::enabled(log::level::info)) {
        return true; // --quiet: no line to compose on the busiest path
    }
    std::string what = signal_name(received);
    if (signo != received) {
        what += " as " + signal_name(signo);
    }
    std::string whom = (to_group ? "process group " : "pid ") + std::to_string(target_->pid());
    if (err != 0) {
        log::warning("cannot send " + what + " to " + whom + ": " + std::strerror(err));
    } else {
        log::info("forwarded " + what + " to " + whom);
    }
    return true;
}

void proxy::hold(int received, int signo, const std::string& why) {
    if (opts_.retry == 0) {
        log::warning("dropping " + signal_name(received) + ": " + opts_.pidfile + ": " + why +
                     " (--retry 0)");
        return;
    }
    // Pending signals coalesce, as the kernel's own do.
    if (std::any_of(held_.begin(), held_.end(),
                    [signo](const held_signal& held) { return held.signo == signo; })) {
        return;
    }
    held_.push_back({received, signo});
    log::info("holding " + signal_name(received) + " until " + opts_.pidfile +
              " names a live daemon (" + why + ")");
    retries_left_ = opts_.retry;
    retry_timer_.expires_after(opts_.retry_interval);
    retry_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            retry_held();
        }
    });
}

void proxy::retry_held() {
    if (held_.empty() || ending_) {
        return;
    }
    std::string why = refresh_target();
    if (why.empty()) {
        deliver_held();
        return;
    }
    if (--retries_left_ == 0) {
        std::string names;
        for (const auto& held : held_) {
            names += (names.empty() ? "" : ", ") + signal_name(held.received);
        }
        log::warning("gave up delivering " + names + " after " + std::to_string(opts_.retry) +
                     " retries: " + opts_.pidfile + ": " + why);
        held_.clear();
        return;
    }
    retry_timer_.expires_after(opts_.retry_interval);
    retry_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            retry_held();
        }
    });
}

void proxy::deliver_held() {
    auto held = std::move(held_);
    held_.clear();
    retry_timer_.cancel();
    for (const auto& signal : held) {
        if (!target_ || !deliver(signal.received, signal.signo)) {
            hold(signal.received, signal.signo, "the daemon exited");
        }
    }
}

// Whether the pidfile is known, without reading it again, to still say what it said when
// it named the pinned daemon.
bool proxy::pidfile_unchanged_since_read() {
    if (watch_.sees_every_change()) {
        return !watch_.drain(); // inotify queues every rewrite
    }
    return settled_version_ && pidfile_unchanged(opts_.pidfile, *settled_version_);
}

std::string proxy::refresh_target() {
    auto content = read_pidfile(opts_.pidfile);
    settled_version_.reset();
    std::optional<file_version> version;
    if (content.settled) {
        version = content.version;
    }
    std::string reason;
    bool quiet = false;
    if (content.what == pidfile_content::status::ok) {
        if (stale_pidfile_ && *stale_pidfile_ == content.version) {
            reason = "it is left from before pidshim started and not rewritten yet";
            quiet = true;
        } else {
            stale_pidfile_.reset();
            if (content.pid == (target_ ? target_->pid() : last_target_pid_)) {
                if (target_ && !target_->exited()) {
                    settled_version_ = version;
                    return {};
                }
                // The daemon that just exited: no news, nothing to refuse.
                return "pid " + std::to_string(content.pid) + " has exited";
            }
            auto pinned = target::pin(io_.get_executor(), content.pid);
            if (pinned.pinned) {
                if (!content.ownership.empty() && !ownership_warned_) {
                    ownership_warned_ = true;
                    log::warning(opts_.pidfile + ": " + content.ownership +
                                 "; trusted only because pid " + std::to_string(content.pid) +
                                 " descends from pidshim");
                }
                settled_version_ = version;
                adopt(std::move(*pinned.pinned));
                return {};
            }
            reason = pinned.refusal;
            if (pinned.out_of_resources && !ending_) {
                stop_everything(exit_code::internal, opts_.pidfile + ": " + reason);
                return reason;
            }
        }
    } else {
        reason = content.reason;
        quiet = content.what == pidfile_content::status::missing;
        if (content.out_of_resources && !ending_) {
            stop_everything(exit_code::internal, opts_.pidfile + ": " + reason);
            return reason;
        }
    }
    if (!quiet) {
        refuse(reason);
    }
    if (target_ && !target_->exited()) {
        // Signals keep reaching the last daemon that was proven, until PIDFILE names another.
        return {};
    }
    return reason;
}

void proxy::refuse(const std::string& reason) {
    if (reason == last_refusal_) {
        return;
    }
    last_refusal_ = reason;
    log::warning(opts_.pidfile + ": ignoring pidfile: " + reason);
}

void proxy::adopt(target pinned) {
    bool first = !target_known_;
    pid_t previous = target_ ? target_->pid() : 0;
    target_.emplace(std::move(pinned));
    target_known_ = true;
    last_target_pid_ = target_->pid();
    target_status_.reset();
    target_name_ = process_tree::describe(target_->pid());
    last_refusal_.clear();
    std::string pid = std::to_string(target_->pid());
    if (previous != 0) {
        log::info(opts_.pidfile + ": following pid " + target_name_ + " (it replaced pid " +
                  std::to_string(previous) + ")");
    } else {
        log::info(opts_.pidfile + ": following pid " + target_name_);
    }
    if (first) {
        timeout_timer_.cancel();
    }
    std::string message = first ? "READY=1\n" : "";
    message += "STATUS=Following pid " + pid + " from " + opts_.pidfile;
    if (opts_.notify_mainpid) {
        message += "\nMAINPID=" + pid;
    }
    notify(message);
    if (!opts_.notify_mainpid) {
        // From now on each signal re-reads the pidfile; only MAINPID= needs to follow a
        // rewrite the moment it happens.
        watch_.pause();
    }
    watch_target_exit();
    deliver_held();
}

void proxy::watch_target_exit() {
    pid_t pid = target_->pid();
    target_->async_wait_exit([this, pid](const boost::system::error_code& ec) {
        if (!ec && target_ && target_->pid() == pid) {
            on_target_exit();
        }
    });
}

void proxy::on_target_exit() {
    reap();
    target_.reset();
    bool resumed = false;
    if (child_running()) {
        // COMMAND may start the daemon again (mysqld_safe restarts mysqld): watch for its pid.
        watch_.resume();
        resumed = true;
    }
    // A daemon that replaced itself (binary upgrade, re-fork) has rewritten PIDFILE to name
    // its successor; unchanged, it still names the daemon that just exited.
    if ((resumed || !pidfile_unchanged_since_read()) && refresh_target().empty()) {
        return;
    }
    std::string how = target_status_ ? exit_code::describe(*target_status_) : "exited";
    log::info("pid " + target_name_ + " " + how);
    finish_when_all_gone();
}

void proxy::on_pidfile_changed() {
    if (!ending_) {
        refresh_target();
    }
}

bool proxy::child_still_running() {
    // A zombie accepts signals and loses them: collect exits not yet seen first.
    reap();
    return child_running();
}

void proxy::on_children_changed() {
    reap();
    finish_when_all_gone();
}

void proxy::reap() {
    while (true) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            if (pid == child_pid_) {
                child_status_ = status;
                log::debug(opts_.command.front() + " (pid " + std::to_string(pid) + ") " +
                           exit_code::describe(status));
            }
            if (pid == last_target_pid_) {
                target_status_ = status;
            }
            continue;
        }
        if (pid < 0 && errno == EINTR) {
            continue;
        }
        no_children_left_ = pid < 0 && errno == ECHILD;
        return;
    }
}

void proxy::finish_when_all_gone() {
    if (ending_) {
        if (no_children_left_) {
            finish(final_status_);
        }
        return;
    }
    if (child_running() || target_) {
        return;
    }
    if (!target_known_) {
        int code = exit_code::from_wait_status(*child_status_);
        if (code != 0) {
            stop_everything(code, opts_.command.front() + " " +
                                      exit_code::describe(*child_status_) + " before " +
                                      opts_.pidfile + " named a daemon");
            return;
        }
        if (!no_children_left_) {
            return; // a forking launcher: its daemon is on its way to write the pidfile
        }
        if (refresh_target().empty()) {
            return;
        }
        stop_everything(1, opts_.command.front() +
                               " exited with status 0 but left no process running, and " +
                               opts_.pidfile + " never named a daemon");
        return;
    }
    int code = target_status_  ? exit_code::from_wait_status(*target_status_)
               : child_status_ ? exit_code::from_wait_status(*child_status_)
                               : 0;
    stop_everything(code, {});
}

void proxy::stop_everything(int exit_code, std::string_view why) {
    ending_ = true;
    final_status_ = exit_code;
    timeout_timer_.cancel();
    retry_timer_.cancel();
    kill_timer_.cancel();
    if (!why.empty()) {
        log::error(std::string(why));
    }
    if (!held_.empty()) {
        log::warning("dropping " + std::to_string(held_.size()) +
                     " held signal(s): the daemon is gone");
        held_.clear();
    }
    reap();
    if (no_children_left_) {
        // Everything a daemon leaves behind becomes pidshim's child: no child, no leftover,
        // and no need to read the whole of /proc.
        finish(exit_code);
        return;
    }
    // Stopping needs a few descriptors (/proc, one pidfd at a time) even when they ran out.
    reserve_.clear();
    auto left = process_tree::descendants_of(::getpid());
    for (pid_t pid : left) {
        auto pinned = target::pin(io_.get_executor(), pid);
        if (pinned.pinned) {
            log::info("sending SIGTERM to leftover process " + process_tree::describe(pid));
            pinned.pinned->send(SIGTERM);
        }
    }
    if (!left.empty()) {
        grace_timer_.expires_after(opts_.kill_after.count() > 0 ? opts_.kill_after : default_grace);
        grace_timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                on_grace_expired();
            }
        });
    }
    reap();
    finish_when_all_gone();
}

void proxy::on_grace_expired() {
    milliseconds grace = opts_.kill_after.count() > 0 ? opts_.kill_after : default_grace;
    for (pid_t pid : process_tree::descendants_of(::getpid())) {
        auto pinned = target::pin(io_.get_executor(), pid);
        if (pinned.pinned) {
            log::warning("sending SIGKILL to leftover process " + process_tree::describe(pid) +
                         ": still running " + seconds_text(grace) + " after SIGTERM");
            pinned.pinned->send(SIGKILL);
        }
    }
}

void proxy::on_timeout() {
    if (target_known_ || ending_) {
        return;
    }
    std::string detail = last_refusal_.empty() ? "" : " (last problem: " + last_refusal_ + ")";
    notify("STATUS=Gave up waiting for " + opts_.pidfile);
    stop_everything(exit_code::timeout, opts_.pidfile + ": no valid daemon pid after " +
                                            seconds_text(opts_.timeout) + " (--timeout)" + detail +
                                            "; stopping what " + opts_.command.front() +
                                            " started");
}

void proxy::on_kill_after() {
    std::string after =
        seconds_text(opts_.kill_after) + " after the stop signal; sending SIGKILL (--kill-after)";
    if (target_ && !target_->exited()) {
        log::warning("pid " + target_name_ + " still running " + after);
        target_->send(SIGKILL);
    }
    if (child_running()) {
        log::warning(opts_.command.front() + " (pid " + std::to_string(child_pid_) +
                     ") still running " + after);
        ::kill(child_pid_, SIGKILL);
    }
}

void proxy::finish(int exit_code) {
    if (exit_status_) {
        return;
    }
    exit_status_ = exit_code;
    io_.stop();
}

void proxy::notify(const std::string& message) {
    notifier_.send(message);
}

} // namespace pidshim
