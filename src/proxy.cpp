#include "proxy.hpp"

#include "exit_status.hpp"
#include "log.hpp"
#include "process_tree.hpp"
#include "spawn.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pidshim {
namespace {

using clock = std::chrono::steady_clock;

// How long leftover processes get between SIGTERM and SIGKILL when --kill-after is not set.
constexpr milliseconds default_grace{5000};

// While waiting for the daemon, PIDFILE is re-read this often at first, then half as often
// each time, down to once a second: inotify is not told of every write (a file on a network
// file system written elsewhere) and may not be available at all.
constexpr milliseconds first_discovery{50};
constexpr milliseconds slowest_discovery{1000};

// How long a daemon that exits while PIDFILE is empty leaves its successor to write its pid:
// a rewrite in place is a truncation, then a write, microseconds apart on a live machine.
constexpr milliseconds successor_window{1000};

// How long a daemon that exits on its own (no stop was asked for) while processes it started
// still run leaves PIDFILE to name one of them. gunicorn's new master renames its PIDFILE.2 to
// PIDFILE only once it sees the old master gone, and its main loop looks once a second; a
// crashed daemon's workers are stopped this much later than they would be otherwise.
constexpr milliseconds handover_window{3000};

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

template <typename Handler>
void arm(boost::asio::steady_timer& timer, milliseconds after, Handler handler) {
    timer.expires_after(after);
    timer.async_wait([handler](const boost::system::error_code& ec) {
        if (!ec) {
            handler();
        }
    });
}

} // namespace

proxy::proxy(boost::asio::io_context& io, options opts)
    : io_(io), opts_(std::move(opts)), signals_(io.get_executor()), parent_(io),
      watch_(io.get_executor(), opts_.pidfile), pidfile_(opts_.pidfile), notifier_(io),
      timeout_timer_(io), discover_timer_(io), retry_timer_(io), kill_daemon_timer_(io),
      grace_timer_(io), upgrade_timer_(io), upgrade_look_timer_(io) {
    int first = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    reserve_.emplace_back(first);
    for (int i = 1; i < 4; ++i) {
        reserve_.emplace_back(::fcntl(first, F_DUPFD_CLOEXEC, 0));
    }
}

bool proxy::enough_descriptors() const {
    // Following a daemon needs a few descriptors at a time: COMMAND's and the daemon's
    // pidfds for as long as they run, the pidfile kept open, and two more to open it afresh
    // or to check a new pid (a pidfd and /proc). Failing now is better than failing the first
    // time a signal arrives.
    std::vector<spare_descriptor> probe;
    for (int i = 0; i < 7; ++i) {
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
    std::string failure = signals_.start(
        received, [this](int signo, bool from_terminal) { on_signal(signo, from_terminal); });
    if (!failure.empty()) {
        log::error(failure);
        return exit_code::internal;
    }
    watch_parent();
    if (!no_pidfile()) {
        auto before = pidfile_.read();
        if (before.what == pidfile_content::status::ok) {
            stale_ = stale_pidfile{before.version, before.pid};
            log::info(opts_.pidfile + ": exists from before start (pid " +
                      std::to_string(before.pid) + "); waiting for it to be rewritten");
        }
    }
    if (!start_command()) {
        return *exit_status_;
    }
    leave_working_directory();
    if (no_pidfile()) {
        follow_command();
    } else {
        // Watched once COMMAND runs, since adding an inotify watch can take the kernel most
        // of a millisecond; a pidfile written before the watch is in place is read just after.
        std::string problem = watch_.start([this] { discover(); });
        if (!problem.empty()) {
            log::warning(problem);
        }
        enter_waiting(opts_.timeout);
    }
    io_.run();
    return exit_status_.value_or(exit_code::internal);
}

void proxy::watch_parent() {
    if (opts_.parent_death == 0) {
        return;
    }
    std::string problem = parent_.start(opts_.parent_death, [this](pid_t parent) {
        log::info("parent process " + std::to_string(parent) + " exited; acting as if " +
                  signal_name(opts_.parent_death) + " was received (--parent-death)");
        forward(opts_.parent_death);
    });
    if (!problem.empty()) {
        log::warning(problem);
    }
}

bool proxy::start_command() {
    // With --no-pidfile, --group puts COMMAND in a group of its own, for signals to reach.
    auto started = spawn_command(opts_.command, opts_.group && no_pidfile());
    if (started.pid < 0) {
        log::error(started.error);
        exit_status_ = started.exit_code;
        return false;
    }
    child_pid_ = started.pid;
    log::debug("started " + opts_.command.front() + " as pid " + std::to_string(child_pid_));
    // Boost.Process's launcher sets SIGCHLD's disposition back to the default while it runs,
    // and the kernel discards a pending SIGCHLD then: a COMMAND that exited that quickly
    // would never be noticed. One look once the loop runs makes up for it.
    boost::asio::post(io_, [this] { on_children_changed(); });
    return true;
}

// pidshim keeps no directory busy: a mount COMMAND was started in can be unmounted once the
// daemon leaves it. PIDFILE was made absolute before (main); a relative one, where the
// directory could not be named, keeps pidshim where it is.
void proxy::leave_working_directory() {
    if (!no_pidfile() && opts_.pidfile.front() != '/') {
        return;
    }
    if (::chdir("/") != 0) {
        log::debug(std::string("cannot change directory to /: ") + std::strerror(errno));
    }
}

// --no-pidfile: COMMAND is the daemon from its start.
void proxy::follow_command() {
    auto pinned = target::pin(io_.get_executor(), child_pid_);
    if (pinned.pinned) {
        adopt(std::move(*pinned.pinned), {}, origin::command);
        return;
    }
    reap();
    if (!child_status_) {
        // Not gone, yet it cannot be watched: pidshim's own resources ran out.
        end(exit_code::internal, "cannot follow " + opts_.command.front() + " (pid " +
                                     std::to_string(child_pid_) + "): " + pinned.refusal);
        return;
    }
    // Gone already (a launcher that forked and exited at once).
    command_exit_unseen_ = false;
    former_ = former_daemon{child_pid_,
                            {},
                            std::to_string(child_pid_) + " (" + opts_.command.front() + ")",
                            child_status_};
    after_command_daemon_gone();
}

// ---- waiting: learning the daemon ----

void proxy::enter_waiting(milliseconds bound, bool successor_window) {
    phase_ = phase::waiting;
    successor_window_ = successor_window;
    command_exit_unseen_ = false; // whether COMMAND runs is known here
    watch_.resume();
    waiting_bound_ = bound;
    if (bound.count() > 0) {
        arm(timeout_timer_, bound, [this] { on_timeout(); });
    }
    notify("STATUS=Waiting for " + opts_.pidfile + " to name the daemon");
    discover_delay_ = first_discovery;
    discover();
    schedule_discovery();
}

void proxy::schedule_discovery() {
    if (phase_ != phase::waiting) {
        return;
    }
    arm(discover_timer_, discover_delay_, [this] {
        discover_delay_ = std::min(discover_delay_ * 2, slowest_discovery);
        discover();
        schedule_discovery();
    });
}

bool proxy::discover() {
    if (phase_ == phase::upgrading) {
        look_for_new_master(); // PIDFILE names the new master now, not the daemon's successor
        return false;
    }
    if (phase_ == phase::ending || no_pidfile()) {
        return false;
    }
    auto seen = observe();
    bool alive = seen.what == sighting::kind::current;
    act_on(std::move(seen));
    return alive;
}

proxy::sighting proxy::observe() {
    sighting seen;
    seen.content = pidfile_.read();
    const auto& content = seen.content;
    switch (content.what) {
    case pidfile_content::status::missing:
    case pidfile_content::status::unwritten:
        seen.reason = content.reason;
        return seen;
    case pidfile_content::status::invalid:
        seen.what = sighting::kind::refused;
        seen.reason = content.reason;
        seen.out_of_descriptors = content.out_of_descriptors;
        return seen;
    case pidfile_content::status::ok:
        break;
    }
    if (stale_ && stale_->version == content.version && stale_->pid == content.pid) {
        seen.what = sighting::kind::stale;
        seen.reason = "it is left from before pidshim started and not rewritten yet";
        return seen;
    }
    if (target_ && content.pid == target_->pid()) {
        if (!target_->exited()) {
            seen.what = sighting::kind::current;
            return seen;
        }
        seen.what = sighting::kind::gone;
        seen.reason = "pid " + std::to_string(content.pid) + " has exited";
        return seen;
    }
    // Where timestamps are coarse a rewrite can keep the version, and the new daemon is then
    // refused until PIDFILE changes again: never a signal to the wrong process.
    if (former_ && content.pid == former_->pid && content.version == former_->version) {
        seen.what = sighting::kind::gone;
        seen.reason = "pid " + std::to_string(content.pid) + " has exited";
        return seen;
    }
    auto pinned = target::pin(io_.get_executor(), content.pid);
    if (!pinned.pinned) {
        seen.what = sighting::kind::refused;
        seen.reason = pinned.refusal;
        seen.out_of_descriptors = pinned.out_of_resources;
        return seen;
    }
    seen.what = sighting::kind::candidate;
    seen.pinned = std::move(pinned.pinned);
    return seen;
}

void proxy::act_on(sighting seen) {
    if (seen.what != sighting::kind::stale && seen.content.what == pidfile_content::status::ok) {
        stale_.reset();
    }
    switch (seen.what) {
    case sighting::kind::candidate:
        if (!seen.content.ownership.empty() && !ownership_warned_) {
            ownership_warned_ = true;
            log::warning(opts_.pidfile + ": " + seen.content.ownership +
                         "; trusted only because pid " + std::to_string(seen.content.pid) +
                         " descends from pidshim");
        }
        adopt(std::move(*seen.pinned), seen.content.version, origin::pidfile);
        return;
    case sighting::kind::current:
        target_version_ = seen.content.version;
        return;
    case sighting::kind::refused:
        if (seen.out_of_descriptors && phase_ == phase::waiting) {
            // pidshim's own limit: no later read will do better, and no daemon is known.
            end(exit_code::internal, opts_.pidfile + ": " + seen.reason);
            return;
        }
        refuse(seen.reason);
        return;
    case sighting::kind::nothing:
        // Empty for a moment is a pidfile being written; still empty after a second, it is
        // worth a line.
        if (seen.content.what == pidfile_content::status::unwritten &&
            discover_delay_ >= slowest_discovery) {
            refuse(seen.reason);
        }
        return;
    case sighting::kind::stale:
    case sighting::kind::gone:
        return;
    }
}

void proxy::refuse(const std::string& reason) {
    if (reason == last_refusal_) {
        return;
    }
    last_refusal_ = reason;
    std::string still =
        target_ ? "; still following pid " + std::to_string(target_->pid()) : std::string();
    log::warning(opts_.pidfile + ": ignoring pidfile: " + reason + still);
}

void proxy::adopt(target pinned, const file_version& version, origin from) {
    if (target_) {
        former_ = former_daemon{target_->pid(), target_version_, target_name_, target_status_};
    }
    target_status_.reset();
    pid_t previous = former_ ? former_->pid : 0;
    target_.emplace(std::move(pinned));
    ++generation_;
    target_version_ = version;
    target_name_ = process_tree::describe(target_->pid());
    last_refusal_.clear();
    std::string pid = std::to_string(target_->pid());
    switch (from) {
    case origin::pidfile:
        log::info(opts_.pidfile + ": following pid " + target_name_ +
                  (previous != 0 ? " (it replaced pid " + std::to_string(previous) + ")" : ""));
        break;
    case origin::command:
        log::info("following pid " + target_name_ + ", COMMAND itself (--no-pidfile)");
        break;
    case origin::upgrade:
        log::info("upgrade: following the new master " + target_name_);
        break;
    case origin::left_behind:
        log::info("pid " + former_->name +
                  " exited with status 0 and left one process: following pid " + target_name_ +
                  " as the daemon (--no-pidfile)");
        break;
    }
    // After an upgrade the service is ready again, as it was after the first daemon.
    bool first = !daemon_seen_ || from == origin::upgrade;
    daemon_seen_ = true;
    if (phase_ == phase::waiting) {
        phase_ = phase::following;
        timeout_timer_.cancel();
        discover_timer_.cancel();
    }
    std::string message = first ? "READY=1\n" : "";
    message += "STATUS=Following pid " + pid + (no_pidfile() ? "" : " from " + opts_.pidfile);
    if (opts_.notify_mainpid) {
        message += "\nMAINPID=" + pid;
    }
    notify(message);
    if (!opts_.notify_mainpid && !no_pidfile()) {
        // From now on each signal re-reads the pidfile; only MAINPID= needs to follow a
        // rewrite the moment it happens.
        watch_.pause();
    }
    watch_target_exit();
    deliver_held();
    if (stop_ && target_ && stop_given_to_ != generation_ && !target_->exited()) {
        // The stop asked for earlier: its "forwarded" line says it went to this daemon too.
        deliver(stop_->received, stop_->signo);
    }
}

// ---- signals ----

void proxy::on_signal(int signo, bool from_terminal) {
    if (signo == SIGCHLD) {
        on_children_changed();
        return;
    }
    if (opts_.parent_death != 0 && parent_.sent_by_kernel(signo)) {
        log::info("parent process " + std::to_string(parent_.parent()) + " exited; acting as if " +
                  signal_name(signo) + " was received (--parent-death)");
    }
    forward(signo);
    if (from_terminal && (signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU) &&
        opts_.map[signo] != signal_map::none) {
        // Job control, as dumb-init does it: Ctrl-Z (or a background job touching the
        // terminal) stops the job, and pidshim is part of it; the shell's SIGCONT resumes
        // pidshim, which passes it on. A TSTP sent with kill() is only passed on, so that a
        // supervisor's later stop still finds pidshim awake.
        if (::getpid() == 1) {
            // The kernel does not let the init of a PID namespace stop itself.
            log::debug(signal_name(signo) + " came from the terminal; pidshim, PID 1, cannot stop");
        } else {
            log::debug("stopping with the job: " + signal_name(signo) + " came from the terminal");
            (void)::kill(::getpid(), SIGSTOP);
        }
    }
}

void proxy::forward(int received) {
    int signo = opts_.map[received];
    if (signo == signal_map::none) {
        log::debug("dropping " + signal_name(received) + " (--signal-map)");
        return;
    }
    bool stop = is_stop_signal(received);
    if (stop && opts_.schedule.first_signal() != 0) {
        signo = opts_.schedule.first_signal(); // --stop-schedule's first step
    }
    if (phase_ == phase::ending) {
        log::debug("ignoring " + signal_name(received) + ": the daemon is gone already");
        return;
    }
    bool seen_alive = false;
    if (phase_ != phase::waiting) {
        // PIDFILE is read again, never trusted unchanged: where file times are coarse a
        // rewrite leaves size and times as they were, and inotify is not told of a write
        // another host makes on a network file system.
        seen_alive = discover();
    }
    if (phase_ == phase::upgrading && stop && new_master_) {
        // Both masters serve: the new one is stopped first, so that the old one, still the
        // one followed, is the last to go.
        int err = new_master_->pinned.send(signo);
        if (err == 0) {
            log::info("forwarded " + signal_name(received) + " to the new master " +
                      new_master_->name + " (upgrade stopped)");
        }
    }
    if (phase_ == phase::upgrading && stop) {
        abandon_upgrade({});
    }
    if (opts_.upgrade_signal != 0 && signo == opts_.upgrade_signal && !stop) {
        if (phase_ == phase::upgrading) {
            log::warning("upgrade: already upgrading pid " + std::to_string(target_->pid()) +
                         "; ignoring " + signal_name(received));
            return;
        }
        if (phase_ == phase::following && !target_->exited()) {
            start_upgrade(received, signo);
            return;
        }
    }
    if (stop && !stop_) {
        stop_ = stop_request{received, signo};
        notify("STOPPING=1\nSTATUS=Stopping on " + signal_name(received));
    }
    if (phase_ == phase::following || phase_ == phase::upgrading || phase_ == phase::stopping) {
        // An exited daemon not reaped yet (pidshim's child) takes a signal and loses it: the
        // signal is held for its successor instead.
        if ((seen_alive || !target_->exited()) && deliver(received, signo)) {
            return;
        }
        hold(received, signo, "pid " + std::to_string(target_->pid()) + " is not running");
        return;
    }
    if (phase_ != phase::waiting) {
        return;
    }
    bool given_to_command = false;
    if (child_still_running()) {
        // The daemon is not known yet: the command that is starting it is the next best.
        if (::kill(child_pid_, signo) == 0) {
            log::info("forwarded " + signal_name(received) + " to " + opts_.command.front() +
                      " (pid " + std::to_string(child_pid_) + "): " + opts_.pidfile +
                      " does not name the daemon yet");
            if (!stop) {
                return;
            }
            given_to_command = true;
        }
    }
    hold(received, signo, waiting_reason());
    if (given_to_command && !held_.empty() && held_.back().signo == signo) {
        held_.back().given_to_command = true;
    }
}

std::string proxy::pidfile_says() const {
    return no_pidfile() ? "the next daemon is known" : opts_.pidfile + " names a live daemon";
}

std::string proxy::waiting_reason() const {
    return last_refusal_.empty() ? "it does not name a live daemon yet" : last_refusal_;
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
    if (err == 0 && is_stop_signal(received)) {
        stop_given();
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

// ---- upgrading: nginx's, gunicorn's and unicorn's binary upgrade ----

void proxy::start_upgrade(int received, int signo) {
    int err = target_->send(signo);
    std::string old = std::to_string(target_->pid());
    if (err != 0) {
        log::warning("upgrade: cannot send " + signal_name(signo) + " to pid " + old + ": " +
                     std::strerror(err));
        return;
    }
    (void)received;
    log::info("upgrade: sent " + signal_name(signo) + " to pid " + old);
    phase_ = phase::upgrading;
    notify("RELOADING=1\nSTATUS=Upgrading pid " + old);
    arm(upgrade_timer_, opts_.upgrade_timeout, [this] {
        abandon_upgrade("no new master in " + opts_.pidfile + " or " + opts_.pidfile +
                        ".2 within " + seconds_text(opts_.upgrade_timeout));
    });
    watch_.resume();
    upgrade_look_delay_ = first_discovery;
    look_for_new_master();
    schedule_upgrade_look();
}

void proxy::schedule_upgrade_look() {
    if (phase_ != phase::upgrading || new_master_) {
        return;
    }
    arm(upgrade_look_timer_, upgrade_look_delay_, [this] {
        upgrade_look_delay_ = std::min(upgrade_look_delay_ * 2, slowest_discovery / 2);
        look_for_new_master();
        schedule_upgrade_look();
    });
}

// The new master names itself in PIDFILE (nginx, unicorn: the old one has renamed it to
// PIDFILE.oldbin) or in PIDFILE.2 (gunicorn, which renames it to PIDFILE once the old master
// has gone).
void proxy::look_for_new_master() {
    if (phase_ != phase::upgrading || new_master_) {
        return;
    }
    for (const auto& path : {opts_.pidfile, opts_.pidfile + ".2"}) {
        auto content = read_pidfile(path);
        if (content.what != pidfile_content::status::ok || content.pid == target_->pid()) {
            continue;
        }
        auto pinned = target::pin(io_.get_executor(), content.pid);
        if (pinned.pinned) {
            found_new_master(std::move(*pinned.pinned), content.version);
            return;
        }
    }
}

void proxy::found_new_master(target pinned, const file_version& version) {
    upgrade_look_timer_.cancel();
    std::string name = process_tree::describe(pinned.pid());
    new_master_.emplace(new_master{std::move(pinned), name, version});
    log::info("upgrade: new master " + name);
    notify("STATUS=Upgrading pid " + std::to_string(target_->pid()) + ": new master " + name);
    pid_t pid = new_master_->pinned.pid();
    new_master_->pinned.async_wait_exit([this, pid](const boost::system::error_code& ec) {
        if (!ec && phase_ == phase::upgrading && new_master_ && new_master_->pinned.pid() == pid) {
            abandon_upgrade("new master " + new_master_->name + " exited before it settled");
        }
    });
    arm(upgrade_timer_, opts_.upgrade_settle, [this] { retire_old_master(); });
}

void proxy::retire_old_master() {
    if (phase_ != phase::upgrading || !new_master_ || new_master_->pinned.exited()) {
        return;
    }
    auto master = std::move(*new_master_);
    new_master_.reset();
    if (!target_->exited() && target_->send(opts_.retire_signal) == 0) {
        log::info("upgrade: retired pid " + std::to_string(target_->pid()) + " with " +
                  signal_name(opts_.retire_signal));
    }
    // Its exit is expected now: not the daemon's end, and its status not pidshim's.
    phase_ = phase::following;
    adopt(std::move(master.pinned), master.version, origin::upgrade);
}

// The old master serves on, untouched; WHY is empty when a stop ends the upgrade.
void proxy::abandon_upgrade(const std::string& why) {
    if (phase_ != phase::upgrading) {
        return;
    }
    upgrade_timer_.cancel();
    upgrade_look_timer_.cancel();
    new_master_.reset();
    phase_ = phase::following;
    if (!opts_.notify_mainpid) {
        watch_.pause();
    }
    if (why.empty()) {
        return;
    }
    log::warning("upgrade abandoned: " + why + "; still following pid " + target_name_);
    notify("READY=1\nSTATUS=Following pid " + std::to_string(target_->pid()) + " from " +
           opts_.pidfile + " (upgrade abandoned)");
}

// The current daemon has been given a stop signal: from now on SIGKILL may follow it.
void proxy::stop_given() {
    if (phase_ == phase::following) {
        phase_ = phase::stopping;
    }
    if (stop_given_to_ == generation_) {
        return;
    }
    stop_given_to_ = generation_;
    next_stop_step(generation_, 0);
}

// The daemon of GENERATION got the signal of step SENT of the stop schedule: the next step
// comes after that step's wait, unless the daemon is gone by then (or replaced).
void proxy::next_stop_step(unsigned generation, std::size_t sent) {
    const auto& schedule = opts_.schedule;
    if (sent >= schedule.steps.size() || !schedule.steps[sent].wait) {
        return; // no schedule, or its last wait is "forever"
    }
    milliseconds wait = *schedule.steps[sent].wait;
    arm(kill_daemon_timer_, wait, [this, generation, sent, wait] {
        if (!target_ || generation_ != generation || target_->exited()) {
            return;
        }
        const auto& steps = opts_.schedule.steps;
        int previous = steps[sent].signo != 0 ? steps[sent].signo : stop_->signo;
        if (sent + 1 == steps.size()) {
            // The operator's schedule has no further step: pidshim says so and leaves, as
            // start-stop-daemon does, rather than send a signal nobody asked for.
            phase_ = phase::ending;
            log::error("pid " + target_name_ + " still running after the stop schedule " +
                       opts_.schedule.text + " ran out; exiting " +
                       std::to_string(exit_code::timeout) + " and leaving it running");
            finish(exit_code::timeout);
            return;
        }
        int signo = steps[sent + 1].signo;
        std::string why = opts_.schedule.from_kill_after
                              ? std::string("--kill-after")
                              : "--stop-schedule step " + std::to_string(sent + 2) + " of " +
                                    std::to_string(steps.size());
        log::warning("pid " + target_name_ + " still running " + seconds_text(wait) + " after " +
                     signal_name(previous) + "; sending " + signal_name(signo) + " (" + why + ")");
        bool to_group = opts_.group && target_->leads_group();
        (void)(to_group ? target_->send_to_group(signo) : target_->send(signo));
        next_stop_step(generation, sent + 1);
    });
}

void proxy::hold(int received, int signo, const std::string& why) {
    bool stop = is_stop_signal(received);
    if (!stop && opts_.retry == 0) {
        log::warning("dropping " + signal_name(received) + ": " +
                     (no_pidfile() ? "" : opts_.pidfile + ": ") + why + " (--retry 0)");
        return;
    }
    // Pending standard signals coalesce, as the kernel's own do; real-time ones queue.
    if (!is_queued_signal(signo) &&
        std::any_of(held_.begin(), held_.end(),
                    [signo](const held_signal& held) { return held.signo == signo; })) {
        return;
    }
    std::optional<clock::time_point> deadline;
    if (!stop) {
        deadline = clock::now() + opts_.retry_interval * opts_.retry;
    }
    held_.push_back({received, signo, deadline});
    log::info("holding " + signal_name(received) + " until " + pidfile_says() + " (" + why + ")" +
              (stop ? "; a stop is kept until then" : ""));
    arm_retry();
}

void proxy::arm_retry() {
    if (retry_armed_) {
        return;
    }
    retry_armed_ = true;
    arm(retry_timer_, opts_.retry_interval, [this] { on_retry(); });
}

void proxy::on_retry() {
    retry_armed_ = false;
    if (phase_ == phase::ending || held_.empty()) {
        return;
    }
    auto now = clock::now();
    std::string names;
    std::erase_if(held_, [&](const held_signal& held) {
        bool expired = held.deadline && *held.deadline <= now;
        if (expired) {
            names += (names.empty() ? "" : ", ") + signal_name(held.received);
        }
        return expired;
    });
    if (!names.empty()) {
        log::warning("gave up delivering " + names + " after " + std::to_string(opts_.retry) +
                     " retries: " + opts_.pidfile + ": " + waiting_reason());
    }
    if (phase_ == phase::waiting) {
        discover();
    } else if (target_) {
        deliver_held();
    }
    // A held stop needs no retries: it waits for the next daemon, which discovery finds.
    if (std::any_of(held_.begin(), held_.end(),
                    [](const held_signal& held) { return held.deadline.has_value(); })) {
        arm_retry();
    }
}

void proxy::deliver_held() {
    auto held = std::move(held_);
    held_.clear();
    for (const auto& signal : held) {
        if (signal.given_to_command && target_ && target_->pid() == child_pid_ && child_running()) {
            // COMMAND is the daemon and had this stop already: a second TERM or INT is
            // "hurry" to many programs.
            stop_given();
            continue;
        }
        if (!target_ || !deliver(signal.received, signal.signo)) {
            // cppcheck-suppress useStlAlgorithm ; delivering is the point, not filtering
            held_.push_back(signal); // the daemon exited meanwhile: kept for its successor
        }
    }
    if (!held_.empty()) {
        arm_retry();
    }
}

// ---- the daemon's and COMMAND's exits ----

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
    if (phase_ == phase::upgrading) {
        upgrade_timer_.cancel();
        upgrade_look_timer_.cancel();
        if (new_master_ && !new_master_->pinned.exited()) {
            // The old master left before it was retired: the new one serves already.
            auto master = std::move(*new_master_);
            new_master_.reset();
            log::info("upgrade: pid " + target_name_ + " exited before it was retired");
            phase_ = phase::following;
            adopt(std::move(master.pinned), master.version, origin::upgrade);
            return;
        }
        new_master_.reset();
        phase_ = phase::following;
        if (!opts_.notify_mainpid) {
            watch_.pause();
        }
    }
    former_ = former_daemon{target_->pid(), target_version_, target_name_, target_status_};
    target_.reset();
    if (no_pidfile()) {
        after_command_daemon_gone();
        return;
    }
    // A daemon that replaced itself (binary upgrade, re-fork) has rewritten PIDFILE to name
    // its successor: always read again, never judged unchanged by its times.
    auto seen = observe();
    if (seen.what == sighting::kind::candidate) {
        act_on(std::move(seen));
        return;
    }
    std::string how = former_->status ? exit_code::describe(*former_->status) : "exited";
    log::info("pid " + former_->name + " " + how);
    after_daemon_gone(seen);
}

// The daemon is gone and PIDFILE, as SEEN, names no successor: whether one may still come.
void proxy::after_daemon_gone(const sighting& seen) {
    if (child_running()) {
        // COMMAND may start the daemon again (mysqld_safe restarts mysqld).
        enter_waiting(opts_.timeout);
        return;
    }
    if (no_children_left_) {
        end(former_status(), {}); // nothing left that PIDFILE could name
        return;
    }
    if (phase_ == phase::waiting && successor_window_) {
        return; // the window is open already
    }
    if (seen.content.what == pidfile_content::status::unwritten) {
        // PIDFILE is being rewritten in place (truncated, not yet written) by a successor the
        // daemon started as it left: a moment to name it, rather than a SIGTERM as a leftover.
        log::info(opts_.pidfile + " is empty; waiting up to " + seconds_text(successor_window) +
                  " for it to name a successor");
        enter_waiting(successor_window, true);
        return;
    }
    if (!stop_) {
        // The daemon left on its own and what it started runs on: a successor (gunicorn's new
        // master) may name itself only now that it has gone.
        log::info("what pid " + former_->name + " started is still running; waiting up to " +
                  seconds_text(handover_window) + " for " + opts_.pidfile + " to name a successor");
        enter_waiting(handover_window, true);
        return;
    }
    end(former_status(), {});
}

// --no-pidfile: the daemon (COMMAND, or the process it left) is gone. A forking launcher
// exits 0 and leaves its daemon, which became pidshim's child; exactly one such process is
// the daemon, as systemd's GuessMainPID= has it. Between several, pidshim does not guess.
void proxy::after_command_daemon_gone() {
    std::string gone =
        "pid " + former_->name + " " +
        (former_->status ? exit_code::describe(*former_->status) : std::string("exited"));
    reap();
    bool clean =
        former_->status && WIFEXITED(*former_->status) && WEXITSTATUS(*former_->status) == 0;
    std::vector<pid_t> left;
    if (clean) {
        left = process_tree::children_of(::getpid());
    }
    if (left.size() == 1) {
        auto pinned = target::pin(io_.get_executor(), left.front());
        if (pinned.pinned) {
            adopt(std::move(*pinned.pinned), {}, origin::left_behind);
            return;
        }
    }
    if (left.size() > 1 && !stop_) {
        std::string names;
        for (pid_t pid : left) {
            names += (names.empty() ? "" : ", ") + process_tree::describe(pid);
        }
        end(1, gone + " and left " + std::to_string(left.size()) + " processes: " + names +
                   "; cannot tell which is the daemon (give its PIDFILE instead of "
                   "--no-pidfile); stopping them");
        return;
    }
    log::info(gone);
    end(former_status(), {});
}

// The status pidshim exits with when the daemon is gone: the daemon's, or COMMAND's, after
// --exit-map.
int proxy::former_status() const {
    int status = former_ && former_->status ? exit_code::from_wait_status(*former_->status)
                 : child_status_            ? exit_code::from_wait_status(*child_status_)
                                            : 0;
    return mapped(status);
}

bool proxy::child_still_running() {
    // A zombie accepts signals and loses them: collect exits not yet seen first.
    reap();
    return child_running();
}

void proxy::on_children_changed() {
    reap();
    if (target_) {
        target_->recheck(); // without pidfds, a child's exit is seen here first
    }
    if (phase_ == phase::ending) {
        if (no_children_left_) {
            finish(final_status_);
        }
        return;
    }
    if (phase_ == phase::waiting && (command_exit_unseen_ || no_children_left_)) {
        on_command_exit();
    }
}

// Waiting, and COMMAND may have exited: whether anything can still write PIDFILE.
void proxy::on_command_exit() {
    if (child_running()) {
        return;
    }
    command_exit_unseen_ = false;
    int code = exit_code::from_wait_status(*child_status_);
    if (daemon_seen_) {
        // The daemon exited before COMMAND did (a wrapper that ends with its daemon, or
        // mysqld_safe giving up restarting it), or with it: a successor may be writing
        // PIDFILE right now.
        auto seen = observe();
        if (seen.what == sighting::kind::candidate) {
            act_on(std::move(seen));
            return;
        }
        after_daemon_gone(seen);
        return;
    }
    std::string command = opts_.command.front();
    if (stop_ && !no_children_left_) {
        // Stopped while starting, and what it started lives on: the stop is held for the
        // daemon, which gets it, and --kill-after's time, once PIDFILE names it.
        return;
    }
    if (code != 0) {
        std::string why = command + " " + exit_code::describe(*child_status_) + " before " +
                          opts_.pidfile + " named a daemon";
        if (stop_) {
            log::info(why);
            why.clear();
        }
        end(mapped(code), why);
        return;
    }
    if (!no_children_left_) {
        return; // a forking launcher: its daemon is on its way to write the pidfile
    }
    if (stop_) {
        end(mapped(0), {}); // stopped before it had started a daemon: nothing is left to stop
        return;
    }
    end(1, command + " exited with status 0 but left no process running, and " + opts_.pidfile +
               " never named a daemon");
}

void proxy::reap() {
    while (true) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            if (pid == child_pid_) {
                child_status_ = status;
                command_exit_unseen_ = true;
                log::debug(opts_.command.front() + " (pid " + std::to_string(pid) + ") " +
                           exit_code::describe(status));
            }
            if (target_ && pid == target_->pid()) {
                target_status_ = status; // before its pidfd tells of the exit
            } else if (former_ && pid == former_->pid) {
                former_->status = status;
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

void proxy::on_timeout() {
    if (phase_ != phase::waiting) {
        return;
    }
    if (daemon_seen_ && !child_running()) {
        // The window for a successor closed: the daemon's own end, as if it had none.
        log::info(opts_.pidfile + " named no successor within " + seconds_text(waiting_bound_));
        end(former_status(), {});
        return;
    }
    std::string detail = last_refusal_.empty() ? "" : " (last problem: " + last_refusal_ + ")";
    notify("STATUS=Gave up waiting for " + opts_.pidfile);
    end(exit_code::timeout, opts_.pidfile + ": no valid daemon pid after " +
                                seconds_text(opts_.timeout) + " (--timeout)" + detail +
                                "; stopping what " + opts_.command.front() + " started");
}

// ---- ending ----

void proxy::end(int exit_code, std::string_view why) {
    phase_ = phase::ending;
    final_status_ = exit_code;
    timeout_timer_.cancel();
    discover_timer_.cancel();
    retry_timer_.cancel();
    kill_daemon_timer_.cancel();
    upgrade_timer_.cancel();
    upgrade_look_timer_.cancel();
    new_master_.reset();
    if (!why.empty()) {
        log::error(std::string(why));
    }
    // A held stop is done with: what is left is stopped now.
    std::erase_if(held_, [](const held_signal& held) { return !held.deadline; });
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
    signal_leftovers();
    arm(grace_timer_, opts_.kill_after.count() > 0 ? opts_.kill_after : default_grace,
        [this] { on_grace_expired(); });
    reap();
    if (no_children_left_) {
        finish(exit_code);
    }
}

// SIGTERM to each leftover seen for the first time, SIGKILL to those that had their SIGTERM
// and the grace period since.
void proxy::signal_leftovers() {
    milliseconds grace = opts_.kill_after.count() > 0 ? opts_.kill_after : default_grace;
    for (pid_t pid : process_tree::descendants_of(::getpid())) {
        bool warned = std::find(termed_.begin(), termed_.end(), pid) != termed_.end();
        int signo = warned ? SIGKILL : SIGTERM;
        auto pinned = target::pin(io_.get_executor(), pid);
        int err = 0;
        if (pinned.pinned) {
            err = pinned.pinned->send(signo);
        } else if (process_tree::parent_of(pid) == ::getpid()) {
            // Cannot be pinned (no descriptor, no memory), but pidshim's own child: its pid
            // stays its own until pidshim reaps it.
            err = ::kill(pid, signo) == 0 ? 0 : errno;
        } else {
            continue;
        }
        if (err != 0) {
            continue;
        }
        std::string who = process_tree::describe(pid);
        if (warned) {
            log::warning("sending SIGKILL to leftover process " + who + ": still running " +
                         seconds_text(grace) + " after SIGTERM");
        } else {
            termed_.push_back(pid);
            log::info("sending SIGTERM to leftover process " + who);
        }
    }
}

void proxy::on_grace_expired() {
    // Repeated until no child is left: a process forked after the last look gets its
    // SIGTERM, and its SIGKILL a grace period later.
    signal_leftovers();
    arm(grace_timer_, opts_.kill_after.count() > 0 ? opts_.kill_after : default_grace,
        [this] { on_grace_expired(); });
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
