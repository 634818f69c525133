// The shipped units of config/systemd/, driven the way systemd drives them: ExecStartPre=,
// then ExecStart= with a NOTIFY_SOCKET until READY=1, ExecReload= with $MAINPID set to the
// main process (pidshim), and a stop as KillMode=mixed does it (KillSignal= to the main
// process alone). The exit status must count as success, and nothing may be left for
// systemd's final SIGKILL. (systemd-analyze verify checks the syntax: verify-units.sh.)
#include "hosts.hpp"

PIDSHIM_TEST_MODULE("systemd units");

using namespace hosts;

namespace {

// The [Service] settings of a shipped unit; a later line wins, as in systemd.
std::map<std::string, std::string> service_of(const std::string& unit) {
    std::map<std::string, std::string> out;
    bool in_service = false;
    for (auto& line : split_lines(read_config("systemd/" + unit))) {
        if (!line.empty() && line[0] == '[') {
            in_service = line == "[Service]";
        } else if (in_service && !line.empty() && line[0] != '#') {
            auto eq = line.find('=');
            out[line.substr(0, eq)] = line.substr(eq + 1);
        }
    }
    return out;
}

std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string w; in >> w;) {
        out.push_back(w);
    }
    return out;
}

std::string substitute(std::string line,
                       const std::vector<std::pair<std::string, std::string>>& replacements) {
    for (auto& [from, to] : replacements) {
        if (line.find(from) != std::string::npos) {
            line = replace_all(line, from, to);
        }
    }
    return line;
}

int signal_number(std::string name) {
    if (name.rfind("SIG", 0) == 0) {
        name = name.substr(3);
    }
    for (int sig = 1; sig < NSIG; ++sig) {
        if (signame(sig) == name) {
            return sig;
        }
    }
    BOOST_FAIL("unknown signal " << name);
    return 0;
}

// What a test needs to know about the daemon behind the unit.
struct Daemon {
    std::vector<std::pair<std::string, std::string>> paths; // unit text -> test paths
    std::function<void(pid_t shim)> check_reloaded;
};

void drive(const Sandbox& box, const std::string& unit, const Daemon& daemon) {
    auto service = service_of(unit);
    BOOST_REQUIRE_EQUAL(service["Type"], "notify");
    BOOST_REQUIRE_EQUAL(service["KillMode"], "mixed");
    std::vector<std::pair<std::string, std::string>> paths{{"/usr/bin/pidshim", pidshim_bin}};
    paths.insert(paths.end(), daemon.paths.begin(), daemon.paths.end());

    if (service.count("ExecStartPre")) {
        auto r = run(box, words(substitute(service["ExecStartPre"], paths)));
        BOOST_REQUIRE_MESSAGE(r.status == 0, "ExecStartPre= failed: " << r.out);
    }

    NotifyListener systemd(box.path("notify.sock"));
    SpawnOptions o;
    o.name = "service";
    o.env = {systemd.env()};
    auto start = words(substitute(service["ExecStart"], paths));
    Process main(start, box.dir, o);
    for (;;) {
        auto m = systemd.require_next("READY=1");
        if (has_line(m, "READY=1")) {
            break;
        }
    }

    auto reload = replace_all(service["ExecReload"], "$MAINPID", std::to_string(main.pid()));
    auto r = run(box, words(reload));
    BOOST_REQUIRE_MESSAGE(r.status == 0, "ExecReload= failed: " << r.out);
    daemon.check_reloaded(main.pid());

    main.signal(signal_number(service["KillSignal"]));
    auto stopping = systemd.require_next("STOPPING=1");
    BOOST_CHECK_MESSAGE(has_line(stopping, "STOPPING=1"), joined(stopping));
    int status = main.wait_exit(std::chrono::seconds(std::stoi(service["TimeoutStopSec"])));
    auto success = words(service["SuccessExitStatus"]);
    BOOST_CHECK_MESSAGE(status == 0 || std::find(success.begin(), success.end(),
                                                 std::to_string(status)) != success.end(),
                        "exit status " << status << " is a failure for systemd"
                                       << dump(main.err_path));
    // KillMode=mixed ends with SIGKILL for whatever is left in the cgroup: nothing should be.
    BOOST_CHECK_MESSAGE(box.leftovers().empty(), "left:" << describe(box.leftovers()));
}

} // namespace

BOOST_FIXTURE_TEST_CASE(forking_daemon_unit_starts_reloads_and_stops_cleanly, Sandbox) {
    auto log = path("testd.log");
    Daemon d;
    d.paths = {{"/run/exampled.pid", path("exampled.pid")},
               {"/usr/sbin/exampled", testd_bin + " --fork --log " + log}};
    d.check_reloaded = [&](pid_t) {
        pid_t daemon = wait_pidfile(path("exampled.pid"));
        wait_for_signal(log, daemon, SIGHUP);
    };
    drive(*this, "forking-daemon.service", d);
}

BOOST_FIXTURE_TEST_CASE(nginx_unit_starts_reloads_and_stops_cleanly, Sandbox) {
    write_file(path("nginx.conf"), nginx_conf(*this, port::systemd_nginx, path("nginx.pid")));
    Daemon d;
    d.paths = {{"/run/nginx.pid", path("nginx.pid")},
               {"/usr/sbin/nginx", "/usr/sbin/nginx -p " + dir + "/ -c " + path("nginx.conf") +
                                       " -e " + path("nginx-error.log")}};
    d.check_reloaded = [&](pid_t shim) {
        wait_for_line(path("nginx-error.log"),
                      "signal 1 (SIGHUP) received from " + std::to_string(shim));
        BOOST_CHECK(contains(http_get(port::systemd_nginx), "hello from nginx"));
    };
    drive(*this, "nginx-pidshim.service", d);
    BOOST_CHECK(contains(slurp(path("nginx-error.log")), "signal 3 (SIGQUIT) received"));
}
