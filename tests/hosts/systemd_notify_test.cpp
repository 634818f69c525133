// pidshim as a Type=notify service: what systemd receives on NOTIFY_SOCKET, and the exit
// status systemd judges the stop by. The listener here plays systemd's part.
#include "hosts.hpp"

PIDSHIM_TEST_MODULE("systemd notify");

using namespace hosts;

namespace {

struct Service {
    Service(const Sandbox& box, NotifyListener& systemd, std::vector<std::string> pidshim_options,
            std::vector<std::string> testd_options = {})
        : pidfile(box.path("daemon.pid")), log(box.path("testd.log")) {
        std::vector<std::string> argv{pidshim_bin, "-v"};
        argv.insert(argv.end(), pidshim_options.begin(), pidshim_options.end());
        argv.insert(argv.end(), {pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log});
        argv.insert(argv.end(), testd_options.begin(), testd_options.end());
        SpawnOptions o;
        o.env = {systemd.env()};
        shim.emplace(argv, box.dir, o);
    }
    std::string pidfile;
    std::string log;
    std::optional<Process> shim;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(notify_socket_gets_waiting_then_ready_then_stopping, Sandbox) {
    NotifyListener systemd(path("notify.sock"));
    // The pidfile comes late, so that "ready too early" would show.
    Service s(*this, systemd, {}, {"--pidfile-delay", "300"});

    auto waiting = systemd.require_next("the first STATUS=");
    BOOST_CHECK_MESSAGE(has_prefix(waiting, "STATUS=Waiting for " + s.pidfile), joined(waiting));
    BOOST_CHECK_MESSAGE(!has_line(waiting, "READY=1"), joined(waiting));

    auto ready = systemd.require_next("READY=1");
    // Ready means the pidfile already names the daemon, a live process. (testd logs its
    // "pidfile" line just after the rename, so the line may come a moment after READY=1.)
    pid_t daemon = wait_pidfile(s.pidfile);
    wait_for_line(s.log, "pidfile pid=" + std::to_string(daemon));
    BOOST_CHECK_MESSAGE(has_line(ready, "READY=1"), joined(ready));
    BOOST_CHECK_MESSAGE(
        has_line(ready, "STATUS=Following pid " + std::to_string(daemon) + " from " + s.pidfile),
        joined(ready));
    BOOST_CHECK_MESSAGE(!has_prefix(ready, "MAINPID="), "MAINPID= without --notify-mainpid");

    // Nothing more while the service just runs, not even for a forwarded HUP.
    s.shim->signal(SIGHUP);
    wait_for_signal(s.log, daemon, SIGHUP);
    auto extra = systemd.next(100ms);
    BOOST_CHECK_MESSAGE(
        !extra, "unexpected message while running: " << (extra ? joined(*extra) : std::string()));

    s.shim->signal(SIGTERM);
    auto stopping = systemd.require_next("STOPPING=1");
    BOOST_CHECK_MESSAGE(has_line(stopping, "STOPPING=1"), joined(stopping));
    BOOST_CHECK_MESSAGE(has_line(stopping, "STATUS=Stopping on SIGTERM"), joined(stopping));
    s.shim->wait_exit();
    while (auto late = systemd.next(0ms)) {
        BOOST_CHECK_MESSAGE(!has_line(*late, "READY=1"), "READY=1 after STOPPING=1");
    }
}

BOOST_FIXTURE_TEST_CASE(daemon_killed_by_default_sigterm_makes_pidshim_exit_143, Sandbox) {
    // The units declare SuccessExitStatus=143 because of this.
    NotifyListener systemd(path("notify.sock"));
    Service s(*this, systemd, {});
    pid_t daemon = wait_pidfile(s.pidfile);
    wait_for_line(s.shim->err_path, "following pid " + std::to_string(daemon));
    s.shim->signal(SIGTERM); // KillMode=mixed: systemd signals pidshim alone
    BOOST_CHECK_EQUAL(s.shim->wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(
        contains(slurp(s.log), "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM"));
}

BOOST_FIXTURE_TEST_CASE(notify_mainpid_names_the_daemon, Sandbox) {
    NotifyListener systemd(path("notify.sock"));
    Service s(*this, systemd, {"--notify-mainpid"});
    systemd.require_next("STATUS=Waiting");
    auto ready = systemd.require_next("READY=1");
    pid_t daemon = wait_pidfile(s.pidfile);
    BOOST_CHECK_MESSAGE(has_line(ready, "READY=1"), joined(ready));
    BOOST_CHECK_MESSAGE(has_line(ready, "MAINPID=" + std::to_string(daemon)), joined(ready));
}

BOOST_FIXTURE_TEST_CASE(abstract_notify_socket_is_used, Sandbox) {
    std::string name = "@pidshim-test-" + std::to_string(getpid());
    NotifyListener systemd(name);
    Service s(*this, systemd, {});
    systemd.require_next("STATUS=Waiting");
    auto ready = systemd.require_next("READY=1");
    BOOST_CHECK_MESSAGE(has_line(ready, "READY=1"), joined(ready));
}

BOOST_FIXTURE_TEST_CASE(daemon_does_not_inherit_notify_socket, Sandbox) {
    // Otherwise the daemon could tell systemd it is ready, or change MAINPID, in pidshim's name.
    NotifyListener systemd(path("notify.sock"));
    Service s(*this, systemd, {});
    pid_t daemon = wait_pidfile(s.pidfile);
    std::string environ_text = slurp("/proc/" + std::to_string(daemon) + "/environ");
    BOOST_CHECK(!environ_text.empty());
    BOOST_CHECK(!contains(environ_text, "NOTIFY_SOCKET="));
}

// --no-pidfile: COMMAND is the daemon at once, so READY=1 comes with it; a launcher that
// exits 0 and leaves one process hands MAINPID= on to that process.
BOOST_FIXTURE_TEST_CASE(no_pidfile_is_ready_at_once_and_mainpid_follows_the_guess, Sandbox) {
    NotifyListener systemd(path("notify.sock"));
    auto log = path("testd.log");
    std::string launcher = testd_bin + " --no-pidfile --log " + log + " & exec sleep 0.3";
    SpawnOptions o;
    o.env = {systemd.env()};
    Process shim({pidshim_bin, "-v", "--notify-mainpid", "--no-pidfile", "sh", "-c", launcher}, dir,
                 o);
    auto ready = systemd.require_next("READY=1");
    BOOST_CHECK_MESSAGE(has_line(ready, "READY=1"), joined(ready));
    // The first MAINPID= is COMMAND, pidshim's only child at that moment.
    BOOST_CHECK_MESSAGE(has_prefix(ready, "MAINPID="), joined(ready));
    BOOST_CHECK_MESSAGE(!has_line(ready, "MAINPID=" + std::to_string(shim.pid())), joined(ready));
    pid_t daemon = wait_started(log, "daemon");
    auto handed_on = systemd.require_next("MAINPID=" + std::to_string(daemon));
    BOOST_CHECK_MESSAGE(has_line(handed_on, "MAINPID=" + std::to_string(daemon)),
                        joined(handed_on));
    BOOST_CHECK_MESSAGE(!has_line(handed_on, "READY=1"), "READY=1 twice: " + joined(handed_on));
    BOOST_REQUIRE(kill(shim.pid(), SIGTERM) == 0);
    BOOST_CHECK_EQUAL(shim.try_wait(prompt).value_or(-1), 128 + SIGTERM);
    BOOST_CHECK(
        contains(slurp(log), "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM"));
}
