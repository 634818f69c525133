// After starting COMMAND, which keeps the directory pidshim was started in, pidshim changes
// its own working directory to /, so that it never keeps a mount busy (a service started from
// a directory on a file system that is later unmounted). In both modes.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("pidshim leaves its start directory to COMMAND");

namespace {

std::string cwd_of(pid_t pid) {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec);
    return ec ? "(" + ec.message() + ")" : p.string();
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, pidshim_moves_to_root_command_stays, data::make({false, true}),
                       pidfile_mode) {
    auto start_dir = path("started here");
    std::filesystem::create_directory(start_dir);
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    std::vector<std::string> argv{pidshim_bin, "-v"};
    if (pidfile_mode) {
        argv.insert(argv.end(), {pidfile, testd_bin, "--fork", "--pidfile", pidfile});
    } else {
        argv.insert(argv.end(), {"--no-pidfile", testd_bin, "--no-pidfile"});
    }
    argv.insert(argv.end(), {"--log", log});
    Process shim(argv, dir, SpawnOptions().in_dir(start_dir));
    pid_t daemon = wait_started(log, "daemon");
    if (pidfile_mode) {
        wait_following(shim, pidfile, daemon);
    } else {
        wait_for_line(shim.err_path, "following pid " + std::to_string(daemon));
    }

    BOOST_CHECK_MESSAGE(eventually([&] { return cwd_of(shim.pid()) == "/"; }),
                        "pidshim's working directory is " << cwd_of(shim.pid()) << ", not /");
    // testd never changes directory: the daemon is where COMMAND started.
    BOOST_CHECK_EQUAL(cwd_of(daemon), start_dir);

    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    check_stderr_format(shim.err());
}
