// Signals 32 and 33, which glibc keeps for itself and has no names for, neither end pidshim
// nor cut the daemon loose: they are forwarded like real-time signals.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("signals 32 and 33 are forwarded");

namespace {

const int unnamed_signals[] = {32, 33};

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, signal_reaches_the_daemon_and_pidshim_stays,
                       data::make(unnamed_signals), sig) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim(
        {pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log}, dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    // Sent with kill(2), as another process would.
    BOOST_REQUIRE(kill(shim.pid(), sig) == 0);
    const std::string got = signal_line_prefix(daemon) + "role=daemon sig=" + std::to_string(sig);
    eventually([&] { return contains(slurp(log), got) || !shim.running(); });
    if (auto code = shim.try_wait(0ms)) {
        BOOST_FAIL("pidshim exited " << *code << " on signal " << sig
                                     << ", leaving the daemon behind" << dump(shim.err_path));
    }
    wait_for_line(log, got);

    // Still following the daemon.
    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(lines_with(slurp(log), got).size(), 1u);
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left running:" << describe(leftovers()));
    check_stderr_format(shim.err());
}
