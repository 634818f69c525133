#include "spawn.hpp"

#include "exit_status.hpp"

#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>

#include <array>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace bp = boost::process::v2;

namespace pidshim {
namespace {

// Boost.Process v2 leaves the parent's signal mask and ignored signals to the child and
// exits through exit() after a failed exec; this initializer fixes both.
class clean_child {
  public:
    // Parent, before fork: block every signal so that none reaches pidshim's handlers in the
    // child between fork and exec.
    template <typename Launcher>
    bp::error_code on_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
        sigset_t all;
        sigfillset(&all);
        (void)::sigprocmask(SIG_SETMASK, &all, &saved_);
        return {};
    }

    template <typename Launcher>
    bp::error_code on_exec_setup(Launcher&, const bp::filesystem::path&, const char* const*&) {
        for (int signo = 1; signo < NSIG; ++signo) {
            if (signo != SIGKILL && signo != SIGSTOP) {
                (void)::signal(signo, SIG_DFL);
            }
        }
        // glibc keeps signals 32 and 33 for itself and refuses to reset them, yet they can
        // arrive ignored (GNU make leaves them so); the kernel call resets them all the same.
        // The kernel's struct sigaction zeroed: SIG_DFL (0), no flags, no restorer, no mask.
        const std::array<unsigned long, 4> default_action{};
        for (int signo = 32; signo < SIGRTMIN; ++signo) {
            (void)::syscall(SYS_rt_sigaction, signo, default_action.data(), nullptr,
                            sizeof(unsigned long));
        }
        // If pidshim is killed outright, the command it started hears of it.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        sigset_t none;
        sigemptyset(&none);
        (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
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
    void restore() { (void)::sigprocmask(SIG_SETMASK, &saved_, nullptr); }
    sigset_t saved_{};
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

spawn_result spawn_command(boost::asio::io_context& io, const std::vector<std::string>& command) {
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
    clean_child setup;
    auto child = bp::default_process_launcher()(io.get_executor(), ec, executable, args, setup);
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
