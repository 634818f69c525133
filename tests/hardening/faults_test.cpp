// Faults around a running pidshim: the pidfile vanishes, a signal storm hits during
// --kill-after, stderr cannot be written, pidshim itself is SIGKILLed.
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("faults");

namespace {

// pidshim started through `sh -c SETUP`, which ends by exec'ing it: the Process is pidshim,
// with whatever stderr SETUP gave it.
std::vector<std::string> through_shell(const std::string& setup, std::vector<std::string> argv) {
    std::vector<std::string> out = {"sh", "-c", setup + "\nexec \"$@\"", "sh"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

// Logging fails on every line (-v makes many), and pidshim must go on: forward, stop, exit
// with the daemon's status.
void check_works_without_stderr(Sandbox& box, const std::string& setup,
                                const std::function<void(pid_t)>& check_stderr_broken) {
    auto pidfile = box.path("app.pid");
    auto log = box.path("app.log");
    Process shim(through_shell(setup, {pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile",
                                       pidfile, "--log", log}),
                 box.dir, SpawnOptions().with_env({"D=" + box.dir}).named("shell"));
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    check_stderr_broken(shim.pid());
    // pidshim's stderr cannot tell when it follows the daemon; once the launcher is gone and
    // the pidfile written, a signal can only go to the daemon.
    BOOST_REQUIRE(wait_dead(launcher));

    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    shim.signal(SIGTERM);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK_MESSAGE(shim.err().empty(), "the shell failed to set up stderr:" << shim.err());
    BOOST_CHECK(box.leftovers().empty());
}

} // namespace

BOOST_FIXTURE_TEST_CASE(deleted_pidfile_signals_still_reach_the_daemon, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile,
                  "--exit-on", "USR2", "--exit-code", "42", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    BOOST_REQUIRE(unlink(pidfile.c_str()) == 0);
    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    // The daemon ends by itself, without a pidfile to say so.
    BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 42);
    BOOST_CHECK(leftovers().empty());
    BOOST_CHECK_EQUAL(count_lines(shim.err(), "ignoring pidfile"), 0u);
    check_stderr_format(shim.err());
}

BOOST_FIXTURE_TEST_CASE(kill_after_fires_on_time_under_a_signal_storm, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "--kill-after", "1", pidfile, testd_bin, "--fork", "--pidfile",
                  pidfile, "--ignore", "TERM", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    shim.signal(SIGTERM);
    auto term_sent = Clock::now();
    int failed = 0;
    for (int i = 0; i < 10000; ++i) {
        failed += kill(shim.pid(), SIGUSR1) != 0;
    }
    BOOST_REQUIRE_EQUAL(failed, 0);
    BOOST_TEST_MESSAGE("10000 SIGUSR1 sent in " << seconds(Clock::now() - term_sent) << " s");

    BOOST_CHECK_EQUAL(shim.wait_exit(5s), 128 + SIGKILL);
    auto took = shim.exited_at() - term_sent;
    BOOST_TEST_MESSAGE("pidshim exited " << seconds(took) << " s after SIGTERM");
    BOOST_CHECK_MESSAGE(took >= 1s, "SIGKILL came before --kill-after: " << seconds(took) << " s");
    BOOST_CHECK_MESSAGE(took < 5s, "SIGKILL came late: " << seconds(took) << " s");
    // 137 is also what a SIGKILLed pidshim would return; these lines say pidshim exited by
    // itself with the daemon's status.
    auto err = shim.err();
    BOOST_CHECK_MESSAGE(count_lines(err, "sending SIGKILL (--kill-after)") == 1, err);
    BOOST_CHECK_MESSAGE(count_lines(err, "was killed by SIGKILL") == 1, err);
    BOOST_CHECK(wait_dead(daemon));
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGTERM), 1u);
    BOOST_CHECK_GE(count_signal(log, daemon, SIGUSR1), 1u);
    BOOST_CHECK(leftovers().empty());
    check_stderr_format(err);
}

BOOST_FIXTURE_TEST_CASE(stderr_on_dev_full_does_not_stop_pidshim, Sandbox) {
    check_works_without_stderr(*this, "exec 2>/dev/full", [](pid_t shim) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink("/proc/" + std::to_string(shim) + "/fd/2", ec);
        BOOST_REQUIRE_EQUAL(target.string(), "/dev/full");
    });
}

BOOST_FIXTURE_TEST_CASE(stderr_on_a_closed_pipe_does_not_stop_pidshim, Sandbox) {
    // The FIFO is held open for reading only until stderr is open for writing; from then on
    // nobody reads, and each write fails with EPIPE and raises SIGPIPE.
    auto fifo = path("stderr.fifo");
    check_works_without_stderr(*this,
                               "mkfifo \"$D/stderr.fifo\" || exit 1\n"
                               "exec 3<>\"$D/stderr.fifo\"\n"
                               "exec 2>\"$D/stderr.fifo\" 3<&-",
                               [&](pid_t) {
                                   int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
                                   int err = errno;
                                   if (fd >= 0) {
                                       close(fd);
                                   }
                                   BOOST_REQUIRE_MESSAGE(fd < 0 && err == ENXIO,
                                                         "pidshim's stderr still has a reader");
                               });
}

BOOST_FIXTURE_TEST_CASE(sigkilled_pidshim_leaves_command_a_sigterm, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    // COMMAND is the daemon itself, in the foreground: pidshim's direct child.
    Process shim({pidshim_bin, "-v", pidfile, testd_bin, "--pidfile", pidfile, "--log", log}, dir);
    auto start = wait_for_event(
        log, [](const Event& e) { return e.kind == "start"; }, "COMMAND to start");
    pid_t command = start.pid();
    BOOST_REQUIRE_EQUAL(start.get("ppid"), std::to_string(shim.pid()));
    wait_following(shim, pidfile, command);

    shim.signal(SIGKILL);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGKILL);
    wait_for_signal(log, command, SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(command) + " role=daemon sig=TERM");
    // testd logs its exit just before it dies of the signal.
    BOOST_CHECK_MESSAGE(eventually([&] { return leftovers().empty(); }),
                        "still running:" << describe(leftovers()));
}
