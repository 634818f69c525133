// A daemon that re-execs on USR2 (nginx's binary upgrade) and whose new master rewrites the
// pidfile in place (truncate, then write: same inode) before the old master exits. pidshim
// must follow the new master every time, not take the old master's exit for the end. Repeated,
// since a missed rewrite shows only in some runs.
//
// Each round runs inside its own PID namespace (see PidNamespace):
//
//   PID 1 testd --spawn (init.log)
//     sh
//       pidshim -v rN.pid testd [--fork] --pidfile-inplace --reexec-on USR2 ... (rN.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("in-place re-exec is followed");

namespace {

constexpr int rounds = 30;

const char script[] = R"(
"$PIDSHIM" -v "$D/$R.pid" "$TESTD" $FORK --pidfile "$D/$R.pid" --pidfile-inplace \
    --reexec-on USR2 --log "$D/$R.log" &
wait $!
)";

// Waits until pred holds or pidshim has exited (at once on a loaded machine); says which.
bool until_or_exit(PidNamespace& ns, const std::string& path,
                   const std::function<bool(const std::string&)>& pred) {
    auto seen = wait_for_text(
        path, [&](const std::string& text) { return pred(text) || !ns.proc.running(); });
    return seen && pred(*seen);
}

// One upgrade, then a HUP that must reach the new master. testd's new master writes the
// pidfile twice: once before it tells the old master to leave, and again, truncating it, as it
// enters its main loop, while the old master exits. The HUP is sent once both writes are done
// and the old master has exited. forking: COMMAND daemonizes, so that the old master is not
// COMMAND. hup_at_once: the HUP races pidshim's handling of the old master's exit; otherwise it
// waits for pidshim to follow the new master, which it can then only have learned from that
// exit. Returns false where pidshim did not follow the new master.
bool round(Sandbox& box, int n, bool forking, bool hup_at_once) {
    std::string name = "r" + std::to_string(n);
    bool followed = false;
    BOOST_TEST_CONTEXT("round " << n << (forking ? ", forking" : "")
                                << (hup_at_once ? ", HUP at once" : "")) {
        auto pidfile = box.path(name + ".pid");
        auto log = box.path(name + ".log");
        PidNamespace ns(box, script,
                        {"R=" + name, std::string("FORK=") + (forking ? "--fork" : "")});
        pid_t old_master = wait_started(log, "daemon");
        wait_following(ns.proc, pidfile, old_master);
        // A pidfd: where pidshim misses the new master, it may be gone before the HUP.
        int shim = pidfd_open(ns.pidshim(), 0);
        BOOST_REQUIRE(shim >= 0);
        struct closer {
            int fd;
            ~closer() { close(fd); }
        } close_shim{shim};

        BOOST_REQUIRE(pidfd_send_signal(shim, SIGUSR2) == 0);
        pid_t new_master = wait_started(log, "master");
        wait_for_count(log, "pidfile pid=" + std::to_string(new_master) + " ", 2);
        wait_for_line(log, "exit pid=" + std::to_string(old_master) + " role=daemon code=0");
        if (!hup_at_once) {
            followed = until_or_exit(ns, ns.proc.err_path, [&](const std::string& text) {
                for (auto& l : split_lines(text)) {
                    if (has_pid_phrase(l, pidfile + ": following pid ", new_master)) {
                        return true;
                    }
                }
                return false;
            });
        }
        if (hup_at_once || followed) {
            followed =
                pidfd_send_signal(shim, SIGHUP) == 0 &&
                until_or_exit(ns, log, [&](const std::string& text) {
                    return contains(text, signal_line_prefix(new_master) + "role=master sig=HUP");
                });
        }
        if (!followed) {
            BOOST_ERROR("pidshim did not follow the new master"
                        << dump(ns.proc.err_path) << dump(log)
                        << "\nexit status: " << ns.proc.wait_exit());
            return false;
        }
        BOOST_REQUIRE(pidfd_send_signal(shim, SIGTERM) == 0);
        BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
        // Every process this round started ended by itself: the old master after the upgrade,
        // the new one on the stop.
        BOOST_CHECK(signals_of(log, old_master) == std::vector<std::string>{"USR2"});
        BOOST_CHECK(signals_of(log, new_master) == (std::vector<std::string>{"HUP", "TERM"}));
        BOOST_CHECK_MESSAGE(line_index(log, "exit pid=" + std::to_string(new_master) +
                                                " role=master sig=TERM") >= 0,
                            "the new master did not stop on TERM" << dump(log));
        auto err = ns.proc.err();
        BOOST_CHECK_MESSAGE(count_lines(err, "leftover") == 0,
                            "the new master was treated as a leftover" << dump(ns.proc.err_path));
        check_stderr_format(err);
    }
    return followed;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(new_master_rewriting_the_pidfile_in_place_is_always_followed, Sandbox) {
    auto began = Clock::now();
    int missed = 0;
    for (int n = 0; n < rounds; ++n) {
        missed += !round(*this, n, n % 2 == 1, n % 4 >= 2);
    }
    BOOST_TEST_MESSAGE(rounds << " rounds in " << seconds(Clock::now() - began) << " s, " << missed
                              << " missed");
    BOOST_CHECK_EQUAL(missed, 0);
}
