// A real PostgreSQL through pg_ctl start under a real supervisord, through the shipped
// config/supervisord/postgresql.conf entry, as the postgres user: a cluster made by initdb in
// the test directory (the test's postgresql.conf stands for Debian's /etc/postgresql/15/main
// one), a socket there and a 127.0.0.1 port. Needs postgresql-15 (initdb, pg_ctl, postgres
// in /usr/lib/postgresql/15/bin) and postgresql-client-15 (psql).
#include "supervisord.hpp"

#include <pwd.h>

PIDSHIM_TEST_MODULE("supervisord with PostgreSQL");

using namespace hosts;

namespace {

const int pg_port = port::supervisord_postgresql;
const std::string name = "postgresql"; // the shipped entry's program name
const std::string bin = "/usr/lib/postgresql/15/bin/";

// Everything the server writes is in DIR/pg, which belongs to the postgres user.
struct Files {
    explicit Files(const Sandbox& box)
        : dir(box.path("pg")), data(dir + "/data"), conf(data + "/postgresql.conf"),
          pidfile(data + "/postmaster.pid"), log(dir + "/postgresql.log"),
          out(box.path(name + ".out")) {}
    std::string dir, data, conf, pidfile, log, out;
};

void give_to(const std::string& path, const std::string& user) {
    passwd* pw = getpwnam(user.c_str());
    BOOST_REQUIRE_MESSAGE(pw, "no user " << user);
    BOOST_REQUIRE_MESSAGE(chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0,
                          "chown " << path << ": " << strerror(errno));
}

void make_cluster(const Sandbox& box, const Files& f) {
    // The test directory is root's (0700): postgres must be able to pass through it.
    BOOST_REQUIRE(chmod(box.dir.c_str(), 0711) == 0);
    std::filesystem::create_directory(f.dir);
    BOOST_REQUIRE(chmod(f.dir.c_str(), 0700) == 0);
    give_to(f.dir, "postgres");
    auto r = run(box,
                 {"runuser", "-u", "postgres", "--", bin + "initdb", "-D", f.data, "-U", "postgres",
                  "--auth=trust", "--no-sync", "--no-instructions"},
                 60s);
    BOOST_REQUIRE_MESSAGE(r.status == 0, "initdb failed: " << r.out);
    // Appended, so these win over initdb's own settings.
    std::ofstream(f.conf, std::ios::app) << lines({
        "listen_addresses = '127.0.0.1'",
        "port = " + std::to_string(pg_port),
        "unix_socket_directories = '" + f.dir + "'",
        "shared_buffers = 16MB",
        "max_connections = 10",
        // A throwaway cluster: no syncs, which also spares the start after a crash its pass
        // over the whole data directory.
        "fsync = off",
    });
}

std::string postgresql_entry(const Sandbox& box, const Files& f) {
    auto e = test_entry(box, "postgresql.conf");
    e.command.push_back({"/var/lib/postgresql/15/main", f.data}); // the pidfile's and -D
    e.command.push_back({"/var/log/postgresql/postgresql-15-main.log", f.log});
    e.command.push_back({"/etc/postgresql/15/main/postgresql.conf", f.conf});
    e.drop.clear(); // user=postgres stays: PostgreSQL refuses to run as root
    return adapt(e);
}

struct Host : SupervisordHost {
    Host() {
        Files f(*this);
        make_cluster(*this, f);
        start(postgresql_entry(*this, f));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Host);

Run psql(const std::string& query) {
    return run(SupervisordHost::get(),
               {"psql", "-X", "-h", "127.0.0.1", "-p", std::to_string(pg_port), "-U", "postgres",
                "-d", "postgres", "-At", "-c", query},
               15s);
}

void check_answers(const std::string& why) {
    auto r = psql("select 1");
    BOOST_CHECK_MESSAGE(r.status == 0 && r.out == "1\n",
                        why << ": select 1 said (" << r.status << ") " << r.out);
}

size_t count_lines(const std::string& path, const std::string& needle) {
    return lines_with(slurp(path), needle).size();
}

// Waits for the server to accept connections for the `nth` time; returns the postmaster's pid.
pid_t wait_ready(const Files& f, size_t nth) {
    wait_for_count(f.log, "database system is ready to accept connections", nth, 30s);
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

BOOST_AUTO_TEST_CASE(postgresql_through_pg_ctl_starts_reloads_stops_and_survives_a_crash) {
    auto& host = SupervisordHost::get();
    auto& sv = host.sv;
    Files f(host);
    size_t starts = 0;

    BOOST_TEST_CONTEXT("start") {
        sv->ctl({"start", name}, name + ": started");
        BOOST_CHECK_EQUAL(sv->state(name), "RUNNING");
        pid_t postmaster = wait_ready(f, ++starts);
        check_answers("after the start");
        // pidshim runs as postgres, as the entry says.
        BOOST_CHECK_EQUAL(std::stoul(status_field(sv->pid_of(name), "Uid")),
                          getpwnam("postgres")->pw_uid);
        // postmaster.pid: the pid on the first line, then more lines, the last one a state.
        auto pidfile = split_lines(slurp(f.pidfile));
        BOOST_CHECK_GE(pidfile.size(), 7U);
        BOOST_CHECK_EQUAL(pidfile.front(), std::to_string(postmaster));
    }

    BOOST_TEST_CONTEXT("signal HUP reloads the configuration") {
        auto r = psql("show work_mem");
        BOOST_CHECK_EQUAL(r.out, "4MB\n");
        std::ofstream(f.conf, std::ios::app) << "work_mem = '7MB'\n";
        size_t reloads = count_lines(f.log, "received SIGHUP, reloading configuration files");
        sv->ctl({"signal", "HUP", name}, name + ": signalled");
        wait_for_count(f.log, "received SIGHUP, reloading configuration files", reloads + 1);
        wait_for_line(f.log, "parameter \"work_mem\" changed to \"7MB\"");
        r = psql("show work_mem");
        BOOST_CHECK_MESSAGE(r.out == "7MB\n", "work_mem after the reload: " << r.out);
        check_answers("after the reload");
    }

    BOOST_TEST_CONTEXT("stop") {
        auto running = host.processes_of(name);
        // pidshim, the postmaster and its background processes.
        BOOST_CHECK_GE(running.size(), 5U);
        sv->ctl({"stop", name}, name + ": stopped");
        check_all_gone(running, "after supervisorctl stop returned");
        auto log = slurp(f.log);
        // TERM arrived as INT: the fast shutdown, and its checkpoint.
        BOOST_CHECK_MESSAGE(contains(log, "received fast shutdown request") &&
                                contains(log, "database system is shut down"),
                            "no clean shutdown in the log" << dump(f.log));
        sv->expect("stopped: " + name + " \\(exit status 0\\)");
        BOOST_CHECK_EQUAL(sv->state(name), "STOPPED");
        BOOST_CHECK_LT(connect_local(pg_port), 0);
        BOOST_CHECK(!std::filesystem::exists(f.pidfile));
    }

    BOOST_TEST_CONTEXT("start again") {
        sv->ctl({"start", name}, name + ": started");
        wait_ready(f, ++starts);
        check_answers("after the second start");
    }

    BOOST_TEST_CONTEXT("kill -9 of the postmaster: supervisord restarts it") {
        pid_t shim = sv->pid_of(name);
        pid_t postmaster = wait_pidfile(f.pidfile);
        auto before = host.processes_of(name);
        BOOST_REQUIRE(kill(postmaster, SIGKILL) == 0);
        sv->expect("exited: " + name + " \\(exit status 137; not expected\\)", 30s);
        // pidshim exits only once the postmaster's backends are gone too.
        check_all_gone(before, "after pidshim exited");
        sv->expect("spawned: '" + name + "'");
        sv->expect("success: " + name + " entered RUNNING state", 30s);
        // The stale postmaster.pid named the dead postmaster: the new one rewrote it.
        pid_t again = wait_ready(f, ++starts);
        BOOST_CHECK_NE(again, postmaster);
        BOOST_CHECK_NE(sv->pid_of(name), shim);
        BOOST_CHECK(contains(slurp(f.log), "automatic recovery in progress"));
        check_answers("after supervisord restarted it");
    }

    BOOST_TEST_CONTEXT("final stop") {
        auto running = host.processes_of(name);
        size_t shutdowns = count_lines(f.log, "database system is shut down");
        sv->ctl({"stop", name}, name + ": stopped");
        check_all_gone(running, "after the final stop");
        BOOST_CHECK_EQUAL(count_lines(f.log, "database system is shut down"), shutdowns + 1);
        BOOST_CHECK_EQUAL(sv->state(name), "STOPPED");
        BOOST_CHECK_MESSAGE(live_descendants_of(sv->pid()).empty(),
                            "left below supervisord:" << describe(live_descendants_of(sv->pid())));
    }
}
