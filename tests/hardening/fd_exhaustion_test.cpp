// Out of file descriptors, pidshim exits 125 with a line that says so, and stops what it
// started: it must never leave a daemon running that nobody supervises any more. Once it follows
// a daemon, the pidfd it holds is enough: running out then costs a warning, not the daemon.
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("fd exhaustion");

namespace {

bool says_out_of_descriptors(const std::string& err) {
    for (auto& l : split_lines(err)) {
        if (l.rfind("pidshim: ", 0) == 0 && contains(l, "Too many open files")) {
            return true;
        }
    }
    return false;
}

// The lowest descriptor number free in pid: a soft RLIMIT_NOFILE of that leaves it none.
int lowest_free_descriptor(pid_t pid) {
    std::string fds = "/proc/" + std::to_string(pid) + "/fd/";
    int fd = 0;
    struct stat st {};
    // lstat: the link itself, whatever it points to.
    while (lstat((fds + std::to_string(fd)).c_str(), &st) == 0) {
        ++fd;
    }
    return fd;
}

} // namespace

// How many descriptors pidshim needs depends on the build and on what it inherits, so every
// limit is tried from the smallest up to the first one pidshim runs with.
BOOST_FIXTURE_TEST_CASE(too_few_descriptors_to_start_exit_125_and_leave_nothing, Sandbox) {
    std::optional<int> enough;
    int refused = 0;
    for (int n = 3; n <= 64 && !enough; ++n) {
        auto name = "n" + std::to_string(n);
        auto pidfile = path(name + ".pid");
        auto log = path(name + ".log");
        Process shim({"prlimit", "--nofile=" + std::to_string(n), pidshim_bin, "-v", pidfile,
                      testd_bin, "--pidfile", pidfile, "--log", log},
                     dir, SpawnOptions().named("pidshim-" + name));
        auto following = [&] { return contains(shim.err(), pidfile + ": following pid "); };
        if (!eventually([&] { return !shim.running() || following(); })) {
            BOOST_ERROR("with " << n << " descriptors pidshim neither exits nor follows the "
                                << "daemon" << dump(shim.err_path) << dump(log));
            break;
        }
        if (shim.running()) {
            enough = n;
            shim.signal(SIGTERM);
            BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
            break;
        }
        int code = *shim.try_wait(0s);
        auto err = shim.err();
        // Too few for the dynamic loader: pidshim's own code never ran.
        if (code == 127 && contains(err, "error while loading shared libraries")) {
            continue;
        }
        ++refused;
        BOOST_TEST_MESSAGE("with " << n << " descriptors: exit " << code << ": " << err);
        BOOST_CHECK_MESSAGE(code == 125, "with " << n << " descriptors pidshim exited " << code
                                                 << dump(shim.err_path));
        BOOST_CHECK_MESSAGE(says_out_of_descriptors(err),
                            "with " << n << " descriptors, no line says why"
                                    << dump(shim.err_path));
        check_stderr_format(err);
        for (pid_t p : started(log, "daemon")) {
            BOOST_CHECK_MESSAGE(wait_dead(p), "with " << n << " descriptors, COMMAND (pid " << p
                                                      << ") was left running");
        }
        BOOST_CHECK_MESSAGE(leftovers().empty(), "left running:" << describe(leftovers()));
        kill_tree(getpid());
    }
    BOOST_REQUIRE_MESSAGE(enough, "pidshim did not run with up to 64 descriptors");
    BOOST_TEST_MESSAGE("pidshim runs with " << *enough << " descriptors");
    BOOST_CHECK_MESSAGE(refused > 0, "no limit made pidshim itself refuse to start");
}

BOOST_FIXTURE_TEST_CASE(descriptors_running_out_before_the_pidfile_exit_125_and_stop_the_daemon,
                        Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, "-v", "--timeout", "2", "--kill-after", "1", pidfile, testd_bin,
                  "--fork", "--pidfile", pidfile, "--pidfile-on", "USR2", "--log", log},
                 dir);
    pid_t launcher = wait_started(log, "launcher");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_exit_line(log, launcher);
    wait_for_line(shim.err_path, "(pid " + std::to_string(launcher) + ") exited with status 0");

    rlimit limit{};
    BOOST_REQUIRE(prlimit(shim.pid(), RLIMIT_NOFILE, nullptr, &limit) == 0);
    limit.rlim_cur = lowest_free_descriptor(shim.pid());
    BOOST_REQUIRE(prlimit(shim.pid(), RLIMIT_NOFILE, &limit, nullptr) == 0);
    BOOST_TEST_MESSAGE("pidshim limited to " << limit.rlim_cur << " descriptors");
    // Now the daemon writes its pidfile, which pidshim cannot even open.
    BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0);
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");

    // Bounded by --timeout and --kill-after, should pidshim wait for those.
    auto code = shim.try_wait(2s + 1s + prompt);
    BOOST_CHECK_MESSAGE(code.has_value(), "pidshim still runs" << dump(shim.err_path));
    if (code) {
        BOOST_CHECK_EQUAL(*code, 125);
    }
    BOOST_CHECK_MESSAGE(says_out_of_descriptors(shim.err()),
                        "no line says why" << dump(shim.err_path));
    BOOST_CHECK_MESSAGE(wait_dead(daemon, code ? prompt : 0s),
                        "the daemon was left running" << dump(log));
    check_stderr_format(shim.err());
}

// pidshim follows a daemon, then cannot open anything more, and the pidfile is written anew (a
// new file, renamed into place), which pidshim must open to read: every signal re-reads
// the pidfile and fails, yet the daemon is pinned by the pidfd pidshim already holds, which is
// all it needs to signal the daemon and to see it exit. In a PID namespace, since pidshim works
// on a pid it could not check again.
//
// A transient ENFILE or ENOMEM takes the same path while a daemon is followed: read_pidfile()
// reports any failure to open, stat or read the pidfile as an invalid pidfile, flagging EMFILE
// alone as pidshim's own limit, and the proxy acts on that flag (exit 125) only while it waits
// for a daemon; while it follows one, it warns and signals the daemon it holds.
BOOST_FIXTURE_TEST_CASE(descriptors_running_out_while_following_keep_the_daemon, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    PidNamespace ns(*this, R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --log "$D/app.log" &
wait $!
)");
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(log, "daemon");
    wait_following(ns.proc, pidfile, daemon);
    pid_t shim = ns.pidshim();

    rlimit limit{};
    BOOST_REQUIRE(prlimit(shim, RLIMIT_NOFILE, nullptr, &limit) == 0);
    limit.rlim_cur = lowest_free_descriptor(shim);
    BOOST_REQUIRE(prlimit(shim, RLIMIT_NOFILE, &limit, nullptr) == 0);
    BOOST_TEST_MESSAGE("pidshim limited to " << limit.rlim_cur << " descriptors");
    write_file(pidfile, std::to_string(daemon) + "\n"); // a new file, renamed into place

    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_signal(log, daemon, SIGHUP);
    std::string warning = wait_for_line(
        ns.proc.err_path, [&](const std::string& l) { return contains(l, "Too many open files"); },
        "a warning that pidshim cannot read the pidfile");
    BOOST_CHECK_MESSAGE(contains(warning, pidfile),
                        "the warning does not name the pidfile: " << warning);
    wait_signal_handled(shim, SIGHUP);
    BOOST_REQUIRE_MESSAGE(alive(shim), "pidshim exited" << dump(ns.proc.err_path));
    check_only_markers(
        {{unrelated_log, unrelated, ns.host(unrelated)}, {ns.init_log, 1, ns.host(1)}});

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK(signals_of(log, daemon) == (std::vector<std::string>{"HUP", "TERM"}));
    auto err = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(err, "Too many open files") == 1, "not exactly one warning:\n"
                                                                          << err);
    check_stderr_format(err);
}
