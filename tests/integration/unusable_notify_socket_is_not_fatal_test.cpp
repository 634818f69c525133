// A NOTIFY_SOCKET pidshim cannot use is one warning: pidshim runs the service anyway, and
// COMMAND does not get the variable either.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <sys/un.h>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("unusable notify socket is not fatal");

namespace {

struct Unusable {
    std::string value;
    std::string warning;
};

std::ostream& operator<<(std::ostream& o, const Unusable& u) {
    return o << "NOTIFY_SOCKET=" << u.value.substr(0, 40) << (u.value.size() > 40 ? "..." : "");
}

const std::string too_long = "/run/" + std::string(sizeof(sockaddr_un{}.sun_path), 'n');

const std::vector<Unusable> unusable = {
    {too_long,
     "NOTIFY_SOCKET '" + too_long + "' is longer than a socket path can be; not notifying"},
    {"vsock:2:1234", "NOTIFY_SOCKET 'vsock:2:1234' is not supported"},
};

bool names_notify_socket(const std::string& environ_text) {
    for (size_t start = 0; start < environ_text.size();) {
        size_t end = environ_text.find('\0', start);
        if (environ_text.compare(start, 14, "NOTIFY_SOCKET=") == 0) {
            return true;
        }
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return false;
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, pidshim_warns_once_and_runs_the_service, data::make(unusable),
                       socket) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process shim({pidshim_bin, pidfile, testd_bin, "--fork", "--pidfile", pidfile, "--log", log},
                 dir, SpawnOptions{}.with_env({"NOTIFY_SOCKET=" + socket.value}));
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    auto launcher = started(log, "launcher");
    BOOST_REQUIRE_EQUAL(launcher.size(), 1U);
    // The launcher is gone by now; the daemon inherited its environment.
    BOOST_CHECK_MESSAGE(!names_notify_socket(slurp("/proc/" + std::to_string(daemon) + "/environ")),
                        "COMMAND was given NOTIFY_SOCKET");

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    auto err = shim.err();
    BOOST_CHECK_MESSAGE(lines_with(err, "NOTIFY_SOCKET").size() == 1, dump(shim.err_path));
    BOOST_CHECK_MESSAGE(contains(err, socket.warning), dump(shim.err_path));
    check_stderr_format(err);
    BOOST_CHECK(!alive(daemon));
}
