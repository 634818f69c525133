// COMMAND inherits exactly the descriptors pidshim inherited (socket activation's LISTEN_FDS
// included) and none of those pidshim opened for itself.
#include "harness.hpp"

#include <sys/socket.h>
#include <sys/un.h>

using namespace harness;

PIDSHIM_TEST_MODULE("command inherits what pidshim inherited");

namespace {

struct identity {
    dev_t dev;
    ino_t ino;
    bool operator==(const identity&) const = default;
};

identity identity_of_fd(int fd) {
    struct stat st {};
    BOOST_REQUIRE(fstat(fd, &st) == 0);
    return {st.st_dev, st.st_ino};
}

std::optional<identity> identity_of_path(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return identity{st.st_dev, st.st_ino};
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    BOOST_REQUIRE(path.size() < sizeof a.sun_path);
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

int bound_socket(int type, const std::string& path) {
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd >= 0);
    auto a = unix_address(path);
    BOOST_REQUIRE_MESSAGE(bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0,
                          "bind " << path << ": " << strerror(errno));
    return fd;
}

// Far above anything the test or pidshim opens, where Boost.Process 1.81's launcher closes
// whatever lies above the pipe it keeps open across exec.
constexpr int high_fd = 60;

// pidshim started the way a service manager starts it: stdio, the descriptors it passes on
// at 3, 4, 7 and high_fd, and nothing else.
class ActivatedPidshim {
  public:
    ActivatedPidshim(const Sandbox& box, const std::vector<std::string>& argv,
                     const std::vector<std::string>& extra_env, const std::map<int, int>& passed)
        : out_path(box.path("pidshim.stdout")), err_path(box.path("pidshim.stderr")) {
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e) {
            std::string kv = *e;
            if (kv.rfind("NOTIFY_SOCKET=", 0) != 0 && kv.rfind("LISTEN_", 0) != 0) {
                env.push_back(kv);
            }
        }
        env.insert(env.end(), extra_env.begin(), extra_env.end());
        std::vector<char*> cargv, cenv;
        for (auto& a : argv) {
            cargv.push_back(const_cast<char*>(a.c_str()));
        }
        cargv.push_back(nullptr);
        for (auto& e : env) {
            cenv.push_back(const_cast<char*>(e.c_str()));
        }
        cenv.push_back(nullptr);
        // Sources far above the targets, so that placing one cannot overwrite another.
        std::vector<std::pair<int, int>> moves;
        for (auto [target, source] : passed) {
            int high = fcntl(source, F_DUPFD_CLOEXEC, 200);
            BOOST_REQUIRE(high >= 200);
            moves.emplace_back(high, target);
        }
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        BOOST_REQUIRE(in >= 0 && out >= 0 && err >= 0);
        const int stdio[] = {fcntl(in, F_DUPFD_CLOEXEC, 200), fcntl(out, F_DUPFD_CLOEXEC, 200),
                             fcntl(err, F_DUPFD_CLOEXEC, 200)};
        close(in);
        close(out);
        close(err);

        pid_ = fork();
        BOOST_REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            // Only async-signal-safe calls from here on.
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (int fd = 0; fd < 3; ++fd) {
                if (dup2(stdio[fd], fd) != fd) {
                    _exit(121);
                }
            }
            for (auto [source, target] : moves) {
                // dup2 leaves the new descriptor without FD_CLOEXEC: it is inherited.
                if (dup2(source, target) != target) {
                    _exit(121);
                }
            }
            // Everything else this test process holds, whether close-on-exec or not.
            int previous = 2;
            for (auto [target, source] : passed) {
                (void)source;
                if (target > previous + 1) {
                    syscall(SYS_close_range, previous + 1, target - 1, 0);
                }
                previous = target;
            }
            syscall(SYS_close_range, previous + 1, ~0U, 0);
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
            execve(cargv[0], cargv.data(), cenv.data());
            _exit(122);
        }
        for (auto [high, target] : moves) {
            (void)target;
            close(high);
        }
        for (int fd : stdio) {
            close(fd);
        }
        pidfd_ = pidfd_open(pid_, 0);
        BOOST_REQUIRE(pidfd_ >= 0);
    }
    ~ActivatedPidshim() {
        if (!status_) {
            kill_tree(pid_);
            waitpid(pid_, nullptr, 0);
        }
        close(pidfd_);
    }
    ActivatedPidshim(const ActivatedPidshim&) = delete;
    ActivatedPidshim& operator=(const ActivatedPidshim&) = delete;

    void signal(int sig) { BOOST_REQUIRE(pidfd_send_signal(pidfd_, sig) == 0); }

    int wait_exit() {
        pollfd p{pidfd_, POLLIN, 0};
        int r;
        do {
            r = poll(&p, 1, static_cast<int>(std::chrono::milliseconds(prompt).count()));
        } while (r < 0 && errno == EINTR);
        BOOST_REQUIRE_MESSAGE(r > 0, "pidshim still runs" << dump(err_path));
        int st = 0;
        BOOST_REQUIRE(waitpid(pid_, &st, 0) == pid_);
        status_ = decode_wait_status(st);
        return *status_;
    }

    std::string err() const { return slurp(err_path); }

    const std::string out_path;
    const std::string err_path;

  private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> status_;
};

std::map<int, std::string> descriptors_of(pid_t pid) {
    std::map<int, std::string> out;
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    for (auto& entry : std::filesystem::directory_iterator(dir)) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink(entry.path(), ec);
        out.emplace(std::atoi(entry.path().filename().c_str()), ec ? "?" : target.string());
    }
    return out;
}

std::string describe(const std::map<int, std::string>& fds) {
    std::string out;
    for (auto& [fd, target] : fds) {
        out += " " + std::to_string(fd) + "->" + target;
    }
    return out;
}

std::vector<std::string> environment_of(pid_t pid) {
    std::string raw = slurp("/proc/" + std::to_string(pid) + "/environ");
    std::vector<std::string> out;
    for (size_t start = 0; start < raw.size();) {
        size_t end = raw.find('\0', start);
        if (end == std::string::npos) {
            end = raw.size();
        }
        out.push_back(raw.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(socket_activation_descriptors_reach_the_command_and_nothing_else, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    // The service manager's side: the notify socket it listens on, the sockets it passes.
    int notify = bound_socket(SOCK_DGRAM, path("notify.sock"));
    int stream = bound_socket(SOCK_STREAM, path("listen.sock"));
    BOOST_REQUIRE(listen(stream, 4) == 0);
    int datagram = bound_socket(SOCK_DGRAM, path("datagram.sock"));
    int pipe_ends[2];
    BOOST_REQUIRE(pipe2(pipe_ends, O_CLOEXEC) == 0);
    write_file(path("high"), "passed at a high number\n");
    int high = open(path("high").c_str(), O_RDONLY | O_CLOEXEC);
    BOOST_REQUIRE(high >= 0);
    const std::map<int, int> passed = {
        {3, stream}, {4, datagram}, {7, pipe_ends[0]}, {high_fd, high}};

    ActivatedPidshim shim(
        *this, {pidshim_bin, "-v", pidfile, testd_bin, "--pidfile", pidfile, "--log", log},
        {"LISTEN_FDS=2", "NOTIFY_SOCKET=" + path("notify.sock")}, passed);

    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(shim.err_path, "following pid " + std::to_string(daemon));
    // pidshim used its notify socket while the daemon ran: it existed when COMMAND started.
    for (bool ready = false; !ready;) {
        pollfd p{notify, POLLIN, 0};
        BOOST_REQUIRE_MESSAGE(poll(&p, 1, 5000) == 1, "no READY=1 on NOTIFY_SOCKET");
        char message[512] = {};
        BOOST_REQUIRE(recv(notify, message, sizeof message - 1, 0) > 0);
        ready = contains(message, "READY=1");
    }

    auto fds = descriptors_of(daemon);
    BOOST_TEST_MESSAGE("COMMAND's descriptors:" << describe(fds));
    // Inherited: the very objects the test passed, at the same numbers.
    for (auto [target, source] : passed) {
        BOOST_TEST_CONTEXT("descriptor " << target) {
            auto seen = identity_of_path("/proc/" + std::to_string(daemon) + "/fd/" +
                                         std::to_string(target));
            BOOST_CHECK_MESSAGE(seen && *seen == identity_of_fd(source),
                                "not the descriptor pidshim inherited:" << describe(fds));
        }
    }
    for (int fd = 0; fd < 3; ++fd) {
        BOOST_CHECK_MESSAGE(fds.count(fd) == 1, "stdio " << fd << " missing:" << describe(fds));
    }
    BOOST_CHECK(identity_of_path("/proc/" + std::to_string(daemon) + "/fd/2") ==
                identity_of_path(shim.err_path));
    // testd's own: its log, opened at start, and its signalfd. Anything else came from pidshim.
    std::map<int, std::string> rest;
    for (auto& [fd, target] : fds) {
        if (fd > 2 && passed.count(fd) == 0) {
            rest.emplace(fd, target);
        }
    }
    std::vector<std::string> rest_targets;
    for (auto& [fd, target] : rest) {
        rest_targets.push_back(target);
    }
    std::sort(rest_targets.begin(), rest_targets.end());
    std::vector<std::string> testd_own = {log, "anon_inode:[signalfd]"};
    std::sort(testd_own.begin(), testd_own.end());
    BOOST_CHECK_MESSAGE(
        rest_targets == testd_own,
        "COMMAND holds descriptors it did not inherit from pidshim's parent:" << describe(rest));

    auto env = environment_of(daemon);
    BOOST_CHECK(std::find(env.begin(), env.end(), "LISTEN_FDS=2") != env.end());
    BOOST_CHECK(std::none_of(env.begin(), env.end(), [](const std::string& kv) {
        return kv.rfind("NOTIFY_SOCKET=", 0) == 0;
    }));

    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    check_stderr_format(shim.err());
    for (int fd : {notify, stream, datagram, pipe_ends[0], pipe_ends[1], high}) {
        close(fd);
    }
}
