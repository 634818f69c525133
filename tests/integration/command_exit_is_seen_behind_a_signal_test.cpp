// COMMAND's exit is not lost when a signal is queued with it: pidshim, stopped (SIGSTOP) while
// COMMAND fails and a HUP arrives, finds both when it runs again, and must still end with
// COMMAND's status at once rather than wait for the daemon until --timeout.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("command exit is seen behind a signal");

BOOST_FIXTURE_TEST_CASE(command_exit_is_seen_behind_a_signal, Sandbox) {
    auto pidfile = path("app.pid");
    auto go = path("go");
    BOOST_REQUIRE(mkfifo(go.c_str(), 0600) == 0);
    // A failed start: COMMAND leaves a process behind and exits 3 when told to. --timeout is
    // far beyond the deadline below.
    Process shim({pidshim_bin, "-v", "--timeout", "30", pidfile, "sh", "-c",
                  "sleep 1000 & read x < \"$1\"; exit 3", "sh", go},
                 dir);
    auto started = wait_for_line(shim.err_path, "started sh as pid ");
    pid_t command = std::atoi(started.substr(started.rfind(' ') + 1).c_str());
    BOOST_REQUIRE(command > 0);
    pid_t sleeper = -1;
    require_eventually(
        [&] {
            for (pid_t p : children_of(command)) {
                if (contains(exe_of(p), "sleep")) {
                    sleeper = p;
                    return true;
                }
            }
            return false;
        },
        "COMMAND to start sleep");

    shim.signal(SIGSTOP);
    require_eventually([&] { return proc_stat(shim.pid()) && proc_stat(shim.pid())->state == 'T'; },
                       "pidshim to stop");
    int fd = -1;
    require_eventually(
        [&] {
            fd = open(go.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            return fd >= 0;
        },
        "COMMAND to wait on " + go);
    BOOST_REQUIRE(write(fd, "go\n", 3) == 3);
    close(fd);
    require_eventually([&] { return proc_stat(command) && proc_stat(command)->state == 'Z'; },
                       "COMMAND to exit");
    // Queued behind COMMAND's SIGCHLD while pidshim cannot run.
    shim.signal(SIGHUP);
    shim.signal(SIGCONT);

    BOOST_CHECK_EQUAL(shim.wait_exit(), 3);
    auto text = shim.err();
    BOOST_CHECK_MESSAGE(
        lines_with(text, "(pid " + std::to_string(command) + ") exited with status 3").size() == 1,
        "pidshim did not report COMMAND's exit:\n"
            << text);
    // What the failed start left behind is stopped.
    BOOST_CHECK_MESSAGE(
        !lines_with(text, "sending SIGTERM to leftover process " + std::to_string(sleeper) + " ")
             .empty(),
        "the leftover sleep was not stopped:\n"
            << text);
    BOOST_CHECK(wait_dead(sleeper));
    check_stderr_format(text);
}
