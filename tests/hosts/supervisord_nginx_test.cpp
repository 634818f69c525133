// A real nginx in daemon mode under a real supervisord, through the shipped
// config/supervisord/nginx.conf entry.
#include "supervisord.hpp"

PIDSHIM_TEST_MODULE("supervisord with nginx");

using namespace hosts;

namespace {

const int nginx_port = port::supervisord_nginx;

std::string nginx_entry(const Sandbox& box) {
    write_file(box.path("nginx.conf"), nginx_conf(box, nginx_port, box.path("nginx.pid")));
    auto e = test_entry(box, "nginx.conf", "nginx");
    e.command.push_back({"/run/nginx.pid", box.path("nginx.pid")});
    e.command.push_back({"/usr/sbin/nginx", "/usr/sbin/nginx -p " + box.dir + "/ -c " +
                                                box.path("nginx.conf") + " -e " +
                                                box.path("nginx-error.log")});
    return adapt(e);
}

struct Host : SupervisordHost {
    Host() { start(nginx_entry(*this)); }
};
BOOST_TEST_GLOBAL_FIXTURE(Host);

} // namespace

BOOST_AUTO_TEST_CASE(signal_hup_reloads_nginx_and_stop_is_graceful) {
    auto& host = SupervisordHost::get();
    auto& sv = host.sv;
    auto path = [&](const std::string& name) { return host.path(name); };
    auto errors = path("nginx-error.log");
    sv->ctl({"start", "nginx"}, "nginx: started");
    pid_t shim = sv->pid_of("nginx");
    pid_t master = wait_pidfile(path("nginx.pid"));
    BOOST_CHECK(contains(http_get(nginx_port), "hello from nginx"));
    require_eventually([&] { return nginx_workers(master).size() == 2; }, "two nginx workers");
    auto workers = nginx_workers(master);

    // The master names the sender: the HUP came from pidshim.
    sv->ctl({"signal", "HUP", "nginx"}, "nginx: signalled");
    wait_for_line(errors, "signal 1 (SIGHUP) received from " + std::to_string(shim));
    for (pid_t w : workers) {
        BOOST_CHECK_MESSAGE(wait_dead(w), "old worker " << w << " still runs after the reload");
    }
    require_eventually([&] { return nginx_workers(master).size() == 2; }, "two new workers");
    BOOST_CHECK(contains(http_get(nginx_port), "hello from nginx"));

    // stopsignal=QUIT, nginx's graceful shutdown, forwarded by pidshim.
    auto running = host.processes_of("nginx");
    BOOST_CHECK_EQUAL(running.size(), 4U); // pidshim, the master, two workers
    sv->ctl({"stop", "nginx"}, "nginx: stopped");
    BOOST_CHECK(
        contains(slurp(errors), "signal 3 (SIGQUIT) received from " + std::to_string(shim)));
    for (pid_t p : running) {
        BOOST_CHECK_MESSAGE(!alive(p), "still running after stop:" << describe({p}));
    }
    BOOST_CHECK(http_get(nginx_port).empty());
    sv->expect("stopped: nginx \\(exit status 0\\)");
    BOOST_CHECK_EQUAL(sv->state("nginx"), "STOPPED");
}
