// pidshim_soak: drives the real pidshim binary through random, seeded scenarios made of
// testd's behaviours, and checks after each one the promises pidshim makes:
//
//  - no process outside pidshim's descendants receives a signal (bystander testd instances,
//    one of them in pidshim's own process group, the soak's runner, the namespace's init);
//  - pidshim never exits while a process it started still runs (nor leaves one unreaped);
//  - every stop, crash or kill ends with pidshim's exit within its bound;
//  - pidshim exits with the daemon's status, and the daemon ended the way the scenario ended it;
//  - SIGKILL reaches no process (COMMAND, daemon, new master, worker) that was not given a
//    stop signal first;
//  - a daemon that wrote its pidfile is followed within a bound;
//  - every counted standard signal arrives at least once after it was sent, every counted
//    queued signal (32 and up) exactly as often as sent, and none more often than sent.
//    A signal is counted only when nothing legitimate can lose it: not while a launcher may
//    still receive it, not during an upgrade, not with a held-signal budget shorter than the
//    scenario, and only when the daemon will read it before the scenario ends it.
//
// The whole soak runs as init of its own PID namespace, so that a pidshim that signals -1
// cannot reach beyond it. Each scenario runs in a forked runner that is a child subreaper:
// whatever pidshim leaves behind when it exits becomes the runner's child, which makes "pidshim
// exited while something it started lived" exact rather than a race against /proc.

#include "harness.hpp"
#include "scenario.hpp"

#include <set>
#include <sys/resource.h>

namespace soak {
namespace {

using namespace harness;
using namespace std::chrono_literals;

struct Config {
    std::string pidshim = pidshim_bin; // PIDSHIM_TEST_BIN, or the one built here
    std::string testd = TESTD_BIN;
    double seconds = 0;
    long scenarios = 0;
    std::optional<uint64_t> seed;
    int jobs = 3;
    bool verbose = false;
    bool keep = false;
    std::string self;
    std::vector<std::string> args;
};

Config cfg;

// How long anything that should happen "at once" may take on a loaded machine before the
// soak calls it broken. It only costs time when something is broken.
constexpr auto patience = 5s;

long ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string seconds_arg(int ms) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%03d", ms / 1000, ms % 1000);
    return buf;
}

// Appends complete lines of a growing file, with the offset each starts at.
class LineReader {
  public:
    explicit LineReader(std::string path) : path_(std::move(path)) {}
    ~LineReader() {
        if (fd_ >= 0) {
            close(fd_);
        }
    }
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    template <class F> void poll(F&& on_line) {
        if (fd_ < 0) {
            fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd_ < 0) {
                return;
            }
        }
        char buf[8192];
        for (;;) {
            ssize_t n = pread(fd_, buf, sizeof buf, read_);
            if (n <= 0) {
                return;
            }
            read_ += n;
            for (ssize_t i = 0; i < n; ++i) {
                if (buf[i] == '\n') {
                    on_line(line_start_, partial_);
                    partial_.clear();
                    line_start_ = read_ - n + i + 1;
                } else {
                    partial_ += buf[i];
                }
            }
        }
    }

  private:
    std::string path_;
    int fd_ = -1;
    off_t read_ = 0;
    off_t line_start_ = 0;
    std::string partial_;
};

off_t file_size(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// What testd's log says about one process.
struct ProcInfo {
    std::string role;
    std::optional<Event> exit;
    std::optional<Clock::time_point> pidfile_seen;
    std::vector<std::pair<off_t, std::string>> signals; // offset of the line, signal name
    bool stop_logged = false;
};

struct SentSignal {
    int sig;
    off_t log_offset;
    bool counted;
    long at_ms;
};

struct Bystander {
    pid_t pid = -1;
    std::string log;
};

pid_t spawn(const std::vector<std::string>& argv, const std::string& out, const std::string& err,
            pid_t pgid) {
    std::vector<char*> cargv;
    for (auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        return pid;
    }
    if (pid == 0) {
        setpgid(0, pgid);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = open("/dev/null", O_RDONLY);
        int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0 || e < 0) {
            _exit(121);
        }
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        struct sigaction sa {};
        sa.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; ++s) {
            if (s != SIGKILL && s != SIGSTOP) {
                sigaction(s, &sa, nullptr);
            }
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execv(cargv[0], cargv.data());
        _exit(122);
    }
    setpgid(pid, pgid);
    return pid;
}

class Runner {
  public:
    Runner(const Scenario& s, std::string dir) : s_(s), dir_(std::move(dir)) {}

    // 0: every invariant held; 1: one broke; 3: the scenario could not be set up as planned.
    int run();

    std::vector<std::string> violations;
    std::vector<std::string> timeline;
    bool invalid = false;

  private:
    std::string path(const std::string& name) const { return dir_ + "/" + name; }
    void note(const std::string& what) {
        timeline.push_back("+" + std::to_string(t0_set_ ? ms_since(t0_) : 0) + "ms " + what);
        if (cfg.verbose) {
            printf("[%llu] %s\n", static_cast<unsigned long long>(s_.seed),
                   timeline.back().c_str());
            fflush(stdout);
        }
    }
    void fail(const std::string& what) {
        note("VIOLATION: " + what);
        violations.push_back(what);
    }

    bool setup();
    static void write_in(const std::string& p, const std::string& text);
    void refresh();
    void on_log_line(off_t at, const std::string& line);
    void on_err_line(const std::string& line);
    void on_shim_exit();
    bool wait_for(const std::function<bool()>& pred, Clock::time_point deadline);
    void send(int sig, bool counted);
    void do_step(const Step& st);
    bool all_arrived(std::string* missing);
    pid_t current_daemon() const;
    bool launcher_alive() const;
    std::optional<int> status_of(pid_t pid) const;
    void end_scenario();
    void check_after_exit();
    void check_bystanders();
    void clean_up();
    // A live process of this scenario: pids are few in a PID namespace, and another
    // scenario's process may have this one's old pid. testd's children share its argv.
    bool ours(pid_t p) const {
        return alive(p) && contains(slurp("/proc/" + std::to_string(p) + "/cmdline"), log_);
    }
    bool is_bystander(pid_t p) const {
        return std::any_of(bystanders_.begin(), bystanders_.end(),
                           [p](const Bystander& b) { return b.pid == p; });
    }

    const Scenario& s_;
    std::string dir_;
    std::string log_, err_, pidfile_, testd_pidfile_;
    std::vector<Bystander> bystanders_;
    pid_t shim_ = -1;
    int shim_fd_ = -1;
    Clock::time_point t0_;
    bool t0_set_ = false;

    std::unique_ptr<LineReader> log_reader_, err_reader_;
    std::map<pid_t, ProcInfo> procs_;
    std::vector<pid_t> start_order_;
    std::vector<pid_t> pidfile_writers_;
    std::vector<pid_t> followed_;
    std::map<pid_t, Clock::time_point> followed_at_;
    bool timeout_reported_ = false;
    bool testd_failed_ = false;
    std::set<pid_t> discovery_reported_;

    std::vector<SentSignal> sent_;
    std::set<int> stops_sent_;
    std::map<pid_t, int> killed_by_soak_;
    std::optional<Clock::time_point> end_at_;
    Clock::time_point deadline_;

    bool shim_done_ = false;
    bool shim_forced_ = false;
    int shim_status_ = -1;
    bool shim_signalled_ = false;
    std::vector<std::pair<pid_t, bool>> left_behind_; // pid, still running
};

bool Runner::setup() {
    log_ = path("testd.log");
    err_ = path("pidshim.stderr");
    write_in(log_, "");
    for (int i = 0; i < 2; ++i) {
        Bystander b;
        b.log = path("bystander" + std::to_string(i + 1) + ".log");
        write_in(b.log, "");
        // The second one leads the process group pidshim runs in: a kill(0, ...) or a group
        // signal gone astray reaches it.
        b.pid = spawn({cfg.testd, "--no-pidfile", "--log", b.log}, path("bystander.out"),
                      path("bystander.err"), 0);
        if (b.pid < 0) {
            fail("cannot start a bystander");
            return false;
        }
        bystanders_.push_back(b);
    }
    for (auto& b : bystanders_) {
        if (!wait_for_text(b.log, [](const std::string& t) { return contains(t, "start pid="); })) {
            fail("bystander " + std::to_string(b.pid) + " did not start");
            return false;
        }
    }

    std::string testd_dir = dir_;
    pidfile_ = path("daemon.pid");
    if (s_.link != Link::none) {
        testd_dir = path(s_.link == Link::existing_dir ? "run" : "later");
        if (s_.link == Link::existing_dir) {
            mkdir(testd_dir.c_str(), 0755);
        }
        pidfile_ = path("daemon.pid.link");
        if (symlink((testd_dir + "/daemon.pid").c_str(), pidfile_.c_str()) != 0) {
            fail("cannot create the pidfile symlink");
            return false;
        }
    }
    testd_pidfile_ = testd_dir + "/daemon.pid";
    if (s_.stale) {
        write_in(testd_pidfile_, std::to_string(bystanders_[0].pid) + "\n");
    }

    std::vector<std::string> argv = {cfg.pidshim, "--timeout", seconds_arg(s_.timeout)};
    if (s_.kill_after > 0) {
        argv.insert(argv.end(), {"--kill-after", seconds_arg(s_.kill_after)});
    }
    if (s_.retry > 0) {
        argv.insert(argv.end(), {"--retry", std::to_string(s_.retry), "--retry-interval",
                                 seconds_arg(s_.retry_interval)});
    }
    if (s_.group) {
        argv.push_back("--group");
    }
    argv.insert(argv.end(), {pidfile_, cfg.testd, "--log", log_});
    if (s_.kind == Kind::silent) {
        argv.push_back("--no-pidfile");
    } else {
        argv.insert(argv.end(), {"--pidfile", testd_pidfile_});
    }
    if (s_.write == Write::inplace) {
        argv.push_back("--pidfile-inplace");
    } else if (s_.write == Write::held) {
        argv.push_back("--pidfile-held");
    }
    if (s_.pidfile_delay > 0) {
        argv.insert(argv.end(), {"--pidfile-delay", std::to_string(s_.pidfile_delay)});
    }
    if (s_.kind == Kind::hostile) {
        argv.insert(argv.end(), {"--pidfile-content", std::to_string(bystanders_[0].pid) + "\\n"});
    } else if (s_.multiline) {
        argv.insert(argv.end(), {"--pidfile-content", "%p\\nport=8080\\n"});
    }
    if (s_.mode == Mode::fork) {
        argv.push_back("--fork");
    } else if (s_.mode == Mode::wrapper) {
        argv.push_back("--wrapper");
    }
    if (s_.workers > 0) {
        argv.insert(argv.end(), {"--workers", std::to_string(s_.workers)});
    }
    if (s_.workers_outlive) {
        argv.push_back("--workers-outlive");
    }
    if (s_.worker_ignore_term) {
        argv.insert(argv.end(), {"--worker-ignore", "TERM"});
    }
    if (s_.orphans > 0) {
        argv.insert(argv.end(), {"--orphans", std::to_string(s_.orphans)});
    }
    if (s_.stop_delay > 0) {
        argv.insert(argv.end(), {"--stop-delay", std::to_string(s_.stop_delay)});
    }
    if (s_.stop_exit_code) {
        argv.insert(argv.end(), {"--stop-exit-code", std::to_string(*s_.stop_exit_code)});
    }
    if (s_.ignore_stop) {
        argv.insert(argv.end(), {"--ignore", "TERM", "--ignore", "INT", "--ignore", "QUIT"});
    }
    if (s_.exit_after >= 0) {
        argv.insert(argv.end(), {"--exit-after", std::to_string(s_.exit_after), "--exit-code",
                                 std::to_string(s_.exit_code)});
    }
    if (s_.exit_on) {
        argv.insert(argv.end(), {"--exit-on", "PWR", "--exit-code", std::to_string(s_.exit_code)});
    }
    if (s_.reexec_sig != 0) {
        argv.insert(argv.end(), {"--reexec-on", sig_name(s_.reexec_sig)});
    }
    std::string cmd;
    for (auto& a : argv) {
        cmd += (cmd.empty() ? "" : " ") + a;
    }
    note("run: " + cmd);
    write_in(path("command"), cmd + "\n");

    log_reader_ = std::make_unique<LineReader>(log_);
    err_reader_ = std::make_unique<LineReader>(err_);
    shim_ = spawn(argv, path("pidshim.stdout"), err_, bystanders_[1].pid);
    if (shim_ < 0) {
        fail("cannot fork pidshim");
        return false;
    }
    shim_fd_ = pidfd_open(shim_, 0);
    // Signals count from when pidshim has blocked them: before that, one would kill it.
    auto want = std::filesystem::canonical(cfg.pidshim).string();
    bool ready = eventually(
        [&] {
            if (exe_of(shim_) != want) {
                return false;
            }
            auto mask = std::strtoull(status_field(shim_, "SigBlk").c_str(), nullptr, 16);
            return (mask & (1ULL << (SIGTERM - 1))) != 0;
        },
        patience);
    // COMMAND too: pidshim forwards to it what it cannot deliver yet, and a testd that has
    // not blocked its signals yet would die of (or stop on) them.
    ready = ready && wait_for_text(log_, [](const std::string& t) {
                         return contains(t, "start pid=");
                     }).has_value();
    t0_ = Clock::now();
    t0_set_ = true;
    if (!ready) {
        refresh();
        fail("pidshim or COMMAND did not start (blocking signals) within 5 s");
        return false;
    }
    note("pidshim " + std::to_string(shim_) + " ready");
    return true;
}

void Runner::write_in(const std::string& p, const std::string& text) {
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        (void)!write(fd, text.data(), text.size());
        close(fd);
    }
}

void Runner::on_log_line(off_t at, const std::string& line) {
    Event e = parse_event(line);
    pid_t pid = e.pid();
    if (e.kind == "start") {
        procs_[pid].role = e.get("role");
        start_order_.push_back(pid);
        note("log: " + line);
    } else if (e.kind == "pidfile") {
        procs_[pid].pidfile_seen = Clock::now();
        pidfile_writers_.push_back(pid);
        note("log: " + line);
    } else if (e.kind == "signal") {
        auto& p = procs_[pid];
        std::string sig = e.get("sig");
        p.signals.emplace_back(at, sig);
        if (sig == "TERM" || sig == "INT" || sig == "QUIT") {
            p.stop_logged = true;
        }
        if (cfg.verbose) {
            note("log: " + line);
        }
    } else if (e.kind == "exit") {
        procs_[pid].exit = e;
        note("log: " + line);
    } else if (e.kind == "orphan") {
        procs_[pid].role = "orphan"; // exits at once, by design without an exit line
    } else if (e.kind == "upgrade") {
        note("log: " + line);
    }
}

void Runner::on_err_line(const std::string& line) {
    if (cfg.verbose) {
        note(line);
    }
    if (line.rfind("testd: ", 0) == 0) {
        testd_failed_ = true;
        note("testd failed: " + line);
    }
    if (contains(line, "(--timeout)")) {
        timeout_reported_ = true;
    }
    auto at = line.find("following pid ");
    if (at != std::string::npos && line.rfind("pidshim: ", 0) == 0) {
        pid_t pid = std::atoi(line.c_str() + at + 14);
        followed_.push_back(pid);
        followed_at_.emplace(pid, Clock::now());
        if (!cfg.verbose) {
            note(line);
        }
    }
}

void Runner::refresh() {
    log_reader_->poll([this](off_t at, const std::string& l) { on_log_line(at, l); });
    err_reader_->poll([this](off_t, const std::string& l) { on_err_line(l); });
    if (!shim_done_) {
        pollfd p{shim_fd_, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) {
            on_shim_exit();
        }
    }
    // A daemon that wrote its pidfile is found within the bound, whether or not inotify
    // tells pidshim about it.
    if (!shim_done_ && s_.kind != Kind::hostile) {
        for (pid_t w : pidfile_writers_) {
            auto& p = procs_[w];
            if (p.exit || followed_at_.count(w) || discovery_reported_.count(w) ||
                !p.pidfile_seen || Clock::now() - *p.pidfile_seen < patience || !ours(w)) {
                continue;
            }
            discovery_reported_.insert(w);
            fail("pid " + std::to_string(w) + " (" + p.role +
                 ") wrote the pidfile, but pidshim did not follow it within 5 s");
        }
    }
}

// Runs at the first sign of pidshim's exit, before its zombie is reaped: by then the kernel
// has re-parented whatever pidshim left to this runner, the nearest subreaper.
void Runner::on_shim_exit() {
    siginfo_t si{};
    waitid(P_PID, static_cast<id_t>(shim_), &si, WEXITED | WNOWAIT);
    for (pid_t p : all_pids()) {
        auto st = proc_stat(p);
        if (st && st->ppid == getpid() && p != shim_ && !is_bystander(p)) {
            left_behind_.emplace_back(p, st->state != 'Z' && st->state != 'X');
        }
    }
    int status = 0;
    waitpid(shim_, &status, 0);
    shim_done_ = true;
    shim_status_ = decode_wait_status(status);
    shim_signalled_ = WIFSIGNALED(status);
    note("pidshim exited with status " + std::to_string(shim_status_) +
         (shim_signalled_ ? " (killed by SIG" + sig_name(WTERMSIG(status)) + ")" : ""));
}

bool Runner::wait_for(const std::function<bool()>& pred, Clock::time_point deadline) {
    for (;;) {
        refresh();
        if (pred()) {
            return true;
        }
        if (shim_done_ || Clock::now() >= deadline) {
            return false;
        }
        pollfd p{shim_fd_, POLLIN, 0};
        poll(&p, 1, 2);
    }
}

bool Runner::launcher_alive() const {
    if (s_.mode != Mode::fork) {
        return false;
    }
    for (pid_t p : start_order_) {
        auto it = procs_.find(p);
        if (it != procs_.end() && it->second.role == "launcher") {
            // By state, not by ours(): an exiting process has lost its cmdline before it
            // is a zombie, and until it is one pidshim may still hand it signals.
            return alive(p);
        }
    }
    return true; // not started yet, as far as the log tells
}

void Runner::send(int sig, bool counted) {
    refresh();
    // Held signals other than stops expire after --retry x --retry-interval; one sent while
    // pidshim may still hold it counts only with a budget longer than any scenario. While
    // a launcher runs, pidshim rightly hands it what it cannot deliver yet, and it is lost.
    if (counted && ((!s_.long_retry_budget() && followed_.empty()) || launcher_alive())) {
        counted = false;
    }
    off_t at = file_size(log_);
    sent_.push_back({sig, at, counted, ms_since(t0_)});
    if (pidfd_send_signal(shim_fd_, sig) != 0) {
        note("cannot signal pidshim: " + std::string(strerror(errno)));
        sent_.back().counted = false;
        return;
    }
    note("sent SIG" + sig_name(sig) + " to pidshim" + (counted ? " (counted)" : ""));
}

pid_t Runner::current_daemon() const {
    for (auto it = pidfile_writers_.rbegin(); it != pidfile_writers_.rend(); ++it) {
        auto p = procs_.find(*it);
        if (p != procs_.end() && (p->second.role == "daemon" || p->second.role == "master")) {
            return *it;
        }
    }
    return -1;
}

static bool is_recipient(const std::string& role) {
    return role == "daemon" || role == "master" || role == "wrapper";
}

// Standard signals coalesce anywhere on the way: each counted one needs an arrival logged
// after it was sent. Real-time signals queue: each must arrive once.
bool Runner::all_arrived(std::string* missing) {
    for (auto& sent : sent_) {
        if (!sent.counted || is_realtime(sent.sig)) {
            continue;
        }
        bool found = false;
        for (auto& [pid, info] : procs_) {
            if (!is_recipient(info.role)) {
                continue;
            }
            for (auto& [at, name] : info.signals) {
                found = found || (at >= sent.log_offset && name == sig_name(sent.sig));
            }
        }
        if (!found) {
            if (missing) {
                *missing = "SIG" + sig_name(sent.sig) + " sent to pidshim at +" +
                           std::to_string(sent.at_ms) + "ms never reached the daemon";
            }
            return false;
        }
    }
    std::map<int, int> counted, arrived;
    for (auto& sent : sent_) {
        if (sent.counted && is_realtime(sent.sig)) {
            ++counted[sent.sig];
        }
    }
    for (auto& [pid, info] : procs_) {
        if (is_recipient(info.role)) {
            for (auto& [at, name] : info.signals) {
                ++arrived[sig_number(name)];
            }
        }
    }
    for (auto& [sig, n] : counted) {
        if (arrived[sig] < n) {
            if (missing) {
                *missing = "SIG" + sig_name(sig) + ": sent " + std::to_string(n) +
                           " times (counted), arrived " + std::to_string(arrived[sig]);
            }
            return false;
        }
    }
    return true;
}

void Runner::do_step(const Step& st) {
    switch (st.kind) {
    case StepKind::sleep:
        wait_for([] { return false; }, Clock::now() + std::chrono::milliseconds(st.ms));
        break;
    case StepKind::burst:
        for (int sig : st.sigs) {
            send(sig, st.counted);
        }
        break;
    case StepKind::mkdir_later:
        mkdir(path("later").c_str(), 0755);
        note("created the pidfile's directory");
        break;
    case StepKind::wait_following: {
        auto deadline = Clock::now() + std::chrono::milliseconds(s_.pidfile_delay) + patience;
        bool ok = wait_for(
            [&] {
                pid_t d = current_daemon();
                return d > 0 && followed_at_.count(d);
            },
            deadline);
        if (!ok && !shim_done_ && discovery_reported_.empty()) {
            pid_t d = current_daemon();
            discovery_reported_.insert(d);
            fail(d > 0 ? "pidshim did not follow pid " + std::to_string(d) + " (" + procs_[d].role +
                             ") within 5 s of its pidfile"
                       : "the daemon never wrote its pidfile");
        }
        break;
    }
    case StepKind::wait_arrivals: {
        std::string missing;
        if (!wait_for([&] { return all_arrived(nullptr); }, Clock::now() + patience) &&
            !shim_done_) {
            all_arrived(&missing);
            fail(missing + " (waited 5 s)");
            for (auto& sent : sent_) {
                sent.counted = false; // reported once
            }
        }
        break;
    }
    case StepKind::upgrade: {
        // Done when the old master has exited and the new one has written its pidfile both
        // times testd's new master does (when it takes over, and again as it starts to run):
        // until then a signal may rightly go to the old master, which no longer reads any.
        pid_t old_master = current_daemon();
        send(st.sig, false);
        auto done = [&] {
            pid_t d = current_daemon();
            return d != old_master && d > 0 && procs_[old_master].exit &&
                   std::count(pidfile_writers_.begin(), pidfile_writers_.end(), d) >= 2;
        };
        if (!wait_for(done, Clock::now() + patience) && !shim_done_) {
            fail("the re-exec signal SIG" + sig_name(st.sig) +
                 " did not lead to a new master within 5 s");
        }
        break;
    }
    case StepKind::stop:
        stops_sent_.insert(st.sig);
        end_at_ = Clock::now();
        send(st.sig, false);
        break;
    case StepKind::crash:
    case StepKind::kill_daemon: {
        pid_t d = current_daemon();
        int sig = st.kind == StepKind::crash ? SIGPWR : st.sig;
        end_at_ = Clock::now();
        int fd = d > 0 ? pidfd_open(d, 0) : -1;
        bool sent = fd >= 0 && ours(d) && pidfd_send_signal(fd, sig) == 0;
        if (fd >= 0) {
            close(fd);
        }
        if (sent) {
            if (st.kind == StepKind::kill_daemon) {
                killed_by_soak_[d] = sig;
            }
            note("sent SIG" + sig_name(sig) + " to the daemon " + std::to_string(d) + " directly");
        } else {
            note("no daemon to send SIG" + sig_name(sig) + " to");
        }
        break;
    }
    }
}

// How a process ended, as pidshim should report it: exit code, or 128+N for signal N.
std::optional<int> Runner::status_of(pid_t pid) const {
    auto it = procs_.find(pid);
    if (it == procs_.end()) {
        return std::nullopt;
    }
    const ProcInfo& p = it->second;
    if (p.exit) {
        if (!p.exit->get("code").empty()) {
            return std::atoi(p.exit->get("code").c_str());
        }
        return 128 + sig_number(p.exit->get("sig"));
    }
    if (auto k = killed_by_soak_.find(pid); k != killed_by_soak_.end()) {
        return 128 + k->second;
    }
    if (s_.kill_after > 0) {
        return 128 + SIGKILL; // --kill-after's (whether it was due is checked on its own)
    }
    return std::nullopt;
}

void Runner::end_scenario() {
    // The bound: whatever the scenario waits on (a slow pidfile, the stop delay, --kill-after
    // for the daemon and again for leftovers), plus patience.
    int grace = s_.kill_after > 0 ? 2 * s_.kill_after : 0;
    int delay = s_.stop_delay;
    if (s_.kill_after > 0 && (s_.ignore_stop || s_.stop_delay > s_.kill_after)) {
        delay = s_.kill_after;
    }
    auto from = end_at_.value_or(t0_);
    auto bound = std::chrono::milliseconds(s_.pidfile_delay + delay + grace);
    if (s_.ending == Ending::timer) {
        bound += std::chrono::milliseconds(std::max(s_.exit_after, 0));
    }
    if (s_.timeout < Scenario().timeout) {
        bound += std::chrono::milliseconds(s_.timeout); // the scenario may run into it
    }
    deadline_ = std::max(from, t0_) + bound + patience;
    if (!wait_for([] { return false; }, deadline_) && !shim_done_) {
        const char* what[] = {"the stop signal", "the crash", "the daemon was killed", "the start",
                              "the start"};
        // A daemon pidshim never found cannot be expected to end it: already reported.
        auto report = [this](const std::string& m) {
            if (discovery_reported_.empty()) {
                fail(m);
            } else {
                note("(after the above) " + m);
            }
        };
        report("pidshim still running " +
               std::to_string(
                   std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - from)
                       .count()) +
               " ms after " + what[static_cast<int>(s_.ending)]);
        shim_forced_ = true;
        pidfd_send_signal(shim_fd_, SIGKILL);
        while (!shim_done_) {
            wait_for([] { return false; }, Clock::now() + 1s);
        }
    }
}

void Runner::clean_up() {
    // Whatever is left below this runner (other than the bystanders) is stopped and reaped.
    for (int round = 0; round < 200; ++round) {
        bool any = false;
        for (pid_t p : descendants_of(getpid())) {
            if (is_bystander(p)) {
                continue;
            }
            any = true;
            if (alive(p)) {
                killed_by_soak_.emplace(p, SIGKILL);
                kill(p, SIGKILL);
            }
        }
        for (pid_t p : children_of(getpid())) {
            if (!is_bystander(p) && !alive(p)) {
                waitpid(p, nullptr, WNOHANG);
            }
        }
        if (!any) {
            return;
        }
        std::this_thread::sleep_for(1ms);
    }
}

void Runner::check_after_exit() {
    if (shim_signalled_ && !shim_forced_) {
        fail("pidshim itself was killed by a signal (status " + std::to_string(shim_status_) + ")");
    }
    if (!shim_forced_) {
        for (auto& [pid, running] : left_behind_) {
            std::string role = procs_.count(pid) ? procs_[pid].role : "?";
            fail(std::string("pidshim exited before pid ") + std::to_string(pid) + " (" + role +
                 ") was gone" + (running ? ": it was still running" : ": left unreaped"));
            if (running) {
                killed_by_soak_.emplace(pid, SIGKILL);
            }
        }
    }
    clean_up();
    refresh();

    if (testd_failed_) {
        if (s_.link == Link::later_dir) {
            invalid = true; // the directory came later than testd's pidfile: the soak's race
        } else {
            fail("testd failed (see pidshim.stderr)");
        }
        return;
    }

    // Signals reached only what pidshim started, and no process got SIGKILL unwarned.
    for (pid_t pid : followed_) {
        auto it = procs_.find(pid);
        if (it == procs_.end() || (it->second.role != "daemon" && it->second.role != "master")) {
            fail("pidshim followed pid " + std::to_string(pid) +
                 ", which is not a daemon of this scenario");
        }
    }
    // COMMAND included: --kill-after is for the daemon that got the stop, never for COMMAND.
    pid_t command = start_order_.empty() ? -1 : start_order_.front();
    for (auto& [pid, info] : procs_) {
        if (info.role.empty() || info.role == "orphan" || info.exit || killed_by_soak_.count(pid)) {
            continue;
        }
        if (!info.stop_logged) {
            fail("pid " + std::to_string(pid) + " (" + info.role +
                 ") was killed without an exit of its own and without a stop signal first");
        }
    }

    // No signal arrived more often than it was sent (a stop may reach COMMAND and the daemon).
    std::map<std::string, int> sent_count, arrived;
    for (auto& sent : sent_) {
        ++sent_count[sig_name(sent.sig)];
    }
    for (auto& [pid, info] : procs_) {
        if (is_recipient(info.role)) {
            for (auto& [at, name] : info.signals) {
                ++arrived[name];
            }
        }
    }
    for (auto& [name, n] : arrived) {
        int sig = sig_number(name);
        if (is_realtime(sig) && n > sent_count[name]) {
            fail("SIG" + name + " arrived " + std::to_string(n) + " times, sent " +
                 std::to_string(sent_count[name]));
        }
    }

    if (shim_forced_ || shim_signalled_) {
        return; // the status is that of a signal pidshim itself died of
    }

    // The exit status is the daemon's, and the daemon ended the way the scenario ended it.
    std::set<int> accepted;
    std::string basis;
    pid_t final_writer = current_daemon();
    if (!followed_.empty()) {
        pid_t f = followed_.back();
        if (s_.kind != Kind::hostile && final_writer > 0 && f != final_writer) {
            fail("pidshim last followed pid " + std::to_string(f) +
                 ", but the pidfile last named pid " + std::to_string(final_writer));
        }
        auto st = status_of(f);
        if (!st) {
            fail("cannot tell how pid " + std::to_string(f) + " ended (no exit in its log)");
            return;
        }
        accepted.insert(*st);
        basis = "pid " + std::to_string(f) + ", the daemon pidshim followed, ended with " +
                std::to_string(*st);
        const ProcInfo& p = procs_[f];
        std::string how = p.exit ? (p.exit->get("code").empty() ? "SIG" + p.exit->get("sig")
                                                                : "code " + p.exit->get("code"))
                                 : "no exit line";
        bool by_stop = p.exit && stops_sent_.count(sig_number(p.exit->get("sig"))) > 0;
        bool by_stop_code = p.exit && s_.stop_exit_code &&
                            p.exit->get("code") == std::to_string(*s_.stop_exit_code);
        bool by_kill = !p.exit && s_.kill_after > 0 && p.stop_logged;
        // A daemon with --exit-after may beat any other ending.
        bool by_timer =
            s_.exit_after >= 0 && p.exit && p.exit->get("code") == std::to_string(s_.exit_code);
        bool matches = true;
        switch (s_.ending) {
        case Ending::stop:
            matches = (by_stop || by_stop_code || by_kill) && p.stop_logged;
            break;
        case Ending::crash:
            matches = p.exit && p.exit->get("code") == std::to_string(s_.exit_code);
            break;
        case Ending::kill_daemon:
            matches = killed_by_soak_.count(f) &&
                      (killed_by_soak_.at(f) == SIGKILL
                           ? !p.exit
                           : p.exit && (p.exit->get("sig") == "TERM" || by_stop_code));
            break;
        case Ending::timer:
            matches = (p.exit && p.exit->get("code") == std::to_string(s_.exit_code)) ||
                      ((by_stop || by_stop_code || by_kill) && !stops_sent_.empty());
            break;
        case Ending::timeout:
            matches = false; // nothing in these scenarios may be followed
            break;
        }
        if (!matches && !by_timer) {
            fail("pid " + std::to_string(f) + " (" + p.role + ") ended by " + how +
                 ", not the way the scenario ended it");
        }
    } else {
        auto st = status_of(command);
        if (st) {
            accepted.insert(*st != 0 ? *st : 1);
            if (*st == 0 && !stops_sent_.empty()) {
                accepted.insert(0); // stopped while starting, nothing left to stop
            }
        }
        if (timeout_reported_) {
            accepted = {124};
        }
        basis = "pidshim never followed a daemon; COMMAND (pid " + std::to_string(command) +
                ") ended with " + (st ? std::to_string(*st) : "?") +
                (timeout_reported_ ? "; pidshim reported its --timeout" : "");
        if (s_.kind == Kind::normal && !s_.stale && final_writer > 0 &&
            !discovery_reported_.count(final_writer)) {
            // Allowed only when the daemon was gone before pidshim could read its pidfile.
            note("note: the daemon wrote its pidfile but was never followed");
        }
        if ((s_.kind == Kind::hostile || s_.kind == Kind::silent) && !timeout_reported_ &&
            stops_sent_.empty()) {
            fail("pidshim ended before its --timeout though nothing stopped the start");
        }
    }
    if (!accepted.count(shim_status_)) {
        std::string want;
        for (int a : accepted) {
            want += (want.empty() ? "" : " or ") + std::to_string(a);
        }
        fail("pidshim exited with " + std::to_string(shim_status_) + ", expected " + want + " (" +
             basis + ")");
    }
}

void Runner::check_bystanders() {
    // A marker tells when a bystander has logged all it got: signalfd hands over pending
    // signals lowest number first, and the marker is the highest.
    int marker = SIGRTMAX;
    for (auto& b : bystanders_) {
        if (!alive(b.pid)) {
            fail("bystander " + std::to_string(b.pid) + " died");
            continue;
        }
        kill(b.pid, marker);
    }
    for (auto& b : bystanders_) {
        auto text = wait_for_text(
            b.log,
            [&](const std::string& t) {
                return contains(t, "signal pid=" + std::to_string(b.pid) +
                                       " role=daemon sig=" + sig_name(marker));
            },
            patience);
        if (!text) {
            fail("bystander " + std::to_string(b.pid) + " did not log the soak's marker");
            continue;
        }
        for (auto& l : split_lines(*text)) {
            Event e = parse_event(l);
            if (e.kind == "signal" && e.get("sig") != sig_name(marker)) {
                fail("bystander " + std::to_string(b.pid) + " (not started by pidshim" +
                     std::string(&b == &bystanders_[1] ? ", in pidshim's process group" : "") +
                     ") received SIG" + e.get("sig"));
            }
        }
    }
    for (auto& b : bystanders_) {
        kill(b.pid, SIGKILL);
        waitpid(b.pid, nullptr, 0);
    }
    // The runner is pidshim's parent: nothing but SIGCHLD may reach it.
    sigset_t pending;
    sigpending(&pending);
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGCHLD && sigismember(&pending, sig) == 1) {
            fail("the soak's runner, pidshim's parent, received SIG" + sig_name(sig));
        }
    }
}

int Runner::run() {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    note(describe(s_));
    if (setup()) {
        for (auto& st : s_.steps) {
            if (shim_done_) {
                break;
            }
            do_step(st);
        }
        end_scenario();
        check_after_exit();
    } else if (shim_ > 0 && !shim_done_) {
        shim_forced_ = true;
        pidfd_send_signal(shim_fd_, SIGKILL);
        waitpid(shim_, nullptr, 0);
        clean_up();
    }
    check_bystanders();
    if (!violations.empty()) {
        return 1;
    }
    return invalid ? 3 : 0;
}

// ---------------------------------------------------------------------------------------

int run_one(uint64_t seed, const std::string& base) {
    Scenario s = make_scenario(seed);
    std::string dir = base + "/" + std::to_string(seed);
    mkdir(dir.c_str(), 0755);
    Runner r(s, dir);
    int rc = r.run();
    std::ofstream out(dir + "/report");
    out << describe(s) << "\n";
    for (auto& v : r.violations) {
        out << "VIOLATION: " << v << "\n";
    }
    out << "--- timeline ---\n";
    for (auto& t : r.timeline) {
        out << t << "\n";
    }
    return rc;
}

void usage(FILE* to) {
    fputs("usage: pidshim_soak [--seconds N | --minutes N | --scenarios N] [--seed S]\n"
          "                    [--jobs J] [--pidshim PATH] [--testd PATH] [--verbose] [--keep]\n"
          "Runs random scenarios against pidshim inside a PID namespace of its own; scenario\n"
          "number i has seed S+i. Exits 0 iff no invariant broke.\n",
          to);
}

bool parse_args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                fprintf(stderr, "pidshim_soak: %s needs a value\n", a.c_str());
                exit(2);
            }
            return argv[++i];
        };
        auto number = [&](const std::string& v) {
            char* end = nullptr;
            double d = strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || d < 0) {
                fprintf(stderr, "pidshim_soak: %s: '%s' is not a number\n", a.c_str(), v.c_str());
                exit(2);
            }
            return d;
        };
        if (a == "--seconds") {
            cfg.seconds = number(value());
        } else if (a == "--minutes") {
            cfg.seconds = 60 * number(value());
        } else if (a == "--scenarios") {
            cfg.scenarios = static_cast<long>(number(value()));
        } else if (a == "--seed") {
            cfg.seed = std::strtoull(value().c_str(), nullptr, 10);
        } else if (a == "--jobs") {
            cfg.jobs = std::max(1, static_cast<int>(number(value())));
        } else if (a == "--pidshim") {
            cfg.pidshim = value();
        } else if (a == "--testd") {
            cfg.testd = value();
        } else if (a == "--verbose" || a == "-v") {
            cfg.verbose = true;
        } else if (a == "--keep") {
            cfg.keep = true;
        } else if (a == "--help" || a == "-h") {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "pidshim_soak: unknown argument '%s'\n", a.c_str());
            usage(stderr);
            return false;
        }
    }
    if (cfg.seconds == 0 && cfg.scenarios == 0) {
        cfg.scenarios = 100;
    }
    return true;
}

std::string replay_command(uint64_t seed) {
    std::string cmd = cfg.self + " --seed " + std::to_string(seed) + " --scenarios 1 --verbose";
    if (cfg.pidshim != pidshim_bin) {
        cmd += " --pidshim " + cfg.pidshim;
    }
    if (cfg.testd != TESTD_BIN) {
        cmd += " --testd " + cfg.testd;
    }
    return cmd;
}

// As init of the namespace: starts runners, J at a time, and reaps everything.
int soak_main() {
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core); // should anything die of a fault signal
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, nullptr);
    char tmpl[] = "/tmp/pidshim-soak.XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("pidshim_soak: mkdtemp");
        return 2;
    }
    std::string base = tmpl;
    uint64_t seed = cfg.seed.value_or(static_cast<uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count() / 1000 % 1000000000000ULL));
    char amount[64];
    if (cfg.seconds > 0) {
        snprintf(amount, sizeof amount, "for %g s", cfg.seconds);
    } else {
        snprintf(amount, sizeof amount, "%ld scenarios", cfg.scenarios);
    }
    printf("pidshim_soak: seeds from %llu, %d at a time, %s; pidshim %s\n",
           static_cast<unsigned long long>(seed), cfg.jobs, amount, cfg.pidshim.c_str());
    fflush(stdout);

    auto start = Clock::now();
    auto time_left = [&] {
        if (cfg.seconds > 0) {
            return Clock::now() - start < std::chrono::duration<double>(cfg.seconds);
        }
        return true;
    };
    long launched = 0, done = 0, failures = 0, invalid = 0;
    std::map<pid_t, uint64_t> running;
    std::map<std::string, int> kinds; // violations, numbers left out, so alike ones add up
    for (;;) {
        while (static_cast<int>(running.size()) < cfg.jobs && time_left() &&
               (cfg.scenarios == 0 || launched < cfg.scenarios)) {
            uint64_t s = seed + static_cast<uint64_t>(launched++);
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                _exit(run_one(s, base));
            }
            running[pid] = s;
        }
        if (running.empty()) {
            break;
        }
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        auto it = running.find(pid);
        if (it == running.end()) {
            continue; // re-parented to init: reaped, nothing else
        }
        uint64_t s = it->second;
        running.erase(it);
        ++done;
        std::string dir = base + "/" + std::to_string(s);
        int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (rc == 0 || rc == 3) {
            invalid += rc == 3;
            if (cfg.verbose) {
                printf("seed %llu: %s\n", static_cast<unsigned long long>(s),
                       rc == 0 ? "ok" : "not run as planned (setup race), not counted");
            }
            if (!cfg.keep) {
                std::error_code ec;
                std::filesystem::remove_all(dir, ec);
            }
        } else {
            ++failures;
            std::string report = slurp(dir + "/report");
            auto lines = split_lines(report);
            printf("FAIL %s\n", lines.empty() ? "?" : lines.front().c_str());
            for (auto& l : lines) {
                if (l.rfind("VIOLATION: ", 0) == 0) {
                    printf("  %s\n", l.c_str());
                    kinds[std::regex_replace(l.substr(11), std::regex("[0-9]+"), "N")] += 1;
                }
            }
            if (rc != 1) {
                printf("  the scenario's runner itself failed (status %d)\n", rc);
            }
            printf("  logs: %s\n  replay: %s\n", dir.c_str(), replay_command(s).c_str());
            if (cfg.verbose) {
                printf("%s%s%s", dump(dir + "/testd.log").c_str(),
                       dump(dir + "/pidshim.stderr").c_str(), "\n");
            }
        }
        if (!cfg.verbose && done % 200 == 0) {
            printf("... %ld scenarios, %ld failures\n", done, failures);
        }
        fflush(stdout);
    }
    // Init of the namespace: nothing may have signalled it.
    sigset_t pending;
    sigpending(&pending);
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGCHLD && sigismember(&pending, sig) == 1) {
            printf("FAIL: the soak's init (pid 1 of the namespace) received SIG%s\n",
                   sig_name(sig).c_str());
            ++failures;
        }
    }
    if (!kinds.empty()) {
        printf("violations by kind:\n");
        for (auto& [kind, n] : kinds) {
            printf("%6d  %s\n", n, kind.c_str());
        }
    }
    if (failures == 0 && !cfg.keep) {
        std::error_code ec;
        std::filesystem::remove_all(base, ec);
    }
    printf("%ld scenarios, %ld failures", done - invalid, failures);
    if (invalid > 0) {
        printf(" (%ld more not run as planned)", invalid);
    }
    printf(" in %.0f s; seeds %llu..%llu\n",
           std::chrono::duration<double>(Clock::now() - start).count(),
           static_cast<unsigned long long>(seed),
           static_cast<unsigned long long>(seed + static_cast<uint64_t>(launched) - 1));
    return failures == 0 ? 0 : 1;
}

} // namespace
} // namespace soak

int main(int argc, char** argv) {
    using soak::cfg;
    std::error_code ec;
    cfg.self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (!soak::parse_args(argc, argv)) {
        return 2;
    }
    for (auto* p : {&cfg.pidshim, &cfg.testd}) {
        if (access(p->c_str(), X_OK) != 0) {
            fprintf(stderr, "pidshim_soak: %s: not executable\n", p->c_str());
            return 2;
        }
        *p = std::filesystem::absolute(*p).string();
    }
    const char* inside = getenv("PIDSHIM_SOAK_NAMESPACE");
    if (inside && getpid() == 1) {
        return soak::soak_main();
    }
    // A buggy pidshim could kill(-1): the soak runs as init of a PID namespace of its own.
    setenv("PIDSHIM_SOAK_NAMESPACE", "1", 1);
    std::vector<std::string> args = {"unshare",      "--pid",        "--fork",
                                     "--mount-proc", "--kill-child", cfg.self};
    for (int i = 1; i < argc; ++i) {
        args.push_back(argv[i]);
    }
    std::vector<char*> cargs;
    for (auto& a : args) {
        cargs.push_back(a.data());
    }
    cargs.push_back(nullptr);
    execvp("unshare", cargs.data());
    fprintf(stderr, "pidshim_soak: cannot run unshare: %s\n", strerror(errno));
    return 2;
}
