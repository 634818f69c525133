// pidshim under a real supervisord, driven through supervisorctl, with the shipped entries of
// config/supervisord/: forking-daemon.conf and mysql.conf run the test daemon (a forking
// daemon, and a mysqld_safe-style wrapper) in place of the real programs.
#include "supervisord.hpp"

PIDSHIM_TEST_MODULE("supervisord");

using namespace hosts;

namespace {

// forking-daemon.conf with testd as "exampled", renamed to `name`; its pidfile is NAME.pid,
// testd's log NAME.log.
std::string exampled(const Sandbox& box, const std::string& name,
                     const std::string& testd_options = {},
                     const std::map<std::string, std::string>& set = {}) {
    auto e = test_entry(box, "forking-daemon.conf", name);
    e.command.push_back({"/run/exampled.pid", box.path(name + ".pid")});
    e.command.push_back({"/usr/sbin/exampled", testd_bin + " --fork --log " +
                                                   box.path(name + ".log") + " " + testd_options});
    for (auto& [k, v] : set) {
        e.set[k] = v;
    }
    return adapt(e);
}

// mysql.conf with testd --wrapper for mysqld_safe: the wrapper ignores every signal and runs
// the daemon as its child, which writes the pidfile.
std::string mysql_standin(const Sandbox& box) {
    auto e = test_entry(box, "mysql.conf", "mysql-standin");
    e.command.push_back({"/run/mysqld/mysqld.pid", box.path("mysql-standin.pid")});
    e.command.push_back(
        {"/usr/bin/mysqld_safe --pid-file=", testd_bin + " --wrapper --stop-delay 300 --log " +
                                                 box.path("mysql-standin.log") + " --pidfile "});
    return adapt(e);
}

// Every shipped entry under its own name, only pidshim's path changed: never started, only
// loaded, so that supervisord's own parser checks them.
std::string shipped_entries(const Sandbox& box) {
    std::string programs;
    for (auto& f : std::filesystem::directory_iterator(config_dir + "/supervisord")) {
        if (f.path().extension() == ".conf") {
            programs += adapt(test_entry(box, f.path().filename().string()));
        }
    }
    return programs;
}

struct Host : SupervisordHost {
    Host() {
        start(shipped_entries(*this) +                                      //
              exampled(*this, "generic") +                                  //
              exampled(*this, "slowstop", "--stop-delay 700 --workers 2") + //
              exampled(*this, "crashing") +                                 //
              // supervisord looks at its children about once a second: startsecs must exceed
              // that delay plus the time the failure takes, or it is seen after startsecs.
              exampled(*this, "failing", "--exit-after 300 --exit-code 1",
                       {{"startretries", "1"}, {"startsecs", "3"}}) +
              mysql_standin(*this));
    }
};
BOOST_TEST_GLOBAL_FIXTURE(Host);

struct Started {
    pid_t shim;
    pid_t daemon;
};

Started start(const std::string& name) {
    auto& host = SupervisordHost::get();
    host.sv->ctl({"start", name}, name + ": started");
    BOOST_CHECK_EQUAL(host.sv->state(name), "RUNNING");
    pid_t shim = host.sv->pid_of(name);
    BOOST_CHECK_EQUAL(std::filesystem::canonical(exe_of(shim)),
                      std::filesystem::canonical(pidshim_bin));
    pid_t daemon = wait_pidfile(host.path(name + ".pid"));
    return {shim, daemon};
}

// --kill-after's value in a command line, 0 when absent.
double kill_after_of(const std::string& command) {
    std::smatch m;
    if (std::regex_search(command, m, std::regex("--kill-after[ =]([0-9.]+)"))) {
        return std::stod(m[1]);
    }
    return 0;
}

// How long pidshim may take to finish a stop by --stop-schedule's waits, then pidshim's default
// 5 s between SIGTERM and SIGKILL for what the daemon left (a lone N is N/KILL/N); nothing when
// the schedule is absent, waits forever or never sends KILL.
std::optional<double> schedule_budget_of(const std::string& command) {
    std::smatch m;
    if (!std::regex_search(command, m, std::regex("--stop-schedule[ =]([^ ]+)"))) {
        return std::nullopt;
    }
    std::vector<std::string> steps;
    std::stringstream in(m[1].str());
    for (std::string step; std::getline(in, step, '/');) {
        steps.push_back(step);
    }
    if (steps.size() == 1) {
        steps = {steps[0], "KILL", steps[0]};
    }
    double total = 0;
    bool kill = false;
    for (auto& step : steps) {
        if (step == "forever") {
            return std::nullopt;
        }
        if (std::regex_match(step, std::regex("[0-9]+(\\.[0-9]+)?"))) {
            total += std::stod(step);
        } else if (std::regex_match(step, std::regex("(SIG)?KILL|-9", std::regex::icase))) {
            kill = true;
        }
    }
    return kill ? std::optional<double>(total + 5) : std::nullopt;
}

std::string still_alive(const std::vector<pid_t>& pids) {
    std::vector<pid_t> alive_ones;
    std::copy_if(pids.begin(), pids.end(), std::back_inserter(alive_ones), alive);
    return describe(alive_ones);
}

} // namespace

BOOST_AUTO_TEST_CASE(every_shipped_entry_loads_and_its_escalation_fits_stopwaitsecs) {
    auto& host = SupervisordHost::get();
    std::string avail = host.sv->ctl({"avail"});
    size_t count = 0;
    for (auto& f : std::filesystem::directory_iterator(config_dir + "/supervisord")) {
        if (f.path().extension() != ".conf") {
            continue;
        }
        ++count;
        BOOST_TEST_CONTEXT(f.path().filename()) {
            auto [name, keys] = *program_sections(slurp(f.path())).begin();
            // supervisord's own parser accepted the entry.
            BOOST_CHECK_MESSAGE(std::regex_search(avail, std::regex("(^|\n)" + name + " ")),
                                name << " missing from: " << avail);
            double stopwait = std::stod(keys["stopwaitsecs"]);
            if (contains(keys["command"], "--stop-schedule")) {
                auto budget = schedule_budget_of(keys["command"]);
                BOOST_CHECK_MESSAGE(budget, "--stop-schedule never ends with KILL: supervisord's "
                                            "SIGKILL would hit only pidshim and leave the "
                                            "daemon running");
                BOOST_CHECK_GE(stopwait, budget.value_or(0) + 5);
            } else {
                double k = kill_after_of(keys["command"]);
                BOOST_CHECK_MESSAGE(k > 0, "no --kill-after or --stop-schedule: supervisord's "
                                           "SIGKILL would hit only pidshim and leave the daemon "
                                           "running");
                // The daemon gets K seconds, then what it left behind another K.
                BOOST_CHECK_GE(stopwait, 2 * k + 5);
            }
            BOOST_CHECK_EQUAL(keys["stopasgroup"], "false");
            BOOST_CHECK_EQUAL(keys["autorestart"], "unexpected");
        }
    }
    BOOST_CHECK_GE(count, 5U);
}

BOOST_AUTO_TEST_CASE(start_reaches_running_and_signal_hup_reaches_the_daemon) {
    auto& host = SupervisordHost::get();
    auto [shim, daemon] = start("generic");
    host.sv->expect("success: generic entered RUNNING state");
    auto st = proc_stat(daemon);
    BOOST_REQUIRE(st);
    BOOST_CHECK_EQUAL(st->ppid, shim); // the forked daemon was re-parented to pidshim

    host.sv->ctl({"signal", "HUP", "generic"}, "generic: signalled");
    wait_for_signal(host.path("generic.log"), daemon, SIGHUP);
    BOOST_CHECK_EQUAL(host.sv->state("generic"), "RUNNING");
}

BOOST_AUTO_TEST_CASE(stop_waits_for_the_daemon_and_leaves_nothing) {
    // A daemon that takes its time to stop, with workers, shows whether "stopped" comes early.
    auto& host = SupervisordHost::get();
    auto [shim, daemon] = start("slowstop");
    auto log = host.path("slowstop.log");
    wait_for_count(log, " role=worker ", 2);
    auto workers = started(log, "worker");
    auto running = host.processes_of("slowstop");
    BOOST_CHECK_EQUAL(running.size(), 4U); // pidshim, the daemon, two workers

    host.sv->ctl({"stop", "slowstop"}, "slowstop: stopped");
    BOOST_CHECK_MESSAGE(still_alive(running).empty(),
                        "still running after stop:" << still_alive(running));
    auto text = slurp(log);
    BOOST_CHECK(contains(text, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM"));
    for (pid_t w : workers) {
        BOOST_CHECK(contains(text, "exit pid=" + std::to_string(w) + " role=worker"));
    }
    // The daemon died by its default TERM action: pidshim exits 128 + 15.
    host.sv->expect("stopped: slowstop \\(exit status 143\\)");
    BOOST_CHECK_EQUAL(host.sv->state("slowstop"), "STOPPED");
}

BOOST_AUTO_TEST_CASE(daemon_crash_is_an_unexpected_exit_and_is_restarted) {
    auto& host = SupervisordHost::get();
    auto [shim, daemon] = start("crashing");
    host.sv->expect("success: crashing entered RUNNING state");

    BOOST_REQUIRE(kill(daemon, SIGKILL) == 0);
    host.sv->expect("exited: crashing \\(exit status 137; not expected\\)");
    host.sv->expect("spawned: 'crashing' with pid");
    host.sv->expect("success: crashing entered RUNNING state");
    pid_t again = wait_pidfile(host.path("crashing.pid"));
    BOOST_CHECK_NE(again, daemon);
    BOOST_CHECK_NE(host.sv->pid_of("crashing"), shim);
    BOOST_CHECK_EQUAL(host.sv->state("crashing"), "RUNNING");
}

BOOST_AUTO_TEST_CASE(daemon_dying_within_startsecs_is_backoff_then_fatal) {
    // The daemon forks and writes its pidfile, then fails 300 ms later: a wrapper that outlived
    // it (or exited 0) would look like a successful start.
    auto& host = SupervisordHost::get();
    // supervisorctl start returns only once all retries failed: it runs while the test
    // watches the states go by.
    SpawnOptions o;
    o.name = "supervisorctl-start";
    Process ctl_start({"supervisorctl", "-c", host.sv->conf, "start", "failing"}, host.dir, o);
    host.sv->expect("spawned: 'failing'");
    host.sv->expect("exited: failing \\(exit status 1; not expected\\)");
    // supervisord logs no line for BACKOFF; it waits a second in it before the retry.
    BOOST_CHECK_EQUAL(host.sv->state("failing"), "BACKOFF");
    host.sv->expect("spawned: 'failing'");
    host.sv->expect("exited: failing \\(exit status 1; not expected\\)");
    host.sv->expect("gave up: failing entered FATAL state");
    ctl_start.wait_exit(10s);
    BOOST_CHECK(contains(ctl_start.out(), "failing: ERROR (spawn error)"));
    BOOST_CHECK_EQUAL(host.sv->state("failing"), "FATAL");
    BOOST_CHECK(!contains(slurp(host.sv->log), "failing entered RUNNING state"));
    for (pid_t p : started(host.path("failing.log"), "daemon")) {
        BOOST_CHECK(!alive(p));
    }
}

BOOST_AUTO_TEST_CASE(mysqld_safe_style_wrapper_is_started_signalled_and_stopped) {
    auto& host = SupervisordHost::get();
    const std::string name = "mysql-standin";
    auto log = host.path(name + ".log");
    host.sv->ctl({"start", name}, name + ": started");
    pid_t daemon = wait_pidfile(host.path(name + ".pid"));
    pid_t wrapper = wait_started(log, "wrapper");

    host.sv->ctl({"signal", "HUP", name}, name + ": signalled");
    wait_for_signal(log, daemon, SIGHUP);

    auto running = host.processes_of(name);
    BOOST_CHECK_EQUAL(running.size(), 3U); // pidshim, the wrapper, the daemon
    host.sv->ctl({"stop", name}, name + ": stopped");
    BOOST_CHECK_MESSAGE(still_alive(running).empty(), "left:" << still_alive(running));
    // Signals went to the daemon only; the wrapper would have ignored them anyway.
    BOOST_CHECK(signals_of(log, wrapper).empty());
    BOOST_CHECK_EQUAL(host.sv->state(name), "STOPPED");
}
