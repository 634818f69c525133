// --group: a forwarded signal reaches the daemon's whole process group (its workers too), but
// only while the target leads that group; otherwise only the target, and pidshim says why.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("group signals");

namespace {

struct WithWorkers : Sandbox {
    void start(const std::vector<std::string>& options, bool forking) {
        std::vector<std::string> argv{pidshim_bin, "-v"};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.insert(argv.end(),
                    {pidfile, testd_bin, "--pidfile", pidfile, "--workers", "2", "--log", log});
        if (forking) {
            argv.push_back("--fork");
        }
        shim.emplace(argv, dir);
        daemon = wait_started(log, "daemon");
        wait_following(*shim, pidfile, daemon);
        wait_for_count(log, "role=worker ppid=", 2);
        workers = started(log, "worker");
        BOOST_REQUIRE_EQUAL(workers.size(), 2u);
    }

    // Stops everything through pidshim; afterwards every log line is in.
    void stop() {
        shim->signal(SIGTERM);
        BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGTERM);
        for (pid_t w : workers) {
            BOOST_CHECK(!alive(w));
        }
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    std::optional<Process> shim;
    pid_t daemon = -1;
    std::vector<pid_t> workers;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(hup_reaches_daemon_and_workers, WithWorkers) {
    start({"--group"}, true);
    BOOST_REQUIRE_EQUAL(proc_stat(daemon)->pgrp, daemon);
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    for (pid_t w : workers) {
        wait_for_signal(log, w, SIGHUP);
    }
    stop();
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGHUP), 1u);
    for (pid_t w : workers) {
        BOOST_CHECK_EQUAL(count_signal(log, w, SIGHUP), 1u);
    }
}

BOOST_FIXTURE_TEST_CASE(short_option_g_works_too, WithWorkers) {
    start({"-g"}, true);
    shim->signal(SIGUSR1);
    for (pid_t w : workers) {
        wait_for_signal(log, w, SIGUSR1);
    }
    stop();
}

BOOST_FIXTURE_TEST_CASE(target_not_leading_its_group_gets_it_alone, WithWorkers) {
    // Started directly, the daemon stays in pidshim's process group.
    start({"--group"}, false);
    BOOST_REQUIRE_NE(proc_stat(daemon)->pgrp, daemon);
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    wait_for_line(shim->err_path, "does not lead its process group");
    stop();
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGHUP), 1u);
    for (pid_t w : workers) {
        BOOST_CHECK_MESSAGE(count_signal(log, w, SIGHUP) == 0,
                            "worker " << w << " got HUP" << dump(log));
    }
    check_stderr_format(shim->err());
}

BOOST_FIXTURE_TEST_CASE(without_group_only_the_target_gets_it, WithWorkers) {
    start({}, true);
    shim->signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    stop();
    for (pid_t w : workers) {
        BOOST_CHECK_MESSAGE(count_signal(log, w, SIGHUP) == 0,
                            "worker " << w << " got HUP" << dump(log));
    }
}
