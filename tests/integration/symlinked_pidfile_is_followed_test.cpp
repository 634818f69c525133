// PIDFILE may be a symlink into a directory that does not exist yet when pidshim starts, or
// that is removed and created again before the daemon writes: the daemon is adopted either
// way, well before --timeout.
#include "harness.hpp"

#include <filesystem>

using namespace harness;

PIDSHIM_TEST_MODULE("symlinked pidfile is followed");

namespace {

// Runs pidshim on run/x.pid, a symlink to ../TARGET, with COMMAND `sh -c SCRIPT` in the
// test's directory; SCRIPT sees $TESTD and $LOG and ends by exec'ing the daemon.
void check_adopted(Sandbox& box, const std::string& target, const std::string& script) {
    auto pidfile = box.path("run/x.pid");
    auto log = box.path("app.log");
    std::filesystem::create_directory(box.path("run"));
    std::filesystem::create_symlink("../" + target, pidfile);
    Process shim({pidshim_bin, "-v", "--timeout", "10", pidfile, "sh", "-c", script}, box.dir,
                 SpawnOptions().in_dir(box.dir).with_env({"TESTD=" + testd_bin, "LOG=" + log}));
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    wait_following(shim, pidfile, daemon);
    BOOST_REQUIRE(shim.running());

    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGHUP), 1u);
    BOOST_CHECK_MESSAGE(box.leftovers().empty(), "left running:" << describe(box.leftovers()));
    check_stderr_format(shim.err());
}

} // namespace

// The half second lets pidshim settle on what it watches before the directory appears.
BOOST_FIXTURE_TEST_CASE(symlink_into_a_directory_created_later, Sandbox) {
    check_adopted(*this, "later/x.pid",
                  "sleep 0.5; mkdir -p later/sub; exec \"$TESTD\" --pidfile later/x.pid --log "
                  "\"$LOG\"");
}

BOOST_FIXTURE_TEST_CASE(symlink_two_directories_deep_created_at_once, Sandbox) {
    check_adopted(*this, "later/sub/x.pid",
                  "sleep 0.5; mkdir -p later/sub; exec \"$TESTD\" --pidfile later/sub/x.pid "
                  "--log \"$LOG\"");
}

BOOST_FIXTURE_TEST_CASE(symlink_into_a_directory_removed_and_created_again, Sandbox) {
    std::filesystem::create_directory(path("later"));
    check_adopted(*this, "later/x.pid",
                  "sleep 0.5; rm -r later; mkdir later; exec \"$TESTD\" --pidfile later/x.pid "
                  "--log \"$LOG\"");
}
