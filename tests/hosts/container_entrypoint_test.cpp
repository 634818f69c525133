// config/container/Dockerfile's ENTRYPOINT and CMD, with its nginx.conf and STOPSIGNAL, run
// as PID 1 of a new PID namespace the way a container runtime runs them. Only what a
// container would provide is changed: pidshim's path, and the port, pidfile and log paths
// nginx would own there.
#include "hosts.hpp"

PIDSHIM_TEST_MODULE("container entrypoint");

using namespace hosts;

namespace {

const int nginx_port = port::container_nginx;

// The argument list of a Dockerfile's exec-form instruction: INSTRUCTION ["a", "b", ...].
std::vector<std::string> exec_form(const std::string& dockerfile, const std::string& instruction) {
    std::vector<std::string> out;
    for (auto& line : split_lines(dockerfile)) {
        if (line.rfind(instruction + " ", 0) != 0) {
            continue;
        }
        std::regex item("\"((?:[^\"\\\\]|\\\\.)*)\"");
        for (std::sregex_iterator it(line.begin(), line.end(), item), end; it != end; ++it) {
            out.push_back((*it)[1]);
        }
        BOOST_REQUIRE_MESSAGE(!out.empty(), instruction << " is not in exec form: " << line);
        return out;
    }
    BOOST_FAIL("no " << instruction << " in the Dockerfile");
    return out;
}

std::string plain_instruction(const std::string& dockerfile, const std::string& instruction) {
    for (auto& line : split_lines(dockerfile)) {
        if (line.rfind(instruction + " ", 0) == 0) {
            return line.substr(instruction.size() + 1);
        }
    }
    BOOST_FAIL("no " << instruction << " in the Dockerfile");
    return {};
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

} // namespace

BOOST_FIXTURE_TEST_CASE(entrypoint_serves_reloads_and_stops_as_pid_1, Sandbox) {
    std::string dockerfile = read_config("container/Dockerfile");
    auto entrypoint = exec_form(dockerfile, "ENTRYPOINT");
    auto cmd = exec_form(dockerfile, "CMD");
    int stop_signal = signal_number(plain_instruction(dockerfile, "STOPSIGNAL"));
    BOOST_REQUIRE_EQUAL(entrypoint.front(), "pidshim");

    // The image's nginx.conf, bound to a test port and with the pidfile in the test directory.
    auto pidfile = path("nginx.pid");
    auto conf = read_config("container/nginx.conf");
    conf = replace_all(conf, "listen 80;", "listen 127.0.0.1:" + std::to_string(nginx_port) + ";");
    conf = replace_all(conf, "/run/nginx.pid", pidfile);
    write_file(path("nginx.conf"), conf);

    // The container's log is a pipe in Docker; here a file opened for appending, so that
    // nginx, which reopens /dev/stderr by name, appends to it too instead of overwriting.
    auto container_log = path("container.log");
    std::vector<std::string> argv{"sh",          "-c",    "exec \"$0\" \"$@\" 2>>" + container_log,
                                  "unshare",     "--pid", "--fork",
                                  "--mount-proc"};
    for (auto& a : entrypoint) {
        argv.push_back(a == "pidshim" ? pidshim_bin : a == "/run/nginx.pid" ? pidfile : a);
    }
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    argv.insert(argv.end(), {"-p", dir + "/", "-c", path("nginx.conf"), "-e", path("startup.log")});
    SpawnOptions o;
    o.name = "container";
    Process container(argv, dir, o);

    pid_t shim = pidshim_child_of(container.pid()); // sh exec'd unshare, which forked
    BOOST_REQUIRE_EQUAL(innermost_pid(shim), 1);
    // The pidfile holds the master's pid inside the namespace.
    BOOST_REQUIRE(wait_for_text(
        pidfile, [](const std::string& t) { return !t.empty() && t.back() == '\n'; }, 10s));
    pid_t master = host_pid(shim, std::atoi(first_line_of(pidfile).c_str()));
    BOOST_CHECK(contains(http_get(nginx_port), "200 OK"));
    require_eventually([&] { return !nginx_workers(master).empty(); }, "nginx workers");
    auto workers = nginx_workers(master);

    // docker kill -s HUP: a reload; the access log stays on the container's log after it.
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_line(container_log, "signal 1 (SIGHUP) received");
    for (pid_t w : workers) {
        BOOST_CHECK_MESSAGE(wait_dead(w), "old worker " << w << " still runs after the reload");
    }
    BOOST_CHECK(contains(http_get(nginx_port), "200 OK"));
    wait_for_line(container_log, "\"GET / HTTP/1.0\" 200");
    wait_for_count(container_log, "\"GET / HTTP/1.0\" 200", 2);

    // docker stop: STOPSIGNAL to PID 1; nginx stops gracefully and its status comes out.
    BOOST_REQUIRE(kill(shim, stop_signal) == 0);
    BOOST_CHECK_EQUAL(container.wait_exit(10s), 0);
    BOOST_CHECK(!alive(master));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left:" << describe(leftovers()));
    BOOST_CHECK(contains(slurp(container_log), "exiting"));
}
