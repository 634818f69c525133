// A relative PIDFILE names the file in the directory pidshim was started in, although pidshim
// then works from / : it is made absolute first, and the log lines show the absolute path.
// The daemon is found, followed across a re-exec, and every signal reaches it, each of which
// means reading PIDFILE again after the change of directory.
#include "harness.hpp"

using namespace harness;

PIDSHIM_TEST_MODULE("relative pidfile is made absolute");

BOOST_FIXTURE_TEST_CASE(relative_pidfile_is_followed_and_logged_absolute, Sandbox) {
    std::filesystem::create_directory(path("run"));
    auto absolute = path("run/x.pid");
    auto log = path("app.log");
    // COMMAND starts in the same directory and writes the same relative path, late, so that
    // pidshim has left the directory by then.
    Process shim({pidshim_bin, "-v", "run/x.pid", testd_bin, "--fork", "--pidfile", "run/x.pid",
                  "--pidfile-delay", "300", "--reexec-on", "USR2", "--log", log},
                 dir, SpawnOptions().in_dir(dir));
    pid_t daemon = wait_started(log, "daemon");
    wait_following(shim, absolute, daemon);

    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);

    // nginx's binary upgrade: the new master rewrites the pidfile, the old one leaves.
    shim.signal(SIGUSR2);
    pid_t master = wait_started(log, "master");
    wait_following(shim, absolute, master);
    shim.signal(SIGHUP);
    wait_for_signal(log, master, SIGHUP);

    shim.signal(SIGTERM);
    wait_for_signal(log, master, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    auto err = shim.err();
    for (auto& l : lines_with(err, "x.pid")) {
        BOOST_CHECK_MESSAGE(contains(l, absolute), "a line without the absolute path: " << l);
    }
    check_stderr_format(err);
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left:" << describe(leftovers()));
}
