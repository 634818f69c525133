// pidshim runs as root. A pidfile owned by another user, or writable by all, is trusted only
// as far as any pidfile is: it is accepted when it names a descendant of pidshim, with one
// warning per run, and refused like any other when it names a process outside pidshim's tree.
//
// The daemon writes its pidfile in place into a file the test created with the owner and mode
// under test, as a daemon that runs as another user, or has a lax umask, leaves it. Each case
// runs inside its own PID namespace (see PidNamespace):
//
//   PID 1 testd --spawn (init.log)
//     sh
//       testd, unrelated to pidshim (unrelated.log)
//       pidshim -v app.pid testd --fork ... (launcher, then the daemon: app.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("pidfile ownership");

namespace {

// $CONTENT is testd's --pidfile-content, with @U@ standing for the unrelated process.
const char script[] = R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
U=$!
C=$(printf '%s' "$CONTENT" | sed "s/@U@/$U/g")
"$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --pidfile-inplace \
    --pidfile-content "$C" --workers 1 --log "$D/app.log" &
wait $!
)";

void check_accepted_with_one_warning(Sandbox& box, uid_t owner, mode_t mode,
                                     const std::string& warning) {
    auto pidfile = box.path("app.pid");
    auto app_log = box.path("app.log");
    auto unrelated_log = box.path("unrelated.log");
    create_owned(pidfile, owner, mode);
    PidNamespace ns(box, script, {"CONTENT=%p\\n"});
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    pid_t worker = wait_started(app_log, "worker");
    wait_following(ns.proc, pidfile, daemon);
    auto warnings = lines_with(ns.proc.err(), warning);
    BOOST_REQUIRE_MESSAGE(warnings.size() == 1,
                          "expected one line with '" << warning << "'" << dump(ns.proc.err_path));
    BOOST_TEST_MESSAGE(warnings.front());
    BOOST_CHECK(contains(warnings.front(), "pidshim: " + pidfile + ": "));

    // Once per run: the same file, rewritten in place, names another descendant (the daemon's
    // worker), then the daemon again; pidshim, which re-reads it on each signal, trusts each
    // without warning again.
    pid_t shim = ns.pidshim();
    write_in_place(pidfile, std::to_string(worker) + "\n");
    BOOST_REQUIRE(kill(shim, SIGWINCH) == 0);
    wait_following(ns.proc, pidfile, worker);
    wait_for_signal(app_log, worker, SIGWINCH);
    write_in_place(pidfile, std::to_string(daemon) + "\n");
    BOOST_REQUIRE(kill(shim, SIGWINCH) == 0);
    wait_for_line(
        ns.proc.err_path,
        [&](const std::string& l) {
            return has_pid_phrase(l, pidfile + ": following pid ", daemon) &&
                   has_pid_phrase(l, "replaced pid ", worker);
        },
        "pidshim to follow the daemon again");
    struct stat st {};
    BOOST_REQUIRE(stat(pidfile.c_str(), &st) == 0);
    BOOST_REQUIRE(st.st_uid == owner && (st.st_mode & 07777) == mode);
    BOOST_CHECK_EQUAL(count_lines(ns.proc.err(), warning), 1u);

    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_signal(app_log, daemon, SIGHUP);
    wait_signal_handled(shim, SIGHUP);
    check_only_markers(
        {{unrelated_log, unrelated, ns.host(unrelated)}, {ns.init_log, 1, ns.host(1)}});
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_lines(ns.proc.err(), warning), 1u);
    check_stderr_format(ns.proc.err());
}

} // namespace

BOOST_FIXTURE_TEST_CASE(pidfile_owned_by_nobody_naming_the_daemon_is_accepted_with_a_warning,
                        Sandbox) {
    check_accepted_with_one_warning(*this, nobody_uid(), 0644, "not root");
}

BOOST_FIXTURE_TEST_CASE(world_writable_pidfile_naming_the_daemon_is_accepted_with_a_warning,
                        Sandbox) {
    check_accepted_with_one_warning(*this, 0, 0666, "world-writable");
}

BOOST_FIXTURE_TEST_CASE(pidfile_owned_by_nobody_naming_a_stranger_is_refused, Sandbox) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    create_owned(pidfile, nobody_uid(), 0644);
    PidNamespace ns(*this, script, {"CONTENT=@U@\\n"});
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t launcher = wait_started(app_log, "launcher");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_for_line(app_log, "pidfile pid=" + std::to_string(daemon) + " ");
    std::string refusal = wait_for_line(
        ns.proc.err_path,
        [&](const std::string& l) {
            return has_pid_phrase(l, pidfile + ": ignoring pidfile: pid ", unrelated) &&
                   contains(l, "not a descendant");
        },
        "pidshim to refuse pid " + std::to_string(unrelated));
    BOOST_TEST_MESSAGE(refusal);

    // With the launcher gone, a signal has nowhere to go but to be held.
    wait_for_line(ns.proc.err_path, "(pid " + std::to_string(launcher) + ") exited with status 0");
    pid_t shim = ns.pidshim();
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_line(ns.proc.err_path, "holding SIGHUP until " + pidfile);
    wait_signal_handled(shim, SIGHUP);
    check_only_markers({{unrelated_log, unrelated, ns.host(unrelated)},
                        {ns.init_log, 1, ns.host(1)},
                        {app_log, daemon, ns.host(daemon)}});
    BOOST_CHECK_EQUAL(count_lines(ns.proc.err(), "not root"), 0u);

    // The same file, still nobody's, now names the daemon: the held signal goes there.
    write_in_place(pidfile, std::to_string(daemon) + "\n");
    wait_for_signal(app_log, daemon, SIGHUP);
    BOOST_CHECK_EQUAL(count_lines(ns.proc.err(), "not root"), 1u);
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(signals_of(unrelated_log, unrelated) == std::vector<std::string>{"USR2"});
    check_stderr_format(ns.proc.err());
}
