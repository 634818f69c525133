// A real redis-server in daemon mode under a real supervisord, through the shipped
// config/supervisord/redis.conf entry, on a fixed 127.0.0.1 port.
#include "supervisord.hpp"

PIDSHIM_TEST_MODULE("supervisord with redis");

using namespace hosts;

namespace {

const int redis_port = port::supervisord_redis;

// redis.conf's entry as program `name`, with its pidfile NAME.pid and its log NAME.log.
std::string redis_entry(const Sandbox& box, const std::string& name,
                        const std::map<std::string, std::string>& set = {}) {
    write_file(box.path(name + ".conf"), lines({
                                             "port " + std::to_string(redis_port),
                                             "bind 127.0.0.1",
                                             "dir " + box.dir,
                                             "logfile " + box.path(name + ".log"),
                                             "save \"\"",
                                             "appendonly no",
                                         }));
    auto e = test_entry(box, "redis.conf", name);
    e.command.push_back({"/var/lib/redis/redis-server.pid", box.path(name + ".pid")});
    e.command.push_back({"/etc/redis/redis.conf", box.path(name + ".conf")});
    for (auto& [k, v] : set) {
        e.set[k] = v;
    }
    return adapt(e);
}

struct Host : SupervisordHost {
    Host() {
        start(redis_entry(*this, "redis") +
              // supervisord looks at its children about once a second: startsecs must
              // exceed that.
              redis_entry(*this, "redis-portbusy", {{"startretries", "1"}, {"startsecs", "3"}}));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Host);

// Keeps redis busy in a Lua script for two seconds: redis takes a TERM only once the
// script is over, so it is slow to stop, as a loaded daemon is. Two seconds outlast
// supervisord's own delay in noticing that a program exited (up to a second), so a wrapper
// that exits before the daemon is gone makes the restart fail. Returns the connection, which
// the caller closes.
int keep_busy(pid_t redis) {
    std::string script = "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] "
                         "while true do local n = redis.call('TIME') "
                         "if n[1] * 1000000 + n[2] - s > 2000000 then break end end return 1";
    std::string request = "*3\r\n$4\r\nEVAL\r\n$" + std::to_string(script.size()) + "\r\n" +
                          script + "\r\n$1\r\n0\r\n";
    long before = cpu_ticks(redis);
    int fd = connect_local(redis_port);
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(write(fd, request.data(), request.size()) ==
                  static_cast<ssize_t>(request.size()));
    // Only the script can make an idle redis burn 150 ms of CPU.
    require_eventually([&] { return cpu_ticks(redis) >= before + 15; },
                       "redis to run the Lua script");
    return fd;
}

} // namespace

BOOST_AUTO_TEST_CASE(restart_on_a_fixed_port_succeeds_every_time) {
    auto& host = SupervisordHost::get();
    auto& sv = host.sv;
    auto path = [&](const std::string& name) { return host.path(name); };
    sv->ctl({"start", "redis"}, "redis: started");
    pid_t redis = wait_pidfile(path("redis.pid"));
    BOOST_CHECK(contains(redis_ping(redis_port), "+PONG"));

    for (int round = 1; round <= 3; ++round) {
        BOOST_TEST_CONTEXT("restart " << round) {
            int busy = keep_busy(redis);
            // The new redis can bind the port only if the old one is gone: supervisorctl
            // restart starts it as soon as pidshim has exited.
            std::string out = sv->ctl({"restart", "redis"});
            close(busy);
            BOOST_CHECK_MESSAGE(contains(out, "redis: stopped") && contains(out, "redis: started"),
                                "supervisorctl restart said: " << out << dump(path("redis.log")));
            BOOST_CHECK(!alive(redis));
            BOOST_CHECK_MESSAGE(!contains(slurp(path("redis.log")), "Address already in use"),
                                "the new redis found the port taken by the old one");
            pid_t again = wait_pidfile(path("redis.pid"));
            BOOST_CHECK_NE(again, redis);
            redis = again;
            BOOST_CHECK_EQUAL(sv->state("redis"), "RUNNING");
            BOOST_CHECK(contains(redis_ping(redis_port), "+PONG"));
        }
    }

    // The shipped entry drops USR1, which would kill redis without a save.
    sv->ctl({"signal", "USR1", "redis"}, "redis: signalled");
    wait_for_line(path("redis.out"), "dropping SIGUSR1");
    BOOST_CHECK(contains(redis_ping(redis_port), "+PONG"));

    auto running = host.processes_of("redis");
    BOOST_CHECK_EQUAL(running.size(), 2U); // pidshim and redis
    sv->ctl({"stop", "redis"}, "redis: stopped");
    for (pid_t p : running) {
        BOOST_CHECK_MESSAGE(!alive(p), "still running after stop:" << describe({p}));
    }
    BOOST_CHECK_EQUAL(sv->state("redis"), "STOPPED");
    sv->expect("stopped: redis \\(exit status 0\\)");
}

BOOST_AUTO_TEST_CASE(redis_failing_on_a_busy_port_is_fatal_not_running) {
    auto& host = SupervisordHost::get();
    PortBlocker taken(redis_port);
    std::string out = host.sv->ctl({"start", "redis-portbusy"});
    BOOST_CHECK_MESSAGE(contains(out, "redis-portbusy: ERROR (spawn error)"), out);
    // The redis launcher exits 0 after forking; the forked redis fails to bind and exits 1
    // before it writes its pidfile: pidshim exits 1 rather than wait for a pidfile.
    host.sv->expect("exited: redis-portbusy \\(exit status 1; not expected\\)");
    host.sv->expect("spawned: 'redis-portbusy'");
    host.sv->expect("exited: redis-portbusy \\(exit status 1; not expected\\)");
    host.sv->expect("gave up: redis-portbusy entered FATAL state");
    BOOST_CHECK_EQUAL(host.sv->state("redis-portbusy"), "FATAL");
    BOOST_CHECK(!contains(slurp(host.sv->log), "redis-portbusy entered RUNNING state"));
    BOOST_CHECK(contains(slurp(host.path("redis-portbusy.log")), "Address already in use"));
    BOOST_CHECK(contains(slurp(host.path("redis-portbusy.out")), "never named a daemon"));
}
