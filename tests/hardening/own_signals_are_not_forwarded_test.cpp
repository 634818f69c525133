// A signal the kernel sends pidshim about pidshim itself is not a request to pass on: when
// pidshim's stderr is a log file already past the service's file-size limit (RLIMIT_FSIZE),
// each line it writes raises SIGXFSZ in pidshim, and the daemon must not get it (its default
// action kills the daemon).
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("own signals are not forwarded");

BOOST_FIXTURE_TEST_CASE(own_sigxfsz_is_not_forwarded, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    auto shim_log = path("shim.log");
    constexpr int limit = 4096;
    write_file(shim_log, std::string(limit + 904, '#') + "\n");
    auto size_before = std::filesystem::file_size(shim_log);
    // pidshim writes to the end of shim.log (append mode), past the limit. COMMAND, and so
    // the daemon, writes its stderr elsewhere: only pidshim's writes hit the limit.
    Process shim({"sh", "-c",
                  "exec prlimit --fsize=" + std::to_string(limit) + " \"$@\" 2>>\"$D/shim.log\"",
                  "sh", pidshim_bin, "-v", pidfile, "sh", "-c", "exec \"$@\" 2>/dev/null", "sh",
                  testd_bin, "--fork", "--pidfile", pidfile, "--log", log},
                 dir, SpawnOptions().with_env({"D=" + dir}));
    // pidshim writes its first lines while COMMAND is still the shell: a SIGXFSZ passed on
    // then kills COMMAND before the daemon starts.
    require_eventually([&] { return !started(log, "daemon").empty() || !shim.running(); },
                       "the daemon to start or pidshim to exit");
    if (started(log, "daemon").empty()) {
        int code = *shim.try_wait(0s);
        BOOST_FAIL("pidshim exited with status "
                   << code << " before the daemon started"
                   << (code > 128 ? ": COMMAND was killed by SIG" + signame(code - 128) : ""));
    }
    pid_t daemon = wait_started(log, "daemon");
    pid_t launcher = wait_started(log, "launcher");
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    // pidshim's stderr cannot tell when it follows the daemon; once the launcher is gone and
    // the pidfile written, a signal can only go to the daemon.
    BOOST_REQUIRE(wait_dead(launcher));
    BOOST_REQUIRE_MESSAGE(exe_of(shim.pid()) == std::filesystem::canonical(pidshim_bin),
                          "pid " << shim.pid() << " is not pidshim");

    // pidshim's line about this HUP (-v) is refused: SIGXFSZ.
    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    wait_signal_handled(shim.pid(), SIGHUP);
    BOOST_REQUIRE_MESSAGE(std::filesystem::file_size(shim_log) == size_before,
                          "pidshim's stderr grew past the limit: this run cannot tell");
    // Whatever pidshim did with its SIGXFSZ it did before it went idle, and so before this
    // marker reaches the daemon.
    shim.signal(SIGWINCH);
    wait_for_signal(log, daemon, SIGWINCH);

    shim.signal(SIGTERM);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) ==
                            (std::vector<std::string>{"HUP", "WINCH", "TERM"}),
                        "the daemon got a signal nobody sent it" << dump(log));
    BOOST_CHECK(leftovers().empty());
}
