// TERM, INT and QUIT are forwarded, and pidshim stays until the daemon is really gone: a
// supervisor that sees pidshim exit must be able to start a new instance safely.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("stop signals wait for the daemon");

namespace {

const int stop_signals[] = {SIGTERM, SIGINT, SIGQUIT};

// The daemon takes this long to shut down after the stop signal.
const char* const stop_delay_ms = "700";

void stop_and_watch(Sandbox& sb, const std::vector<std::string>& daemon_args, int sig,
                    int expected_exit) {
    auto pidfile = sb.path("app.pid");
    auto log = sb.path("app.log");
    std::vector<std::string> argv{pidshim_bin, "-v",    pidfile, testd_bin,      "--pidfile",
                                  pidfile,     "--log", log,     "--stop-delay", stop_delay_ms};
    argv.insert(argv.end(), daemon_args.begin(), daemon_args.end());
    Process shim(argv, sb.dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    shim.signal(sig);
    wait_for_signal(log, daemon, sig);
    // The daemon is now shutting down slowly. Checked in this order, a daemon still alive
    // after pidshim was seen running proves the two overlapped.
    BOOST_REQUIRE(alive(daemon));
    BOOST_CHECK_MESSAGE(shim.running(), "pidshim exited while the daemon was still stopping");
    BOOST_REQUIRE_MESSAGE(alive(daemon), "the daemon stopped too fast for this test to tell");

    int code = shim.wait_exit();
    BOOST_CHECK_MESSAGE(!alive(daemon), "pidshim exited before the daemon was gone");
    BOOST_CHECK_EQUAL(code, expected_exit);
    BOOST_CHECK_EQUAL(count_signal(log, daemon, sig), 1u);
    BOOST_CHECK(sb.leftovers().empty());
    check_stderr_format(shim.err());
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, forking_daemon_dies_by_the_signal, data::make(stop_signals), sig) {
    stop_and_watch(*this, {"--fork"}, sig, 128 + sig);
}

BOOST_DATA_TEST_CASE_F(Sandbox, forking_daemon_exits_with_a_code, data::make(stop_signals), sig) {
    stop_and_watch(*this, {"--fork", "--stop-exit-code", "0"}, sig, 0);
}

BOOST_FIXTURE_TEST_CASE(daemon_run_directly_is_waited_for_too, Sandbox) {
    stop_and_watch(*this, {"--stop-exit-code", "7"}, SIGTERM, 7);
}
