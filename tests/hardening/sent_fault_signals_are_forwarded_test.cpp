// A fault signal another process sends to pidshim (kill -ABRT, -SEGV, -BUS, -SYS, -ILL, -FPE,
// -TRAP, from a person, a runtime or a supervisor) is a signal like any other: pidshim
// forwards it to the daemon and goes on, instead of dying and leaving the daemon behind.
//
// Each case runs inside its own PID namespace (see PidNamespace), with core dumps off:
//
//   PID 1 testd --spawn (init.log)
//     pidshim -v app.pid testd --fork ... (launcher, then the daemon: app.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("sent fault signals are forwarded");

namespace {

const char script[] = R"(
ulimit -c 0
exec "$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/app.pid" --log "$D/app.log"
)";

void check_forwarded(Sandbox& box, int sig) {
    auto pidfile = box.path("app.pid");
    auto log = box.path("app.log");
    PidNamespace ns(box, script);
    pid_t daemon = wait_started(log, "daemon");
    wait_following(ns.proc, pidfile, daemon);
    pid_t shim = ns.pidshim();

    BOOST_REQUIRE(kill(shim, sig) == 0);
    eventually([&] { return count_signal(log, daemon, sig) > 0 || !ns.proc.running(); });
    if (auto code = ns.proc.try_wait(0ms)) {
        BOOST_FAIL("pidshim ended (" << *code << ") on a SIG" << signame(sig)
                                     << " sent with kill(), leaving the daemon behind"
                                     << dump(ns.proc.err_path));
    }
    wait_for_signal(log, daemon, sig);

    // Still following the daemon.
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_signal(log, daemon, SIGHUP);
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK((signals_of(log, daemon) == std::vector<std::string>{signame(sig), "HUP", "TERM"}));
    BOOST_CHECK_MESSAGE(signals_of(ns.init_log, 1).empty(),
                        "PID 1 was signalled" << dump(ns.init_log));
    check_stderr_format(ns.proc.err());
}

} // namespace

BOOST_FIXTURE_TEST_CASE(sigabrt_is_forwarded, Sandbox) {
    check_forwarded(*this, SIGABRT);
}
BOOST_FIXTURE_TEST_CASE(sigsegv_is_forwarded, Sandbox) {
    check_forwarded(*this, SIGSEGV);
}
BOOST_FIXTURE_TEST_CASE(sigbus_is_forwarded, Sandbox) {
    check_forwarded(*this, SIGBUS);
}
BOOST_FIXTURE_TEST_CASE(sigsys_is_forwarded, Sandbox) {
    check_forwarded(*this, SIGSYS);
}
BOOST_FIXTURE_TEST_CASE(sigill_is_forwarded, Sandbox) {
    check_forwarded(*this, SIGILL);
}
BOOST_FIXTURE_TEST_CASE(sigfpe_is_forwarded, Sandbox) {
    check_forwarded(*this, SIGFPE);
}
BOOST_FIXTURE_TEST_CASE(sigtrap_is_forwarded, Sandbox) {
    check_forwarded(*this, SIGTRAP);
}
