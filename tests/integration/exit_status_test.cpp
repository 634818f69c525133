// When the daemon ends on its own, pidshim ends promptly with the daemon's status, so the
// supervisor sees the crash and can restart it.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("exit status");

namespace {

// "A couple of seconds": no timing promise beyond that.
constexpr auto promptly = 3s;

enum class Start { forking, direct };
enum class End { exit_3, sigkill };

std::ostream& operator<<(std::ostream& o, Start s) {
    return o << (s == Start::forking ? "forking daemon" : "daemon run directly");
}
std::ostream& operator<<(std::ostream& o, End e) {
    return o << (e == End::exit_3 ? "exits 3" : "dies by SIGKILL");
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, pidshim_exits_with_the_daemons_status,
                       data::make({Start::forking, Start::direct}) *
                           data::make({End::exit_3, End::sigkill}),
                       start, end) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    std::vector<std::string> argv{pidshim_bin, "-v", pidfile,     testd_bin, "--pidfile",   pidfile,
                                  "--log",     log,  "--exit-on", "USR1",    "--exit-code", "3"};
    if (start == Start::forking) {
        argv.push_back("--fork");
    }
    Process shim(argv, dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);

    // Straight to the daemon: pidshim plays no part in the daemon's end.
    BOOST_REQUIRE(kill(daemon, end == End::exit_3 ? SIGUSR1 : SIGKILL) == 0);
    int code = shim.wait_exit(promptly);
    BOOST_CHECK_EQUAL(code, end == End::exit_3 ? 3 : 128 + SIGKILL);
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
}

BOOST_FIXTURE_TEST_CASE(start_failure_before_the_pidfile_is_the_direct_childs_status, Sandbox) {
    auto pidfile = path("app.pid");
    Process shim(
        {pidshim_bin, pidfile, testd_bin, "--no-pidfile", "--exit-after", "0", "--exit-code", "5"},
        dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(promptly), 5);
    check_stderr_format(shim.err());
}

BOOST_FIXTURE_TEST_CASE(failing_launcher_is_the_status, Sandbox) {
    auto pidfile = path("app.pid");
    Process shim(
        {pidshim_bin, pidfile, testd_bin, "--fork", "--launcher-exit", "4", "--no-pidfile"}, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(promptly), 4);
    check_stderr_format(shim.err());
}
