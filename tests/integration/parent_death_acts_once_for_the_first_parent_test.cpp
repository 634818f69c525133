// --parent-death SIGNAL: when the process that was pidshim's parent at start exits, pidshim acts
// as if it had received SIGNAL (after --signal-map), although it is re-parented to a subreaper
// by then. Only that first parent counts: the death of the one it was re-parented to does
// nothing.
//
// Each case runs twice: with pidfds, and with pidfd_open failing (deny_syscall's seccomp filter,
// as on a kernel before 5.3), where pidshim asks the kernel for a signal instead
// (PR_SET_PDEATHSIG), which the kernel sends again at each later parent's death.
//
// The test process is a child subreaper (Sandbox), so pidshim becomes its child once the parent
// it started with is gone, and the test can collect its exit status.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("parent death acts once, for the first parent");

namespace {

// A process that became this test's child by re-parenting, waited on through a pidfd opened
// while it was still another's child.
class Adopted {
  public:
    explicit Adopted(pid_t pid) : pid_(pid), pidfd_(pidfd_open(pid, 0)) {
        BOOST_REQUIRE_MESSAGE(pidfd_ >= 0, "pidfd_open " << pid << ": " << strerror(errno));
    }
    ~Adopted() { close(pidfd_); }
    Adopted(const Adopted&) = delete;
    Adopted& operator=(const Adopted&) = delete;

    int wait_exit(Clock::duration timeout = prompt) {
        pollfd p{pidfd_, POLLIN, 0};
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
        int r;
        do {
            r = poll(&p, 1, static_cast<int>(ms));
        } while (r < 0 && errno == EINTR);
        BOOST_REQUIRE_MESSAGE(r > 0, "pid " << pid_ << " still running after " << ms << " ms");
        int st = 0;
        BOOST_REQUIRE_MESSAGE(waitpid(pid_, &st, 0) == pid_,
                              "pid " << pid_ << " is not this test's child: " << strerror(errno));
        return decode_wait_status(st);
    }

  private:
    pid_t pid_;
    int pidfd_;
};

pid_t parent_of(pid_t pid) {
    auto st = proc_stat(pid);
    BOOST_REQUIRE_MESSAGE(st, "pid " << pid << " is gone");
    return st->ppid;
}

std::string acting_line(pid_t parent, const std::string& signal) {
    return "pidshim: parent process " + std::to_string(parent) + " exited; acting as if " + signal +
           " was received (--parent-death)";
}

enum class Watch { pidfd, no_pidfd };

std::ostream& operator<<(std::ostream& o, Watch w) {
    return o << (w == Watch::pidfd ? "with pidfds" : "without pidfds");
}

const Watch watches[] = {Watch::pidfd, Watch::no_pidfd};

// The parent pidshim starts with: a shell that runs it in the background and waits.
// deny_syscall, when it is used, execs pidshim: the shell stays pidshim's parent.
const char parent_script[] = R"($WRAP "$PIDSHIM" $OPTIONS & wait)";

std::vector<std::string> script_env(const Sandbox& box, Watch watch, const std::string& options) {
    std::string wrap =
        watch == Watch::pidfd ? "" : std::string(DENY_SYSCALL_BIN) + " ENOSYS pidfd_open --";
    return {"PIDSHIM=" + pidshim_bin, "TESTD=" + testd_bin, "D=" + box.dir, "OPTIONS=" + options,
            "WRAP=" + wrap};
}

} // namespace

BOOST_DATA_TEST_CASE_F(Sandbox, parent_killed_stops_the_daemon, data::make(watches), watch) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    Process parent({"sh", "-c", parent_script}, dir,
                   SpawnOptions().named("parent").with_env(
                       script_env(*this, watch,
                                  "--parent-death TERM " + pidfile + " " + testd_bin +
                                      " --fork --pidfile " + pidfile + " --log " + log)));
    pid_t daemon = wait_started(log, "daemon");
    wait_following(parent, pidfile, daemon);
    pid_t shim_pid = find_pidshim_below(parent.pid());
    BOOST_REQUIRE_EQUAL(parent_of(shim_pid), parent.pid());
    Adopted shim(shim_pid);

    parent.signal(SIGKILL);
    BOOST_CHECK_EQUAL(parent.wait_exit(), 128 + SIGKILL);
    wait_for_signal(log, daemon, SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == std::vector<std::string>{"TERM"}, dump(log));
    auto err = parent.err();
    BOOST_CHECK_MESSAGE(lines_with(err, "(--parent-death)") ==
                            std::vector<std::string>{acting_line(parent.pid(), "SIGTERM")},
                        "expected exactly\n"
                            << acting_line(parent.pid(), "SIGTERM") << dump(parent.err_path));
    BOOST_CHECK_MESSAGE(leftovers().empty(), "left behind:" << describe(leftovers()));
    check_stderr_format(err);
}

// SIGNAL is named as in --signal-map, and the map applies to it.
BOOST_DATA_TEST_CASE_F(Sandbox, signal_map_applies_to_the_parent_death_signal, data::make(watches),
                       watch) {
    auto log = path("app.log");
    Process parent({"sh", "-c", parent_script}, dir,
                   SpawnOptions().named("parent").with_env(
                       script_env(*this, watch,
                                  "--parent-death sigterm --signal-map TERM:QUIT "
                                  "--no-pidfile " +
                                      testd_bin + " --no-pidfile --log " + log)));
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(parent.err_path,
                  "following pid " + std::to_string(daemon) + " (testd), COMMAND itself");
    pid_t shim_pid = find_pidshim_below(parent.pid());
    Adopted shim(shim_pid);

    parent.signal(SIGKILL);
    BOOST_CHECK_EQUAL(parent.wait_exit(), 128 + SIGKILL);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGQUIT);
    wait_for_line(log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=QUIT");
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == std::vector<std::string>{"QUIT"}, dump(log));
    BOOST_CHECK_MESSAGE(contains(parent.err(), acting_line(parent.pid(), "SIGTERM") + "\n"),
                        dump(parent.err_path));
    check_stderr_format(parent.err());
}

// pidshim starts under a shell whose own parent is a subreaper (a testd that reaps what it
// gets). The shell dies: pidshim goes to the subreaper and passes HUP on once. The subreaper
// dies: pidshim comes to this test, and nothing more happens.
BOOST_DATA_TEST_CASE_F(Sandbox, death_of_the_parent_it_was_reparented_to_does_nothing,
                       data::make(watches), watch) {
    auto log = path("app.log");
    auto stderr_path = path("parent.stderr");
    // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
    std::string options =
        "--parent-death HUP --no-pidfile " + testd_bin + " --no-pidfile --log " + log;
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        if (std::string(*e).rfind("NOTIFY_SOCKET=", 0) != 0) {
            env_strings.push_back(*e);
        }
    }
    for (auto& e : script_env(*this, watch, options)) {
        env_strings.push_back(e);
    }
    std::vector<char*> env;
    for (auto& e : env_strings) {
        env.push_back(e.data());
    }
    env.push_back(nullptr);
    std::string sh = "/bin/sh", dash_c = "-c", script = parent_script;
    char* shell_argv[] = {sh.data(), dash_c.data(), script.data(), nullptr};
    std::string reaper_bin = testd_bin, log_flag = "--log", reaper_log = path("reaper.log"),
                no_pidfile = "--no-pidfile";
    char* reaper_argv[] = {reaper_bin.data(), no_pidfile.data(), log_flag.data(), reaper_log.data(),
                           nullptr};

    // Should the test fail, the Sandbox kills and reaps whatever is left below it, this too.
    pid_t reaper = fork();
    BOOST_REQUIRE(reaper >= 0);
    if (reaper == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        // Kept across execve(): testd becomes the subreaper.
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
            _exit(120);
        }
        int in = open("/dev/null", O_RDONLY);
        int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || err < 0) {
            _exit(121);
        }
        dup2(in, 0);
        dup2(err, 1);
        dup2(err, 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        pid_t shell = fork();
        if (shell < 0) {
            _exit(122);
        }
        if (shell == 0) {
            execve(shell_argv[0], shell_argv, env.data());
            _exit(123);
        }
        execve(reaper_argv[0], reaper_argv, env.data());
        _exit(124);
    }
    wait_started(path("reaper.log"), "daemon");
    pid_t daemon = wait_started(log, "daemon");
    wait_for_line(stderr_path,
                  "following pid " + std::to_string(daemon) + " (testd), COMMAND itself");
    pid_t shim_pid = find_pidshim_below(reaper);
    pid_t shell = parent_of(shim_pid);
    BOOST_REQUIRE_EQUAL(parent_of(shell), reaper);
    Adopted shim(shim_pid);

    BOOST_REQUIRE(kill(shell, SIGKILL) == 0);
    wait_for_signal(log, daemon, SIGHUP);
    // Re-parented before the shell's exit was reported: else this test could not fail.
    BOOST_REQUIRE_MESSAGE(parent_of(shim_pid) == reaper,
                          "pidshim was not re-parented to the subreaper");
    BOOST_CHECK_MESSAGE(contains(slurp(stderr_path), acting_line(shell, "SIGHUP") + "\n"),
                        dump(stderr_path));

    BOOST_REQUIRE(kill(reaper, SIGKILL) == 0);
    BOOST_REQUIRE(waitpid(reaper, nullptr, 0) == reaper);
    BOOST_REQUIRE_EQUAL(parent_of(shim_pid), getpid());
    // A marker with a higher number than HUP: a HUP pending with pidshim by now is taken first,
    // and reaches the daemon first. Once the daemon has the marker and both are idle, any
    // second HUP would be in its log.
    BOOST_REQUIRE(kill(shim_pid, SIGUSR1) == 0);
    wait_for_signal(log, daemon, SIGUSR1);
    wait_signal_handled(shim_pid, SIGHUP);
    wait_signal_handled(daemon, SIGHUP);
    BOOST_CHECK_MESSAGE(signals_of(log, daemon) == (std::vector<std::string>{"HUP", "USR1"}),
                        dump(log));
    BOOST_CHECK_EQUAL(lines_with(slurp(stderr_path), "(--parent-death)").size(), 1u);

    BOOST_REQUIRE(kill(shim_pid, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_MESSAGE(
        signals_of(log, daemon) == (std::vector<std::string>{"HUP", "USR1", "TERM"}), dump(log));
    check_stderr_format(slurp(stderr_path));
}
