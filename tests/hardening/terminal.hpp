// What the terminal tests need beyond hardening.hpp: a pseudo-terminal the test types into
// and reads back from, the job-control fields of /proc/PID/stat, and foreground_job, which
// runs a command on a terminal the way a login shell runs what one types there.
#pragma once

#include "hardening.hpp"

#include <iostream>
#include <termios.h>

namespace hardening {

inline const std::string foreground_job_bin = FOREGROUND_JOB_BIN;

// Job control as /proc/PID/stat tells it (fields 3 to 8).
struct JobStat {
    char state;
    pid_t ppid;
    pid_t pgrp;
    pid_t session;
    int tty_nr;
    pid_t tpgid; // the foreground process group of the controlling terminal, -1 without one
};

inline std::optional<JobStat> job_stat(pid_t pid) {
    std::string s = slurp("/proc/" + std::to_string(pid) + "/stat");
    auto close = s.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream in(s.substr(close + 1));
    JobStat st{};
    in >> st.state >> st.ppid >> st.pgrp >> st.session >> st.tty_nr >> st.tpgid;
    if (!in) {
        return std::nullopt;
    }
    return st;
}

// Stopped by a signal (T); a traced stop (t) is not one.
inline bool stopped(pid_t pid) {
    auto st = proc_stat(pid);
    return st && st->state == 'T';
}

inline std::string state_of(pid_t pid) {
    auto st = job_stat(pid);
    if (!st) {
        return "pid " + std::to_string(pid) + ": gone";
    }
    return "pid " + std::to_string(pid) + " (" + status_field(pid, "Name") + "): state " +
           st->state + ", pgrp " + std::to_string(st->pgrp) + ", session " +
           std::to_string(st->session) + ", terminal's foreground group " +
           std::to_string(st->tpgid);
}

inline std::string states_of(const std::vector<pid_t>& pids) {
    std::string out;
    for (pid_t p : pids) {
        out += "\n  " + state_of(p);
    }
    return out;
}

// The first child of parent whose command name (comm) is name, once there is one.
inline pid_t wait_child_named(pid_t parent, const std::string& name) {
    pid_t found = -1;
    require_eventually(
        [&] {
            for (pid_t p : children_of(parent)) {
                if (status_field(p, "Name") == name && alive(p)) {
                    found = p;
                    return true;
                }
            }
            return false;
        },
        "a child named " + name + " of pid " + std::to_string(parent));
    return found;
}

// A pseudo-terminal. The test holds the master side, and the slave side open too (without
// making it its controlling terminal), so that the master reads what was written whoever has
// the slave open at the moment.
class Terminal {
  public:
    // Why this machine cannot give the test a pseudo-terminal, or nothing if it can.
    static std::optional<std::string> unavailable() {
        int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            return std::string("posix_openpt: ") + strerror(errno);
        }
        std::optional<std::string> why;
        if (grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname(fd) == nullptr) {
            why = std::string("cannot unlock a pseudo-terminal: ") + strerror(errno);
        } else if (int slave = open(ptsname(fd), O_RDWR | O_NOCTTY | O_CLOEXEC); slave < 0) {
            why = std::string("cannot open ") + ptsname(fd) + ": " + strerror(errno);
        } else {
            close(slave);
        }
        close(fd);
        return why;
    }

    Terminal() {
        master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        BOOST_REQUIRE_MESSAGE(master_ >= 0, "posix_openpt: " << strerror(errno));
        BOOST_REQUIRE(grantpt(master_) == 0 && unlockpt(master_) == 0);
        char name[128];
        BOOST_REQUIRE(ptsname_r(master_, name, sizeof name) == 0);
        path_ = name;
        slave_ = open(path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
        BOOST_REQUIRE_MESSAGE(slave_ >= 0, "cannot open " << path_ << ": " << strerror(errno));
        // A terminal as a login gives it: lines, echo, and Ctrl-C / Ctrl-Z as signals.
        termios t{};
        BOOST_REQUIRE(tcgetattr(slave_, &t) == 0);
        t.c_lflag |= ICANON | ECHO | ISIG;
        t.c_lflag &= ~TOSTOP;
        t.c_cc[VINTR] = 0x03;
        t.c_cc[VSUSP] = 0x1a;
        BOOST_REQUIRE(tcsetattr(slave_, TCSANOW, &t) == 0);
        BOOST_REQUIRE(fcntl(master_, F_SETFL, fcntl(master_, F_GETFL) | O_NONBLOCK) == 0);
    }
    ~Terminal() {
        close(master_);
        close(slave_);
    }
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    // The slave side's path (/dev/pts/N), for the processes under test.
    const std::string& path() const { return path_; }

    // Keys typed at the terminal.
    void type(const std::string& keys) {
        BOOST_REQUIRE_MESSAGE(write(master_, keys.data(), keys.size()) ==
                                  static_cast<ssize_t>(keys.size()),
                              "cannot type at " << path_ << ": " << strerror(errno));
    }

    // Whether the terminal shows needle, after whatever an earlier call found, within the
    // timeout; what it found is then passed over by the next call.
    bool shows(const std::string& needle, Clock::duration timeout = prompt) {
        auto deadline = Clock::now() + timeout;
        for (;;) {
            drain();
            if (auto at = screen_.find(needle, seen_); at != std::string::npos) {
                seen_ = at + needle.size();
                return true;
            }
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now())
                    .count();
            if (left <= 0) {
                return false;
            }
            pollfd p{master_, POLLIN, 0};
            poll(&p, 1, static_cast<int>(std::min<long long>(left, 50)));
        }
    }

    // Everything the terminal showed so far, control characters spelled out.
    std::string transcript() {
        drain();
        std::string out;
        for (unsigned char c : screen_) {
            if (c == '\n' || (c >= 0x20 && c < 0x7f)) {
                out += static_cast<char>(c);
            } else if (c != '\r') {
                char buf[8];
                snprintf(buf, sizeof buf, "\\x%02x", c);
                out += buf;
            }
        }
        return "\n--- terminal " + path_ + " ---\n" + out + "\n--- end ---";
    }

  private:
    void drain() {
        char buf[4096];
        for (ssize_t n; (n = read(master_, buf, sizeof buf)) > 0;) {
            screen_.append(buf, static_cast<size_t>(n));
        }
    }

    int master_ = -1;
    int slave_ = -1;
    std::string path_;
    std::string screen_;
    size_t seen_ = 0;
};

// Prints why a test is skipped where CTest looks for it, whatever the log level.
inline bool skip_without_terminal() {
    if (auto why = Terminal::unavailable()) {
        std::cout << "SKIPPED: needs a pseudo-terminal (/dev/ptmx, /dev/pts): " << *why
                  << std::endl;
        return true;
    }
    return false;
}

} // namespace hardening
