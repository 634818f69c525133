// A daemon exits while COMMAND, mysqld_safe style, stays and starts another one, which gets
// exactly the pid of the first: small PID namespaces wrap quickly. Only PIDFILE's version tells
// the two apart. Rewritten, it names a new daemon that pidshim must follow; not rewritten, it
// still names the daemon that exited, and the process that now has its pid must never be
// signalled.
//
// Each case runs inside its own PID namespace (see PidNamespace), where ns_last_pid makes the
// reuse certain:
//
//   PID 1 testd --spawn (init.log)
//     sh
//       testd, unrelated to pidshim (unrelated.log)
//       pidshim -v app.pid sh command.sh
//         sh command.sh (logs the HUPs it gets to command.log)
//           testd, the first daemon (first.log); once it has exited:
//           testd with the first daemon's pid (second.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("reused daemon pid");

namespace {

const char script[] = R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$PIDSHIM" -v "$D/app.pid" sh "$D/command.sh" &
wait $!
)";

// COMMAND. It waits on the go fifo between the two daemons, so that the test chooses whether
// pidshim has seen the first one exit. A trapped HUP interrupts `wait`, hence the loops. The
// shell's own messages ("Terminated") go to command.err, not among pidshim's.
const char command[] = R"(exec 2>>"$D/command.err"
trap 'echo "signal sig=HUP" >> "$D/command.log"' HUP
"$TESTD" --pidfile "$D/app.pid" --exit-on USR1 --exit-code 3 --log "$D/first.log" &
first=$!
while kill -0 $first 2>/dev/null; do wait $first; done
read go < "$D/go"
echo $((first - 1)) > /proc/sys/kernel/ns_last_pid
"$TESTD" $SECOND_ARGS --log "$D/second.log" &
second=$!
status=0
while kill -0 $second 2>/dev/null; do wait $second; status=$?; done
exit $status
)";

// Counts the reads that return a file's content (IN_ACCESS), whether pidshim opens the file
// afresh or reads the one it keeps open: only pidshim reads the pidfile. Two reads after a
// moment prove that pidshim has acted on what it read after that moment: it reads again only
// once it has done with the previous read.
class ReadsOf {
  public:
    explicit ReadsOf(const std::string& path) : path_(path) {
        fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        BOOST_REQUIRE(fd_ >= 0);
        BOOST_REQUIRE_MESSAGE(inotify_add_watch(fd_, path.c_str(), IN_ACCESS) >= 0,
                              "cannot watch " << path << ": " << strerror(errno));
    }
    ~ReadsOf() { close(fd_); }
    ReadsOf(const ReadsOf&) = delete;
    ReadsOf& operator=(const ReadsOf&) = delete;

    // context: what to show should the reads not come (pidshim's stderr).
    void wait_for(int n, const std::string& context, Clock::duration timeout = prompt) {
        auto deadline = Clock::now() + timeout;
        while (seen_ < n) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            BOOST_REQUIRE_MESSAGE(left.count() > 0, "pidshim read " << path_ << " " << seen_
                                                                    << " times, not " << n
                                                                    << dump(context));
            pollfd p{fd_, POLLIN, 0};
            poll(&p, 1, static_cast<int>(left.count()));
            alignas(inotify_event) char buf[4096];
            for (ssize_t got; (got = read(fd_, buf, sizeof buf)) > 0;) {
                for (char* at = buf; at < buf + got;) {
                    auto* e = reinterpret_cast<inotify_event*>(at);
                    seen_ += (e->mask & IN_ACCESS) != 0;
                    at += sizeof(inotify_event) + e->len;
                }
            }
        }
    }

  private:
    std::string path_;
    int fd_ = -1;
    int seen_ = 0;
};

void open_fifo_and_write(const std::string& fifo, const std::string& what) {
    int fd = -1;
    require_eventually(
        [&] {
            fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            return fd >= 0;
        },
        "COMMAND to wait on " + fifo);
    std::string text = what + "\n";
    BOOST_REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);
}

struct Scenario {
    // Whether the second daemon writes the pidfile (by rename: a new version).
    bool rewritten;
    // Whether pidshim is stopped (SIGSTOP) from before the first daemon exits until the second
    // runs, so that its first look after the exit finds the pid reused already.
    bool pidshim_looks_late;
};

void run(Sandbox& box, Scenario s) {
    auto pidfile = box.path("app.pid");
    auto first_log = box.path("first.log");
    auto second_log = box.path("second.log");
    auto unrelated_log = box.path("unrelated.log");
    auto command_log = box.path("command.log");
    auto go = box.path("go");
    write_file(box.path("command.sh"), command);
    BOOST_REQUIRE(mkfifo(go.c_str(), 0600) == 0);
    std::string second_args = s.rewritten ? "--pidfile " + pidfile : "--no-pidfile";
    PidNamespace ns(box, script, {"SECOND_ARGS=" + second_args});
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t first = wait_started(first_log, "daemon");
    wait_following(ns.proc, pidfile, first);
    pid_t shim = ns.pidshim();
    pid_t first_host = ns.host(first);

    if (s.pidshim_looks_late) {
        BOOST_REQUIRE(kill(shim, SIGSTOP) == 0);
        require_eventually([&] { return proc_stat(shim) && proc_stat(shim)->state == 'T'; },
                           "pidshim to stop");
    }
    BOOST_REQUIRE(kill(first_host, SIGUSR1) == 0);
    wait_for_exit_line(first_log, first);
    wait_reaped(first_host);
    std::string exited = "pid " + std::to_string(first) + " (testd) exited";
    if (!s.pidshim_looks_late) {
        wait_for_line(ns.proc.err_path, exited);
    }
    open_fifo_and_write(go, "go");
    pid_t second = wait_started(second_log, "daemon");
    BOOST_REQUIRE_MESSAGE(second == first,
                          "the second daemon got pid " << second << ", not " << first);
    pid_t second_host = ns.host(second);
    if (s.rewritten) {
        wait_for_line(second_log, "pidfile pid=" + std::to_string(second) + " ");
    }
    // Watched from now on: every read counted is one of a pidfile that names the second
    // daemon's pid.
    std::optional<ReadsOf> reads;
    if (!s.rewritten) {
        reads.emplace(pidfile);
    }
    if (s.pidshim_looks_late) {
        // Queued while pidshim is stopped: it wakes up to the HUP and to the first daemon's
        // exit at once, and may take them in either order.
        BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
        BOOST_REQUIRE(kill(shim, SIGCONT) == 0);
    }

    std::vector<Witness> witnesses = {{unrelated_log, unrelated, ns.host(unrelated)},
                                      {ns.init_log, 1, ns.host(1)}};
    if (s.rewritten) {
        wait_for_count(ns.proc.err_path, pidfile + ": following pid " + std::to_string(second), 2);
        auto adopted = lines_with(ns.proc.err(), pidfile + ": following pid ");
        BOOST_CHECK_MESSAGE(
            contains(adopted.back(), "(it replaced pid " + std::to_string(first) + ")"),
            "not adopted as the first daemon's successor: " << adopted.back());
        if (!s.pidshim_looks_late) {
            BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
        }
        wait_for_signal(second_log, second, SIGHUP);
        check_only_markers(witnesses);
        BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
        wait_for_signal(second_log, second, SIGTERM);
        BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
        // pidshim forwards the SIGCONT that woke it, too.
        auto expected = s.pidshim_looks_late ? std::vector<std::string>{"HUP", "CONT", "TERM"}
                                             : std::vector<std::string>{"HUP", "TERM"};
        BOOST_CHECK(signals_of(second_log, second) == expected);
        wait_for_line(second_log, "exit pid=" + std::to_string(second) + " role=daemon sig=TERM");
    } else {
        if (s.pidshim_looks_late) {
            // The HUP is held, or given to COMMAND if pidshim saw the exit first.
            wait_for_line(ns.proc.err_path, exited);
            wait_signal_handled(shim, SIGHUP);
        } else {
            // Waiting for a daemon, pidshim gives a HUP to COMMAND, which logs it.
            BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
            wait_for_line(command_log, "signal sig=HUP");
        }
        reads->wait_for(2, ns.proc.err_path);
        witnesses.push_back({second_log, second, second_host});
        check_only_markers(witnesses);
        auto err = ns.proc.err();
        BOOST_CHECK_MESSAGE(count_lines(err, pidfile + ": following pid ") == 1,
                            "pidshim followed another pid:\n"
                                << err);
        // A stop while waiting goes to COMMAND, which dies of it: pidshim ends, and the process
        // with the reused pid is stopped as what COMMAND left behind.
        BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
        BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
        err = ns.proc.err();
        BOOST_CHECK_MESSAGE(
            count_lines(err, "sending SIGTERM to leftover process " + std::to_string(second)) == 1,
            "the second testd was not stopped as a leftover:\n"
                << err);
        BOOST_CHECK(signals_of(second_log, second) == (std::vector<std::string>{"USR2", "TERM"}));
    }
    auto err = ns.proc.err();
    for (auto& l : lines_with(err, "forwarded")) {
        BOOST_CHECK_MESSAGE(!has_pid_phrase(l, "to pid ", first) || s.rewritten,
                            "a signal went to the reused pid: " << l);
    }
    BOOST_CHECK_MESSAGE(count_lines(err, "cannot send") == 0, "a send failed:\n" << err);
    check_stderr_format(err);
}

} // namespace

BOOST_FIXTURE_TEST_CASE(new_daemon_reusing_the_previous_pid_is_followed, Sandbox) {
    run(*this, {.rewritten = true, .pidshim_looks_late = false});
}

// pidshim still holds the first daemon when it wakes up, and PIDFILE names the same pid.
BOOST_FIXTURE_TEST_CASE(new_daemon_reusing_the_previous_pid_is_followed_when_pidshim_looks_late,
                        Sandbox) {
    run(*this, {.rewritten = true, .pidshim_looks_late = true});
}

BOOST_FIXTURE_TEST_CASE(reused_pid_of_an_exited_daemon_is_never_signalled, Sandbox) {
    run(*this, {.rewritten = false, .pidshim_looks_late = false});
}

BOOST_FIXTURE_TEST_CASE(reused_pid_of_an_exited_daemon_is_never_signalled_when_pidshim_looks_late,
                        Sandbox) {
    run(*this, {.rewritten = false, .pidshim_looks_late = true});
}
