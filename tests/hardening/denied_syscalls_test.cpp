// pidshim where the kernel or a sandbox refuses system calls it would rather use: pidfd_open
// (kernels before 5.3; the seccomp profiles of older container runtimes, with ENOSYS or EPERM)
// and inotify_init1 (the per-user limit on inotify instances). deny_syscall installs a seccomp
// filter that makes the named calls fail, then execs pidshim; COMMAND inherits the filter.
//
// Each case runs inside its own PID namespace (see PidNamespace):
//
//   PID 1 testd --spawn (init.log)
//     sh
//       testd, unrelated to pidshim (unrelated.log)
//       deny_syscall ... -- pidshim -v PIDFILE testd ... (app.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("denied system calls");

namespace {

const std::string deny_syscall_bin = DENY_SYSCALL_BIN;

// The longest pause between two looks at a daemon pidshim cannot watch through a pidfd.
constexpr auto longest_recheck = 1s;

const char without_pidfds_script[] = R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$DENY_SYSCALL" "$ERRNO" "$CALLS" -- \
    "$PIDSHIM" -v $PIDSHIM_ARGS "$D/app.pid" "$TESTD" --fork $TESTD_ARGS --log "$D/app.log" &
wait $!
)";

std::vector<std::string> env(const std::string& err, const std::string& pidshim_args,
                             const std::string& testd_args,
                             const std::string& calls = "pidfd_open,pidfd_send_signal") {
    return {"DENY_SYSCALL=" + deny_syscall_bin, "ERRNO=" + err, "CALLS=" + calls,
            "PIDSHIM_ARGS=" + pidshim_args, "TESTD_ARGS=" + testd_args};
}

const std::string no_pidfds = "running without pidfds (pidfd_open: ";

// pidshim really runs under the filter, not beside it.
void require_filtered(pid_t shim) {
    BOOST_REQUIRE_MESSAGE(status_field(shim, "Seccomp") == "2",
                          "pidshim (pid " << shim << ") runs without a seccomp filter");
}

void follow_forward_and_stop(Sandbox& box, const std::string& err, const std::string& calls,
                             const std::string& warning) {
    auto pidfile = box.path("app.pid");
    auto app_log = box.path("app.log");
    auto unrelated_log = box.path("unrelated.log");
    PidNamespace ns(box, without_pidfds_script, env(err, "", "--pidfile " + pidfile, calls));
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_following(ns.proc, pidfile, daemon);
    pid_t shim = ns.pidshim();
    require_filtered(shim);

    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_signal(app_log, daemon, SIGHUP);
    wait_for_line(ns.proc.err_path, warning);
    check_only_markers(
        {{unrelated_log, unrelated, ns.host(unrelated)}, {ns.init_log, 1, ns.host(1)}});

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(app_log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(longest_recheck + prompt), 128 + SIGTERM);
    BOOST_CHECK(signals_of(app_log, daemon) == (std::vector<std::string>{"HUP", "TERM"}));
    auto text = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(text, "pidfd") == 1, "not exactly one warning:\n" << text);
    BOOST_CHECK_MESSAGE(count_lines(text, warning) == 1, "not the warning expected:\n" << text);
    check_stderr_format(text);
}

} // namespace

BOOST_FIXTURE_TEST_CASE(daemon_is_followed_when_pidfd_open_says_enosys, Sandbox) {
    follow_forward_and_stop(*this, "ENOSYS", "pidfd_open,pidfd_send_signal",
                            no_pidfds + std::strerror(ENOSYS) + ")");
}

BOOST_FIXTURE_TEST_CASE(daemon_is_followed_when_pidfd_open_says_eperm, Sandbox) {
    follow_forward_and_stop(*this, "EPERM", "pidfd_open,pidfd_send_signal",
                            no_pidfds + std::strerror(EPERM) + ")");
}

// A sandbox that lets pidfd_open through but not pidfd_send_signal: the pidfd still tells
// whether the daemon lives, and kill() sends.
BOOST_FIXTURE_TEST_CASE(daemon_is_followed_when_only_pidfd_send_signal_says_enosys, Sandbox) {
    follow_forward_and_stop(*this, "ENOSYS", "pidfd_send_signal",
                            std::string("pidfd_send_signal: ") + std::strerror(ENOSYS) +
                                "; signalling with kill() after checking the pidfd");
}

// Without a pidfd nothing wakes pidshim when the daemon dies but its own look at /proc: a
// pidshim that missed the death would wait for ever (there is no --timeout once the daemon
// is known).
BOOST_FIXTURE_TEST_CASE(daemon_exit_is_noticed_without_pidfds, Sandbox) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    PidNamespace ns(*this, without_pidfds_script,
                    env("ENOSYS", "", "--pidfile " + pidfile + " --exit-on USR1 --exit-code 7"));
    pid_t daemon = wait_started(app_log, "daemon");
    wait_following(ns.proc, pidfile, daemon);
    require_filtered(ns.pidshim());

    BOOST_REQUIRE(kill(ns.host(daemon), SIGUSR1) == 0);
    wait_for_exit_line(app_log, daemon);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(longest_recheck + prompt), 7);
    auto text = ns.proc.err();
    BOOST_CHECK_MESSAGE(
        count_lines(text, "pid " + std::to_string(daemon) + " (testd) exited with status 7") == 1,
        "pidshim did not report the daemon's exit:\n"
            << text);
    BOOST_CHECK_EQUAL(count_lines(text, no_pidfds), 1u);
    check_stderr_format(text);
}

BOOST_FIXTURE_TEST_CASE(non_descendant_is_refused_without_pidfds, Sandbox) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    constexpr auto give_up_after = 3s;
    PidNamespace ns(
        *this, without_pidfds_script,
        env("ENOSYS", "--timeout " + std::to_string(give_up_after.count()), "--no-pidfile"));
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    pid_t launcher = wait_started(app_log, "launcher");
    wait_for_line(ns.proc.err_path, "(pid " + std::to_string(launcher) + ") exited with status 0");
    require_filtered(ns.pidshim());

    write_file(pidfile, std::to_string(unrelated) + "\n");
    std::string refusal = wait_for_line(
        ns.proc.err_path,
        [&](const std::string& l) {
            return has_pid_phrase(l, pidfile + ": ignoring pidfile: pid ", unrelated) &&
                   contains(l, "not a descendant");
        },
        "pidshim to refuse the unrelated pid " + std::to_string(unrelated));
    BOOST_TEST_MESSAGE(refusal);
    pid_t shim = ns.pidshim();
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_line(ns.proc.err_path, "holding SIGHUP until " + pidfile);
    wait_signal_handled(shim, SIGHUP);
    check_only_markers({{unrelated_log, unrelated, ns.host(unrelated)},
                        {ns.init_log, 1, ns.host(1)},
                        {app_log, daemon, ns.host(daemon)}});

    BOOST_CHECK_EQUAL(ns.proc.wait_exit(give_up_after + prompt), 124);
    // The daemon, a descendant, was stopped by pidshim, not by the end of the namespace.
    wait_for_line(app_log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    auto text = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(text, "forwarded") == 0, "something was signalled:\n" << text);
    BOOST_CHECK_EQUAL(count_lines(text, no_pidfds), 1u);
    check_stderr_format(text);
}

// The daemon dies and another process gets its pid while pidshim is stopped (SIGSTOP), so
// that pidshim looks again only once the pid names the newcomer: it must tell them apart by
// their start times and signal neither the newcomer nor anyone else. The namespace makes the
// reuse certain: ns_last_pid is set so that the next fork gets the daemon's pid.
BOOST_FIXTURE_TEST_CASE(reused_pid_is_not_signalled_without_pidfds, Sandbox) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    auto newcomer_log = path("newcomer.log");
    auto reuse = path("reuse");
    auto done = path("done");
    BOOST_REQUIRE(mkfifo(reuse.c_str(), 0600) == 0);
    BOOST_REQUIRE(mkfifo(done.c_str(), 0600) == 0);
    // mysqld_safe style: the daemon's parent (testd --wrapper) reaps it, so its pid is free
    // while pidshim is stopped. The namespace outlives pidshim until the test has checked
    // the witnesses.
    PidNamespace ns(*this, R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$DENY_SYSCALL" ENOSYS pidfd_open,pidfd_send_signal -- \
    "$PIDSHIM" -v "$D/app.pid" "$TESTD" --wrapper --pidfile "$D/app.pid" --log "$D/app.log" &
shim=$!
read pid < "$D/reuse"
echo $((pid - 1)) > /proc/sys/kernel/ns_last_pid
"$TESTD" --no-pidfile --log "$D/newcomer.log" &
wait $shim
echo $? > "$D/shim.status"
read x < "$D/done"
)",
                    {"DENY_SYSCALL=" + deny_syscall_bin});
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_following(ns.proc, pidfile, daemon);
    pid_t shim = ns.pidshim();
    require_filtered(shim);
    pid_t daemon_host = ns.host(daemon);

    BOOST_REQUIRE(kill(shim, SIGSTOP) == 0);
    require_eventually([&] { return proc_stat(shim) && proc_stat(shim)->state == 'T'; },
                       "pidshim to stop");
    BOOST_REQUIRE(kill(daemon_host, SIGKILL) == 0);
    wait_reaped(daemon_host);
    int fd = -1;
    require_eventually(
        [&] {
            fd = open(reuse.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            return fd >= 0;
        },
        "the script to wait for the pid to reuse");
    std::string text = std::to_string(daemon) + "\n";
    BOOST_REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);
    pid_t newcomer = wait_started(newcomer_log, "daemon");
    BOOST_REQUIRE_MESSAGE(newcomer == daemon,
                          "the newcomer got pid " << newcomer << ", not " << daemon);

    // Queued while pidshim is stopped: it forwards this, or not, before any other look.
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    BOOST_REQUIRE(kill(shim, SIGCONT) == 0);
    auto status = wait_for_text(
        path("shim.status"), [](const std::string& t) { return !t.empty(); },
        longest_recheck + prompt);
    check_only_markers({{newcomer_log, newcomer, ns.host(newcomer)},
                        {unrelated_log, unrelated, ns.host(unrelated)},
                        {ns.init_log, 1, ns.host(1)}});
    BOOST_REQUIRE_MESSAGE(status, "pidshim did not exit" << dump(ns.proc.err_path));
    // The wrapper ends like its daemon did.
    BOOST_CHECK_EQUAL(std::atoi(status->c_str()), 128 + SIGKILL);

    require_eventually(
        [&] {
            fd = open(done.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            return fd >= 0;
        },
        "the script to wait for the end of the test");
    close(fd);
    ns.proc.wait_exit();
    auto err = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(err, "forwarded") == 0, "something was signalled:\n" << err);
    check_stderr_format(err);
}

// Without inotify (the per-user limit on instances reached, or a sandbox), pidshim says so
// once and still finds the daemon by reading the pidfile again while it waits.
namespace {

void daemon_is_found_without_inotify(Sandbox& box, const std::string& err) {
    auto pidfile = box.path("app.pid");
    auto app_log = box.path("app.log");
    // The pidfile appears well after COMMAND has exited, when pidshim has nothing left to
    // react to but the pidfile itself.
    PidNamespace ns(box, R"(
"$DENY_SYSCALL" "$ERRNO" inotify_init1 -- \
    "$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --pidfile-delay 300 \
    --log "$D/app.log" &
wait $!
)",
                    {"DENY_SYSCALL=" + deny_syscall_bin, "ERRNO=" + err});
    pid_t daemon = wait_started(app_log, "daemon");
    wait_for_line(app_log, "pidfile pid=" + std::to_string(daemon) + " ");
    pid_t shim = ns.pidshim();
    require_filtered(shim);
    wait_following(ns.proc, pidfile, daemon);

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(app_log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    auto text = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(text, "inotify") == 1, "not exactly one warning:\n" << text);
    check_stderr_format(text);
}

} // namespace

BOOST_FIXTURE_TEST_CASE(daemon_is_found_when_inotify_init1_says_enosys, Sandbox) {
    daemon_is_found_without_inotify(*this, "ENOSYS");
}

BOOST_FIXTURE_TEST_CASE(daemon_is_found_when_inotify_init1_says_emfile, Sandbox) {
    daemon_is_found_without_inotify(*this, "EMFILE");
}
