// --kill-after sends SIGKILL only to a process that was given the stop signal first, counted
// from that moment. COMMAND is a wrapper (mysqld_safe style: it ignores every signal and ends
// when its daemon does); the daemon ignores TERM, so that only SIGKILL ends it.
//
// Each case runs inside its own PID namespace (see PidNamespace), which outlives pidshim until
// the test has checked the witnesses:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       testd, unrelated to pidshim (unrelated.log)
//       pidshim -v --kill-after 0.5 app.pid testd --wrapper --ignore TERM ... (app.log)
//         testd, the wrapper
//           testd, the daemon
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("kill after hits only the stopped daemon");

namespace {

constexpr auto kill_after = 500ms;

const char script[] = R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$PIDSHIM" -v --kill-after 0.5 "$D/app.pid" "$TESTD" --wrapper --ignore TERM $DAEMON_ARGS \
    --pidfile "$D/app.pid" --log "$D/app.log" &
wait $!
echo $? > "$D/shim.status"
read x < "$D/done"
)";

struct Started {
    pid_t unrelated, wrapper, daemon;
};

// pidshim's exit status, once the script has it.
int shim_status(Sandbox& box, PidNamespace& ns) {
    auto status = wait_for_text(
        box.path("shim.status"), [](const std::string& t) { return !t.empty(); },
        kill_after + prompt);
    BOOST_REQUIRE_MESSAGE(status, "pidshim did not exit" << dump(ns.proc.err_path));
    return std::atoi(status->c_str());
}

// The witnesses heard nothing, then the namespace may end.
void finish(Sandbox& box, PidNamespace& ns, const Started& s) {
    check_only_markers({{box.path("unrelated.log"), s.unrelated, ns.host(s.unrelated)},
                        {ns.init_log, 1, ns.host(1)}});
    int fd = -1;
    require_eventually(
        [&] {
            fd = open(box.path("done").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            return fd >= 0;
        },
        "the script to wait for the end of the test");
    close(fd);
    ns.proc.wait_exit();
}

// What every case checks once the daemon is dead: SIGKILL reached the daemon alone, in time,
// and the wrapper ended by itself, like its daemon.
void check_ending(Sandbox& box, PidNamespace& ns, const Started& s, Clock::time_point stop_sent,
                  pid_t daemon_host, const std::vector<std::string>& daemon_signals) {
    auto log = box.path("app.log");
    BOOST_REQUIRE_MESSAGE(wait_dead(daemon_host, kill_after + prompt),
                          "the daemon still runs" << dump(ns.proc.err_path));
    auto lived = Clock::now() - stop_sent;
    // The stop reached the daemon after it was sent; SIGKILL may come no sooner than
    // --kill-after after that.
    BOOST_CHECK_MESSAGE(lived >= kill_after,
                        "SIGKILL came " << seconds(lived) << " s after the stop was sent");
    // Not logged by the daemon: SIGKILL cannot be caught. Its wrapper reports how it died.
    wait_for_line(log, "exit pid=" + std::to_string(s.wrapper) + " role=wrapper sig=KILL");
    BOOST_CHECK_EQUAL(shim_status(box, ns), 128 + SIGKILL);
    auto err = ns.proc.err();
    auto kills = lines_with(err, "sending SIGKILL");
    BOOST_CHECK_MESSAGE(kills.size() == 1, "not exactly one SIGKILL:\n" << err);
    for (auto& l : kills) {
        BOOST_CHECK_MESSAGE(has_pid_phrase(l, "pid ", s.daemon) && contains(l, "--kill-after"),
                            "SIGKILL for another process: " << l);
    }
    BOOST_CHECK_MESSAGE(count_lines(err, "leftover") == 0, "leftovers were stopped:\n" << err);
    // The daemon logs every signal it gets but SIGKILL: the stop, which it ignored, came once.
    BOOST_CHECK(signals_of(log, s.daemon) == daemon_signals);
    check_stderr_format(err);
    finish(box, ns, s);
}

Started start(Sandbox& box) {
    Started s{};
    s.unrelated = wait_started(box.path("unrelated.log"), "daemon");
    s.wrapper = wait_started(box.path("app.log"), "wrapper");
    s.daemon = wait_started(box.path("app.log"), "daemon");
    return s;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(kill_after_never_hits_a_process_not_given_the_stop, Sandbox) {
    BOOST_REQUIRE(mkfifo(path("done").c_str(), 0600) == 0);
    PidNamespace ns(*this, script, {"DAEMON_ARGS="});
    auto s = start(*this);
    wait_following(ns.proc, path("app.pid"), s.daemon);
    pid_t daemon_host = ns.host(s.daemon);

    auto stop_sent = Clock::now();
    BOOST_REQUIRE(kill(ns.pidshim(), SIGTERM) == 0);
    check_ending(*this, ns, s, stop_sent, daemon_host, {"TERM"});
    // Once the daemon is known, signals go to it alone.
    BOOST_CHECK(signals_of(path("app.log"), s.wrapper).empty());
}

// The stop arrives before the daemon is known: the wrapper gets it (and ignores it), the daemon
// gets it once PIDFILE names it, well after --kill-after has passed since pidshim received it.
// SIGKILL still waits --kill-after from the moment the daemon got the stop, and never goes to
// the wrapper, which got the stop first.
BOOST_FIXTURE_TEST_CASE(kill_after_counts_from_the_stop_reaching_the_daemon, Sandbox) {
    BOOST_REQUIRE(mkfifo(path("done").c_str(), 0600) == 0);
    PidNamespace ns(*this, script, {"DAEMON_ARGS=--pidfile-on USR1"});
    auto s = start(*this);
    pid_t daemon_host = ns.host(s.daemon);
    pid_t shim = ns.pidshim();

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_line(path("app.log"), signal_line_prefix(s.wrapper) + "role=wrapper sig=TERM ignored");
    wait_for_line(ns.proc.err_path, "holding SIGTERM");
    // Longer than --kill-after: counted from when pidshim received the stop, it would be over.
    std::this_thread::sleep_for(kill_after + 200ms);
    BOOST_REQUIRE_MESSAGE(alive(daemon_host),
                          "the daemon was stopped before it was known" << dump(ns.proc.err_path));
    BOOST_CHECK(signals_of(path("app.log"), s.daemon).empty());

    auto stop_sent = Clock::now(); // the daemon cannot get the stop before it writes PIDFILE
    BOOST_REQUIRE(kill(daemon_host, SIGUSR1) == 0);
    check_ending(*this, ns, s, stop_sent, daemon_host, {"USR1", "TERM"});
    BOOST_CHECK(signals_of(path("app.log"), s.wrapper) == std::vector<std::string>{"TERM"});
}
