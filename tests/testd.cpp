// testd: a scriptable stand-in for the daemons pidshim has to cope with.
//
// Every process testd becomes (launcher, wrapper, daemon, worker, new master, orphan, init)
// appends one line per event to the --log file, in a single write() so that lines from
// several processes never interleave, and unbuffered so that a test can wait for a line the
// moment the event happened:
//
//   start pid=N role=R ppid=P pgid=G sid=S
//   argv pid=N role=R args=[a][b]...
//   sigstate pid=N role=R SigBlk=HEX SigIgn=HEX
//   pidfile pid=N role=R path=P
//   signal pid=N role=R sig=HUP [ignored]
//   upgrade pid=N role=R new=M
//   orphan pid=N role=orphan
//   exit pid=N role=R code=C    |    exit pid=N role=R sig=TERM
//
// Signals are taken through a signalfd so that the logging happens outside signal handlers
// and nothing is lost between start-up and the main loop.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <set>
#include <signal.h>
#include <string>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

const char usage_text[] =
    "usage: testd [OPTIONS]\n"
    "  --log FILE              append one line per event to FILE\n"
    "  --pidfile PATH          write the pidfile here (atomically, via rename)\n"
    "  --pidfile-inplace       write the pidfile in place (truncate, then write)\n"
    "  --pidfile-held          libbsd pidfile(3) style: create the pidfile empty at start (in\n"
    "                          the launcher with --fork), keep that descriptor open, and\n"
    "                          later write the pid through it without closing it\n"
    "  --launcher-pidfile MS   with --fork: 50 ms into a wall-clock second the launcher\n"
    "                          writes its own pid in place, forks, waits MS, rewrites the\n"
    "                          file in place with the daemon's pid, then exits\n"
    "  --pidfile-content STR   pidfile text instead of \"%p\\n\": %p own pid, %P parent pid\n"
    "                          at start, %d a pid that just died, %% a percent, \\n newline\n"
    "  --pidfile-delay MS      write the pidfile MS after the daemon started\n"
    "  --pidfile-on SIG        write the pidfile only when SIG arrives\n"
    "  --no-pidfile            never write a pidfile\n"
    "  --fork                  daemonize: fork, setsid, the launcher exits\n"
    "  --launcher-exit N       exit status of the launcher (default 0)\n"
    "  --wrapper               mysqld_safe style: ignore every signal, run the daemon as a\n"
    "                          child, exit with its status\n"
    "  --exit-after MS         exit by itself MS after start, with --exit-code N\n"
    "  --exit-on SIG           exit by itself with --exit-code N when SIG arrives\n"
    "  --exit-code N\n"
    "  --ignore SIG            log SIG but otherwise ignore it (repeatable)\n"
    "  --stop-delay MS         on TERM/INT/QUIT wait MS before exiting\n"
    "  --stop-exit-code N      exit with N when stopped (default: die by the stop signal)\n"
    "  --workers N             fork N workers in the daemon's process group\n"
    "  --workers-outlive       workers do not stop with the master\n"
    "  --worker-ignore SIG     workers log SIG but ignore it (repeatable)\n"
    "  --orphans N             double-fork N children that exit at once\n"
    "  --reexec-on SIG         on SIG fork a new master that rewrites the pidfile, then exit\n"
    "  --upgrade-stays         with --reexec-on: the old master keeps running until stopped\n"
    "  --upgrade-pidfile P     with --reexec-on: the new master writes P instead\n"
    "  --report-sigstate       log SigBlk/SigIgn of /proc/self/status at start\n"
    "  --spawn CMD [ARG...]    act as an init: run CMD, reap everything, exit with its status\n"
    "  -- ARG...               extra arguments, only logged\n";

struct Options {
    std::string log;
    std::string pidfile;
    bool pidfile_inplace = false;
    bool pidfile_held = false;
    int launcher_pidfile_ms = -1;
    std::string pidfile_content = "%p\n";
    int pidfile_delay_ms = 0;
    int pidfile_on = 0;
    bool no_pidfile = false;
    bool fork = false;
    int launcher_exit = 0;
    bool wrapper = false;
    int exit_after_ms = -1;
    int exit_code = 0;
    int exit_on = 0;
    std::set<int> ignore;
    int stop_delay_ms = 0;
    std::optional<int> stop_exit_code;
    int workers = 0;
    bool workers_outlive = false;
    std::set<int> worker_ignore;
    int orphans = 0;
    int reexec_on = 0;
    bool upgrade_stays = false;
    std::string upgrade_pidfile;
    bool report_sigstate = false;
    std::vector<std::string> spawn;
};

Options opt;
int log_fd = -1;
const char* role = "daemon";
pid_t parent_at_start = 0;
std::optional<pid_t> dead_pid;
int held_pidfile_fd = -1;

[[noreturn]] void die(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dprintf(2, "testd: %s\n", buf);
    _exit(99);
}

void log_line(const char* fmt, ...) {
    if (log_fd < 0) {
        return;
    }
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    n = std::min<int>(n, sizeof buf - 2);
    buf[n++] = '\n';
    // One write per line: O_APPEND makes it atomic with respect to the other processes.
    if (write(log_fd, buf, n) != n) {
        die("cannot write the log: %s", strerror(errno));
    }
}

// Signals without a name are logged by number: 32 and 33, which glibc keeps for itself.
const char* signame(int sig) {
    static char buf[16];
    const char* n = sigabbrev_np(sig);
    if (n != nullptr) {
        return n;
    }
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        snprintf(buf, sizeof buf, "RTMIN+%d", sig - SIGRTMIN);
    } else {
        snprintf(buf, sizeof buf, "%d", sig);
    }
    return buf;
}

int parse_signal(std::string s) {
    if (!s.empty() && std::all_of(s.begin(), s.end(), ::isdigit)) {
        return std::atoi(s.c_str());
    }
    std::transform(s.begin(), s.end(), s.begin(), ::toupper);
    if (s.rfind("SIG", 0) == 0) {
        s = s.substr(3);
    }
    for (int sig = 1; sig < NSIG; ++sig) {
        const char* n = sigabbrev_np(sig);
        if (n && s == n) {
            return sig;
        }
    }
    die("unknown signal '%s'", s.c_str());
}

int parse_int(const char* s) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s, &end, 10);
    if (errno || end == s || *end) {
        die("not a number: '%s'", s);
    }
    return static_cast<int>(v);
}

std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
            out += '\n';
            ++i;
        } else {
            out += s[i];
        }
    }
    return out;
}

void parse_args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                die("%s needs a value", a.c_str());
            }
            return argv[++i];
        };
        if (a == "--log") {
            opt.log = value();
        } else if (a == "--pidfile") {
            opt.pidfile = value();
        } else if (a == "--pidfile-inplace") {
            opt.pidfile_inplace = true;
        } else if (a == "--pidfile-held") {
            opt.pidfile_held = true;
        } else if (a == "--launcher-pidfile") {
            opt.launcher_pidfile_ms = parse_int(value());
        } else if (a == "--pidfile-content") {
            opt.pidfile_content = unescape(value());
        } else if (a == "--pidfile-delay") {
            opt.pidfile_delay_ms = parse_int(value());
        } else if (a == "--pidfile-on") {
            opt.pidfile_on = parse_signal(value());
        } else if (a == "--no-pidfile") {
            opt.no_pidfile = true;
        } else if (a == "--fork") {
            opt.fork = true;
        } else if (a == "--launcher-exit") {
            opt.launcher_exit = parse_int(value());
        } else if (a == "--wrapper") {
            opt.wrapper = true;
        } else if (a == "--exit-after") {
            opt.exit_after_ms = parse_int(value());
        } else if (a == "--exit-on") {
            opt.exit_on = parse_signal(value());
        } else if (a == "--exit-code") {
            opt.exit_code = parse_int(value());
        } else if (a == "--ignore") {
            opt.ignore.insert(parse_signal(value()));
        } else if (a == "--stop-delay") {
            opt.stop_delay_ms = parse_int(value());
        } else if (a == "--stop-exit-code") {
            opt.stop_exit_code = parse_int(value());
        } else if (a == "--workers") {
            opt.workers = parse_int(value());
        } else if (a == "--workers-outlive") {
            opt.workers_outlive = true;
        } else if (a == "--worker-ignore") {
            opt.worker_ignore.insert(parse_signal(value()));
        } else if (a == "--orphans") {
            opt.orphans = parse_int(value());
        } else if (a == "--reexec-on") {
            opt.reexec_on = parse_signal(value());
        } else if (a == "--upgrade-stays") {
            opt.upgrade_stays = true;
        } else if (a == "--upgrade-pidfile") {
            opt.upgrade_pidfile = value();
        } else if (a == "--report-sigstate") {
            opt.report_sigstate = true;
        } else if (a == "--spawn") {
            opt.spawn.assign(argv + i + 1, argv + argc);
            if (opt.spawn.empty()) {
                die("--spawn needs a command");
            }
            return;
        } else if (a == "--") {
            return;
        } else if (a == "-h" || a == "--help") {
            fputs(usage_text, stdout);
            exit(0);
        } else {
            die("unknown argument '%s' (try --help)", a.c_str());
        }
    }
    if (opt.pidfile.empty() && !opt.no_pidfile && opt.spawn.empty()) {
        die("--pidfile or --no-pidfile is required");
    }
}

// The signals a supervisor may send, plus CHLD for reaping. They stay blocked in every
// process testd becomes, and are read from a signalfd. The fault signals are among them
// because a person or a runtime may send them with kill(); a fault testd itself raised would
// still kill it, since the kernel forces those through a blocked mask. SIGXFSZ is among them
// so that one a supervisor passes on is logged, not fatal. So are 32 and 33,
// which glibc's sigaddset() and sigprocmask() refuse to touch: they are set here by hand and
// blocked with block_handled_signals().
sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig :
         {SIGHUP,  SIGINT,  SIGQUIT, SIGUSR1, SIGUSR2,  SIGPIPE, SIGALRM, SIGTERM, SIGCHLD,
          SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGURG,  SIGIO,   SIGPWR,  SIGABRT,
          SIGSEGV, SIGBUS,  SIGSYS,  SIGILL,  SIGFPE,   SIGTRAP, SIGXFSZ}) {
        sigaddset(&set, sig);
    }
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) {
        sigaddset(&set, sig);
    }
    // The kernel's signal set is the first 64 bits of glibc's sigset_t, bit N-1 for signal N.
    auto* bits = reinterpret_cast<unsigned long*>(&set);
    for (int sig : {32, 33}) {
        bits[(sig - 1) / (8 * sizeof(unsigned long))] |=
            1UL << ((sig - 1) % (8 * sizeof(unsigned long)));
    }
    return set;
}

void block_handled_signals() {
    sigset_t set = handled_signals();
    // The system call itself: glibc's sigprocmask() would quietly leave 32 and 33 unblocked.
    if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, _NSIG / 8) != 0) {
        die("rt_sigprocmask: %s", strerror(errno));
    }
}

int make_signalfd() {
    sigset_t set = handled_signals();
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        die("signalfd: %s", strerror(errno));
    }
    return fd;
}

bool is_stop_signal(int sig) {
    return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

void log_start() {
    log_line("start pid=%d role=%s ppid=%d pgid=%d sid=%d", getpid(), role, getppid(), getpgrp(),
             getsid(0));
}

[[noreturn]] void exit_with_code(int code) {
    log_line("exit pid=%d role=%s code=%d", getpid(), role, code);
    _exit(code);
}

[[noreturn]] void exit_by_signal(int sig) {
    log_line("exit pid=%d role=%s sig=%s", getpid(), role, signame(sig));
    // A QUIT must not leave core files behind in the test's directory.
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    raise(sig);
    _exit(128 + sig);
}

[[noreturn]] void exit_like(int wstatus) {
    if (WIFSIGNALED(wstatus)) {
        exit_by_signal(WTERMSIG(wstatus));
    }
    exit_with_code(WEXITSTATUS(wstatus));
}

void report_sigstate() {
    FILE* f = fopen("/proc/self/status", "re");
    if (!f) {
        die("cannot read /proc/self/status");
    }
    char line[256];
    std::string blk = "?", ign = "?";
    while (fgets(line, sizeof line, f)) {
        std::string l = line;
        if (!l.empty() && l.back() == '\n') {
            l.pop_back();
        }
        auto value = [&](const char* key) { return l.substr(strlen(key) + 1 + 1); };
        if (l.rfind("SigBlk:", 0) == 0) {
            blk = value("SigBlk");
        } else if (l.rfind("SigIgn:", 0) == 0) {
            ign = value("SigIgn");
        }
    }
    fclose(f);
    log_line("sigstate pid=%d role=%s SigBlk=%s SigIgn=%s", getpid(), role, blk.c_str(),
             ign.c_str());
}

pid_t make_dead_pid() {
    if (!dead_pid) {
        pid_t p = fork();
        if (p == 0) {
            _exit(0);
        }
        waitpid(p, nullptr, 0);
        dead_pid = p;
    }
    return *dead_pid;
}

std::string pidfile_text() {
    std::string out;
    const std::string& t = opt.pidfile_content;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] != '%' || i + 1 == t.size()) {
            out += t[i];
            continue;
        }
        switch (t[++i]) {
        case 'p':
            out += std::to_string(getpid());
            break;
        case 'P':
            out += std::to_string(parent_at_start);
            break;
        case 'd':
            out += std::to_string(make_dead_pid());
            break;
        default:
            out += t[i];
        }
    }
    return out;
}

void write_all(int fd, const std::string& s) {
    if (write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size())) {
        die("cannot write the pidfile: %s", strerror(errno));
    }
}

void open_held_pidfile() {
    held_pidfile_fd = open(opt.pidfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (held_pidfile_fd < 0) {
        die("cannot open %s: %s", opt.pidfile.c_str(), strerror(errno));
    }
}

void write_pidfile() {
    std::string text = pidfile_text();
    if (held_pidfile_fd >= 0) {
        // Written through the descriptor held since start, which stays open: no close, no
        // rename tells anyone that the file changed.
        if (ftruncate(held_pidfile_fd, 0) != 0 || lseek(held_pidfile_fd, 0, SEEK_SET) != 0) {
            die("cannot truncate %s: %s", opt.pidfile.c_str(), strerror(errno));
        }
        write_all(held_pidfile_fd, text);
    } else if (opt.pidfile_inplace) {
        int fd = open(opt.pidfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            die("cannot open %s: %s", opt.pidfile.c_str(), strerror(errno));
        }
        write_all(fd, text);
        close(fd);
    } else {
        std::string tmp = opt.pidfile + ".tmp." + std::to_string(getpid());
        int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            die("cannot open %s: %s", tmp.c_str(), strerror(errno));
        }
        write_all(fd, text);
        close(fd);
        if (rename(tmp.c_str(), opt.pidfile.c_str()) != 0) {
            die("cannot rename %s: %s", tmp.c_str(), strerror(errno));
        }
    }
    log_line("pidfile pid=%d role=%s path=%s", getpid(), role, opt.pidfile.c_str());
}

// Reads every pending signal; returns them in arrival order of the signalfd.
std::vector<int> read_signals(int sfd) {
    std::vector<int> out;
    signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
        out.push_back(static_cast<int>(si.ssi_signo));
    }
    return out;
}

void log_signal(int sig, bool ignored) {
    log_line("signal pid=%d role=%s sig=%s%s", getpid(), role, signame(sig),
             ignored ? " ignored" : "");
}

[[noreturn]] void run_worker(int master_gone_fd) {
    role = "worker";
    log_start();
    int sfd = make_signalfd();
    bool watch_master = true;
    for (;;) {
        pollfd fds[2] = {{sfd, POLLIN, 0}, {master_gone_fd, POLLIN, 0}};
        if (poll(fds, watch_master ? 2 : 1, -1) < 0 && errno != EINTR) {
            die("poll: %s", strerror(errno));
        }
        if (watch_master && fds[1].revents) {
            watch_master = false;
            if (!opt.workers_outlive) {
                exit_with_code(0);
            }
        }
        for (int sig : read_signals(sfd)) {
            if (sig == SIGCHLD) {
                continue;
            }
            bool ignored = opt.worker_ignore.count(sig) > 0;
            log_signal(sig, ignored);
            if (!ignored && is_stop_signal(sig)) {
                exit_by_signal(sig);
            }
        }
    }
}

void spawn_orphans(int n, int close_fd) {
    for (int i = 0; i < n; ++i) {
        pid_t child = fork();
        if (child < 0) {
            die("fork: %s", strerror(errno));
        }
        if (child == 0) {
            if (close_fd >= 0) {
                close(close_fd);
            }
            if (fork() == 0) {
                role = "orphan";
                log_line("orphan pid=%d role=orphan", getpid());
                _exit(0);
            }
            _exit(0);
        }
        waitpid(child, nullptr, 0);
    }
}

[[noreturn]] void run_daemon();

// nginx's binary upgrade, simplified: a child becomes the new master and takes over the
// pidfile; only then does the old master leave.
void upgrade() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        die("pipe: %s", strerror(errno));
    }
    pid_t child = fork();
    if (child < 0) {
        die("fork: %s", strerror(errno));
    }
    if (child == 0) {
        close(p[0]);
        role = "master";
        opt.pidfile_delay_ms = 0;
        opt.pidfile_on = 0;
        opt.pidfile_content = "%p\n";
        opt.workers = 0;
        opt.orphans = 0;
        opt.exit_after_ms = -1;
        opt.exit_on = 0;
        log_start();
        if (!opt.upgrade_pidfile.empty()) {
            opt.pidfile = opt.upgrade_pidfile;
        }
        if (!opt.no_pidfile) {
            write_pidfile();
        }
        write_all(p[1], "x");
        close(p[1]);
        run_daemon();
    }
    close(p[1]);
    char c;
    while (read(p[0], &c, 1) < 0 && errno == EINTR) {
    }
    log_line("upgrade pid=%d role=%s new=%d", getpid(), role, child);
    close(p[0]);
    if (opt.upgrade_stays) {
        return; // both masters run until the old one is told to stop
    }
    exit_with_code(0);
}

[[noreturn]] void run_daemon() {
    int sfd = make_signalfd();
    auto started = Clock::now();
    std::optional<Clock::time_point> pidfile_at, exit_at, stop_at;
    int stop_sig = 0;
    if (!opt.no_pidfile && opt.pidfile_on == 0) {
        pidfile_at = started + std::chrono::milliseconds(opt.pidfile_delay_ms);
    }
    if (opt.exit_after_ms >= 0) {
        exit_at = started + std::chrono::milliseconds(opt.exit_after_ms);
    }
    std::vector<pid_t> workers;
    int master_alive[2] = {-1, -1};
    if (opt.workers > 0) {
        if (pipe2(master_alive, O_CLOEXEC) != 0) {
            die("pipe: %s", strerror(errno));
        }
        for (int i = 0; i < opt.workers; ++i) {
            pid_t w = fork();
            if (w < 0) {
                die("fork: %s", strerror(errno));
            }
            if (w == 0) {
                close(sfd);
                close(master_alive[1]);
                run_worker(master_alive[0]);
            }
            workers.push_back(w);
        }
        close(master_alive[0]);
    }
    spawn_orphans(opt.orphans, master_alive[1]);

    auto finish = [&](auto&& exit_fn) {
        if (!opt.workers_outlive) {
            for (pid_t w : workers) {
                kill(w, SIGTERM);
            }
            for (pid_t w : workers) {
                waitpid(w, nullptr, 0);
            }
        }
        exit_fn();
    };

    for (;;) {
        auto now = Clock::now();
        if (pidfile_at && now >= *pidfile_at) {
            pidfile_at.reset();
            write_pidfile();
        }
        if (exit_at && now >= *exit_at) {
            finish([] { exit_with_code(opt.exit_code); });
        }
        if (stop_at && now >= *stop_at) {
            finish([&] {
                if (opt.stop_exit_code) {
                    exit_with_code(*opt.stop_exit_code);
                }
                exit_by_signal(stop_sig);
            });
        }
        int timeout_ms = -1;
        for (auto& t : {pidfile_at, exit_at, stop_at}) {
            if (t) {
                auto ms = std::chrono::ceil<std::chrono::milliseconds>(*t - now).count();
                timeout_ms = timeout_ms < 0 ? static_cast<int>(ms)
                                            : std::min(timeout_ms, static_cast<int>(ms));
            }
        }
        pollfd pfd{sfd, POLLIN, 0};
        if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
            die("poll: %s", strerror(errno));
        }
        for (int sig : read_signals(sfd)) {
            if (sig == SIGCHLD) {
                while (waitpid(-1, nullptr, WNOHANG) > 0) {
                }
                continue;
            }
            bool ignored = opt.ignore.count(sig) > 0;
            log_signal(sig, ignored);
            if (ignored) {
                continue;
            }
            if (sig == opt.exit_on) {
                finish([] { exit_with_code(opt.exit_code); });
            } else if (sig == opt.pidfile_on && !opt.no_pidfile) {
                write_pidfile();
            } else if (sig == opt.reexec_on) {
                upgrade();
            } else if (is_stop_signal(sig) && !stop_at) {
                stop_sig = sig;
                stop_at = Clock::now() + std::chrono::milliseconds(opt.stop_delay_ms);
            }
        }
    }
}

// mysqld_safe: stays in front of the daemon, shrugs off every signal, and ends when the
// daemon does.
[[noreturn]] void run_wrapper() {
    role = "wrapper";
    pid_t child = fork();
    if (child < 0) {
        die("fork: %s", strerror(errno));
    }
    if (child == 0) {
        role = "daemon";
        log_start();
        run_daemon();
    }
    int sfd = make_signalfd();
    for (;;) {
        pollfd pfd{sfd, POLLIN, 0};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            die("poll: %s", strerror(errno));
        }
        for (int sig : read_signals(sfd)) {
            if (sig != SIGCHLD) {
                log_signal(sig, true);
                continue;
            }
            int st;
            pid_t p;
            while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
                if (p == child) {
                    exit_like(st);
                }
            }
        }
    }
}

void reset_signal_state() {
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            signal(sig, SIG_DFL);
        }
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

// A minimal init for a PID namespace: logs the signals it gets (so a test can tell whether
// something signalled PID 1), reaps whatever is re-parented to it.
[[noreturn]] void run_init() {
    role = "init";
    int sfd = make_signalfd();
    pid_t child = fork();
    if (child < 0) {
        die("fork: %s", strerror(errno));
    }
    if (child == 0) {
        reset_signal_state();
        std::vector<char*> args;
        for (auto& a : opt.spawn) {
            args.push_back(a.data());
        }
        args.push_back(nullptr);
        execvp(args[0], args.data());
        die("cannot run %s: %s", args[0], strerror(errno));
    }
    for (;;) {
        pollfd pfd{sfd, POLLIN, 0};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            die("poll: %s", strerror(errno));
        }
        for (int sig : read_signals(sfd)) {
            if (sig != SIGCHLD) {
                log_signal(sig, true);
                continue;
            }
            int st;
            pid_t p;
            while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
                if (p == child) {
                    exit_like(st);
                }
            }
        }
    }
}

// A launcher that names itself in the pidfile first and its daemon later, rewriting the file
// in place (same inode, and the same size when both pids have as many digits), both writes
// within one second: a file system with one-second timestamps shows no change between them.
//
// The first write comes 50 to 150 ms into a second, not at its very start: the kernel stamps
// files from a clock that lags the real time by up to a tick, and a write a few milliseconds
// into a second could carry the previous second's time.
[[noreturn]] void run_launcher_writing_pidfile() {
    constexpr long ms = 1'000'000;
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_nsec < 50 * ms || now.tv_nsec > 150 * ms) {
        long wait = (1'000'000'000 + 50 * ms - now.tv_nsec) % 1'000'000'000;
        timespec rest{0, wait};
        nanosleep(&rest, nullptr);
    }
    opt.pidfile_inplace = true;
    opt.pidfile_content = "%p\n";
    write_pidfile();
    pid_t child = fork();
    if (child < 0) {
        die("fork: %s", strerror(errno));
    }
    if (child == 0) {
        setsid();
        role = "daemon";
        opt.no_pidfile = true;
        log_start();
        run_daemon();
    }
    timespec wait{opt.launcher_pidfile_ms / 1000, (opt.launcher_pidfile_ms % 1000) * 1'000'000L};
    nanosleep(&wait, nullptr);
    opt.pidfile_content = std::to_string(child) + "\n";
    write_pidfile();
    exit_with_code(opt.launcher_exit);
}

} // namespace

int main(int argc, char** argv) {
    parse_args(argc, argv);
    if (!opt.log.empty()) {
        log_fd = open(opt.log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            die("cannot open %s: %s", opt.log.c_str(), strerror(errno));
        }
    }
    role = !opt.spawn.empty() ? "init" : opt.fork ? "launcher" : opt.wrapper ? "wrapper" : "daemon";
    parent_at_start = getppid();
    if (opt.report_sigstate) {
        report_sigstate();
    }
    // From here on no signal may kill testd by surprise: they are read from a signalfd.
    block_handled_signals();
    log_start();
    std::string args;
    for (int i = 1; i < argc; ++i) {
        args.append("[").append(argv[i]).append("]");
    }
    log_line("argv pid=%d role=%s args=%s", getpid(), role, args.c_str());

    if (!opt.spawn.empty()) {
        run_init();
    }
    if (opt.pidfile_held) {
        open_held_pidfile();
    }
    if (opt.fork && opt.launcher_pidfile_ms >= 0) {
        run_launcher_writing_pidfile();
    }
    if (opt.fork) {
        pid_t child = fork();
        if (child < 0) {
            die("fork: %s", strerror(errno));
        }
        if (child > 0) {
            exit_with_code(opt.launcher_exit);
        }
        setsid();
        role = opt.wrapper ? "wrapper" : "daemon";
        log_start();
    }
    if (opt.wrapper) {
        run_wrapper();
    }
    run_daemon();
}
