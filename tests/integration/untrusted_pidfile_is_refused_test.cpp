// A pidfile that does not name a live descendant of pidshim is refused with a message naming
// the file, and nothing is signalled; pidshim keeps running and still holds the signal for
// the real daemon.
//
// A wrong kill() here (kill(-1), kill(0), kill(1)) would hit everything in reach, so each case
// runs inside its own PID namespace. There, a testd acting as init is PID 1 and logs what it
// gets; sh runs an unrelated testd and, as another child, pidshim:
//
//   PID 1 testd --spawn (logs init.log)
//     sh
//       testd, unrelated (logs unrelated.log)
//       pidshim -v app.pid testd --fork ... (launcher, then the daemon, log app.log)
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("untrusted pidfile is refused");

namespace {

// What the daemon writes into its pidfile. testd expands %P (its parent at start: pidshim)
// and %d (a pid that just died); the script expands @U@ (the unrelated process) and @U32@
// (the same pid plus 2^32, which a 32-bit truncation turns into the unrelated process).
const char* const bad_contents[] = {
    "-1", "0", "1", "%P", "", "abc", "12abc", "99999999999", "@U@", "%d", "@U@abc", "@U32@", " \n",
};

const char script[] = R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
U=$!
C=$(printf '%s' "$CONTENT" | sed "s/@U@/$U/g; s/@U32@/$((4294967296 + U))/g")
"$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --pidfile-content "$C" \
    --log "$D/app.log" &
wait $!
)";

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

std::string trimmed(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, nothing_is_signalled, data::make(bad_contents), content) {
    auto pidfile = path("app.pid");
    auto app_log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    auto init_log = path("init.log");
    Process ns({"unshare", "--pid", "--fork", "--mount-proc", testd_bin, "--log", init_log,
                "--spawn", "sh", "-c", script},
               dir,
               SpawnOptions().with_env({"TESTD=" + testd_bin, "PIDSHIM=" + pidshim_bin, "D=" + dir,
                                        "CONTENT=" + std::string(content)}));

    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_for_line(app_log, "pidfile pid=" + std::to_string(daemon) + " ");
    std::string bad = first_line(slurp(pidfile));
    BOOST_TEST_MESSAGE("pidfile says '" << bad << "'");

    std::string refusal = wait_for_line(
        ns.err_path,
        [&](const std::string& l) {
            return contains(l, "pidshim: " + pidfile + ": ignoring pidfile") &&
                   contains(l, trimmed(bad));
        },
        "pidshim's refusal of '" + bad + "'");
    BOOST_TEST_MESSAGE(refusal);

    pid_t shim = find_pidshim_below(ns.pid());
    pid_t init_host = host_pid(ns.pid(), 1);
    pid_t unrelated_host = host_pid(ns.pid(), unrelated);

    // Whatever pidshim does with a HUP while the pidfile is bad, it has done it once it is
    // idle again.
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_signal_handled(shim, SIGHUP);
    BOOST_CHECK(alive(shim));
    BOOST_CHECK_EQUAL(count_signal(app_log, daemon, SIGHUP), 0u);

    // Now the pidfile turns good: the HUP was held, not lost, and goes to the daemon.
    write_file(pidfile, std::to_string(daemon) + "\n");
    wait_for_signal(app_log, daemon, SIGHUP);

    // Markers sent directly: once they are logged, anything pidshim sent earlier would be too.
    BOOST_REQUIRE(kill(unrelated_host, SIGUSR2) == 0);
    BOOST_REQUIRE(kill(init_host, SIGUSR2) == 0);
    wait_for_signal(unrelated_log, unrelated, SIGUSR2);
    wait_for_signal(init_log, 1, SIGUSR2);
    BOOST_CHECK_MESSAGE(signals_of(unrelated_log, unrelated) == std::vector<std::string>{"USR2"},
                        "the unrelated process was signalled" << dump(unrelated_log));
    BOOST_CHECK_MESSAGE(signals_of(init_log, 1) == std::vector<std::string>{"USR2"},
                        "PID 1 was signalled" << dump(init_log));
    BOOST_CHECK_EQUAL(count_signal(app_log, daemon, SIGHUP), 1u);
    for (auto& l : lines_with(ns.err(), "forwarded")) {
        BOOST_CHECK_MESSAGE(has_pid_phrase(l, "to pid ", daemon), "forwarded elsewhere: " << l);
    }

    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(app_log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns.wait_exit(), 128 + SIGTERM);
    check_stderr_format(ns.err());
}
