// A pidfile that changes under pidshim: replaced by rename() thousands of times between a valid
// pid and garbage while pidshim reads it, or rewritten to name a foreign process once pidshim
// follows the daemon. Only the daemon pidshim validated is ever signalled.
//
// Each case runs inside its own PID namespace (see PidNamespace):
//
//   PID 1 testd --spawn (init.log)
//     sh
//       testd, unrelated to pidshim (unrelated.log)
//       pidshim -v app.pid testd --fork ... (launcher, then the daemon: app.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("racing pidfiles");

namespace {

const char script[] = R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --log "$D/app.log" &
wait $!
)";

// Replaces path with a new file holding text, as a daemon writing its pidfile atomically does.
void rename_into_place(const std::string& path, const std::string& text) {
    std::string tmp = path + ".storm";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    BOOST_REQUIRE(fd >= 0);
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    BOOST_REQUIRE(ok);
    BOOST_REQUIRE(rename(tmp.c_str(), path.c_str()) == 0);
}

void check_forwarded_only_to(const std::string& err, pid_t daemon) {
    for (auto& l : lines_with(err, "forwarded")) {
        BOOST_CHECK_MESSAGE(has_pid_phrase(l, "to pid ", daemon), "forwarded elsewhere: " << l);
    }
    BOOST_CHECK_MESSAGE(count_lines(err, "cannot send") == 0, "a send failed:\n" << err);
}

} // namespace

BOOST_FIXTURE_TEST_CASE(pidfile_renamed_in_a_loop_only_the_daemon_is_signalled, Sandbox) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    PidNamespace ns(*this, script);
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_following(ns.proc, pidfile, daemon);
    pid_t shim = ns.pidshim();
    pid_t shim_ns = innermost_pid(shim);
    pid_t sh_ns = std::atoi(
        wait_for_event(
            unrelated_log, [](const Event& e) { return e.kind == "start"; }, "unrelated start")
            .get("ppid")
            .c_str());
    pid_t sh = ns.host(sh_ns);

    // Every kind of refusal, and the pids in reach that are not the daemon: PID 1, the shell,
    // the unrelated process, pidshim itself, and the unrelated pid beyond 32 bits.
    std::vector<std::string> garbage = {"",     "\n",  " \n",     "abc\n",
                                        "-1\n", "0\n", "12abc\n", "99999999999\n"};
    garbage.push_back(std::string(200, '9'));
    garbage.push_back(std::to_string(daemon) + "x\n");
    for (long long pid :
         {1LL, 0LL + sh_ns, 0LL + unrelated, 0LL + shim_ns, (1LL << 32) + unrelated}) {
        garbage.push_back(std::to_string(pid) + "\n");
    }
    const std::string valid = std::to_string(daemon) + "\n";
    size_t hups = 0;
    for (int i = 0; i < 6000; ++i) {
        rename_into_place(pidfile, i % 2 ? valid : garbage[(i / 2) % garbage.size()]);
        if (i % 10 == 5) {
            BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
            ++hups;
        }
    }
    rename_into_place(pidfile, valid);
    wait_signal_handled(shim, SIGHUP);
    wait_for_signal(app_log, daemon, SIGHUP);
    wait_signal_handled(ns.host(daemon), SIGHUP);

    check_only_markers(
        {{unrelated_log, unrelated, ns.host(unrelated)}, {ns.init_log, 1, ns.host(1)}});
    BOOST_CHECK_MESSAGE(alive(sh), "the namespace's shell was killed");
    auto got = count_signal(app_log, daemon, SIGHUP);
    BOOST_TEST_MESSAGE(hups << " SIGHUP sent to pidshim, " << got << " reached the daemon");
    BOOST_CHECK_LE(got, hups);
    auto sigs = signals_of(app_log, daemon);
    BOOST_CHECK_MESSAGE(std::all_of(sigs.begin(), sigs.end(), [](auto& s) { return s == "HUP"; }),
                        "the daemon got more than SIGHUP" << dump(app_log));

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    check_forwarded_only_to(ns.proc.err(), daemon);
    check_stderr_format(ns.proc.err());
}

BOOST_FIXTURE_TEST_CASE(pidfile_rewritten_to_a_foreign_pid_signals_the_last_daemon, Sandbox) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    PidNamespace ns(*this, script);
    pid_t foreign = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_following(ns.proc, pidfile, daemon);
    pid_t shim = ns.pidshim();

    // The signal races pidshim's own reaction to the rewrite: whichever reads the new pid
    // first must refuse it.
    write_file(pidfile, std::to_string(foreign) + "\n");
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_signal(app_log, daemon, SIGHUP);
    std::string refusal = wait_for_line(
        ns.proc.err_path,
        [&](const std::string& l) {
            return has_pid_phrase(l, pidfile + ": ignoring pidfile: pid ", foreign) &&
                   contains(l, "not a descendant");
        },
        "pidshim to refuse the foreign pid " + std::to_string(foreign));
    BOOST_TEST_MESSAGE(refusal);
    wait_signal_handled(shim, SIGHUP);
    check_only_markers({{unrelated_log, foreign, ns.host(foreign)}, {ns.init_log, 1, ns.host(1)}});

    // Stopping still works, and still through the daemon pidshim validated last.
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(app_log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(signals_of(unrelated_log, foreign) == std::vector<std::string>{"USR2"});
    check_forwarded_only_to(ns.proc.err(), daemon);
    check_stderr_format(ns.proc.err());
}
