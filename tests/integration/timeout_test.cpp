// --timeout: when the pidfile never names a valid target, pidshim gives up with 124 and
// stops what it started.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("timeout");

namespace {

enum class Never { direct_child_runs, forked_daemon_runs, pidfile_stays_garbage };

std::ostream& operator<<(std::ostream& o, Never n) {
    switch (n) {
    case Never::direct_child_runs:
        return o << "no pidfile, the direct child runs on";
    case Never::forked_daemon_runs:
        return o << "no pidfile, a forked daemon runs on";
    case Never::pidfile_stays_garbage:
        return o << "the pidfile never holds a pid";
    }
    return o;
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, exits_124_and_stops_what_it_started,
                       data::make({Never::direct_child_runs, Never::forked_daemon_runs,
                                   Never::pidfile_stays_garbage}),
                       never) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    std::vector<std::string> argv{pidshim_bin, "--timeout", "1", pidfile, testd_bin, "--log", log};
    switch (never) {
    case Never::direct_child_runs:
        argv.insert(argv.end(), {"--no-pidfile"});
        break;
    case Never::forked_daemon_runs:
        argv.insert(argv.end(), {"--fork", "--no-pidfile"});
        break;
    case Never::pidfile_stays_garbage:
        argv.insert(argv.end(), {"--fork", "--pidfile", pidfile, "--pidfile-content", "abc"});
        break;
    }
    auto started_at = Clock::now();
    Process shim(argv, dir);
    pid_t daemon = wait_started(log, "daemon");

    int code = shim.wait_exit(8s);
    BOOST_CHECK_EQUAL(code, 124);
    BOOST_CHECK_MESSAGE(shim.exited_at() - started_at >= 900ms, "gave up before --timeout");
    auto err = shim.err();
    auto lines = lines_with(err, "--timeout");
    BOOST_CHECK_MESSAGE(!lines.empty() && contains(lines.front(), pidfile),
                        "no timeout message naming the pidfile" << dump(shim.err_path));
    BOOST_CHECK_MESSAGE(wait_dead(daemon, 2s), "the daemon was left running");
    BOOST_CHECK_MESSAGE(eventually([&] { return leftovers().empty(); }, 2s),
                        "left behind:" << describe(leftovers()));
    check_stderr_format(err);
}

BOOST_FIXTURE_TEST_CASE(zero_waits_forever, Sandbox) {
    // Forever cannot be tested; "longer than a non-zero timeout would" can: the pidfile
    // appears only after --timeout 0 would have expired had it meant a zero-second wait.
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", "--timeout", "0", pidfile, testd_bin, "--fork", "--pidfile",
                  pidfile, "--pidfile-delay", "1200", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);
    BOOST_CHECK(shim.running());
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
}

BOOST_FIXTURE_TEST_CASE(a_daemon_ignoring_sigterm_is_stopped_too, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "--timeout", "1", "--kill-after", "1", pidfile, testd_bin, "--fork",
                  "--no-pidfile", "--ignore", "TERM", "--log", log},
                 dir);
    pid_t daemon = wait_started(log, "daemon");
    BOOST_CHECK_EQUAL(shim.wait_exit(10s), 124);
    BOOST_CHECK_MESSAGE(wait_dead(daemon, 2s), "the daemon was left running");
    BOOST_CHECK_MESSAGE(eventually([&] { return leftovers().empty(); }, 2s),
                        "left behind:" << describe(leftovers()));
}

BOOST_FIXTURE_TEST_CASE(a_timeout_below_a_millisecond_still_times_out, Sandbox) {
    // Rounded to 0 it would mean "wait forever".
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim(
        {pidshim_bin, "--timeout", "0.0004", pidfile, testd_bin, "--no-pidfile", "--log", log},
        dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 124);
    auto lines = lines_with(shim.err(), "--timeout");
    BOOST_CHECK_MESSAGE(!lines.empty() && contains(lines.front(), pidfile),
                        "no timeout message naming the pidfile" << dump(shim.err_path));
    BOOST_CHECK_MESSAGE(eventually([&] { return leftovers().empty(); }, 2s),
                        "left behind:" << describe(leftovers()));
}
