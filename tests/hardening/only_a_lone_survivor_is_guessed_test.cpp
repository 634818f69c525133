// --no-pidfile: when COMMAND exits 0 and exactly one process is left below pidshim, that process
// becomes the daemon (as systemd's GuessMainPID= does), again at each such exit (double-forking
// launchers). Several survivors are never guessed between, the survivor of a COMMAND that failed
// is stopped rather than followed, and a process that is not pidshim's descendant is never
// guessed nor signalled, even one with the same name in pidshim's own process group.
//
// Each case runs inside its own PID namespace (see PidNamespace), which outlives pidshim until
// the test has checked the witnesses:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       testd, the bystander (bystander.log)
//       pidshim --no-pidfile sh -c "$LAUNCHER"
//         sh, COMMAND: starts what the case needs, then exits
#include "hardening.hpp"

#include <regex>
#include <set>

using namespace hardening;

PIDSHIM_TEST_MODULE("only a lone survivor is guessed");

namespace {

// The bystander starts first; pidshim only once the bystander can log what it gets.
const char script[] = R"(
"$TESTD" --no-pidfile --log "$D/bystander.log" &
read x < "$D/go"
"$PIDSHIM" --no-pidfile sh -c "$LAUNCHER" &
wait $!
echo $? > "$D/shim.status"
read x < "$D/done"
)";

// Lets a shell blocked in `read x < FIFO` go on.
void release(const std::string& fifo) {
    int fd = -1;
    require_eventually(
        [&] {
            fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            return fd >= 0;
        },
        "a reader on " + fifo);
    BOOST_REQUIRE(write(fd, "\n", 1) == 1);
    close(fd);
}

// pid A (sh) exited with status 0 and left one process: following pid D (testd) as the daemon
// (--no-pidfile)
struct Guess {
    pid_t from = -1;
    std::string from_name;
    pid_t daemon = -1;
    std::string name;
};

const std::regex guess_line(R"(^pidshim: pid (\d+) \(([^)]*)\) exited with status 0 and left one )"
                            R"(process: following pid (\d+) \(([^)]*)\) as the daemon )"
                            R"(\(--no-pidfile\)$)");

std::optional<Guess> parse_guess(const std::string& line) {
    std::smatch m;
    if (!std::regex_match(line, m, guess_line)) {
        return std::nullopt;
    }
    return Guess{std::stoi(m[1]), m[2], std::stoi(m[3]), m[4]};
}

struct Guessing : Sandbox {
    void start(const std::string& launcher) {
        for (auto* fifo : {"go", "done", "leave", "fork"}) {
            BOOST_REQUIRE(mkfifo(path(fifo).c_str(), 0600) == 0);
        }
        ns.emplace(*this, script, std::vector<std::string>{"LAUNCHER=" + launcher});
        bystander = wait_started(bystander_log, "daemon");
        release(path("go"));
        shim = ns->pidshim();
    }

    // The first guess of the given daemon (or of any, with -1).
    Guess wait_guess(pid_t daemon = -1) {
        auto line = wait_for_line(
            ns->proc.err_path,
            [&](const std::string& l) {
                auto g = parse_guess(l);
                return g && (daemon < 0 || g->daemon == daemon);
            },
            "pidshim to guess " + (daemon < 0 ? "a daemon" : "pid " + std::to_string(daemon)));
        return *parse_guess(line);
    }

    size_t guesses() {
        size_t n = 0;
        for (auto& l : split_lines(ns->proc.err())) {
            n += parse_guess(l) ? 1 : 0;
        }
        return n;
    }

    // pidshim's exit status, once the script has it.
    int shim_status() {
        auto status =
            wait_for_text(path("shim.status"), [](const std::string& t) { return !t.empty(); });
        BOOST_REQUIRE_MESSAGE(status, "pidshim did not exit" << dump(ns->proc.err_path));
        return std::atoi(status->c_str());
    }

    // The bystander and PID 1 heard nothing from pidshim; then the namespace may end.
    void finish() {
        check_only_markers(
            {{bystander_log, bystander, ns->host(bystander)}, {ns->init_log, 1, ns->host(1)}});
        BOOST_CHECK_MESSAGE(count_lines(ns->proc.err(), "pid " + std::to_string(bystander) + " ") ==
                                0,
                            "pidshim named the bystander" << dump(ns->proc.err_path));
        release(path("done"));
        ns->proc.wait_exit();
    }

    std::string app_log = path("app.log");
    std::string bystander_log = path("bystander.log");
    std::optional<PidNamespace> ns;
    pid_t bystander = -1; // namespace pid
    pid_t shim = -1;      // host pid
};

} // namespace

BOOST_FIXTURE_TEST_CASE(background_child_of_an_exited_shell_is_followed, Guessing) {
    start(R"("$TESTD" --no-pidfile --stop-exit-code 7 --log "$D/app.log" & exit 0)");
    pid_t daemon = wait_started(app_log, "daemon");
    auto g = wait_guess(daemon);
    BOOST_CHECK_EQUAL(g.from_name, "sh");
    // pidshim may have looked before the shell's child ran testd.
    BOOST_CHECK_MESSAGE(g.name == "testd" || g.name == "sh", "named " << g.name);

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(shim_status(), 7); // the daemon's own status
    wait_for_line(app_log, "exit pid=" + std::to_string(daemon) + " role=daemon code=7");
    BOOST_CHECK_MESSAGE(signals_of(app_log, daemon) == std::vector<std::string>{"TERM"},
                        dump(app_log));
    auto err = ns->proc.err();
    BOOST_CHECK_EQUAL(guesses(), 1u);
    BOOST_CHECK_MESSAGE(count_lines(err, "leftover") == 0, "leftovers were stopped:\n" << err);
    check_stderr_format(err);
    finish();
}

// The launcher forks an intermediate and exits; the intermediate (a shell, until the test lets
// it run testd --fork) forks the daemon and exits too. Each exit leaves one process: each is
// guessed in turn.
BOOST_FIXTURE_TEST_CASE(double_forking_launcher_is_followed_through_each_exit, Guessing) {
    start(R"(sh -c 'read x < "$D/fork"; )"
          R"(exec "$TESTD" --fork --no-pidfile --stop-exit-code 7 --log "$D/app.log"' & exit 0)");
    auto first = wait_guess();
    BOOST_CHECK_EQUAL(first.from_name, "sh");
    BOOST_CHECK_EQUAL(first.name, "sh");
    pid_t intermediate = first.daemon;

    release(path("fork"));
    BOOST_REQUIRE_EQUAL(wait_started(app_log, "launcher"), intermediate);
    pid_t daemon = wait_started(app_log, "daemon");
    auto second = wait_guess(daemon);
    // Named as when it was guessed (sh) or as when it exited (testd): the pid is what counts.
    BOOST_CHECK_EQUAL(second.from, intermediate);
    BOOST_CHECK_EQUAL(second.name, "testd");

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(shim_status(), 7);
    BOOST_CHECK_MESSAGE(signals_of(app_log, daemon) == std::vector<std::string>{"TERM"},
                        dump(app_log));
    BOOST_CHECK_MESSAGE(signals_of(app_log, intermediate).empty(), dump(app_log));
    BOOST_CHECK_EQUAL(guesses(), 2u);
    check_stderr_format(ns->proc.err());
    finish();
}

// COMMAND is the daemon and gets the stop; it answers by exiting 0 and leaving its child, which
// is guessed and given the same stop at once.
BOOST_FIXTURE_TEST_CASE(a_stop_given_to_command_reaches_the_process_it_leaves, Guessing) {
    start(R"(trap 'exit 0' TERM; )"
          R"("$TESTD" --no-pidfile --stop-exit-code 7 --log "$D/app.log" & wait)");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_for_line(ns->proc.err_path, "), COMMAND itself (--no-pidfile)");

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(shim_status(), 7);
    auto g = wait_guess(daemon);
    BOOST_CHECK_EQUAL(g.from_name, "sh");
    BOOST_CHECK_EQUAL(g.name, "testd");
    // Once from pidshim: COMMAND did not pass it on.
    BOOST_CHECK_MESSAGE(signals_of(app_log, daemon) == std::vector<std::string>{"TERM"},
                        dump(app_log));
    check_stderr_format(ns->proc.err());
    finish();
}

BOOST_FIXTURE_TEST_CASE(two_survivors_are_not_guessed_between, Guessing) {
    start(R"("$TESTD" --no-pidfile --log "$D/a.log" & "$TESTD" --no-pidfile --log "$D/b.log" & )"
          R"(read x < "$D/leave"; exit 0)");
    pid_t a = wait_started(path("a.log"), "daemon");
    pid_t b = wait_started(path("b.log"), "daemon");
    release(path("leave"));

    const std::regex refusal(
        R"(^pidshim: pid (\d+) \(sh\) exited with status 0 and left 2 processes: (\d+) \(testd\), )"
        R"((\d+) \(testd\); cannot tell which is the daemon \(give its PIDFILE instead of )"
        R"(--no-pidfile\); stopping them$)");
    auto line = wait_for_line(
        ns->proc.err_path, [&](const std::string& l) { return std::regex_match(l, refusal); },
        "pidshim to refuse to guess");
    std::smatch m;
    BOOST_REQUIRE(std::regex_match(line, m, refusal));
    BOOST_CHECK((std::set<pid_t>{std::stoi(m[2]), std::stoi(m[3])} == std::set<pid_t>{a, b}));

    // Both are stopped as leftovers are: SIGTERM, which each obeys.
    wait_for_line(path("a.log"), "exit pid=" + std::to_string(a) + " role=daemon sig=TERM");
    wait_for_line(path("b.log"), "exit pid=" + std::to_string(b) + " role=daemon sig=TERM");
    BOOST_CHECK_EQUAL(shim_status(), 1);
    BOOST_CHECK(signals_of(path("a.log"), a) == std::vector<std::string>{"TERM"});
    BOOST_CHECK(signals_of(path("b.log"), b) == std::vector<std::string>{"TERM"});
    BOOST_CHECK_EQUAL(guesses(), 0u);
    check_stderr_format(ns->proc.err());
    finish();
}

BOOST_FIXTURE_TEST_CASE(survivor_of_a_failed_command_is_stopped_not_guessed, Guessing) {
    start(R"("$TESTD" --no-pidfile --log "$D/a.log" & read x < "$D/leave"; exit 3)");
    pid_t a = wait_started(path("a.log"), "daemon");
    release(path("leave"));

    wait_for_line(path("a.log"), "exit pid=" + std::to_string(a) + " role=daemon sig=TERM");
    BOOST_CHECK_EQUAL(shim_status(), 3);
    auto err = ns->proc.err();
    BOOST_CHECK_EQUAL(guesses(), 0u);
    bool said = false;
    for (auto& l : split_lines(err)) {
        said |= has_pid_phrase(l, "leftover process ", a) && contains(l, "SIGTERM");
    }
    BOOST_CHECK_MESSAGE(said, "no SIGTERM line for leftover process " << a << "\n" << err);
    check_stderr_format(err);
    finish();
}

// Nothing is left below pidshim; the bystander, a testd in pidshim's process group started
// just before it, is not taken for the daemon.
BOOST_FIXTURE_TEST_CASE(bystander_is_never_guessed, Guessing) {
    // COMMAND waits to be released, so that pidshim is found running before it ends.
    start(R"(read x < "$D/leave"; exit 0)");
    release(path("leave"));
    BOOST_CHECK_EQUAL(shim_status(), 0);
    BOOST_CHECK_EQUAL(guesses(), 0u);
    BOOST_CHECK_MESSAGE(alive(ns->host(bystander)), "the bystander is gone");
    check_stderr_format(ns->proc.err());
    finish();
}
