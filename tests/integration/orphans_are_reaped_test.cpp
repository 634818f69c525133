// pidshim is the subreaper of everything below it: orphans that exit are reaped at once,
// not left as zombies, and reaping them never costs it the daemon's exit status.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("orphans are reaped");

namespace {

constexpr int orphans = 20;

std::vector<pid_t> orphan_pids(const std::string& log) {
    std::vector<pid_t> out;
    for (auto& l : lines_with(slurp(log), "orphan pid=")) {
        out.push_back(std::stoi(l.substr(l.find('=') + 1)));
    }
    return out;
}

std::vector<pid_t> zombie_children(pid_t parent) {
    std::vector<pid_t> out;
    for (pid_t p : children_of(parent)) {
        if (auto st = proc_stat(p); st && st->state == 'Z') {
            out.push_back(p);
        }
    }
    return out;
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, no_zombies_under_pidshim, data::make({false, true}), forking) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    std::vector<std::string> argv{pidshim_bin,        "-v",    pidfile,     testd_bin,
                                  "--pidfile",        pidfile, "--orphans", std::to_string(orphans),
                                  "--stop-exit-code", "7",     "--log",     log};
    if (forking) {
        argv.push_back("--fork");
    }
    Process shim(argv, dir);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, pidfile, daemon);
    wait_for_count(log, "orphan pid=", orphans);
    auto pids = orphan_pids(log);
    BOOST_REQUIRE_EQUAL(pids.size(), static_cast<size_t>(orphans));

    // While pidshim runs on: an orphan is gone from /proc, or at least no longer a zombie
    // child of pidshim (its pid may have been reused by then).
    bool reaped = eventually([&] {
        return std::all_of(pids.begin(), pids.end(), [&](pid_t p) {
            auto st = proc_stat(p);
            return !st || st->ppid != shim.pid() || st->state != 'Z';
        });
    });
    BOOST_CHECK_MESSAGE(reaped, "zombies under pidshim:" << describe(zombie_children(shim.pid())));
    BOOST_CHECK(zombie_children(shim.pid()).empty());
    BOOST_CHECK(shim.running());

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 7);
    BOOST_CHECK(!alive(daemon));
    check_stderr_format(shim.err());
}
