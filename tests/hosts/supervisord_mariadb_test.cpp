// A real MariaDB through mysqld_safe under a real supervisord, through the shipped
// config/supervisord/mysql.conf entry: a data directory made by mariadb-install-db in the test
// directory, small buffers, a socket there and a 127.0.0.1 port. mysqld_safe reads the test's
// my.cnf (--defaults-file), nothing of /etc/mysql. Needs mariadb-server (mysqld_safe,
// mariadbd, mariadb-install-db) and mariadb-client (mariadb).
#include "supervisord.hpp"

#include <pwd.h>

PIDSHIM_TEST_MODULE("supervisord with MariaDB");

using namespace hosts;

namespace {

const int mariadb_port = port::supervisord_mariadb;
const std::string name = "mysql"; // the shipped entry's program name

// Everything mysqld writes is in DIR/mysql, which belongs to the mysql user.
struct Files {
    explicit Files(const Sandbox& box)
        : cnf(box.path("my.cnf")), dir(box.path("mysql")), data(dir + "/data"),
          socket(dir + "/mysqld.sock"), pidfile(dir + "/mysqld.pid"), log(dir + "/error.log"),
          out(box.path(name + ".out")) {}
    std::string cnf, dir, data, socket, pidfile, log, out;
};

void give_to(const std::string& path, const std::string& user) {
    passwd* pw = getpwnam(user.c_str());
    BOOST_REQUIRE_MESSAGE(pw, "no user " << user);
    BOOST_REQUIRE_MESSAGE(chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0,
                          "chown " << path << ": " << strerror(errno));
}

// A server as small as MariaDB allows, on the test's port and socket. mysqld_safe reads the
// [mysqld] group too (datadir, socket, pid-file, log-error, user).
void make_data_directory(const Sandbox& box, const Files& f) {
    // The test directory is root's (0700): the mysql user must be able to pass through it.
    BOOST_REQUIRE(chmod(box.dir.c_str(), 0711) == 0);
    std::filesystem::create_directory(f.dir);
    give_to(f.dir, "mysql");
    write_file(f.cnf, lines({
                          "[mysqld]",
                          "user=mysql",
                          "datadir=" + f.data,
                          "socket=" + f.socket,
                          "pid-file=" + f.pidfile,
                          "log-error=" + f.log,
                          "port=" + std::to_string(mariadb_port),
                          "bind-address=127.0.0.1",
                          "skip-name-resolve",
                          "innodb_buffer_pool_size=8M",
                          "innodb_log_file_size=4M",
                          "key_buffer_size=1M",
                          "max_connections=10",
                          "performance_schema=OFF",
                          // A throwaway database: no flushes to wait for.
                          "innodb_flush_log_at_trx_commit=0",
                          "innodb_doublewrite=0",
                          // Binary logging, so that the log flush a HUP asks for shows: a new
                          // binary log, listed in DATADIR/mysql-bin.index.
                          "log-bin=mysql-bin",
                      }));
    auto r = run(box,
                 {"mariadb-install-db", "--defaults-file=" + f.cnf,
                  "--auth-root-authentication-method=normal", "--skip-test-db"},
                 60s);
    BOOST_REQUIRE_MESSAGE(r.status == 0, "mariadb-install-db failed: " << r.out);
}

std::string mysql_entry(const Sandbox& box, const Files& f) {
    auto e = test_entry(box, "mysql.conf");
    e.command.push_back({"/run/mysqld/mysqld.pid", f.pidfile});
    // --defaults-file must be mysqld_safe's first option.
    e.command.push_back({"/usr/bin/mysqld_safe", "/usr/bin/mysqld_safe --defaults-file=" + f.cnf});
    return adapt(e);
}

struct Host : SupervisordHost {
    Host() {
        Files f(*this);
        make_data_directory(*this, f);
        start(mysql_entry(*this, f));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Host);

// A query through the mariadb client over TCP (or the socket), as `user` without a password.
Run sql(const std::string& query, const std::string& user = "root",
        const std::string& socket = {}) {
    std::vector<std::string> argv{"mariadb", "--no-defaults", "-N", "-B", "-u", user};
    if (socket.empty()) {
        argv.insert(argv.end(),
                    {"--protocol=tcp", "-h", "127.0.0.1", "-P", std::to_string(mariadb_port)});
    } else {
        argv.insert(argv.end(), {"--protocol=socket", "-S", socket});
    }
    argv.insert(argv.end(), {"-e", query});
    return run(SupervisordHost::get(), argv, 15s);
}

void check_answers(const std::string& why) {
    auto r = sql("select 1");
    BOOST_CHECK_MESSAGE(r.status == 0 && r.out == "1\n",
                        why << ": select 1 said (" << r.status << ") " << r.out);
}

size_t count_lines(const std::string& path, const std::string& needle) {
    return lines_with(slurp(path), needle).size();
}

// Waits for mysqld to be ready for the `nth` time since the data directory was made: it says so
// in its log after it wrote its pidfile; returns the pid the pidfile names.
pid_t wait_ready(const Files& f, size_t nth) {
    wait_for_count(f.log, "ready for connections", nth, 30s);
    return wait_pidfile(f.pidfile);
}

// mysqld_safe below pidshim.
pid_t mysqld_safe_of(pid_t shim) {
    for (pid_t p : children_of(shim)) {
        if (contains(slurp("/proc/" + std::to_string(p) + "/cmdline"), "mysqld_safe")) {
            return p;
        }
    }
    BOOST_FAIL("no mysqld_safe below pidshim " << shim);
    return -1;
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

BOOST_AUTO_TEST_CASE(mariadb_through_mysqld_safe_starts_reloads_stops_and_survives_a_crash) {
    auto& host = SupervisordHost::get();
    auto& sv = host.sv;
    Files f(host);
    size_t starts = 0;

    BOOST_TEST_CONTEXT("start") {
        sv->ctl({"start", name}, name + ": started");
        BOOST_CHECK_EQUAL(sv->state(name), "RUNNING");
        wait_ready(f, ++starts);
        check_answers("after the start");
        auto r = sql("select 1", "root", f.socket);
        BOOST_CHECK_MESSAGE(r.out == "1\n", "over the socket: " << r.out);
        // pidshim, mysqld_safe and mariadbd.
        BOOST_CHECK_EQUAL(host.processes_of(name).size(), 3U);
    }

    BOOST_TEST_CONTEXT("signal HUP reloads the grant tables and flushes the logs") {
        // A user written straight into the grant table is unknown to the server until it
        // reloads the grant tables, which HUP makes it do.
        auto r = sql("INSERT INTO mysql.global_priv (Host, User, Priv) VALUES ('%', 'probe', "
                     "'{\"access\":0,\"plugin\":\"mysql_native_password\","
                     "\"authentication_string\":\"\"}')");
        BOOST_REQUIRE_MESSAGE(r.status == 0, r.out);
        r = sql("select current_user()", "probe");
        BOOST_CHECK_MESSAGE(r.status != 0 && contains(r.out, "Access denied"), r.out);
        auto index = f.data + "/mysql-bin.index";
        size_t binlogs = count_lines(index, "mysql-bin.");
        size_t reports = count_lines(f.log, "Status information:");
        sv->ctl({"signal", "HUP", name}, name + ": signalled");
        wait_for_line(f.out, "forwarded SIGHUP to pid " + std::to_string(wait_pidfile(f.pidfile)));
        // mysqld's HUP handler writes a status report to the error log, reloads the grant
        // tables, then flushes the logs, which starts a new binary log.
        wait_for_count(f.log, "Status information:", reports + 1);
        wait_for_count(index, "mysql-bin.", binlogs + 1);
        r = sql("select current_user()", "probe");
        BOOST_CHECK_MESSAGE(r.status == 0 && r.out == "probe@%\n", r.out << dump(f.log));
        check_answers("after the reload");
    }

    BOOST_TEST_CONTEXT("stop") {
        auto running = host.processes_of(name);
        sv->ctl({"stop", name}, name + ": stopped");
        check_all_gone(running, "after supervisorctl stop returned");
        auto log = slurp(f.log);
        BOOST_CHECK_MESSAGE(
            contains(log, "InnoDB: Starting shutdown...") &&
                contains(log, "Shutdown completed; log sequence number") &&
                contains(log, "mariadbd: Shutdown complete") &&
                contains(log, "mysqld_safe mysqld from pid file " + f.pidfile + " ended"),
            "no clean shutdown in the error log" << dump(f.log));
        sv->expect("stopped: " + name + " \\(exit status 0\\)");
        BOOST_CHECK_EQUAL(sv->state(name), "STOPPED");
        BOOST_CHECK_LT(connect_local(mariadb_port), 0);
    }

    BOOST_TEST_CONTEXT("start again") {
        sv->ctl({"start", name}, name + ": started");
        wait_ready(f, ++starts);
        check_answers("after the second start");
    }

    BOOST_TEST_CONTEXT("kill -9 of mariadbd: mysqld_safe restarts it, supervisord sees nothing") {
        pid_t shim = sv->pid_of(name);
        pid_t mysqld = wait_pidfile(f.pidfile);
        BOOST_REQUIRE(kill(mysqld, SIGKILL) == 0);
        wait_for_line(f.log, "mysqld_safe mysqld restarted");
        pid_t again = wait_ready(f, ++starts);
        BOOST_CHECK_NE(again, mysqld);
        wait_for_line(f.out, "following pid " + std::to_string(again) +
                                 " (mariadbd) (it replaced pid " + std::to_string(mysqld) + ")");
        check_answers("after mysqld_safe restarted mariadbd");
        BOOST_CHECK_EQUAL(sv->state(name), "RUNNING");
        BOOST_CHECK_EQUAL(sv->pid_of(name), shim);
        BOOST_CHECK_MESSAGE(!contains(slurp(sv->log), "exited: " + name),
                            "supervisord saw an exit" << dump(sv->log));
        BOOST_CHECK_EQUAL(host.processes_of(name).size(), 3U);
    }

    BOOST_TEST_CONTEXT("kill -9 of mysqld_safe, then of mariadbd: supervisord restarts it") {
        pid_t shim = sv->pid_of(name);
        pid_t mysqld = wait_pidfile(f.pidfile);
        pid_t safe = mysqld_safe_of(shim);
        auto before = host.processes_of(name);
        BOOST_REQUIRE(kill(safe, SIGKILL) == 0);
        BOOST_REQUIRE(wait_dead(safe));
        // pidshim follows mariadbd on its own; with nobody to restart it, its crash is
        // pidshim's exit, 128+9.
        BOOST_REQUIRE(kill(mysqld, SIGKILL) == 0);
        sv->expect("exited: " + name + " \\(exit status 137; not expected\\)", 30s);
        check_all_gone(before, "after pidshim exited");
        sv->expect("spawned: '" + name + "'");
        sv->expect("success: " + name + " entered RUNNING state", 30s);
        pid_t again = wait_ready(f, ++starts);
        BOOST_CHECK_NE(again, mysqld);
        BOOST_CHECK_NE(sv->pid_of(name), shim);
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
