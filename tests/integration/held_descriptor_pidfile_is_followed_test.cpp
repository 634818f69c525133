// A daemon that writes its pidfile through a descriptor it keeps open (libbsd pidfile(3)
// style: no close, no rename after the write) is adopted well before --timeout, and with
// --notify-mainpid a later rewrite through that descriptor is followed too.
#include "harness.hpp"

#include <sys/socket.h>
#include <sys/un.h>

using namespace harness;

PIDSHIM_TEST_MODULE("held descriptor pidfile is followed");

namespace {

// testd names itself 1 s after it started, in a pidfile created empty at its start. pidshim
// waits up to 10 s; it must have adopted the daemon within `prompt` of the write.
void check_adopted(Sandbox& box, const std::vector<std::string>& testd_options,
                   const std::string& daemon_role) {
    auto pidfile = box.path("app.pid");
    auto log = box.path("app.log");
    std::vector<std::string> argv{
        pidshim_bin, "-v",    "--timeout",       "10",   pidfile, testd_bin, "--pidfile-held",
        "--pidfile", pidfile, "--pidfile-delay", "1000", "--log", log};
    argv.insert(argv.end(), testd_options.begin(), testd_options.end());
    Process shim(argv, box.dir);
    pid_t daemon = wait_started(log, daemon_role);
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    wait_following(shim, pidfile, daemon);
    BOOST_REQUIRE(shim.running());

    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(log, daemon, SIGHUP), 1u);
    BOOST_CHECK_MESSAGE(box.leftovers().empty(), "left running:" << describe(box.leftovers()));
    check_stderr_format(shim.err());
}

// Plays systemd's part of NOTIFY_SOCKET: collects what pidshim sends.
class NotifySocket {
  public:
    explicit NotifySocket(std::string path) : path_(std::move(path)) {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        BOOST_REQUIRE(fd_ >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        BOOST_REQUIRE(path_.size() < sizeof a.sun_path);
        std::memcpy(a.sun_path, path_.data(), path_.size());
        BOOST_REQUIRE_MESSAGE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0,
                              "cannot bind " << path_ << ": " << strerror(errno));
    }
    ~NotifySocket() { close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    std::string env() const { return "NOTIFY_SOCKET=" + path_; }

    // Whether a message with this line came, reading what arrived until the deadline.
    bool wait_for(const std::string& line, Clock::duration timeout = prompt) {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            char buf[4096];
            ssize_t n;
            while ((n = recv(fd_, buf, sizeof buf, 0)) >= 0) {
                for (auto& l : split_lines(std::string(buf, static_cast<size_t>(n)))) {
                    seen_.push_back(l);
                }
            }
            if (std::find(seen_.begin(), seen_.end(), line) != seen_.end()) {
                return true;
            }
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                return false;
            }
            pollfd p{fd_, POLLIN, 0};
            poll(&p, 1, static_cast<int>(left.count()));
        }
    }

    std::string seen() const {
        std::string out;
        for (auto& l : seen_) {
            out += "\n  " + l;
        }
        return out;
    }

  private:
    std::string path_;
    int fd_ = -1;
    std::vector<std::string> seen_;
};

} // namespace

BOOST_FIXTURE_TEST_CASE(forking_daemon_writing_through_a_held_descriptor_is_adopted, Sandbox) {
    // The launcher creates the pidfile, the daemon it forks writes it.
    check_adopted(*this, {"--fork"}, "daemon");
}

BOOST_FIXTURE_TEST_CASE(command_writing_through_a_held_descriptor_is_adopted, Sandbox) {
    check_adopted(*this, {}, "daemon");
}

BOOST_FIXTURE_TEST_CASE(notify_mainpid_follows_a_rewrite_through_the_held_descriptor, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    NotifySocket systemd(path("notify.sock"));
    // On USR2 the daemon forks a new master that rewrites the pidfile through the descriptor
    // it inherited, then the old master exits 0.
    Process shim({pidshim_bin, "-v", "--notify-mainpid", pidfile, testd_bin, "--fork",
                  "--pidfile-held", "--pidfile", pidfile, "--reexec-on", "USR2", "--log", log},
                 dir, SpawnOptions().with_env({systemd.env()}));
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(log, "pidfile pid=" + std::to_string(daemon) + " ");
    // A forwarded signal makes pidshim read the pidfile, so the daemon is adopted here even
    // where a write through a held descriptor goes unseen: this case is about what follows.
    shim.signal(SIGHUP);
    wait_for_signal(log, daemon, SIGHUP);
    wait_following(shim, pidfile, daemon);
    BOOST_CHECK_MESSAGE(systemd.wait_for("MAINPID=" + std::to_string(daemon)),
                        "no MAINPID= for the daemon; got:" << systemd.seen());

    BOOST_REQUIRE(kill(daemon, SIGUSR2) == 0);
    pid_t master = wait_started(log, "master");
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon code=0");
    wait_following(shim, pidfile, master);
    BOOST_REQUIRE_MESSAGE(shim.running(),
                          "pidshim ended with the old master" << dump(shim.err_path));
    BOOST_CHECK_MESSAGE(systemd.wait_for("MAINPID=" + std::to_string(master)),
                        "no MAINPID= for the new master; got:" << systemd.seen());

    shim.signal(SIGHUP);
    wait_for_signal(log, master, SIGHUP);
    shim.signal(SIGTERM);
    wait_for_signal(log, master, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left running:" << describe(leftovers()));
    check_stderr_format(shim.err());
}
