// Test harness for pidshim's integration tests: runs the real binaries against real
// processes and waits on events with deadlines.
//
// Every test process makes itself a child subreaper, so whatever a test starts stays below
// it even after pidshim is gone: the Sandbox fixture can then find and kill the whole tree,
// and a test can check that nothing was left behind.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <poll.h>
#include <regex>
#include <sstream>
#include <string>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

// Names the test module in Boost.Test's reports (the entry point is shared by all tests).
#define PIDSHIM_TEST_MODULE(name)                                                                  \
    namespace {                                                                                    \
    struct pidshim_test_module_name {                                                              \
        pidshim_test_module_name() {                                                               \
            boost::unit_test::framework::master_test_suite().p_name.value = name;                  \
        }                                                                                          \
    };                                                                                             \
    }                                                                                              \
    BOOST_TEST_GLOBAL_FIXTURE(pidshim_test_module_name)

namespace harness {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// PIDSHIM_TEST_BIN runs the suite against another build, e.g. the installed package's binary.
inline const std::string pidshim_bin =
    std::getenv("PIDSHIM_TEST_BIN") ? std::getenv("PIDSHIM_TEST_BIN") : PIDSHIM_BIN;
inline const std::string testd_bin = TESTD_BIN;

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so C++ cannot link against its wrappers.
inline int pidfd_open(pid_t pid, unsigned flags) {
    return static_cast<int>(syscall(SYS_pidfd_open, pid, flags));
}
inline int pidfd_send_signal(int pidfd, int sig) {
    return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// Generous bound for anything that should happen "at once": it only matters when a test
// fails, and a loaded CI machine must not make a passing test fail.
inline constexpr auto prompt = 5s;

// ---------------------------------------------------------------------------------------
// Files and text

inline std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
    // Written under another name and renamed, so that a reader never sees half a file.
    std::string tmp = path + ".harness-tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        BOOST_REQUIRE_MESSAGE(out.good(), "cannot write " << tmp);
    }
    BOOST_REQUIRE(chmod(tmp.c_str(), mode) == 0);
    BOOST_REQUIRE_MESSAGE(rename(tmp.c_str(), path.c_str()) == 0, "cannot rename to " << path);
}

inline std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        out.push_back(line);
    }
    return out;
}

inline bool contains(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
}

inline std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
    std::vector<std::string> out;
    for (auto& l : split_lines(text)) {
        if (contains(l, needle)) {
            out.push_back(l);
        }
    }
    return out;
}

// "following pid 12" must not match a line about pid 123.
inline bool has_pid_phrase(const std::string& line, const std::string& phrase, pid_t pid) {
    std::string needle = phrase + std::to_string(pid);
    for (size_t at = line.find(needle); at != std::string::npos; at = line.find(needle, at + 1)) {
        size_t end = at + needle.size();
        if (end == line.size() || !std::isdigit(static_cast<unsigned char>(line[end]))) {
            return true;
        }
    }
    return false;
}

inline std::string signame(int sig) {
    const char* n = sigabbrev_np(sig);
    return n ? n : std::to_string(sig);
}

// ---------------------------------------------------------------------------------------
// Processes seen through /proc

struct ProcStat {
    char state;
    pid_t ppid;
    pid_t pgrp;
};

inline std::optional<ProcStat> proc_stat(pid_t pid) {
    std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
    // The command name may contain spaces and parentheses: the fields start after the last ')'.
    auto close = s.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream in(s.substr(close + 1));
    ProcStat st{};
    in >> st.state >> st.ppid >> st.pgrp;
    if (!in) {
        return std::nullopt;
    }
    return st;
}

// A zombie is dead: only its parent has not looked yet.
inline bool alive(pid_t pid) {
    auto st = proc_stat(pid);
    return st && st->state != 'Z' && st->state != 'X';
}

inline std::vector<pid_t> all_pids() {
    std::vector<pid_t> out;
    if (DIR* d = opendir("/proc")) {
        while (dirent* e = readdir(d)) {
            char* end;
            long v = std::strtol(e->d_name, &end, 10);
            if (*end == '\0' && v > 0) {
                out.push_back(static_cast<pid_t>(v));
            }
        }
        closedir(d);
    }
    return out;
}

inline std::vector<pid_t> descendants_of(pid_t root) {
    std::multimap<pid_t, pid_t> children;
    for (pid_t p : all_pids()) {
        if (auto st = proc_stat(p)) {
            children.emplace(st->ppid, p);
        }
    }
    std::vector<pid_t> out;
    std::vector<pid_t> todo{root};
    while (!todo.empty()) {
        pid_t p = todo.back();
        todo.pop_back();
        auto [b, e] = children.equal_range(p);
        for (auto it = b; it != e; ++it) {
            out.push_back(it->second);
            todo.push_back(it->second);
        }
    }
    return out;
}

inline std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    for (pid_t p : all_pids()) {
        if (auto st = proc_stat(p); st && st->ppid == parent) {
            out.push_back(p);
        }
    }
    return out;
}

inline std::vector<pid_t> live_descendants_of(pid_t root) {
    auto all = descendants_of(root);
    std::vector<pid_t> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), alive);
    return out;
}

inline std::string exe_of(pid_t pid) {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
    return ec ? std::string() : p.string();
}

inline std::string status_field(pid_t pid, const std::string& key) {
    for (auto& l : split_lines(slurp("/proc/" + std::to_string(pid) + "/status"))) {
        if (l.rfind(key + ":", 0) == 0) {
            auto v = l.substr(key.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    }
    return {};
}

// The pid as seen inside the innermost PID namespace of the process.
inline pid_t innermost_pid(pid_t host_pid) {
    std::istringstream in(status_field(host_pid, "NSpid"));
    pid_t last = 0;
    for (pid_t v; in >> v;) {
        last = v;
    }
    return last;
}

// Translates a pid a process inside a PID namespace logged into the pid this test can use.
inline pid_t host_pid(pid_t ns_root, pid_t ns_pid) {
    for (pid_t p : descendants_of(ns_root)) {
        if (innermost_pid(p) == ns_pid) {
            return p;
        }
    }
    BOOST_FAIL("no process with namespace pid " << ns_pid << " below " << ns_root);
    return -1;
}

inline bool signal_pending(pid_t pid, int sig) {
    for (const char* key : {"SigPnd", "ShdPnd"}) {
        auto mask = std::strtoull(status_field(pid, key).c_str(), nullptr, 16);
        if (mask & (1ULL << (sig - 1))) {
            return true;
        }
    }
    return false;
}

inline bool all_threads_sleeping(pid_t pid) {
    std::error_code ec;
    bool any = false;
    for (auto& t :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        auto st = proc_stat(std::atoi(t.path().filename().c_str()));
        if (!st || st->state != 'S') {
            return false;
        }
        any = true;
    }
    return any;
}

// ---------------------------------------------------------------------------------------
// Waiting, always with a deadline

// For conditions only /proc can tell: checked often, given up at the deadline.
inline bool eventually(const std::function<bool()>& pred, Clock::duration timeout = prompt) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) {
            return true;
        }
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(2ms);
    }
}

inline void require_eventually(const std::function<bool()>& pred, const std::string& what,
                               Clock::duration timeout = prompt) {
    if (!eventually(pred, timeout)) {
        BOOST_FAIL("timed out after "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()
                   << " ms waiting for: " << what);
    }
}

// Whether a process has died (or is a zombie), waiting on a pidfd rather than polling.
inline bool wait_dead(pid_t pid, Clock::duration timeout = prompt) {
    int fd = pidfd_open(pid, 0);
    if (fd < 0) {
        return true;
    }
    pollfd p{fd, POLLIN, 0};
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    int r;
    do {
        r = poll(&p, 1, static_cast<int>(ms));
    } while (r < 0 && errno == EINTR);
    close(fd);
    return r > 0 || !alive(pid);
}

// Whether a process has died and its parent has collected its status, so that it is gone from
// /proc.
inline void wait_reaped(pid_t pid, Clock::duration timeout = prompt) {
    require_eventually([&] { return !proc_stat(pid); },
                       "pid " + std::to_string(pid) + " to be reaped", timeout);
}

// Wakes up when something in a directory changes; a short poll interval is only a safety net.
class DirWatch {
  public:
    explicit DirWatch(const std::string& dir) {
        fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        BOOST_REQUIRE(fd_ >= 0);
        inotify_add_watch(fd_, dir.c_str(),
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |
                              IN_DELETE);
    }
    ~DirWatch() { close(fd_); }
    DirWatch(const DirWatch&) = delete;
    DirWatch& operator=(const DirWatch&) = delete;

    void wait(Clock::duration max) {
        pollfd p{fd_, POLLIN, 0};
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(max).count();
        poll(&p, 1, static_cast<int>(std::clamp<long long>(ms, 0, 50)));
        char buf[4096];
        while (read(fd_, buf, sizeof buf) > 0) {
        }
    }

  private:
    int fd_ = -1;
};

// Waits until the text of a file satisfies pred; returns the text it saw last.
inline std::optional<std::string> wait_for_text(const std::string& path,
                                                const std::function<bool(const std::string&)>& pred,
                                                Clock::duration timeout = prompt) {
    DirWatch watch(std::filesystem::path(path).parent_path().string());
    auto deadline = Clock::now() + timeout;
    for (;;) {
        std::string text = slurp(path);
        if (pred(text)) {
            return text;
        }
        auto now = Clock::now();
        if (now >= deadline) {
            return std::nullopt;
        }
        watch.wait(deadline - now);
    }
}

inline std::string dump(const std::string& path) {
    return "\n--- " + path + " ---\n" + slurp(path) + "--- end ---";
}

// The first line of the file that satisfies pred, or the test fails.
inline std::string wait_for_line(const std::string& path,
                                 const std::function<bool(const std::string&)>& pred,
                                 const std::string& what, Clock::duration timeout = prompt) {
    std::string found;
    auto ok = wait_for_text(
        path,
        [&](const std::string& text) {
            for (auto& l : split_lines(text)) {
                if (pred(l)) {
                    found = l;
                    return true;
                }
            }
            return false;
        },
        timeout);
    if (!ok) {
        BOOST_FAIL("timed out waiting for " << what << " in " << path << dump(path));
    }
    return found;
}

inline std::string wait_for_line(const std::string& path, const std::string& needle,
                                 Clock::duration timeout = prompt) {
    return wait_for_line(
        path, [&](const std::string& l) { return contains(l, needle); },
        "a line containing '" + needle + "'", timeout);
}

inline void wait_for_count(const std::string& path, const std::string& needle, size_t n,
                           Clock::duration timeout = prompt) {
    if (!wait_for_text(
            path, [&](const std::string& t) { return lines_with(t, needle).size() >= n; },
            timeout)) {
        BOOST_FAIL("timed out waiting for " << n << " lines containing '" << needle << "' in "
                                            << path << dump(path));
    }
}

// Waits until pid has taken sig off its pending set and all its threads are asleep again,
// i.e. it has finished reacting to the signal. Used before changing the world under a
// process, so that what it did with the signal cannot depend on the change.
inline void wait_signal_handled(pid_t pid, int sig, Clock::duration timeout = prompt) {
    require_eventually(
        [&] { return !signal_pending(pid, sig) && all_threads_sleeping(pid); },
        "pid " + std::to_string(pid) + " to handle SIG" + signame(sig) + " and go idle", timeout);
}

// ---------------------------------------------------------------------------------------
// testd's log

inline std::string signal_line_prefix(pid_t pid) {
    return "signal pid=" + std::to_string(pid) + " ";
}

// One line of testd's log: "EVENT key=value ... [ignored]".
struct Event {
    std::string kind;
    std::map<std::string, std::string> fields;
    bool ignored = false;

    pid_t pid() const { return fields.count("pid") ? std::atoi(fields.at("pid").c_str()) : -1; }
    std::string get(const std::string& key) const {
        return fields.count(key) ? fields.at(key) : std::string();
    }
};

inline Event parse_event(const std::string& line) {
    Event e;
    std::istringstream in(line);
    in >> e.kind;
    for (std::string word; in >> word;) {
        if (auto eq = word.find('='); eq != std::string::npos) {
            e.fields.emplace(word.substr(0, eq), word.substr(eq + 1));
        } else if (word == "ignored") {
            e.ignored = true;
        }
    }
    return e;
}

inline std::vector<Event> events(const std::string& log) {
    std::vector<Event> out;
    for (auto& l : split_lines(slurp(log))) {
        out.push_back(parse_event(l));
    }
    return out;
}

inline Event wait_for_event(const std::string& log, const std::function<bool(const Event&)>& pred,
                            const std::string& what, Clock::duration timeout = prompt) {
    return parse_event(wait_for_line(
        log, [&](const std::string& l) { return pred(parse_event(l)); }, what, timeout));
}

// Pid of the first process of the given role that logged its start.
inline pid_t wait_started(const std::string& log, const std::string& role,
                          Clock::duration timeout = prompt) {
    return wait_for_event(
               log, [&](const Event& e) { return e.kind == "start" && e.get("role") == role; },
               "a " + role + " to start", timeout)
        .pid();
}

inline std::vector<pid_t> started(const std::string& log, const std::string& role) {
    std::vector<pid_t> out;
    for (auto& e : events(log)) {
        if (e.kind == "start" && e.get("role") == role) {
            out.push_back(e.pid());
        }
    }
    return out;
}

// Names of the signals pid logged, in order ("TERM", "HUP", ...), ignored ones included.
inline std::vector<std::string> signals_of(const std::string& log, pid_t pid) {
    std::vector<std::string> out;
    for (auto& e : events(log)) {
        if (e.kind == "signal" && e.pid() == pid) {
            out.push_back(e.get("sig"));
        }
    }
    return out;
}

inline size_t count_signal(const std::string& log, pid_t pid, int sig) {
    auto s = signals_of(log, pid);
    return std::count(s.begin(), s.end(), signame(sig));
}

inline void wait_for_signal(const std::string& log, pid_t pid, int sig,
                            Clock::duration timeout = prompt) {
    wait_for_event(
        log,
        [&](const Event& e) {
            return e.kind == "signal" && e.pid() == pid && e.get("sig") == signame(sig);
        },
        "pid " + std::to_string(pid) + " to get SIG" + signame(sig), timeout);
}

inline void wait_for_exit_line(const std::string& log, pid_t pid,
                               Clock::duration timeout = prompt) {
    wait_for_event(
        log, [&](const Event& e) { return e.kind == "exit" && e.pid() == pid; },
        "pid " + std::to_string(pid) + " to exit", timeout);
}

// Index of the first line containing needle, or -1.
inline long line_index(const std::string& log, const std::string& needle) {
    auto lines = split_lines(slurp(log));
    for (size_t i = 0; i < lines.size(); ++i) {
        if (contains(lines[i], needle)) {
            return static_cast<long>(i);
        }
    }
    return -1;
}

// ---------------------------------------------------------------------------------------
// Starting and stopping

inline int decode_wait_status(int st) {
    if (WIFEXITED(st)) {
        return WEXITSTATUS(st);
    }
    if (WIFSIGNALED(st)) {
        return 128 + WTERMSIG(st);
    }
    return -1;
}

inline void kill_tree(pid_t root) {
    // Repeated because a process may fork or re-parent while the tree is being walked.
    for (int round = 0; round < 100; ++round) {
        auto procs = descendants_of(root);
        if (root > 0 && root != getpid() && alive(root)) {
            procs.push_back(root);
        }
        bool any = false;
        for (pid_t p : procs) {
            if (alive(p)) {
                kill(p, SIGKILL);
                any = true;
            }
        }
        // Re-parented zombies are ours to reap.
        while (waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        if (!any) {
            return;
        }
        std::this_thread::sleep_for(1ms);
    }
}

struct SpawnOptions {
    std::vector<std::string> env; // extra or replacing NAME=VALUE entries
    std::vector<int> block;       // signals blocked in the child at exec
    std::vector<int> ignore;      // signals ignored in the child at exec
    std::string name = "pidshim"; // names the NAME.stdout / NAME.stderr capture files
    std::string cwd;              // working directory of the child, if not the test's

    SpawnOptions with_env(std::vector<std::string> v) const { return set(&SpawnOptions::env, v); }
    SpawnOptions blocking(std::vector<int> v) const { return set(&SpawnOptions::block, v); }
    SpawnOptions ignoring(std::vector<int> v) const { return set(&SpawnOptions::ignore, v); }
    SpawnOptions named(std::string v) const { return set(&SpawnOptions::name, v); }
    SpawnOptions in_dir(std::string v) const { return set(&SpawnOptions::cwd, v); }

  private:
    template <class T> SpawnOptions set(T SpawnOptions::*member, T value) const {
        SpawnOptions copy = *this;
        copy.*member = std::move(value);
        return copy;
    }
};

class Process {
  public:
    Process(const std::vector<std::string>& argv, const std::string& dir,
            const SpawnOptions& o = {})
        : out_path(dir + "/" + o.name + ".stdout"), err_path(dir + "/" + o.name + ".stderr") {
        BOOST_REQUIRE(!argv.empty());
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e) {
            std::string kv = *e;
            std::string key = kv.substr(0, kv.find('='));
            // A test must never talk to the real service manager.
            if (key == "NOTIFY_SOCKET") {
                continue;
            }
            bool replaced = std::any_of(o.env.begin(), o.env.end(), [&](const std::string& x) {
                return x.substr(0, x.find('=')) == key;
            });
            if (!replaced) {
                env.push_back(kv);
            }
        }
        env.insert(env.end(), o.env.begin(), o.env.end());
        std::vector<char*> cargv, cenv;
        for (auto& a : argv) {
            cargv.push_back(const_cast<char*>(a.c_str()));
        }
        cargv.push_back(nullptr);
        for (auto& e : env) {
            cenv.push_back(const_cast<char*>(e.c_str()));
        }
        cenv.push_back(nullptr);
        sigset_t mask;
        sigemptyset(&mask);
        for (int s : o.block) {
            sigaddset(&mask, s);
        }

        pid_ = fork();
        BOOST_REQUIRE_MESSAGE(pid_ >= 0, "fork: " << strerror(errno));
        if (pid_ == 0) {
            // Only async-signal-safe calls from here on.
            setpgid(0, 0);
            // Should the test itself be killed, what it started goes too.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int in = open("/dev/null", O_RDONLY);
            int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (in < 0 || out < 0 || err < 0) {
                _exit(121);
            }
            dup2(in, 0);
            dup2(out, 1);
            dup2(err, 2);
            if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) {
                _exit(123);
            }
            struct sigaction sa {};
            sa.sa_handler = SIG_DFL;
            for (int s = 1; s < NSIG; ++s) {
                if (s != SIGKILL && s != SIGSTOP) {
                    sigaction(s, &sa, nullptr);
                }
            }
            sa.sa_handler = SIG_IGN;
            for (int s : o.ignore) {
                sigaction(s, &sa, nullptr);
            }
            sigprocmask(SIG_SETMASK, &mask, nullptr);
            execvpe(cargv[0], cargv.data(), cenv.data());
            const char msg[] = "harness: exec failed\n";
            (void)!write(2, msg, sizeof msg - 1);
            _exit(122);
        }
        pidfd_ = pidfd_open(pid_, 0);
        BOOST_REQUIRE_MESSAGE(pidfd_ >= 0, "pidfd_open: " << strerror(errno));
    }

    ~Process() {
        if (!status_) {
            kill_tree(pid_);
            waitpid(pid_, nullptr, 0);
        }
        if (pidfd_ >= 0) {
            close(pidfd_);
        }
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }

    bool running() {
        if (status_) {
            return false;
        }
        pollfd p{pidfd_, POLLIN, 0};
        return poll(&p, 1, 0) == 0;
    }

    // Exit code (128+N when killed by signal N), or nothing if it still runs at the deadline.
    std::optional<int> try_wait(Clock::duration timeout) {
        if (!status_) {
            pollfd p{pidfd_, POLLIN, 0};
            auto deadline = Clock::now() + timeout;
            for (;;) {
                auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())
                        .count();
                int r = poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
                if (r > 0) {
                    break;
                }
                if (r == 0 || errno != EINTR) {
                    return std::nullopt;
                }
            }
            int st = 0;
            BOOST_REQUIRE(waitpid(pid_, &st, 0) == pid_);
            status_ = decode_wait_status(st);
            exited_at_ = Clock::now();
        }
        return status_;
    }

    int wait_exit(Clock::duration timeout = prompt) {
        if (auto code = try_wait(timeout)) {
            return *code;
        }
        BOOST_FAIL("pid " << pid_ << " still running after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()
                          << " ms" << dump(err_path));
        return -1;
    }

    Clock::time_point exited_at() const { return exited_at_; }

    void signal(int sig) {
        BOOST_REQUIRE_MESSAGE(pidfd_send_signal(pidfd_, sig) == 0,
                              "cannot signal pid " << pid_ << ": " << strerror(errno));
    }

    std::string out() const { return slurp(out_path); }
    std::string err() const { return slurp(err_path); }

    const std::string out_path;
    const std::string err_path;

  private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> status_;
    Clock::time_point exited_at_;
};

// Every line pidshim writes to stderr is one message that starts with "pidshim: "; the only
// other line allowed is the usage hint.
inline void check_stderr_format(const std::string& text) {
    for (auto& l : split_lines(text)) {
        BOOST_CHECK_MESSAGE(l.rfind("pidshim: ", 0) == 0 || l.rfind("Try 'pidshim --help'", 0) == 0,
                            "stderr line not in pidshim's format: '" << l << "'");
    }
}

// Waits until pidshim says it follows pid (pidshim: PIDFILE: following pid N).
inline void wait_following(const Process& shim, const std::string& pidfile, pid_t pid,
                           Clock::duration timeout = prompt) {
    wait_for_line(
        shim.err_path,
        [&](const std::string& l) { return has_pid_phrase(l, pidfile + ": following pid ", pid); },
        "pidshim to follow pid " + std::to_string(pid), timeout);
}

// The pidshim process somewhere below root (e.g. inside a PID namespace).
inline pid_t find_pidshim_below(pid_t root) {
    auto want = std::filesystem::canonical(pidshim_bin).string();
    pid_t found = -1;
    require_eventually(
        [&] {
            // A child pidshim forked but has not exec'd yet also runs pidshim's binary.
            for (pid_t p : descendants_of(root)) {
                auto st = proc_stat(p);
                if (exe_of(p) == want && st && exe_of(st->ppid) != want) {
                    found = p;
                    return true;
                }
            }
            return false;
        },
        "pidshim to run below pid " + std::to_string(root));
    return found;
}

// ---------------------------------------------------------------------------------------
// The fixture every test case runs in

struct Sandbox {
    Sandbox() {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        char tmpl[] = "/tmp/pidshim-test.XXXXXX";
        BOOST_REQUIRE(mkdtemp(tmpl));
        dir = tmpl;
    }
    ~Sandbox() {
        kill_tree(getpid());
        if (!std::getenv("PIDSHIM_TEST_KEEP")) {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    }
    std::string path(const std::string& name) const { return dir + "/" + name; }

    // The processes this test started that are still alive.
    std::vector<pid_t> leftovers() const { return live_descendants_of(getpid()); }

    std::string dir;
};

inline std::string describe(const std::vector<pid_t>& pids) {
    std::string out;
    // Appended piece by piece: GCC 12 warns wrongly (-Wstringop-overflow) on a chain of +.
    for (pid_t p : pids) {
        out += ' ';
        out += std::to_string(p);
        out += '(';
        out += slurp("/proc/" + std::to_string(p) + "/cmdline").substr(0, 60);
        out += ')';
    }
    return out;
}

} // namespace harness
