// A pidfile left over from a previous run names a dead or a foreign process: pidshim must
// not follow it (nor signal what it names) until the new daemon rewrites it, and then must
// follow the new pid.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("stale pidfile is ignored");

namespace {

enum class Stale { dead_pid, foreign_live_pid };
enum class Rewrite { rename, in_place };

std::ostream& operator<<(std::ostream& o, Stale s) {
    return o << (s == Stale::dead_pid ? "names a dead pid" : "names a foreign live pid");
}
std::ostream& operator<<(std::ostream& o, Rewrite r) {
    return o << (r == Rewrite::rename ? "rewritten by rename" : "rewritten in place");
}

pid_t dead_pid() {
    pid_t p = fork();
    if (p == 0) {
        _exit(0);
    }
    waitpid(p, nullptr, 0);
    return p;
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, stale_pid_is_ignored_until_rewritten,
                       data::make({Stale::dead_pid, Stale::foreign_live_pid}) *
                           data::make({Rewrite::rename, Rewrite::in_place}),
                       stale, rewrite) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    auto foreign_log = path("foreign.log");

    // The foreign process is this test's own child, nowhere below pidshim.
    std::optional<Process> foreign;
    pid_t stale_pid;
    if (stale == Stale::foreign_live_pid) {
        foreign.emplace(std::vector<std::string>{testd_bin, "--no-pidfile", "--log", foreign_log},
                        dir, SpawnOptions().named("foreign"));
        stale_pid = wait_started(foreign_log, "daemon");
    } else {
        stale_pid = dead_pid();
    }
    write_file(pidfile, std::to_string(stale_pid) + "\n");

    std::vector<std::string> argv{pidshim_bin, "-v",        pidfile, testd_bin,
                                  "--fork",    "--pidfile", pidfile, "--pidfile-on",
                                  "USR2",      "--log",     log};
    if (rewrite == Rewrite::in_place) {
        argv.push_back("--pidfile-inplace");
    }
    Process shim(argv, dir);
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher");
    // Reaped, so pidshim knows: a signal sent while the launcher is a zombie is another test.
    wait_reaped(launcher);

    shim.signal(SIGHUP);
    wait_signal_handled(shim.pid(), SIGHUP);
    BOOST_CHECK(shim.running());
    BOOST_REQUIRE_EQUAL(slurp(pidfile), std::to_string(stale_pid) + "\n");

    BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0); // the daemon writes its pidfile now
    wait_following(shim, pidfile, daemon);
    wait_for_signal(log, daemon, SIGHUP);
    long written = line_index(log, "pidfile pid=" + std::to_string(daemon) + " ");
    long got = line_index(log, signal_line_prefix(daemon) + "role=daemon sig=HUP");
    BOOST_CHECK_MESSAGE(written >= 0 && written < got,
                        "HUP reached the daemon before it wrote its pidfile" << dump(log));

    for (auto& l : split_lines(shim.err())) {
        BOOST_CHECK_MESSAGE(!has_pid_phrase(l, "following pid ", stale_pid),
                            "pidshim followed the stale pid: " << l);
        BOOST_CHECK_MESSAGE(!has_pid_phrase(l, "to pid ", stale_pid),
                            "pidshim signalled the stale pid: " << l);
    }
    if (foreign) {
        BOOST_REQUIRE(kill(stale_pid, SIGUSR2) == 0);
        wait_for_signal(foreign_log, stale_pid, SIGUSR2);
        BOOST_CHECK_MESSAGE(signals_of(foreign_log, stale_pid) == std::vector<std::string>{"USR2"},
                            "the foreign process was signalled" << dump(foreign_log));
    }

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGHUP), 1u);
    BOOST_CHECK(!alive(daemon));
    if (foreign) {
        BOOST_CHECK(alive(stale_pid));
    }
    check_stderr_format(shim.err());
}

// After a reboot pids are small and get reused: the stale pidfile may name a process that is
// now pidshim's own descendant (here a worker of the new daemon). It is still stale. Inside a
// fresh PID namespace the pids are predictable: ns_last_pid makes pidshim's first child 100,
// so the launcher is 100, the daemon 101 and its worker 102.
BOOST_FIXTURE_TEST_CASE(stale_pid_reused_by_a_descendant_is_ignored_until_rewritten, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    const pid_t reused = 102;
    write_file(pidfile, std::to_string(reused) + "\n");
    const std::string script = R"(
echo 99 > /proc/sys/kernel/ns_last_pid
exec "$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --pidfile-on USR2 \
    --workers 1 --log "$D/app.log"
)";
    Process ns(
        {"unshare", "--pid", "--fork", "--mount-proc", testd_bin, "--log", path("init.log"),
         "--spawn", "sh", "-c", script},
        dir, SpawnOptions().with_env({"TESTD=" + testd_bin, "PIDSHIM=" + pidshim_bin, "D=" + dir}));
    pid_t daemon = wait_started(log, "daemon");
    pid_t worker = wait_started(log, "worker");
    BOOST_REQUIRE_MESSAGE(worker == reused, "the worker got pid " << worker << ", not " << reused
                                                                  << ": the test's prediction "
                                                                     "of pids failed"
                                                                  << dump(log));
    pid_t launcher = wait_started(log, "launcher");
    pid_t shim = find_pidshim_below(ns.pid());
    // Until pidshim has reaped the launcher, a signal would rightly go to the launcher.
    require_eventually(
        [&] {
            auto below = descendants_of(ns.pid());
            return std::none_of(below.begin(), below.end(),
                                [&](pid_t p) { return innermost_pid(p) == launcher; });
        },
        "the launcher to be reaped");
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_signal_handled(shim, SIGHUP);
    BOOST_REQUIRE(kill(host_pid(ns.pid(), daemon), SIGUSR2) == 0);
    wait_following(ns, pidfile, daemon);
    wait_for_signal(log, daemon, SIGHUP);

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.wait_exit(), 128 + SIGTERM);
    // The worker's only signal is the TERM its master passes on when it stops.
    BOOST_CHECK_MESSAGE(signals_of(log, worker) == std::vector<std::string>{"TERM"},
                        "the stale pid was signalled" << dump(log));
    for (auto& l : split_lines(ns.err())) {
        BOOST_CHECK_MESSAGE(!has_pid_phrase(l, "following pid ", reused),
                            "pidshim followed the stale pid: " << l);
    }
}
