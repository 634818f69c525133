// A real Apache httpd (event MPM) through apache2ctl -k start under a real supervisord,
// through the shipped config/supervisord/apache2.conf entry: APACHE_CONFDIR points apache2ctl
// at a directory of the test's, with its own envvars and a minimal apache2.conf (its own
// ServerRoot, PidFile and 127.0.0.1 port; modules loaded from /usr/lib/apache2/modules; none
// of the distribution's sites). Needs apache2 (apache2ctl, apache2, its modules).
#include "supervisord.hpp"

PIDSHIM_TEST_MODULE("supervisord with Apache");

using namespace hosts;

namespace {

const int apache_port = port::supervisord_apache;
const std::string name = "apache2"; // the shipped entry's program name

struct Files {
    explicit Files(const Sandbox& box)
        : dir(box.path("apache")), htdocs(dir + "/htdocs"), pidfile(dir + "/apache2.pid"),
          log(dir + "/error.log"), out(box.path(name + ".out")) {}
    std::string dir, htdocs, pidfile, log, out;
};

void make_config(const Sandbox& box, const Files& f) {
    // The test directory is root's (0700): the children (www-data) must reach the documents.
    BOOST_REQUIRE(chmod(box.dir.c_str(), 0711) == 0);
    std::filesystem::create_directories(f.htdocs);
    write_file(f.htdocs + "/index.html", "hello from apache\n");
    // What Debian's /etc/apache2/envvars defines, in the test directory; apache2ctl creates the
    // run and lock directories.
    write_file(f.dir + "/envvars", lines({
                                       "export APACHE_RUN_USER=www-data",
                                       "export APACHE_RUN_GROUP=www-data",
                                       "export APACHE_PID_FILE=" + f.pidfile,
                                       "export APACHE_RUN_DIR=" + f.dir + "/run",
                                       "export APACHE_LOCK_DIR=" + f.dir + "/lock",
                                       "export APACHE_LOG_DIR=" + f.dir,
                                       "export LANG=C",
                                   }));
    const std::string modules = "/usr/lib/apache2/modules/";
    // apache2ctl runs apache2 -d APACHE_CONFDIR, which reads apache2.conf there.
    write_file(f.dir + "/apache2.conf",
               lines({
                   "ServerName localhost",
                   "PidFile ${APACHE_PID_FILE}",
                   "DefaultRuntimeDir ${APACHE_RUN_DIR}",
                   "Mutex file:${APACHE_LOCK_DIR} default",
                   "User ${APACHE_RUN_USER}",
                   "Group ${APACHE_RUN_GROUP}",
                   "ErrorLog ${APACHE_LOG_DIR}/error.log",
                   "LogLevel info",
                   "LoadModule mpm_event_module " + modules + "mod_mpm_event.so",
                   "LoadModule authz_core_module " + modules + "mod_authz_core.so",
                   "LoadModule dir_module " + modules + "mod_dir.so",
                   "Listen 127.0.0.1:" + std::to_string(apache_port),
                   // Two children of four threads each, and no reason to start or stop more:
                   // 8 idle threads lie between MinSpareThreads and MaxSpareThreads.
                   "StartServers 2",
                   "ServerLimit 4",
                   "ThreadsPerChild 4",
                   "MinSpareThreads 4",
                   "MaxSpareThreads 12",
                   "MaxRequestWorkers 16",
                   "DocumentRoot " + f.htdocs,
                   "DirectoryIndex index.html",
                   "<Directory " + f.htdocs + ">",
                   "    Require all granted",
                   "</Directory>",
               }));
}

std::string apache_entry(const Sandbox& box, const Files& f) {
    auto e = test_entry(box, "apache2.conf");
    e.command.push_back({"/run/apache2/apache2.pid", f.pidfile});
    e.set["environment"] = "APACHE_CONFDIR=\"" + f.dir + "\"";
    return adapt(e);
}

struct Host : SupervisordHost {
    Host() {
        Files f(*this);
        make_config(*this, f);
        start(apache_entry(*this, f));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Host);

void check_answers(const std::string& why) {
    auto reply = http_get(apache_port);
    BOOST_CHECK_MESSAGE(contains(reply, " 200 OK") && contains(reply, "hello from apache"),
                        why << ": GET / said: " << reply);
}

// The live children of the parent, in pid order.
std::vector<pid_t> children(pid_t parent) {
    std::vector<pid_t> out;
    for (pid_t p : children_of(parent)) {
        if (alive(p)) {
            out.push_back(p);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<pid_t> two_children(pid_t parent, const std::string& what) {
    require_eventually([&] { return children(parent).size() == 2; }, what);
    return children(parent);
}

// Waits until Apache has started for the `nth` time; returns the parent's pid.
pid_t wait_started(const Files& f, size_t nth) {
    wait_for_count(f.log, "resuming normal operations", nth, 30s);
    return wait_pidfile(f.pidfile);
}

void check_all_gone(const std::vector<pid_t>& pids, const std::string& when) {
    std::vector<pid_t> left;
    for (pid_t p : pids) {
        if (alive(p)) {
            left.push_back(p);
        }
    }
    BOOST_CHECK_MESSAGE(left.empty(), "still running " << when << ":" << describe(left));
}

} // namespace

BOOST_AUTO_TEST_CASE(apache_through_apache2ctl_starts_reloads_stops_and_survives_a_crash) {
    auto& host = SupervisordHost::get();
    auto& sv = host.sv;
    Files f(host);
    // "resuming normal operations" comes with each start and each graceful restart.
    size_t configured = 0;

    BOOST_TEST_CONTEXT("start") {
        sv->ctl({"start", name}, name + ": started");
        BOOST_CHECK_EQUAL(sv->state(name), "RUNNING");
        pid_t parent = wait_started(f, ++configured);
        two_children(parent, "two children");
        check_answers("after the start");
        // pidshim, the parent and its two children, once apache2ctl has exited.
        wait_for_line(
            f.out,
            [](const std::string& l) {
                return contains(l, "/usr/sbin/apache2ctl (pid ") &&
                       contains(l, ") exited with status 0");
            },
            "apache2ctl's exit");
        require_eventually([&] { return host.processes_of(name).size() == 4; },
                           "pidshim, the parent and two children, and nothing else");
    }

    BOOST_TEST_CONTEXT("signal HUP is a graceful restart: new children") {
        pid_t parent = wait_pidfile(f.pidfile);
        auto old = two_children(parent, "two children");
        sv->ctl({"signal", "HUP", name}, name + ": signalled");
        wait_for_line(f.out, "forwarded SIGHUP as SIGUSR1 to pid " + std::to_string(parent));
        wait_for_line(f.log, "SIGUSR1 received.  Doing graceful restart");
        wait_started(f, ++configured);
        for (pid_t p : old) {
            BOOST_CHECK_MESSAGE(wait_dead(p, 10s), "old child " << p << " still runs");
        }
        auto renewed = two_children(parent, "two new children");
        for (pid_t p : renewed) {
            BOOST_CHECK(std::find(old.begin(), old.end(), p) == old.end());
        }
        BOOST_CHECK_EQUAL(wait_pidfile(f.pidfile), parent); // the same parent
        check_answers("after the graceful restart");
    }

    BOOST_TEST_CONTEXT("stop is a graceful stop") {
        auto running = host.processes_of(name);
        sv->ctl({"stop", name}, name + ": stopped");
        check_all_gone(running, "after supervisorctl stop returned");
        BOOST_CHECK_MESSAGE(contains(slurp(f.log), "caught SIGWINCH, shutting down gracefully"),
                            "no graceful stop in the error log" << dump(f.log));
        sv->expect("stopped: " + name + " \\(exit status 0\\)");
        BOOST_CHECK_EQUAL(sv->state(name), "STOPPED");
        BOOST_CHECK(http_get(apache_port).empty());
    }

    BOOST_TEST_CONTEXT("start again") {
        sv->ctl({"start", name}, name + ": started");
        wait_started(f, ++configured);
        check_answers("after the second start");
    }

    BOOST_TEST_CONTEXT("kill -9 of the parent: supervisord restarts it") {
        pid_t shim = sv->pid_of(name);
        pid_t parent = wait_pidfile(f.pidfile);
        two_children(parent, "two children");
        auto before = host.processes_of(name);
        BOOST_REQUIRE(kill(parent, SIGKILL) == 0);
        // The orphaned children ignore SIGTERM and keep the port: pidshim gives the pidfile 3 s
        // to name a successor, SIGTERMs them, SIGKILLs them 5 s later, and only then exits.
        sv->expect("exited: " + name + " \\(exit status 137; not expected\\)", 30s);
        check_all_gone(before, "after pidshim exited");
        sv->expect("spawned: '" + name + "'");
        sv->expect("success: " + name + " entered RUNNING state", 30s);
        pid_t again = wait_started(f, ++configured);
        BOOST_CHECK_NE(again, parent);
        BOOST_CHECK_NE(sv->pid_of(name), shim);
        BOOST_CHECK(!contains(slurp(f.log), "Address already in use"));
        check_answers("after supervisord restarted it");
    }

    BOOST_TEST_CONTEXT("final stop") {
        auto running = host.processes_of(name);
        sv->ctl({"stop", name}, name + ": stopped");
        check_all_gone(running, "after the final stop");
        BOOST_CHECK_EQUAL(sv->state(name), "STOPPED");
        BOOST_CHECK_MESSAGE(live_descendants_of(sv->pid()).empty(),
                            "left below supervisord:" << describe(live_descendants_of(sv->pid())));
    }
}
