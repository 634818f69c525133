// nginx's binary upgrade: the master forks a new master, which rewrites the pidfile, and the
// old master exits. pidshim must stay and follow the new master.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("binary upgrade is followed");

BOOST_DATA_TEST_CASE_F(Sandbox, new_master_is_followed, data::make({true, false}), forking) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    std::vector<std::string> argv{pidshim_bin, "-v",          pidfile, testd_bin, "--pidfile",
                                  pidfile,     "--reexec-on", "USR2",  "--log",   log};
    if (forking) {
        argv.push_back("--fork");
    }
    Process shim(argv, dir);
    pid_t old_master = wait_started(log, "daemon");
    wait_following(shim, pidfile, old_master);

    shim.signal(SIGUSR2);
    pid_t new_master = wait_started(log, "master");
    wait_for_line(log, "exit pid=" + std::to_string(old_master) + " ");
    BOOST_REQUIRE(wait_dead(old_master));
    BOOST_CHECK_MESSAGE(shim.running(), "pidshim exited with the old master");

    shim.signal(SIGHUP);
    wait_for_signal(log, new_master, SIGHUP);
    shim.signal(SIGTERM);
    wait_for_signal(log, new_master, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(!alive(new_master));
    BOOST_CHECK_MESSAGE(!contains(shim.err(), "leftover"),
                        "the new master was treated as a leftover" << dump(shim.err_path));
    check_stderr_format(shim.err());
}
