// A signal that arrives after the launcher exited but before the daemon wrote its pidfile is
// held and delivered once the pidfile names the daemon; it is never dropped.
#include "harness.hpp"

#include <filesystem>

using namespace harness;

PIDSHIM_TEST_MODULE("early signals are held");

namespace {

struct NoPidfileYet : Sandbox {
    NoPidfileYet()
        : shim({pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile,
                "--pidfile-on", "USR2", "--log", log},
               dir) {
        launcher = wait_started(log, "launcher");
        daemon = wait_started(log, "daemon");
        wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher code=0");
    }

    // Sends sig while there is no pidfile, then lets the daemon write it.
    void signal_then_write_pidfile(int sig) {
        // Reaped, so pidshim knows the launcher is gone.
        wait_reaped(launcher);
        shim.signal(sig);
        wait_signal_handled(shim.pid(), sig);
        BOOST_REQUIRE(!std::filesystem::exists(pidfile));
        BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0);
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    Process shim;
    pid_t launcher = -1;
    pid_t daemon = -1;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(hup_before_the_pidfile_is_delivered_after_it, NoPidfileYet) {
    signal_then_write_pidfile(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    long written = line_index(log, "pidfile pid=" + std::to_string(daemon) + " ");
    long got = line_index(log, signal_line_prefix(daemon) + "role=daemon sig=HUP");
    BOOST_CHECK_MESSAGE(written >= 0 && written < got,
                        "HUP reached the daemon before its pidfile existed" << dump(log));
    BOOST_CHECK(shim.running());

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGHUP), 1u);
    check_stderr_format(shim.err());
}

BOOST_FIXTURE_TEST_CASE(term_before_the_pidfile_stops_the_daemon_once_known, NoPidfileYet) {
    signal_then_write_pidfile(SIGTERM);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(!alive(daemon));
    check_stderr_format(shim.err());
}

// The launcher has exited but pidshim may not have collected it yet: the signal must not be
// sent to the dead launcher and lost. A race, so tried several times.
BOOST_AUTO_TEST_CASE(hup_right_after_the_launcher_exited_is_not_lost) {
    for (int round = 0; round < 10; ++round) {
        BOOST_TEST_CONTEXT("round " << round) {
            NoPidfileYet s;
            BOOST_REQUIRE(wait_dead(s.launcher));
            s.shim.signal(SIGHUP);
            wait_signal_handled(s.shim.pid(), SIGHUP);
            BOOST_REQUIRE(kill(s.daemon, SIGUSR2) == 0);
            wait_for_signal(s.log, s.daemon, SIGHUP, 3s);
            s.shim.signal(SIGTERM);
            BOOST_CHECK_EQUAL(s.shim.wait_exit(), 128 + SIGTERM);
        }
    }
}
