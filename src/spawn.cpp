#include "spawn.hpp"

#include "exit_status.hpp"
#include "signal_receiver.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string_view>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace bp = boost::process::v2;

namespace pidshim {
namespace {

// Signals ignored in this process, as the kernel lists them (SigIgn in /proc/self/status):
// one read instead of asking about each of 64 signals. All of them when it cannot be read.
std::uint64_t ignored_signals() {
    std::uint64_t all = ~std::uint64_t{0};
    int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return all;
    }
    std::array<char, 4096> text{};
    ssize_t n = ::read(fd, text.data(), text.size() - 1);
    ::close(fd);
    std::string_view status(text.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
    constexpr std::string_view key = "\nSigIgn:\t";
    auto at = status.find(key);
    if (at == std::string_view::npos) {
        return all;
    }
    std::uint64_t mask = 0;
    const char* first = status.data() + at + key.size();
    auto [end, ec] = std::from_chars(first, status.data() + status.size(), mask, 16);
    return ec == std::errc{} && end != first ? mask : all;
}

// The descriptors pidshim inherited, sorted: COMMAND inherits exactly these.
std::vector<int>& inherited() {
    static std::vector<int> fds;
    return fds;
}
bool inherited_noted = false;

// Every descriptor open in this process, sorted; the listing's own excepted.
std::vector<int> open_descriptors() {
    std::vector<int> fds;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) {
        // No descriptor left to list them with, or no /proc: ask about each one instead.
        rlimit limit{};
        rlim_t most = ::getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
        for (rlim_t fd = 0; fd < std::min<rlim_t>(most, 1 << 20); ++fd) {
            if (::fcntl(static_cast<int>(fd), F_GETFD) >= 0) {
                fds.push_back(static_cast<int>(fd));
            }
        }
        return fds;
    }
    while (const dirent* entry = ::readdir(dir)) {
        int fd = -1;
        std::string_view name = entry->d_name;
        auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
        if (ec == std::errc{} && end == name.data() + name.size() && fd != ::dirfd(dir)) {
            fds.push_back(fd);
        }
    }
    ::closedir(dir);
    std::sort(fds.begin(), fds.end());
    return fds;
}

// In the child between fork and exec: closes every descriptor not in keep (sorted). Only
// system calls, no allocation. Where /proc cannot be listed, close-on-exec alone keeps
// pidshim's own descriptors from COMMAND.
void close_all_but(const std::vector<int>& keep) {
    int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        return;
    }
    alignas(dirent64) std::array<char, 4096> buffer;
    for (;;) {
        long n = ::syscall(SYS_getdents64, dir, buffer.data(), buffer.size());
        if (n <= 0) {
            break;
        }
        for (long at = 0; at < n;) {
            const auto* entry = reinterpret_cast<const dirent64*>(buffer.data() + at);
            at += entry->d_reclen;
            std::string_view name = entry->d_name;
            int fd = -1;
            auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), fd);
            if (ec == std::errc{} && end == name.data() + name.size() && fd != dir &&
                !std::binary_search(keep.begin(), keep.end(), fd)) {
                ::close(fd);
            }
        }
    }
    ::close(dir);
}

// Boost.Process v2 leaves the parent's signal mask and ignored signals to the child and
// exits through exit() after a failed exec; this initializer fixes both. (Caught signals
// need nothing: exec resets them, and pidshim catches none.)
//
// It also decides which descriptors COMMAND gets. Boost 1.81's launcher closes, just before
// exec, every descriptor above the pipe it uses to report a failed exec and none below it
// (its loop over the gaps compares each entry with itself), and nothing at all where the
// kernel lacks close_range. An inherited descriptor above that pipe (a socket passed at fd
// 60) would be lost, and one of pidshim's below it passed on, were it not close-on-exec.
// Here the child closes everything pidshim did not inherit itself, and tells the launcher
// to keep all that is left, so that its own closing finds nothing more to close.
class clean_child {
  public:
    explicit clean_child(bool new_group) : new_group_(new_group) {}

    // Parent, before fork: block every signal until the child has its own state, and note
    // which signals the child would inherit as ignored.
    template <typename Launcher>
    bp::error_code on_setup(Launcher& launcher, const bp::filesystem::path&, const char* const*&) {
        ignored_ = ignored_signals();
        parent_ = ::getpid();
        // The terminal goes to COMMAND's new group only if pidshim's group has it now: a
        // background pidshim does not take the terminal from the shell's foreground job.
        give_terminal_ =
            new_group_ && ::isatty(STDIN_FILENO) == 1 && ::tcgetpgrp(STDIN_FILENO) == ::getpgrp();
        // Room for the launcher's own entries (stdio and its pipe), added in the child without
        // allocating.
        keep_ = inherited();
        keep_.reserve(keep_.size() + launcher.fd_whitelist.size() + 1);
        sigset_t all;
        sigfillset(&all);
        add_signal(all, 32);
        add_signal(all, 33);
        (void)block_signals(SIG_SETMASK, all, &saved_);
        return {};
    }

    template <typename Launcher>
    bp::error_code on_exec_setup(Launcher& launcher, const bp::filesystem::path&,
                                 const char* const*&) {
        // The kernel's call, not glibc's: glibc refuses signals 32 and 33, which it keeps for
        // itself, yet they can arrive ignored (GNU make leaves them so). The kernel's struct
        // sigaction zeroed: SIG_DFL (0), no flags, no restorer, no mask.
        const std::array<unsigned long, 4> default_action{};
        for (int signo = 1; signo < NSIG && signo <= 64; ++signo) {
            if ((ignored_ >> (signo - 1) & 1U) != 0 && signo != SIGKILL && signo != SIGSTOP) {
                (void)::syscall(SYS_rt_sigaction, signo, default_action.data(), nullptr,
                                sizeof(unsigned long));
            }
        }
        if (new_group_) {
            // --group: a group of its own, which signals reach as a whole (a shell script's
            // children too), and pidshim is not in. The launcher reports success only after
            // exec, so the group exists by the time pidshim first signals it.
            (void)::setpgid(0, 0);
            if (give_terminal_) {
                // An interactive COMMAND must be in the terminal's foreground group, or its
                // first read stops it with SIGTTIN. SIGTTOU is blocked here, so the change
                // from a background group is allowed.
                (void)::tcsetpgrp(STDIN_FILENO, ::getpgrp());
            }
        }
        // If pidshim is killed outright, the command it started hears of it.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        // ...unless pidshim died before the request was made: the kernel sends nothing for a
        // parent already gone, and COMMAND would run unsupervised. The child is re-parented
        // by then, so its parent is no longer pidshim; it ends before COMMAND starts, with
        // 125 ("pidshim failed") for whoever reaps it, since COMMAND never ran.
        if (::getppid() != parent_) {
            ::_exit(exit_code::internal);
        }
        // The launcher's pipe and stdio are in its list; nothing outside keep_ stays open.
        for (int fd : launcher.fd_whitelist) {
            if (!std::binary_search(keep_.begin(), keep_.end(), fd)) {
                keep_.insert(std::upper_bound(keep_.begin(), keep_.end(), fd), fd);
            }
        }
        close_all_but(keep_);
        launcher.fd_whitelist.swap(keep_);
        sigset_t none;
        sigemptyset(&none);
        (void)block_signals(SIG_SETMASK, none, nullptr);
        return {};
    }

    // The variadic form is the one Boost 1.81 detects for this hook.
    template <typename... Args> void on_exec_error(Args&&...) {
        ::_exit(errno == ENOENT ? exit_code::not_found : exit_code::not_executable);
    }

    template <typename Launcher>
    void on_success(Launcher&, const bp::filesystem::path&, const char* const*&) {
        restore();
    }
    template <typename Launcher>
    void on_error(Launcher&, const bp::filesystem::path&, const char* const*&,
                  const bp::error_code&) {
        restore();
    }

  private:
    // The kernel's call: glibc's would unblock 32 and 33, and one of them would kill pidshim.
    void restore() { (void)block_signals(SIG_SETMASK, saved_, nullptr); }
    sigset_t saved_{};
    bool new_group_;
    bool give_terminal_ = false;
    std::uint64_t ignored_ = 0;
    pid_t parent_ = -1;
    std::vector<int> keep_;
};

// PATH lookup as the shell does it; a name with a slash is used as it is.
bp::filesystem::path resolve(const std::string& name, bool& found_but_not_executable) {
    found_but_not_executable = false;
    if (name.find('/') != std::string::npos) {
        return name;
    }
    auto path = bp::environment::find_executable(name);
    if (!path.empty()) {
        return path;
    }
    // The shell says 126 for a file found in PATH that cannot be executed.
    const char* path_variable = std::getenv("PATH");
    std::string_view dirs = path_variable != nullptr ? path_variable : "";
    while (!dirs.empty()) {
        auto colon = dirs.find(':');
        std::string dir(dirs.substr(0, colon));
        dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
        auto candidate = bp::filesystem::path(dir.empty() ? "." : dir) / name;
        if (::access(candidate.c_str(), F_OK) == 0) {
            found_but_not_executable = true;
            return candidate;
        }
    }
    return {};
}

} // namespace

void note_inherited_descriptors() {
    inherited() = open_descriptors();
    inherited_noted = true;
}

spawn_result spawn_command(const std::vector<std::string>& command, bool new_group) {
    if (!inherited_noted) {
        note_inherited_descriptors();
    }
    const std::string& name = command.front();
    bool not_executable = false;
    auto executable = resolve(name, not_executable);
    if (executable.empty()) {
        return {-1, exit_code::not_found, "cannot run '" + name + "': command not found"};
    }
    if (not_executable) {
        return {-1, exit_code::not_executable, "cannot run '" + name + "': Permission denied"};
    }
    std::vector<std::string> args(command.begin() + 1, command.end());
    bp::error_code ec;
    clean_child setup(new_group);
    // The launcher rebuilds its io_context's epoll, timer and wake-up descriptors in the
    // child after fork; with a context of its own that has none, the child goes straight to
    // exec. pidshim reaps the child itself and keeps nothing of the launcher's.
    boost::asio::io_context launch;
    auto child = bp::default_process_launcher()(launch.get_executor(), ec, executable, args, setup);
    if (ec) {
        switch (ec.value()) {
        case ENOENT:
            return {-1, exit_code::not_found,
                    "cannot run '" + name + "': " + std::strerror(ENOENT)};
        case EMFILE:
        case ENFILE:
        case ENOMEM:
        case EAGAIN:
            // pidshim's own resources ran out: not a property of COMMAND.
            return {-1, exit_code::internal,
                    "cannot start '" + name + "': " + std::strerror(ec.value())};
        default:
            return {-1, exit_code::not_executable,
                    "cannot run '" + name + "': " + std::strerror(ec.value())};
        }
    }
    pid_t pid = child.id();
    // pidshim reaps every child itself (it is a subreaper); the process object must neither
    // wait for nor kill this one.
    child.detach();
    return {pid, 0, {}};
}

} // namespace pidshim
