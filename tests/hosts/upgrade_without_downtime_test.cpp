// Issue 12: binary upgrades without downtime, with the real servers. nginx (Debian's
// nginx-light, daemon mode), gunicorn and unicorn each get their upgrade signal (USR2) through
// pidshim --upgrade-signal USR2 while a client requests them without pause; pidshim waits for
// the new master, lets it settle, retires the old one with --retire-signal and follows the new
// one. Not one request may fail and not one connection may be refused. Then pidshim must follow
// the new master: HUP reaches it, the stop signal stops it, pidshim exits with its status, and
// nothing is left running. nginx's abandon path (a new master that cannot start) leaves the old
// master serving and followed. The last cases run the shipped config/supervisord/ entries
// under a real supervisord, the upgrade started with "supervisorctl signal USR2 NAME".
#include "supervisord.hpp"

#include <atomic>
#include <mutex>
#include <thread>

PIDSHIM_TEST_MODULE("upgrade without downtime");

using namespace hosts;

namespace {

// Not in hosts.hpp's table: only this test uses them.
namespace upgrade_port {
constexpr int nginx = 23821;
constexpr int nginx_abandon = 23822;
constexpr int gunicorn = 23823;
constexpr int unicorn = 23824;
constexpr int supervisord_nginx = 23825;
constexpr int supervisord_gunicorn = 23826;
constexpr int supervisord_unicorn = 23827;
} // namespace upgrade_port

// Time budgets. The upgrade itself: a new master (nginx: milliseconds; gunicorn, unicorn: an
// interpreter start, up to a second or two on a loaded machine), pidshim's default 2 s settle,
// then the old master's graceful stop.
constexpr auto new_master_time = 20s;
constexpr auto settle_time = 20s;
constexpr auto stop_time = 30s;

// ---------------------------------------------------------------------------------------
// The client: one thread, one HTTP/1.0 request after another on a new connection each, no
// pause. It only counts (no Boost.Test call off the main thread).
class ClientLoop {
  public:
    ClientLoop(int port_number, std::string expect)
        : port_(port_number), expect_(std::move(expect)), thread_([this] { loop(); }) {}
    ~ClientLoop() { stop(); }
    ClientLoop(const ClientLoop&) = delete;
    ClientLoop& operator=(const ClientLoop&) = delete;

    void stop() {
        done_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    long requests() const { return requests_; }
    long failed() const { return failed_; }
    long refused() const { return refused_; }

    // Waits until n more requests have been answered: the server serves, and the loop runs.
    void require_more(long n, const std::string& what, Clock::duration timeout = 10s) {
        long from = requests_;
        require_eventually([&] { return requests_ - from >= n; },
                           std::to_string(n) + " more requests " + what, timeout);
    }

    std::string report(const std::string& what) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string out = what + ": " + std::to_string(requests_.load()) + " requests, " +
                          std::to_string(failed_.load()) + " failed, " +
                          std::to_string(refused_.load()) + " connections refused";
        if (!first_problem_.empty()) {
            out += " (first: " + first_problem_ + ")";
        }
        return out;
    }

  private:
    void loop() {
        const std::string request = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
        while (!done_) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                note(failed_, std::string("socket: ") + strerror(errno));
                continue;
            }
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<uint16_t>(port_));
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
                int e = errno;
                close(fd);
                note(refused_, std::string("connect: ") + strerror(e));
                ++requests_;
                continue;
            }
            timeval tv{10, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string reply;
            if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
                reply = std::string("write: ") + strerror(errno);
            } else {
                char buf[4096];
                ssize_t n;
                while ((n = read(fd, buf, sizeof buf)) > 0) {
                    reply.append(buf, static_cast<size_t>(n));
                }
                if (n < 0) {
                    reply += std::string(" [read: ") + strerror(errno) + "]";
                }
            }
            close(fd);
            ++requests_;
            if (reply.rfind("HTTP/1.", 0) != 0 || !contains(reply, " 200 ") ||
                !contains(reply, expect_)) {
                note(failed_, "reply '" + reply.substr(0, 200) + "'");
            }
        }
    }

    void note(std::atomic<long>& counter, const std::string& problem) {
        ++counter;
        std::lock_guard<std::mutex> lock(mutex_);
        if (first_problem_.empty()) {
            first_problem_ = problem;
        }
    }

    int port_;
    std::string expect_;
    std::atomic<bool> done_{false};
    std::atomic<long> requests_{0}, failed_{0}, refused_{0};
    std::mutex mutex_;
    std::string first_problem_;
    std::thread thread_; // last: starts once the rest is ready
};

// Stops the client, prints its counts and checks that nothing failed.
void check_no_downtime(ClientLoop& client, const std::string& what) {
    client.stop();
    auto report = client.report(what);
    BOOST_TEST_MESSAGE(report);
    BOOST_CHECK_MESSAGE(client.failed() == 0, report);
    BOOST_CHECK_MESSAGE(client.refused() == 0, report);
    BOOST_CHECK_MESSAGE(client.requests() > 0, report);
}

pid_t pid_after(const std::string& line, const std::string& phrase) {
    auto at = line.find(phrase);
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, "no '" << phrase << "' in: " << line);
    return std::atoi(line.c_str() + at + phrase.size());
}

// The upgrade as pidshim logs it (the spec's steps 1-3), from a log that holds pidshim's
// stderr: the new master's pid.
pid_t follow_upgrade(const std::string& log, pid_t old_master, const std::string& sig,
                     const std::string& retire) {
    wait_for_line(log, "upgrade: sent SIG" + sig + " to pid " + std::to_string(old_master));
    auto line = wait_for_line(log, "upgrade: new master ", new_master_time);
    pid_t new_master = pid_after(line, "upgrade: new master ");
    BOOST_TEST_MESSAGE(line);
    BOOST_REQUIRE(new_master > 1 && new_master != old_master);
    line = wait_for_line(log, "upgrade: retired pid ", settle_time);
    BOOST_TEST_MESSAGE(line);
    BOOST_CHECK_MESSAGE(
        contains(line, "upgrade: retired pid " + std::to_string(old_master) + " with SIG" + retire),
        "expected 'upgrade: retired pid " << old_master << " with SIG" << retire
                                          << "', got: " << line);
    BOOST_CHECK(!contains(slurp(log), "upgrade abandoned"));
    return new_master;
}

// After the retirement: the old master gone, the new one alive and named by pidfile.
void check_taken_over(const std::string& pidfile, pid_t old_master, pid_t new_master,
                      Clock::duration timeout = stop_time) {
    BOOST_CHECK_MESSAGE(wait_dead(old_master, timeout),
                        "the old master " << old_master << " still runs" << describe({old_master}));
    BOOST_CHECK(alive(new_master));
    pid_t named = 0;
    bool ok = eventually(
        [&] {
            auto line = first_line_of(pidfile);
            named = line.empty() ? 0 : std::atoi(line.c_str());
            return named == new_master;
        },
        10s);
    BOOST_CHECK_MESSAGE(ok, pidfile << " names " << named << ", not the new master " << new_master);
    BOOST_CHECK(!std::filesystem::exists(pidfile + ".oldbin"));
    BOOST_CHECK(!std::filesystem::exists(pidfile + ".2"));
}

void check_nothing_left(const Sandbox& box) {
    bool clean = eventually([&] { return box.leftovers().empty(); }, 10s);
    BOOST_CHECK_MESSAGE(clean, "still running:" << describe(box.leftovers()));
}

// ---------------------------------------------------------------------------------------
// The servers, each configured inside the test directory

std::vector<std::string> nginx_argv(const Sandbox& box) {
    return {"/usr/sbin/nginx",          "-p", box.dir + "/", "-c", box.path("nginx.conf"), "-e",
            box.path("nginx-error.log")};
}

const char* const gunicorn_app = R"(def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from gunicorn\n"]
)";

const char* const unicorn_app =
    R"(run lambda { |env| [200, {"content-type" => "text/plain"}, ["hello from unicorn\n"]] }
)";

// unicorn takes its pid file from its configuration file only.
std::string unicorn_config(const Sandbox& box, int port_number, const std::string& pidfile) {
    return lines({
        "worker_processes 2",
        "listen \"127.0.0.1:" + std::to_string(port_number) + "\"",
        "pid \"" + pidfile + "\"",
        "stderr_path \"" + box.path("unicorn.log") + "\"",
        "stdout_path \"" + box.path("unicorn.log") + "\"",
        "timeout 30",
    });
}

std::vector<pid_t> live_children_of(pid_t parent) {
    auto all = children_of(parent);
    std::vector<pid_t> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), alive);
    return out;
}

// Whether a gunicorn worker has installed its own signal handlers: until then it has its
// master's, which only queue a TERM for a main loop the worker never runs. SIGABRT is the last
// one it sets (gunicorn/workers/base.py, init_signals), and its master does not catch it.
bool gunicorn_worker_ready(pid_t worker) {
    auto mask = status_field(worker, "SigCgt");
    return !mask.empty() && ((std::stoull(mask, nullptr, 16) >> (SIGABRT - 1)) & 1) != 0;
}

// gunicorn logs a HUP with the pid of the master that got it, then replaces its workers; a
// TERM that comes while the new workers are still booting is lost on them, and gunicorn's stop
// then waits out its 30 s graceful timeout (seen with 20.1.0). So the HUP is over only once
// as many workers as before (`before`, taken before the HUP) run, none of them an old one,
// each with its own handlers.
void wait_gunicorn_reloaded(const std::string& log, pid_t master,
                            const std::vector<pid_t>& before) {
    BOOST_REQUIRE(!before.empty());
    wait_for_line(log, "[" + std::to_string(master) + "] [INFO] Handling signal: hup", 10s);
    require_eventually(
        [&] {
            auto now = live_children_of(master);
            return now.size() == before.size() &&
                   std::none_of(now.begin(), now.end(),
                                [&](pid_t p) {
                                    return std::find(before.begin(), before.end(), p) !=
                                           before.end();
                                }) &&
                   std::all_of(now.begin(), now.end(), gunicorn_worker_ready);
        },
        "gunicorn's master " + std::to_string(master) + " to replace its workers", 20s);
}

bool installed(const std::string& path, const std::string& package) {
    if (access(path.c_str(), X_OK) == 0) {
        return true;
    }
    BOOST_TEST_MESSAGE("skipped: " << path << " is not installed (Debian's " << package << ")");
    return false;
}

} // namespace

// ---------------------------------------------------------------------------------------
// Under pidshim alone

BOOST_FIXTURE_TEST_CASE(nginx_upgrades_without_a_failed_request, Sandbox) {
    const int port = upgrade_port::nginx;
    auto pidfile = path("nginx.pid");
    auto errors = path("nginx-error.log");
    write_file(path("nginx.conf"), nginx_conf(*this, port, pidfile));
    // As under systemd's Type=notify with --notify-mainpid: to systemd the upgrade is a reload.
    NotifyListener notify(path("notify.sock"));
    std::vector<std::string> argv{
        pidshim_bin, "-v",   "--notify-mainpid", "--upgrade-signal", "USR2", "--retire-signal",
        "QUIT",      pidfile};
    for (auto& a : nginx_argv(*this)) {
        argv.push_back(a);
    }
    Process shim(argv, dir, SpawnOptions{}.with_env({notify.env()}));
    pid_t old_master = wait_pidfile(pidfile);
    wait_following(shim, pidfile, old_master);
    require_eventually([&] { return contains(http_get(port), "hello from nginx"); },
                       "nginx to answer");
    while (!has_line(notify.require_next("READY=1 at the start"), "READY=1")) {
    }

    ClientLoop client(port, "hello from nginx");
    client.require_more(100, "before the upgrade");
    shim.signal(SIGUSR2);
    pid_t new_master = follow_upgrade(shim.err_path, old_master, "USR2", "QUIT");
    check_taken_over(pidfile, old_master, new_master);

    // sd_notify: RELOADING=1 and STATUS=Upgrading pid OLD at the start, then READY=1 and
    // MAINPID=NEW.
    std::string told;
    bool reloading = false, upgrading = false, ready = false, mainpid = false;
    while (!(ready && mainpid)) {
        auto m = notify.next(10s);
        BOOST_REQUIRE_MESSAGE(m, "no READY=1 and MAINPID=" << new_master
                                                           << " after the upgrade; got" << told);
        told += " " + joined(*m);
        reloading = reloading || has_line(*m, "RELOADING=1");
        upgrading = upgrading || has_line(*m, "STATUS=Upgrading pid " + std::to_string(old_master));
        ready = ready || (reloading && has_line(*m, "READY=1"));
        mainpid = mainpid || has_line(*m, "MAINPID=" + std::to_string(new_master));
    }
    BOOST_TEST_MESSAGE("sd_notify during the upgrade:" << told);
    BOOST_CHECK_MESSAGE(upgrading, "no STATUS=Upgrading pid " << old_master << ":" << told);
    client.require_more(100, "from the new master alone");
    check_no_downtime(client, "nginx upgrade");

    // pidshim follows the new master: the HUP nginx logs came from pidshim.
    shim.signal(SIGHUP);
    wait_for_line(errors, std::to_string(new_master) + "#" + std::to_string(new_master) +
                              ": signal 1 (SIGHUP) received from " + std::to_string(shim.pid()));
    BOOST_CHECK(contains(http_get(port), "hello from nginx"));

    // TERM stops it; nginx exits 0 and so does pidshim.
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(stop_time), 0);
    BOOST_CHECK(wait_dead(new_master));
    BOOST_CHECK(http_get(port).empty());
    check_nothing_left(*this);
}

BOOST_FIXTURE_TEST_CASE(nginx_abandoned_upgrade_keeps_the_old_master_serving, Sandbox) {
    const int port = upgrade_port::nginx_abandon;
    auto pidfile = path("nginx.pid");
    auto errors = path("nginx-error.log");
    auto good = nginx_conf(*this, port, pidfile);
    write_file(path("nginx.conf"), good);
    // A short --upgrade-timeout: nginx's new master fails before it writes PIDFILE.
    std::vector<std::string> argv{pidshim_bin,
                                  "-v",
                                  "--upgrade-signal",
                                  "USR2",
                                  "--retire-signal",
                                  "QUIT",
                                  "--upgrade-timeout",
                                  "5",
                                  pidfile};
    for (auto& a : nginx_argv(*this)) {
        argv.push_back(a);
    }
    Process shim(argv, dir);
    pid_t old_master = wait_pidfile(pidfile);
    wait_following(shim, pidfile, old_master);
    require_eventually([&] { return contains(http_get(port), "hello from nginx"); },
                       "nginx to answer");

    ClientLoop client(port, "hello from nginx");
    client.require_more(100, "before the upgrade");
    // The new binary's configuration is broken: the new master exits at once with status 1.
    write_file(path("nginx.conf"), "this is not a directive;\n");
    shim.signal(SIGUSR2);
    wait_for_line(shim.err_path, "upgrade: sent SIGUSR2 to pid " + std::to_string(old_master));
    auto line = wait_for_line(shim.err_path, "upgrade abandoned: ", 20s);
    BOOST_TEST_MESSAGE(line);
    BOOST_CHECK_MESSAGE(contains(line, "; still following pid " + std::to_string(old_master)),
                        line);
    BOOST_CHECK(contains(slurp(errors), "unknown directive \"this\""));
    BOOST_CHECK(!contains(slurp(shim.err_path), "upgrade: retired pid"));
    BOOST_CHECK(alive(old_master));
    // nginx renames PIDFILE.oldbin back once its new binary has failed.
    BOOST_CHECK_EQUAL(wait_pidfile(pidfile), old_master);
    client.require_more(100, "after the abandoned upgrade");
    check_no_downtime(client, "nginx abandoned upgrade");

    // Still following the old master: HUP reaches it (with the good configuration back).
    write_file(path("nginx.conf"), good);
    shim.signal(SIGHUP);
    wait_for_line(errors, std::to_string(old_master) + "#" + std::to_string(old_master) +
                              ": signal 1 (SIGHUP) received from " + std::to_string(shim.pid()));
    BOOST_CHECK(contains(http_get(port), "hello from nginx"));
    shim.signal(SIGQUIT);
    BOOST_CHECK_EQUAL(shim.wait_exit(stop_time), 0);
    BOOST_CHECK(wait_dead(old_master));
    check_nothing_left(*this);
}

BOOST_FIXTURE_TEST_CASE(gunicorn_upgrades_without_a_failed_request, Sandbox) {
    if (!installed("/usr/bin/gunicorn", "gunicorn")) {
        return;
    }
    const int port = upgrade_port::gunicorn;
    write_file(path("app.py"), gunicorn_app);
    auto pidfile = path("gunicorn.pid");
    // gunicorn's graceful stop is TERM (QUIT is its fast one), hence --retire-signal TERM.
    Process shim({pidshim_bin, "-v", "--upgrade-signal", "USR2", "--retire-signal", "TERM", pidfile,
                  "/usr/bin/gunicorn", "--chdir", dir, "-b", "127.0.0.1:" + std::to_string(port),
                  "-w", "2", "-p", pidfile, "app:app"},
                 dir);
    pid_t old_master = wait_pidfile(pidfile);
    wait_following(shim, pidfile, old_master);
    require_eventually([&] { return contains(http_get(port), "hello from gunicorn"); },
                       "gunicorn to answer", 20s);

    ClientLoop client(port, "hello from gunicorn");
    client.require_more(100, "before the upgrade");
    shim.signal(SIGUSR2);
    pid_t new_master = follow_upgrade(shim.err_path, old_master, "USR2", "TERM");
    // The new master renames PIDFILE.2 to PIDFILE within a second of the old one's exit.
    check_taken_over(pidfile, old_master, new_master);
    client.require_more(100, "from the new master alone");
    check_no_downtime(client, "gunicorn upgrade");

    // gunicorn logs to pidshim's stderr, each line with the pid of the process that wrote it.
    auto workers = live_children_of(new_master);
    shim.signal(SIGHUP);
    wait_gunicorn_reloaded(shim.err_path, new_master, workers);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(stop_time), 0);
    BOOST_CHECK(wait_dead(new_master));
    BOOST_CHECK(http_get(port).empty());
    check_nothing_left(*this);
}

BOOST_FIXTURE_TEST_CASE(unicorn_upgrades_without_a_failed_request, Sandbox) {
    if (!installed("/usr/bin/unicorn", "unicorn")) {
        return;
    }
    const int port = upgrade_port::unicorn;
    auto pidfile = path("unicorn.pid");
    auto log = path("unicorn.log");
    write_file(path("config.ru"), unicorn_app);
    write_file(path("unicorn.rb"), unicorn_config(*this, port, pidfile));
    // -D: unicorn's launcher exits once its daemon serves; the master re-execs on USR2 and
    // the new master, inheriting the sockets, stays the old one's child.
    Process shim({pidshim_bin, "-v", "--upgrade-signal", "USR2", "--retire-signal", "QUIT", pidfile,
                  "/usr/bin/unicorn", "-D", "-c", path("unicorn.rb"), path("config.ru")},
                 dir);
    pid_t old_master = wait_pidfile(pidfile, 20s);
    wait_following(shim, pidfile, old_master);
    require_eventually([&] { return contains(http_get(port), "hello from unicorn"); },
                       "unicorn to answer", 20s);

    ClientLoop client(port, "hello from unicorn");
    client.require_more(100, "before the upgrade");
    shim.signal(SIGUSR2);
    pid_t new_master = follow_upgrade(shim.err_path, old_master, "USR2", "QUIT");
    check_taken_over(pidfile, old_master, new_master);
    client.require_more(100, "from the new master alone");
    check_no_downtime(client, "unicorn upgrade");

    // unicorn logs the reload with the master's pid ("#977]").
    shim.signal(SIGHUP);
    wait_for_line(
        log,
        [&](const std::string& l) {
            return contains(l, "#" + std::to_string(new_master) + "]") &&
                   contains(l, "reloading config_file=");
        },
        "the new master " + std::to_string(new_master) + " to reload", 10s);
    shim.signal(SIGQUIT);
    BOOST_CHECK_EQUAL(shim.wait_exit(stop_time), 0);
    BOOST_CHECK(wait_dead(new_master));
    BOOST_CHECK(http_get(port).empty());
    check_nothing_left(*this);
}

// ---------------------------------------------------------------------------------------
// Under a real supervisord, through the shipped entries: the upgrade starts with
// "supervisorctl signal USR2 NAME", as their comments say.

namespace {

// Starts the program, upgrades it under load through supervisorctl, checks supervisord still
// sees the same pidshim RUNNING, then stops it through supervisorctl. check_reached(shim pid,
// new master, its live children before the HUP) checks that a HUP sent through supervisorctl
// reached the new master.
void upgrade_under_supervisord(
    Sandbox& box, Supervisord& sv, const std::string& name, int port, const std::string& hello,
    const std::string& pidfile, const std::string& retire,
    const std::function<void(pid_t, pid_t, const std::vector<pid_t>&)>& check_reached) {
    auto out = box.path(name + ".out");
    sv.ctl({"start", name}, name + ": started");
    pid_t shim = sv.pid_of(name);
    pid_t old_master = wait_pidfile(pidfile, 20s);
    require_eventually([&] { return contains(http_get(port), hello); }, name + " to answer", 20s);

    ClientLoop client(port, hello);
    client.require_more(100, "before the upgrade");
    sv.ctl({"signal", "USR2", name}, name + ": signalled");
    pid_t new_master = follow_upgrade(out, old_master, "USR2", retire);
    check_taken_over(pidfile, old_master, new_master);
    client.require_more(100, "from the new master alone");
    check_no_downtime(client, name + " upgrade under supervisord");

    BOOST_CHECK_EQUAL(sv.state(name), "RUNNING");
    BOOST_CHECK_EQUAL(sv.pid_of(name), shim);
    auto status = sv.ctl({"status", name});
    BOOST_TEST_MESSAGE("supervisorctl status: " << status);
    BOOST_CHECK_MESSAGE(contains(status, "RUNNING") &&
                            contains(status, "pid " + std::to_string(shim) + ","),
                        status);

    auto children = live_children_of(new_master);
    sv.ctl({"signal", "HUP", name}, name + ": signalled");
    check_reached(shim, new_master, children);

    auto running = live_descendants_of(shim);
    sv.ctl({"stop", name}, name + ": stopped");
    sv.expect("stopped: " + name + " \\(exit status 0\\)", 30s);
    BOOST_CHECK(wait_dead(new_master));
    for (pid_t p : running) {
        BOOST_CHECK_MESSAGE(!alive(p), "still running after stop:" << describe({p}));
    }
    BOOST_CHECK(http_get(port).empty());
    BOOST_CHECK_EQUAL(sv.state(name), "STOPPED");
}

} // namespace

BOOST_FIXTURE_TEST_CASE(nginx_upgrades_through_supervisorctl_signal, Sandbox) {
    const int port = upgrade_port::supervisord_nginx;
    auto pidfile = path("nginx.pid");
    auto errors = path("nginx-error.log");
    write_file(path("nginx.conf"), nginx_conf(*this, port, pidfile));
    auto e = test_entry(*this, "nginx-upgrade.conf", "nginx");
    e.command.push_back({"/run/nginx.pid", pidfile});
    e.command.push_back({"/usr/sbin/nginx", "/usr/sbin/nginx -p " + dir + "/ -c " +
                                                path("nginx.conf") + " -e " + errors});
    Supervisord sv(*this, adapt(e));
    upgrade_under_supervisord(
        *this, sv, "nginx", port, "hello from nginx", pidfile, "QUIT",
        [&](pid_t shim, pid_t new_master, const std::vector<pid_t>&) {
            wait_for_line(errors, std::to_string(new_master) + "#" + std::to_string(new_master) +
                                      ": signal 1 (SIGHUP) received from " + std::to_string(shim));
        });
}

BOOST_FIXTURE_TEST_CASE(gunicorn_upgrades_through_supervisorctl_signal, Sandbox) {
    if (!installed("/usr/bin/gunicorn", "gunicorn")) {
        return;
    }
    const int port = upgrade_port::supervisord_gunicorn;
    write_file(path("app.py"), gunicorn_app);
    auto pidfile = path("gunicorn.pid");
    auto e = test_entry(*this, "gunicorn.conf", "gunicorn");
    e.command.push_back({"/run/gunicorn.pid", pidfile});
    e.command.push_back({"/srv/app", dir});
    e.command.push_back({"127.0.0.1:8000", "127.0.0.1:" + std::to_string(port)});
    Supervisord sv(*this, adapt(e));
    auto out = path("gunicorn.out");
    upgrade_under_supervisord(*this, sv, "gunicorn", port, "hello from gunicorn", pidfile, "TERM",
                              [&](pid_t, pid_t new_master, const std::vector<pid_t>& workers) {
                                  wait_gunicorn_reloaded(out, new_master, workers);
                              });
}

BOOST_FIXTURE_TEST_CASE(unicorn_upgrades_through_supervisorctl_signal, Sandbox) {
    if (!installed("/usr/bin/unicorn", "unicorn")) {
        return;
    }
    const int port = upgrade_port::supervisord_unicorn;
    auto pidfile = path("unicorn.pid");
    auto log = path("unicorn.log");
    write_file(path("config.ru"), unicorn_app);
    write_file(path("unicorn.rb"), unicorn_config(*this, port, pidfile));
    auto e = test_entry(*this, "unicorn.conf", "unicorn");
    e.command.push_back({"/run/unicorn/unicorn.pid", pidfile});
    e.command.push_back({"/etc/unicorn/unicorn.rb", path("unicorn.rb")});
    e.command.push_back({"/srv/app/config.ru", path("config.ru")});
    Supervisord sv(*this, adapt(e));
    upgrade_under_supervisord(*this, sv, "unicorn", port, "hello from unicorn", pidfile, "QUIT",
                              [&](pid_t, pid_t new_master, const std::vector<pid_t>&) {
                                  wait_for_line(
                                      log,
                                      [&](const std::string& l) {
                                          return contains(l,
                                                          "#" + std::to_string(new_master) + "]") &&
                                                 contains(l, "reloading config_file=");
                                      },
                                      "the new master to reload", 10s);
                              });
}
