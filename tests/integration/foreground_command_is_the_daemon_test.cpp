// --no-pidfile: COMMAND is the daemon from the moment it starts, as under tini or dumb-init.
// Every signal pidshim forwards reaches it, its exit status (128+N for death by signal N) is
// pidshim's, and the zombies of the orphans it leaves are reaped.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("foreground command is the daemon");

namespace {

// pidshim: following pid N (NAME), COMMAND itself (--no-pidfile)
void wait_following_command(const Process& shim, pid_t pid, const std::string& name) {
    wait_for_line(shim.err_path, "pidshim: following pid " + std::to_string(pid) + " (" + name +
                                     "), COMMAND itself (--no-pidfile)");
}

struct Foreground : Sandbox {
    // pidshim OPTIONS --no-pidfile testd --no-pidfile --log app.log TESTD_ARGS, followed.
    void start(const std::vector<std::string>& options,
               const std::vector<std::string>& testd_args = {}) {
        std::vector<std::string> argv{pidshim_bin};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.insert(argv.end(), {"--no-pidfile", testd_bin, "--no-pidfile", "--log", log});
        argv.insert(argv.end(), testd_args.begin(), testd_args.end());
        shim.emplace(argv, dir);
        command = wait_started(log, "daemon");
        auto st = proc_stat(command);
        BOOST_REQUIRE_MESSAGE(st && st->ppid == shim->pid(), "testd is not pidshim's child");
        wait_following_command(*shim, command, "testd");
    }

    std::string log = path("app.log");
    std::optional<Process> shim;
    pid_t command = -1;
};

std::vector<pid_t> zombie_children(pid_t parent) {
    std::vector<pid_t> out;
    for (pid_t p : children_of(parent)) {
        if (auto st = proc_stat(p); st && st->state == 'Z') {
            out.push_back(p);
        }
    }
    return out;
}

// testd logs real-time signals relative to SIGRTMIN; harness::signame() does not name them.
std::string testd_name(int sig) {
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        return "RTMIN+" + std::to_string(sig - SIGRTMIN);
    }
    return signame(sig);
}

const int passed_on[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGURG, SIGPWR, SIGRTMIN + 1};

} // namespace

BOOST_DATA_TEST_CASE_F(Foreground, commands_exit_code_is_pidshims, data::make({0, 1, 3, 42, 255}),
                       code) {
    start({}, {"--exit-on", "USR1", "--exit-code", std::to_string(code)});
    // Straight to COMMAND: pidshim plays no part in its end.
    BOOST_REQUIRE(kill(command, SIGUSR1) == 0);
    BOOST_CHECK_EQUAL(shim->wait_exit(), code);
    wait_for_line(log, "exit pid=" + std::to_string(command) +
                           " role=daemon code=" + std::to_string(code));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
    check_stderr_format(shim->err());
}

// COMMAND is a plain program with default dispositions, killed by a signal from elsewhere.
BOOST_DATA_TEST_CASE_F(Sandbox, death_by_signal_n_is_128_plus_n,
                       data::make({SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM,
                                   SIGKILL, SIGSEGV, SIGRTMIN + 2}),
                       sig) {
    // No core file from QUIT or SEGV, and none in the build tree if the limit is not honoured.
    Process shim({pidshim_bin, "--no-pidfile", "sh", "-c", "ulimit -c 0; exec sleep 600"}, dir,
                 SpawnOptions().in_dir(dir));
    pid_t command = -1;
    require_eventually(
        [&] {
            auto kids = children_of(shim.pid());
            command = kids.size() == 1 ? kids.front() : -1;
            return command > 0 && contains(slurp("/proc/" + std::to_string(command) + "/cmdline"),
                                           std::string("sleep\0", 6) + "600");
        },
        "COMMAND to run sleep");
    // Named sh or sleep, depending on whether the shell has replaced itself yet.
    wait_for_line(
        shim.err_path,
        [&](const std::string& l) {
            return l == "pidshim: following pid " + std::to_string(command) +
                            " (sh), COMMAND itself (--no-pidfile)" ||
                   l == "pidshim: following pid " + std::to_string(command) +
                            " (sleep), COMMAND itself (--no-pidfile)";
        },
        "pidshim to follow COMMAND");
    BOOST_REQUIRE(kill(command, sig) == 0);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + sig);
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
    check_stderr_format(shim.err());
}

BOOST_DATA_TEST_CASE_F(Foreground, every_forwarded_signal_reaches_command,
                       data::make({SIGTERM, SIGINT, SIGQUIT}), stop) {
    start({});
    std::vector<std::string> expected;
    for (int sig : passed_on) {
        shim->signal(sig);
        wait_for_line(log, signal_line_prefix(command) + "role=daemon sig=" + testd_name(sig));
        expected.push_back(testd_name(sig));
    }
    BOOST_CHECK(shim->running());
    shim->signal(stop);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + stop);
    wait_for_line(log, "exit pid=" + std::to_string(command) + " role=daemon sig=" + signame(stop));
    expected.push_back(signame(stop));
    BOOST_CHECK_MESSAGE(signals_of(log, command) == expected, "signals differ" << dump(log));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
    check_stderr_format(shim->err());
}

BOOST_FIXTURE_TEST_CASE(zombies_of_commands_orphans_are_reaped, Foreground) {
    constexpr int orphans = 20;
    start({}, {"--orphans", std::to_string(orphans), "--stop-exit-code", "7"});
    wait_for_count(log, "orphan pid=", orphans);
    std::vector<pid_t> pids;
    for (auto& l : lines_with(slurp(log), "orphan pid=")) {
        pids.push_back(std::stoi(l.substr(l.find('=') + 1)));
    }
    BOOST_REQUIRE_EQUAL(pids.size(), static_cast<size_t>(orphans));
    // Each orphan is gone from /proc, or at least no longer a zombie child of pidshim (its pid
    // may have been reused by then).
    bool reaped = eventually([&] {
        return std::all_of(pids.begin(), pids.end(), [&](pid_t p) {
            auto st = proc_stat(p);
            return !st || st->ppid != shim->pid() || st->state != 'Z';
        });
    });
    BOOST_CHECK_MESSAGE(reaped, "zombies under pidshim:" << describe(zombie_children(shim->pid())));
    BOOST_CHECK(shim->running());

    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 7);
    BOOST_CHECK(signals_of(log, command) == std::vector<std::string>{"TERM"});
    check_stderr_format(shim->err());
}

BOOST_FIXTURE_TEST_CASE(signal_map_term_to_quit_without_a_pidfile, Foreground) {
    start({"--signal-map", "TERM:QUIT"});
    shim->signal(SIGTERM);
    wait_for_signal(log, command, SIGQUIT);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGQUIT);
    BOOST_CHECK_MESSAGE(signals_of(log, command) == std::vector<std::string>{"QUIT"}, dump(log));
    check_stderr_format(shim->err());
}

BOOST_FIXTURE_TEST_CASE(signal_map_hup_to_none_without_a_pidfile, Foreground) {
    start({"--signal-map", "HUP:none"});
    // HUP has the lower number: had it been forwarded, COMMAND would log it before USR1.
    shim->signal(SIGHUP);
    shim->signal(SIGUSR1);
    wait_for_signal(log, command, SIGUSR1);
    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_MESSAGE(signals_of(log, command) == (std::vector<std::string>{"USR1", "TERM"}),
                        dump(log));
    check_stderr_format(shim->err());
}

BOOST_FIXTURE_TEST_CASE(config_file_no_pidfile_makes_the_first_operand_command, Sandbox) {
    auto config = path("pidshim.conf");
    auto log = path("app.log");
    write_file(config, "no-pidfile = true\n");
    Process shim({pidshim_bin, "--config", config, testd_bin, "--no-pidfile", "--log", log}, dir);
    pid_t command = wait_started(log, "daemon");
    wait_following_command(shim, command, "testd");
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(signals_of(log, command) == std::vector<std::string>{"TERM"});
    check_stderr_format(shim.err());
}

BOOST_DATA_TEST_CASE_F(Sandbox, missing_command_is_a_usage_error,
                       data::make({"--no-pidfile", "--no-pidfile -v --timeout 5"}), args) {
    std::vector<std::string> argv{pidshim_bin};
    std::istringstream words(args);
    for (std::string w; words >> w;) {
        argv.push_back(w);
    }
    Process shim(argv, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 2);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_MESSAGE(!lines.empty(), "nothing on stderr");
    BOOST_CHECK_EQUAL(lines.front(), "pidshim: missing COMMAND (--no-pidfile)");
    BOOST_CHECK(shim.out().empty());
    check_stderr_format(shim.err());
}
