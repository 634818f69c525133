// --upgrade-signal: the signal goes to the old master, the new master is found in PIDFILE (or
// PIDFILE.2, as gunicorn writes it), it gets --upgrade-settle to prove itself, the old one is
// retired with --retire-signal, and pidshim follows the new one. An upgrade without a new
// master, or whose new master dies early, leaves the old one serving, untouched.
#include "harness.hpp"

PIDSHIM_TEST_MODULE("upgrade retires the old master");

using namespace harness;

namespace {

struct Upgrade : Sandbox {
    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    std::optional<Process> shim;
    pid_t old_master = -1;

    void start(std::vector<std::string> shim_options, std::vector<std::string> testd_options) {
        std::vector<std::string> argv{pidshim_bin, "-v", "--upgrade-signal", "USR2"};
        argv.insert(argv.end(), shim_options.begin(), shim_options.end());
        argv.insert(argv.end(), {pidfile, testd_bin, "--pidfile", pidfile, "--log", log});
        argv.insert(argv.end(), testd_options.begin(), testd_options.end());
        shim.emplace(argv, dir);
        old_master = wait_started(log, "daemon");
        wait_following(*shim, pidfile, old_master);
    }

    std::string line(const std::string& needle, Clock::duration timeout = prompt) {
        return wait_for_line(shim->err_path, needle, timeout);
    }
    std::string err() const { return shim->err(); }
};

} // namespace

BOOST_FIXTURE_TEST_CASE(new_master_in_pidfile_settles_then_the_old_one_is_retired, Upgrade) {
    start({"--upgrade-settle", "0.5"}, {"--reexec-on", "USR2", "--upgrade-stays"});
    // The new master comes after the signal: retiring the old one 0.5 s after the new one was
    // found is at least 0.5 s after the signal was sent.
    auto sent_at = Clock::now();
    shim->signal(SIGUSR2);
    line("upgrade: sent SIGUSR2 to pid " + std::to_string(old_master));
    pid_t new_master = wait_started(log, "master");
    line("upgrade: new master " + std::to_string(new_master) + " (testd)");
    line("upgrade: retired pid " + std::to_string(old_master) + " with SIGQUIT", 5s);
    auto settled = Clock::now() - sent_at;
    BOOST_CHECK_MESSAGE(
        settled >= 500ms,
        "retired after only "
            << std::chrono::duration_cast<std::chrono::milliseconds>(settled).count() << " ms");
    wait_for_exit_line(log, old_master);
    BOOST_CHECK_EQUAL(count_signal(log, old_master, SIGQUIT), 1U);
    line("upgrade: following the new master " + std::to_string(new_master));

    // The new master is the daemon now: HUP reaches it, TERM ends it and pidshim with it.
    shim->signal(SIGHUP);
    wait_for_signal(log, new_master, SIGHUP);
    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(log, old_master, SIGHUP), 0U);
    BOOST_CHECK(leftovers().empty());
    check_stderr_format(err());
}

BOOST_FIXTURE_TEST_CASE(new_master_in_pidfile_2_is_found_as_gunicorn_writes_it, Upgrade) {
    start({"--upgrade-settle", "0.2", "--retire-signal", "TERM"},
          {"--reexec-on", "USR2", "--upgrade-stays", "--upgrade-pidfile", pidfile + ".2"});
    shim->signal(SIGUSR2);
    pid_t new_master = wait_started(log, "master");
    line("upgrade: new master " + std::to_string(new_master));
    line("upgrade: retired pid " + std::to_string(old_master) + " with SIGTERM", 5s);
    wait_for_signal(log, old_master, SIGTERM);
    wait_for_exit_line(log, old_master);
    // The old master's exit is expected: pidshim goes on, following the new one.
    shim->signal(SIGHUP);
    wait_for_signal(log, new_master, SIGHUP);
    BOOST_CHECK(shim->running());
    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
}

BOOST_FIXTURE_TEST_CASE(no_new_master_abandons_and_the_old_one_serves_on, Upgrade) {
    start({"--upgrade-timeout", "0.5"}, {"--ignore", "USR2"});
    shim->signal(SIGUSR2);
    wait_for_signal(log, old_master, SIGUSR2);
    line("upgrade abandoned: no new master in " + pidfile + " or " + pidfile +
             ".2 within 0.5s; still following pid " + std::to_string(old_master) + " (testd)",
         5s);
    shim->signal(SIGHUP);
    wait_for_signal(log, old_master, SIGHUP);
    BOOST_CHECK_EQUAL(count_signal(log, old_master, SIGQUIT), 0U);
    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
    check_stderr_format(err());
}

BOOST_FIXTURE_TEST_CASE(new_master_dying_before_it_settled_abandons, Upgrade) {
    start({"--upgrade-settle", "30"}, {"--reexec-on", "USR2", "--upgrade-stays"});
    shim->signal(SIGUSR2);
    pid_t new_master = wait_started(log, "master");
    line("upgrade: new master " + std::to_string(new_master));
    BOOST_REQUIRE(kill(new_master, SIGKILL) == 0);
    line("upgrade abandoned: new master " + std::to_string(new_master) +
         " (testd) exited before it settled; still following pid " + std::to_string(old_master));
    shim->signal(SIGHUP);
    wait_for_signal(log, old_master, SIGHUP);
    BOOST_CHECK_EQUAL(count_signal(log, old_master, SIGQUIT), 0U);
    BOOST_CHECK(alive(old_master));
    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
}

BOOST_FIXTURE_TEST_CASE(stop_during_an_upgrade_stops_both_masters, Upgrade) {
    start({"--upgrade-settle", "30"}, {"--reexec-on", "USR2", "--upgrade-stays"});
    shim->signal(SIGUSR2);
    pid_t new_master = wait_started(log, "master");
    line("upgrade: new master " + std::to_string(new_master));
    shim->signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(log, new_master, SIGTERM), 1U);
    BOOST_CHECK_EQUAL(count_signal(log, old_master, SIGTERM), 1U);
    BOOST_CHECK(!contains(err(), "leftover"));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left running:" << describe(leftovers()));
}
