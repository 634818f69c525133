// The command line contract: parsing stops at PIDFILE, "--" is accepted before it, COMMAND is
// found in PATH or relative to the working directory, --config works and the command line
// wins over it, -h/-V print to stdout.
#include "harness.hpp"

#include <filesystem>

using namespace harness;

PIDSHIM_TEST_MODULE("command line");

namespace {

// Starts pidshim with the given arguments (the pidfile is app.pid, the log app.log), waits
// until it follows the daemon, and stops it.
struct Cli : Sandbox {
    pid_t run_until_following(const std::vector<std::string>& argv, const SpawnOptions& o = {}) {
        shim.emplace(argv, dir, o);
        pid_t daemon = wait_started(log, "daemon");
        wait_following(*shim, pidfile, daemon);
        return daemon;
    }

    void stop(pid_t daemon) {
        shim->signal(SIGTERM);
        wait_for_signal(log, daemon, SIGTERM);
        BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
        check_stderr_format(shim->err());
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    std::string config = path("pidshim.conf");
    std::optional<Process> shim;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(options_after_pidfile_go_to_command_untouched, Cli) {
    pid_t daemon =
        run_until_following({pidshim_bin, "-v", pidfile, testd_bin, "--pidfile", pidfile, "--log",
                             log, "--", "--timeout", "5", "-v", "-h", "--version", "--", "-q"});
    auto argv_line = wait_for_line(log, "argv pid=" + std::to_string(daemon) + " ");
    BOOST_CHECK_MESSAGE(contains(argv_line, "[--log][" + log +
                                                "][--][--timeout][5][-v][-h]"
                                                "[--version][--][-q]"),
                        argv_line);
    BOOST_CHECK(shim->out().empty());
    stop(daemon);
}

BOOST_FIXTURE_TEST_CASE(double_dash_before_pidfile, Cli) {
    pid_t daemon = run_until_following(
        {pidshim_bin, "-v", "--", pidfile, testd_bin, "--pidfile", pidfile, "--log", log});
    stop(daemon);
}

BOOST_FIXTURE_TEST_CASE(command_is_found_in_path, Cli) {
    auto bindir = std::filesystem::path(testd_bin).parent_path().string();
    pid_t daemon = run_until_following(
        {pidshim_bin, "-v", pidfile, "testd", "--pidfile", pidfile, "--log", log},
        SpawnOptions().with_env({"PATH=" + bindir + ":/usr/bin:/bin"}));
    stop(daemon);
}

BOOST_FIXTURE_TEST_CASE(relative_command_runs_from_the_working_directory, Cli) {
    auto bindir = std::filesystem::path(testd_bin).parent_path().string();
    pid_t daemon = run_until_following(
        {pidshim_bin, "-v", pidfile, "./testd", "--pidfile", pidfile, "--log", log},
        SpawnOptions().with_env({"PATH=/usr/bin:/bin"}).in_dir(bindir));
    stop(daemon);
}

BOOST_FIXTURE_TEST_CASE(config_file_sets_options, Cli) {
    write_file(config, "signal-map = HUP:USR1\n");
    pid_t daemon = run_until_following({pidshim_bin, "-v", "--config", config, pidfile, testd_bin,
                                        "--fork", "--pidfile", pidfile, "--log", log});
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGUSR1);
    stop(daemon);
    BOOST_CHECK(signals_of(log, daemon) == (std::vector<std::string>{"USR1", "TERM"}));
}

BOOST_FIXTURE_TEST_CASE(command_line_wins_over_config_file, Cli) {
    write_file(config, "signal-map = HUP:USR1\n");
    pid_t daemon =
        run_until_following({pidshim_bin, "-v", "--config", config, "--signal-map", "HUP:USR2",
                             pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log});
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGUSR2);
    stop(daemon);
    BOOST_CHECK(signals_of(log, daemon) == (std::vector<std::string>{"USR2", "TERM"}));
}

BOOST_FIXTURE_TEST_CASE(command_line_timeout_wins_over_config_file, Cli) {
    // The config alone would wait forever; the command line's 1 s must apply.
    write_file(config, "timeout = 0\n");
    Process shim({pidshim_bin, "--config", config, "--timeout", "1", pidfile, testd_bin,
                  "--no-pidfile", "--log", log},
                 dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(8s), 124);
}

BOOST_FIXTURE_TEST_CASE(config_file_timeout_applies, Cli) {
    write_file(config, "# pidshim options\ntimeout = 1\n");
    Process shim(
        {pidshim_bin, "--config", config, pidfile, testd_bin, "--no-pidfile", "--log", log}, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(8s), 124);
}

BOOST_FIXTURE_TEST_CASE(missing_config_file_is_a_usage_error, Cli) {
    Process shim({pidshim_bin, "--config", path("nonexistent.conf"), pidfile, testd_bin,
                  "--no-pidfile", "--log", log},
                 dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 2);
    BOOST_CHECK_MESSAGE(contains(shim.err(), "nonexistent.conf"), dump(shim.err_path));
    BOOST_CHECK(!std::filesystem::exists(log));
}

BOOST_FIXTURE_TEST_CASE(help_goes_to_stdout, Cli) {
    for (const char* opt : {"-h", "--help"}) {
        Process shim({pidshim_bin, opt}, dir);
        BOOST_CHECK_EQUAL(shim.wait_exit(), 0);
        auto out = shim.out();
        BOOST_CHECK_MESSAGE(contains(out, "PIDFILE") && contains(out, "COMMAND"), out);
        for (const char* documented :
             {"--timeout", "--signal-map", "--retry", "--retry-interval", "--kill-after", "--group",
              "--config", "--verbose", "--quiet", "--version"}) {
            BOOST_CHECK_MESSAGE(contains(out, documented),
                                opt << " does not mention " << documented);
        }
        BOOST_CHECK_MESSAGE(shim.err().empty(), dump(shim.err_path));
    }
}

BOOST_FIXTURE_TEST_CASE(version_goes_to_stdout, Cli) {
    for (const char* opt : {"-V", "--version"}) {
        Process shim({pidshim_bin, opt}, dir);
        BOOST_CHECK_EQUAL(shim.wait_exit(), 0);
        auto out = shim.out();
        BOOST_CHECK_MESSAGE(contains(out, "pidshim") && contains(out, PIDSHIM_VERSION), out);
        BOOST_CHECK_MESSAGE(shim.err().empty(), dump(shim.err_path));
    }
}
