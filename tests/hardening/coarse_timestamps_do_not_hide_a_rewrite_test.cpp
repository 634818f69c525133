// On a file system whose timestamps count whole seconds, a launcher that names itself in the
// pidfile and then, within the same second, rewrites the file in place with its daemon's pid
// (same inode, same size) and exits 0 does not fool pidshim: pidshim follows the daemon, does
// not stop it as a leftover, and stays until it is gone.
//
// The file system is an ext4 image with 128-byte inodes, which have no room for
// sub-second timestamps, loop-mounted inside the test's own PID and mount namespace: the
// mount goes away with the namespace, however the test ends. Needs root, a loop device and
// e2fsprogs; without root or a loop device the test says so and is skipped.
//
//   PID 1 testd --spawn (init.log)
//     sh: mounts $D/mnt
//       pidshim -v $D/mnt/app.pid testd --fork --launcher-pidfile 300 ... (app.log)
#include "hardening.hpp"

#include <iostream>

using namespace hardening;

PIDSHIM_TEST_MODULE("coarse timestamps do not hide a rewrite");

namespace {

const char script[] = R"(
mkdir "$D/mnt" && mount -o loop "$D/fs.img" "$D/mnt" || exit 90
"$PIDSHIM" -v "$D/mnt/app.pid" "$TESTD" --fork --launcher-pidfile 300 \
    --pidfile "$D/mnt/app.pid" --log "$D/app.log" &
wait $!
status=$?
umount "$D/mnt" 2>/dev/null
exit $status
)";

// Why this machine cannot run the test, or nothing if it can.
std::optional<std::string> cannot_loop_mount() {
    if (geteuid() != 0) {
        return "not root";
    }
    if (access("/dev/loop-control", R_OK | W_OK) != 0) {
        return std::string("no loop device: /dev/loop-control: ") + strerror(errno);
    }
    return std::nullopt;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(launcher_rewriting_within_one_second_is_followed_to_its_daemon, Sandbox) {
    if (auto why = cannot_loop_mount()) {
        // On stdout whatever the log level: CTest reads it to report the test as skipped.
        std::cout << "SKIPPED: needs a loop-mounted file system with one-second timestamps, "
                     "and this machine cannot loop-mount: "
                  << *why << std::endl;
        return;
    }
    auto image = path("fs.img");
    auto mkfs_log = path("mkfs.log");
    int made = std::system(("truncate -s 16M '" + image + "' && mkfs.ext4 -q -F -I 128 '" + image +
                            "' >'" + mkfs_log + "' 2>&1")
                               .c_str());
    BOOST_REQUIRE_MESSAGE(made == 0,
                          "cannot make an ext4 image (is e2fsprogs installed?)" << dump(mkfs_log));

    auto pidfile = path("mnt/app.pid");
    auto log = path("app.log");
    PidNamespace ns(*this, script);
    pid_t launcher = wait_started(log, "launcher");
    pid_t shim = ns.pidshim();
    // The mount exists only in the namespace, as its PID 1 sees it; looked at while the
    // launcher, which named itself, waits to name its daemon.
    wait_for_line(log, "pidfile pid=" + std::to_string(launcher) + " ");
    struct stat st {};
    auto seen_inside = "/proc/" + std::to_string(ns.host(1)) + "/root" + pidfile;
    BOOST_REQUIRE_MESSAGE(stat(seen_inside.c_str(), &st) == 0,
                          "cannot stat " << seen_inside << ": " << strerror(errno));
    BOOST_REQUIRE_MESSAGE(st.st_mtim.tv_nsec == 0 && st.st_ctim.tv_nsec == 0,
                          "the image keeps sub-second timestamps: this run cannot tell");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "exit pid=" + std::to_string(launcher) + " role=launcher code=0");
    // Both pids have as many digits, or the rewrite would change the file's size.
    BOOST_REQUIRE_EQUAL(std::to_string(launcher).size(), std::to_string(daemon).size());

    wait_following(ns.proc, pidfile, daemon);
    BOOST_CHECK_MESSAGE(signals_of(log, daemon).empty(),
                        "the daemon was signalled as a leftover" << dump(log));
    BOOST_REQUIRE_MESSAGE(ns.proc.running(),
                          "pidshim ended with the launcher" << dump(ns.proc.err_path));

    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_signal(log, daemon, SIGHUP);
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK((signals_of(log, daemon) == std::vector<std::string>{"HUP", "TERM"}));
    BOOST_CHECK_MESSAGE(signals_of(ns.init_log, 1).empty(),
                        "PID 1 was signalled" << dump(ns.init_log));
    check_stderr_format(ns.proc.err());
}
