// pidshim_probe: the daemon every wrapper in the benchmark runs.
//
//   pidshim_probe [--fork] --pidfile PATH --area PATH
//
// It writes its pid to PATH (atomically, by rename) and then sleeps; each signal it receives
// is stamped with CLOCK_MONOTONIC inside the handler, in the shared probe_area, and wakes the
// harness. TERM, INT and QUIT make it exit 0 after the stamp. With --fork it daemonizes the
// classic way: the launcher forks, the child calls setsid and writes the pidfile, and the
// launcher exits 0 once the daemon is ready.
//
// It is linked statically so that its own start-up (no dynamic loader) adds as little as
// possible to the start-cost floor the wrappers are compared with.

#include "probe_area.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {

using pidshim_bench::probe_area;

// Taken before anything else in the program runs, including the C++ runtime's own static
// initialisers: "the daemon's first instruction" for the start-cost figure.
std::uint64_t first_instruction_ns;
__attribute__((constructor(101))) void stamp_first_instruction() {
    first_instruction_ns = pidshim_bench::now_ns();
}

probe_area* area = nullptr;

// A fault or a broken handler must still kill the probe, so those stay at their defaults.
bool is_recorded(int signo) {
    switch (signo) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS:
    case SIGCHLD:
        return false;
    default:
        return true;
    }
}

void on_signal(int signo) {
    int saved_errno = errno;
    std::uint64_t t = pidshim_bench::now_ns();
    // The time is stored before the count, so a harness that sees the count also sees it.
    area->last_ns[signo].store(t, std::memory_order_relaxed);
    area->count[signo].fetch_add(1, std::memory_order_release);
    area->events.fetch_add(1, std::memory_order_release);
    pidshim_bench::futex_wake_all(area->events);
    if (signo == SIGTERM || signo == SIGINT || signo == SIGQUIT) {
        ::_exit(0);
    }
    errno = saved_errno;
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "pidshim_probe: %s: %s\n", what, std::strerror(errno));
    ::_exit(1);
}

probe_area* map_area(const char* path) {
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        die(path);
    }
    void* p = ::mmap(nullptr, sizeof(probe_area), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        die("mmap");
    }
    ::close(fd);
    return static_cast<probe_area*>(p);
}

void write_pidfile(const std::string& path) {
    std::string temporary = path + ".tmp";
    std::string text = std::to_string(::getpid()) + "\n";
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::close(fd) != 0) {
        die(temporary.c_str());
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        die(path.c_str());
    }
}

void install_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (int signo = 1; signo < pidshim_bench::signal_slots && signo < NSIG; ++signo) {
        if (is_recorded(signo)) {
            ::sigaction(signo, &sa, nullptr);
        }
    }
}

} // namespace

int main(int argc, char* argv[]) {
    bool daemonize = false;
    const char* pidfile = nullptr;
    const char* area_path = nullptr;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--fork") {
            daemonize = true;
        } else if (arg == "--pidfile" && i + 1 < argc) {
            pidfile = argv[++i];
        } else if (arg == "--area" && i + 1 < argc) {
            area_path = argv[++i];
        } else {
            std::fprintf(stderr, "usage: pidshim_probe [--fork] --pidfile PATH --area PATH\n");
            return 2;
        }
    }
    if (pidfile == nullptr || area_path == nullptr) {
        std::fprintf(stderr, "usage: pidshim_probe [--fork] --pidfile PATH --area PATH\n");
        return 2;
    }
    area = map_area(area_path);
    area->start_ns.store(first_instruction_ns, std::memory_order_relaxed);

    // A signal sent through the wrapper before the daemon is ready must wait for the
    // daemon's handler, not kill the launcher or the daemon on its default action.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);

    int ready_pipe[2] = {-1, -1};
    if (daemonize) {
        if (::pipe2(ready_pipe, O_CLOEXEC) != 0) {
            die("pipe2");
        }
        pid_t pid = ::fork();
        if (pid < 0) {
            die("fork");
        }
        if (pid > 0) {
            ::close(ready_pipe[1]);
            char byte = 0;
            ssize_t n = ::read(ready_pipe[0], &byte, 1);
            ::_exit(n == 1 ? 0 : 1);
        }
        ::close(ready_pipe[0]);
        ::setsid();
    }
    install_handlers();
    area->daemon_pid.store(::getpid(), std::memory_order_relaxed);
    write_pidfile(pidfile);
    area->ready.store(1, std::memory_order_release);
    pidshim_bench::futex_wake_all(area->ready);
    if (daemonize) {
        char byte = 1;
        [[maybe_unused]] auto n = ::write(ready_pipe[1], &byte, 1);
        ::close(ready_pipe[1]);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    while (true) {
        ::pause();
    }
}
