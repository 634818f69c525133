// Workers that outlive their master: once the target is gone pidshim stops what is left
// (SIGTERM, then SIGKILL after 5 s or --kill-after), says so, and exits with the target's
// status. Nothing is left behind for the supervisor to trip over.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("leftover processes are stopped");

namespace {

struct Outliving : Sandbox {
    void start(const std::vector<std::string>& options,
               const std::vector<std::string>& worker_options) {
        std::vector<std::string> argv{pidshim_bin, "-v"};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.insert(argv.end(), {pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--workers",
                                 "2", "--workers-outlive", "--stop-exit-code", "3", "--log", log});
        argv.insert(argv.end(), worker_options.begin(), worker_options.end());
        shim.emplace(argv, dir);
        daemon = wait_started(log, "daemon");
        wait_following(*shim, pidfile, daemon);
        wait_for_count(log, "role=worker ppid=", 2);
        workers = started(log, "worker");
        BOOST_REQUIRE_EQUAL(workers.size(), 2u);
    }

    // Stops the target; its workers stay behind.
    void stop_target() {
        shim->signal(SIGTERM);
        wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon code=3");
        BOOST_REQUIRE(wait_dead(daemon));
    }

    void check_reported(const std::string& signal_name) {
        auto err = shim->err();
        for (pid_t w : workers) {
            bool said = false;
            for (auto& l : split_lines(err)) {
                said |= has_pid_phrase(l, "leftover process ", w) && contains(l, signal_name);
            }
            BOOST_CHECK_MESSAGE(said, "no " << signal_name << " line for leftover process " << w
                                            << dump(shim->err_path));
        }
        check_stderr_format(err);
    }

    void check_nothing_left() {
        for (pid_t w : workers) {
            BOOST_CHECK_MESSAGE(!alive(w), "worker " << w << " survived pidshim");
        }
        BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
    }

    std::string pidfile = path("app.pid");
    std::string log = path("app.log");
    std::optional<Process> shim;
    pid_t daemon = -1;
    std::vector<pid_t> workers;
};

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

} // namespace

BOOST_FIXTURE_TEST_CASE(leftovers_get_sigterm, Outliving) {
    start({}, {});
    stop_target();
    for (pid_t w : workers) {
        wait_for_signal(log, w, SIGTERM);
    }
    BOOST_CHECK_EQUAL(shim->wait_exit(), 3);
    check_reported("SIGTERM");
    check_nothing_left();
}

BOOST_FIXTURE_TEST_CASE(leftovers_ignoring_sigterm_get_sigkill_after_kill_after, Outliving) {
    start({"--kill-after", "1"}, {"--worker-ignore", "TERM"});
    stop_target();
    for (pid_t w : workers) {
        wait_for_line(log, signal_line_prefix(w) + "role=worker sig=TERM ignored");
    }
    auto term_seen = Clock::now();
    BOOST_CHECK_EQUAL(shim->wait_exit(), 3);
    auto waited = shim->exited_at() - term_seen;
    BOOST_CHECK_MESSAGE(waited >= 500ms, "SIGKILL after only " << seconds(waited) << " s");
    check_reported("SIGKILL");
    check_nothing_left();
}

BOOST_FIXTURE_TEST_CASE(leftovers_ignoring_sigterm_get_sigkill_after_5s_by_default, Outliving) {
    start({}, {"--worker-ignore", "TERM"});
    stop_target();
    for (pid_t w : workers) {
        wait_for_line(log, signal_line_prefix(w) + "role=worker sig=TERM ignored");
    }
    auto term_seen = Clock::now();
    BOOST_CHECK_EQUAL(shim->wait_exit(15s), 3);
    auto waited = shim->exited_at() - term_seen;
    BOOST_CHECK_MESSAGE(waited >= 4s, "SIGKILL after only " << seconds(waited) << " s");
    check_reported("SIGKILL");
    check_nothing_left();
}

BOOST_FIXTURE_TEST_CASE(leftovers_after_the_target_exits_by_itself, Outliving) {
    start({}, {});
    // Not a stop that pidshim forwarded: the daemon just goes.
    BOOST_REQUIRE(kill(daemon, SIGKILL) == 0);
    BOOST_CHECK_EQUAL(shim->wait_exit(), 128 + SIGKILL);
    check_reported("SIGTERM");
    check_nothing_left();
}
