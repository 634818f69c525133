// What the hardening tests need beyond the integration harness: a PID namespace to contain
// a wrong kill, witnesses that prove nothing was signalled, and pidfiles with a chosen owner
// and mode.
#pragma once

#include "harness.hpp"

#include <pwd.h>
#include <sys/resource.h>

namespace hardening {

using namespace harness;

// A shell script run as the only child of a testd that is PID 1 of a new PID namespace and
// logs every signal it gets to init.log. Should pidshim kill(-1), kill(0) or kill(1), the
// damage stays inside, and init.log tells.
//
// The script sees $TESTD, $PIDSHIM, $D (the test's directory) and the extra variables given.
// Pids that processes inside log are namespace pids; host() translates them for this test.
class PidNamespace {
  public:
    PidNamespace(const Sandbox& box, const std::string& script,
                 const std::vector<std::string>& env = {})
        : init_log(box.path("init.log")),
          proc({"unshare", "--pid", "--fork", "--mount-proc", testd_bin, "--log", init_log,
                "--spawn", "sh", "-c", script},
               box.dir, SpawnOptions().with_env(with_defaults(box, env))) {}

    pid_t host(pid_t ns_pid) { return host_pid(proc.pid(), ns_pid); }
    pid_t pidshim() { return find_pidshim_below(proc.pid()); }

    const std::string init_log;
    // unshare: its stderr is also pidshim's, its exit status the script's.
    Process proc;

  private:
    static std::vector<std::string> with_defaults(const Sandbox& box,
                                                  std::vector<std::string> env) {
        env.push_back("TESTD=" + testd_bin);
        env.push_back("PIDSHIM=" + pidshim_bin);
        env.push_back("D=" + box.dir);
        return env;
    }
};

// A process that logs to its own testd log and must never hear from pidshim.
struct Witness {
    std::string log;
    pid_t ns_pid;   // as logged, and as a pidfile inside the namespace would name it
    pid_t host_pid; // for this test's kill()
};

// Sends each witness a marker it logs, and waits until it has logged everything pending with
// it: a signal pidshim sent before this call is in the log by then. Then the marker must be
// the only signal each witness ever logged.
inline void check_only_markers(const std::vector<Witness>& witnesses, int marker = SIGUSR2) {
    for (auto& w : witnesses) {
        BOOST_REQUIRE(kill(w.host_pid, marker) == 0);
    }
    for (auto& w : witnesses) {
        wait_for_signal(w.log, w.ns_pid, marker);
        wait_signal_handled(w.host_pid, marker);
        BOOST_CHECK_MESSAGE(signals_of(w.log, w.ns_pid) ==
                                std::vector<std::string>{signame(marker)},
                            "pid " << w.ns_pid << " was signalled by someone else" << dump(w.log));
    }
}

inline uid_t nobody_uid() {
    passwd* pw = getpwnam("nobody");
    BOOST_REQUIRE_MESSAGE(pw, "no user 'nobody'");
    return pw->pw_uid;
}

// Creates or truncates path in place, so that an existing file keeps its owner and mode, the
// way a daemon that opens its pidfile with O_TRUNC leaves them.
inline void write_in_place(const std::string& path, const std::string& text) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    BOOST_REQUIRE_MESSAGE(fd >= 0, "cannot open " << path << ": " << strerror(errno));
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    BOOST_REQUIRE_MESSAGE(ok, "cannot write " << path);
}

// An empty file with this owner and mode, whatever the umask.
inline void create_owned(const std::string& path, uid_t owner, mode_t mode) {
    write_in_place(path, "");
    BOOST_REQUIRE(chown(path.c_str(), owner, static_cast<gid_t>(-1)) == 0);
    BOOST_REQUIRE(chmod(path.c_str(), mode) == 0);
}

// pidshim's stderr lines that contain needle.
inline size_t count_lines(const std::string& text, const std::string& needle) {
    return lines_with(text, needle).size();
}

inline double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

} // namespace hardening
