// mysqld_safe style: the direct child is a wrapper that ignores signals and runs the real
// daemon as its child. Signals must reach the daemon named in the pidfile, not the wrapper.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("wrapper signals reach the daemon");

namespace {

struct Wrapped : Sandbox {
    Wrapped()
        : shim({pidshim_bin, "-v", pidfile, testd_bin, "--wrapper", "--pidfile", pidfile, "--log",
                log},
               dir) {
        wrapper = wait_started(log, "wrapper");
        daemon = wait_started(log, "daemon");
        wait_following(shim, pidfile, daemon);
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    Process shim;
    pid_t wrapper = -1;
    pid_t daemon = -1;
};

const int reload_signals[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH};

} // namespace

BOOST_DATA_TEST_CASE_F(Wrapped, signal_reaches_the_daemon_not_the_wrapper,
                       data::make(reload_signals), sig) {
    shim.signal(sig);
    wait_for_signal(log, daemon, sig);

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    // Everything has exited: the logs are complete.
    BOOST_CHECK_EQUAL(count_signal(log, daemon, sig), 1u);
    auto wrapper_got = signals_of(log, wrapper);
    BOOST_CHECK_MESSAGE(wrapper_got.empty(), "the wrapper got signals" << dump(log));
}

BOOST_FIXTURE_TEST_CASE(term_stops_daemon_and_wrapper, Wrapped) {
    shim.signal(SIGTERM);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(!alive(daemon));
    BOOST_CHECK(!alive(wrapper));
    wait_for_line(log, "exit pid=" + std::to_string(wrapper) + " role=wrapper");
    BOOST_CHECK(signals_of(log, wrapper).empty());
    check_stderr_format(shim.err());
}
