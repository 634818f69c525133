// Only the first line of the pidfile is the pid: PostgreSQL's postmaster.pid has more lines,
// and some daemons write no newline at all.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("multi - line pidfile");

namespace {

const char* const contents[] = {
    // As PostgreSQL 15 writes postmaster.pid.
    "%p\\n/var/lib/postgresql/15/main\\n1700000000\\n5432\\n/var/run/postgresql\\n*\\n"
    "  5432001         0\\nready   \\n",
    "%p",
};

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, first_line_names_the_daemon, data::make(contents), content) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", pidfile, testd_bin, "--fork", "--pidfile", pidfile,
                  "--pidfile-content", content, "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);
    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_MESSAGE(!contains(shim.err(), "ignoring pidfile"), dump(shim.err_path));
    check_stderr_format(shim.err());
}
