// --signal-map changes which signal the daemon gets; "none" drops a signal.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("signal map");

namespace {

struct Mapped : Sandbox {
    void start(const std::vector<std::string>& options) {
        std::vector<std::string> argv{pidshim_bin, "-v"};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.insert(argv.end(), {pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log});
        shim.emplace(argv, dir);
        daemon = wait_started(log, "daemon");
        wait_following(*shim, pidfile, daemon);
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    std::optional<Process> shim;
    pid_t daemon = -1;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(term_mapped_to_quit_delivers_quit, Mapped) {
    start({"--signal-map", "TERM:QUIT"});
    shim->signal(SIGTERM);
    wait_for_signal(log, daemon, SIGQUIT);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGQUIT);
    BOOST_CHECK(signals_of(log, daemon) == std::vector<std::string>{"QUIT"});
    BOOST_CHECK_MESSAGE(
        contains(shim->err(), "forwarded SIGTERM as SIGQUIT to pid " + std::to_string(daemon)),
        dump(shim->err_path));
    check_stderr_format(shim->err());
}

BOOST_FIXTURE_TEST_CASE(comma_separated_map_with_none_drops_the_signal, Mapped) {
    start({"--signal-map", "HUP:USR1,USR2:none"});
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGUSR1);
    // USR2 is handled before TERM (lower number), so if it were forwarded the daemon would log
    // it before it stops.
    shim->signal(SIGUSR2);
    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(signals_of(log, daemon) == (std::vector<std::string>{"USR1", "TERM"}));
}

BOOST_FIXTURE_TEST_CASE(repeated_option_any_case_with_or_without_sig_or_numbers, Mapped) {
    start({"--signal-map", "sighup:12", "--signal-map", "int:SigTerm"});
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGUSR2);
    shim->signal(SIGINT);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
    BOOST_CHECK(signals_of(log, daemon) == (std::vector<std::string>{"USR2", "TERM"}));
}

BOOST_FIXTURE_TEST_CASE(unmapped_signals_pass_unchanged, Mapped) {
    start({"--signal-map", "TERM:QUIT"});
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    shim->signal(SIGINT);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGINT);
    BOOST_CHECK(signals_of(log, daemon) == (std::vector<std::string>{"HUP", "INT"}));
}
