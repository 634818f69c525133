// pidshim asks the kernel to SIGTERM COMMAND should pidshim die (PR_SET_PDEATHSIG). A pidshim
// that dies after fork but before its child made that request would leave COMMAND running
// unsupervised: the child must notice and never start COMMAND.
//
// The window is a few instructions wide; the test holds it open with ptrace. The child is
// stopped as it enters prctl(PR_SET_PDEATHSIG), pidshim is killed, and only then does the
// child go on.
#include "harness.hpp"

#include <sys/ptrace.h>

using namespace harness;

PIDSHIM_TEST_MODULE("command never starts after pidshim died");

namespace {

// A traced pidshim: the test is its parent and its tracer, and traces its children too.
pid_t start_traced(const std::vector<std::string>& argv, const std::string& out,
                   const std::string& err) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        if (std::string(*e).rfind("NOTIFY_SOCKET=", 0) != 0) {
            env.emplace_back(*e);
        }
    }
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) {
        cargv.push_back(const_cast<char*>(a.c_str()));
    }
    cargv.push_back(nullptr);
    for (auto& e : env) {
        cenv.push_back(const_cast<char*>(e.c_str()));
    }
    cenv.push_back(nullptr);
    pid_t pid = fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) != 1 || dup2(e, 2) != 2) {
            _exit(121);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) {
            _exit(120);
        }
        raise(SIGSTOP);
        execve(cargv[0], cargv.data(), cenv.data());
        _exit(122);
    }
    int st = 0;
    BOOST_REQUIRE(waitpid(pid, &st, __WALL) == pid);
    BOOST_REQUIRE_MESSAGE(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP,
                          "the traced child did not stop (status " << st << ")");
    long options = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                   PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
    BOOST_REQUIRE(ptrace(PTRACE_SETOPTIONS, pid, nullptr, options) == 0);
    BOOST_REQUIRE(ptrace(PTRACE_CONT, pid, nullptr, nullptr) == 0);
    return pid;
}

bool is_event(int st, int event) {
    return WIFSTOPPED(st) && (st >> 16) == event;
}

// Runs the traced pidshim until the child it forks enters prctl(PR_SET_PDEATHSIG, ...);
// returns that child, stopped there.
pid_t run_until_child_enters_pdeathsig(pid_t shim) {
    pid_t child = -1;
    auto deadline = Clock::now() + prompt;
    while (Clock::now() < deadline) {
        int st = 0;
        pid_t w = waitpid(-1, &st, __WALL | WNOHANG);
        if (w == 0) {
            std::this_thread::sleep_for(1ms);
            continue;
        }
        BOOST_REQUIRE_MESSAGE(w > 0, "waitpid: " << strerror(errno));
        if (w == shim) {
            BOOST_REQUIRE_MESSAGE(WIFSTOPPED(st), "pidshim ended before its child set "
                                                  "PR_SET_PDEATHSIG (status "
                                                      << st << ")");
            int inject = 0;
            if (is_event(st, PTRACE_EVENT_FORK) || is_event(st, PTRACE_EVENT_VFORK) ||
                is_event(st, PTRACE_EVENT_CLONE)) {
                unsigned long id = 0;
                BOOST_REQUIRE(ptrace(PTRACE_GETEVENTMSG, shim, nullptr, &id) == 0);
                BOOST_REQUIRE_MESSAGE(child == -1 || child == static_cast<pid_t>(id),
                                      "pidshim started a second process before its child set "
                                      "PR_SET_PDEATHSIG");
                child = static_cast<pid_t>(id);
            } else if ((st >> 16) == 0) {
                inject = WSTOPSIG(st); // a signal on its way to pidshim: deliver it
            }
            BOOST_REQUIRE(ptrace(PTRACE_CONT, shim, nullptr, inject) == 0);
            continue;
        }
        // The forked child (its first stop may come before pidshim's fork event).
        BOOST_REQUIRE_MESSAGE(child == -1 || w == child, "unexpected traced process " << w);
        child = w;
        BOOST_REQUIRE_MESSAGE(
            WIFSTOPPED(st), "the child ended before it set PR_SET_PDEATHSIG (status " << st << ")");
        BOOST_REQUIRE_MESSAGE(!is_event(st, PTRACE_EVENT_EXEC),
                              "the child ran COMMAND without setting PR_SET_PDEATHSIG");
        int inject = 0;
        if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
            __ptrace_syscall_info info{};
            BOOST_REQUIRE(ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof info, &info) > 0);
            if (info.op == PTRACE_SYSCALL_INFO_ENTRY && info.entry.nr == SYS_prctl &&
                info.entry.args[0] == PR_SET_PDEATHSIG) {
                return child;
            }
        } else if ((st >> 16) == 0 && WSTOPSIG(st) != SIGSTOP) {
            inject = WSTOPSIG(st);
        }
        BOOST_REQUIRE(ptrace(PTRACE_SYSCALL, child, nullptr, inject) == 0);
    }
    BOOST_FAIL("pidshim's child did not reach prctl(PR_SET_PDEATHSIG) in time");
    return -1;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_child_whose_pidshim_died_before_pdeathsig_was_set_exits, Sandbox) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    pid_t shim = start_traced({pidshim_bin, pidfile, testd_bin, "--pidfile", pidfile, "--log", log},
                              path("pidshim.stdout"), path("pidshim.stderr"));
    pid_t child = run_until_child_enters_pdeathsig(shim);

    BOOST_REQUIRE(kill(shim, SIGKILL) == 0);
    int st = 0;
    do {
        BOOST_REQUIRE(waitpid(shim, &st, __WALL) == shim);
    } while (!WIFEXITED(st) && !WIFSIGNALED(st));
    // The test is a subreaper: the orphaned child is now its child.
    auto stat = proc_stat(child);
    BOOST_REQUIRE(stat);
    BOOST_REQUIRE_EQUAL(stat->ppid, getpid());

    // Let the child make its request, too late for a parent that is already gone.
    BOOST_REQUIRE(ptrace(PTRACE_DETACH, child, nullptr, nullptr) == 0);
    BOOST_REQUIRE_MESSAGE(wait_dead(child), "the child went on without pidshim" << dump(log));
    BOOST_REQUIRE(waitpid(child, &st, __WALL) == child);
    BOOST_CHECK_MESSAGE(WIFEXITED(st) && WEXITSTATUS(st) == 125,
                        "the child did not exit 125 (wait status " << st << ")");
    BOOST_CHECK_MESSAGE(!contains(slurp(log), "start "), "COMMAND ran" << dump(log));
}
