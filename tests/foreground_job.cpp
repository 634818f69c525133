// foreground_job: runs COMMAND on a terminal the way a login shell runs what one types there.
//
//   foreground_job [--log FILE] TTY COMMAND [ARG...]
//
// It becomes the leader of a new session with TTY as its controlling terminal, starts COMMAND
// as the leader of a new process group with TTY as stdin and stdout (stderr is left as
// given), and makes that group the terminal's foreground group before COMMAND runs. COMMAND's
// group is then not orphaned (its parent is in another group of the same session), so the
// job-control signals the terminal sends (Ctrl-Z) stop what has no handler for them, as they
// do under a shell. It waits for COMMAND as a shell does, including its stops, and appends
// one line per change to FILE:
//
//   stopped pid=N sig=NAME    |    continued pid=N    |    exited pid=N status=S
//
// then exits with COMMAND's status (128+N when signal N killed it). It never takes the
// terminal back: a test decides what runs next.

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

namespace {

int log_fd = -1;

[[noreturn]] void die(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dprintf(2, "foreground_job: %s\n", buf);
    _exit(99);
}

void log_line(const char* fmt, ...) {
    if (log_fd < 0) {
        return;
    }
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    n = std::min<int>(n, sizeof buf - 2);
    buf[n++] = '\n';
    if (write(log_fd, buf, n) != n) {
        die("cannot write the log: %s", strerror(errno));
    }
}

const char* signame(int sig) {
    const char* n = sigabbrev_np(sig);
    return n != nullptr ? n : "?";
}

} // namespace

int main(int argc, char** argv) {
    int first = 1;
    if (argc > 2 && std::string(argv[1]) == "--log") {
        log_fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (log_fd < 0) {
            die("cannot open %s: %s", argv[2], strerror(errno));
        }
        first = 3;
    }
    if (argc - first < 2) {
        die("usage: foreground_job [--log FILE] TTY COMMAND [ARG...]");
    }
    const char* tty_path = argv[first];
    char** command = argv + first + 1;

    if (setsid() < 0) {
        die("setsid: %s (already a process group leader?)", strerror(errno));
    }
    int tty = open(tty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0) {
        die("cannot open %s: %s", tty_path, strerror(errno));
    }
    if (ioctl(tty, TIOCSCTTY, 0) != 0) {
        die("cannot make %s the controlling terminal: %s", tty_path, strerror(errno));
    }
    // A shell ignores the job-control signals, so that giving the terminal away (and any
    // background access to it) cannot stop it.
    for (int sig : {SIGTSTP, SIGTTIN, SIGTTOU}) {
        signal(sig, SIG_IGN);
    }

    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) {
        die("pipe: %s", strerror(errno));
    }
    pid_t child = fork();
    if (child < 0) {
        die("fork: %s", strerror(errno));
    }
    if (child == 0) {
        setpgid(0, 0);
        close(go[1]);
        // Runs only once the parent has made this group the foreground group.
        char c;
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {
        }
        if (dup2(tty, 0) < 0 || dup2(tty, 1) < 0) {
            die("dup2: %s", strerror(errno));
        }
        for (int sig : {SIGTSTP, SIGTTIN, SIGTTOU}) {
            signal(sig, SIG_DFL);
        }
        execvp(command[0], command);
        die("cannot run %s: %s", command[0], strerror(errno));
    }
    close(go[0]);
    // Both sides set the group, as a shell does, so that neither depends on who runs first.
    if (setpgid(child, child) != 0 && errno != EACCES) {
        die("setpgid: %s", strerror(errno));
    }
    if (tcsetpgrp(tty, child) != 0) {
        die("tcsetpgrp: %s", strerror(errno));
    }
    if (write(go[1], "x", 1) != 1) {
        die("cannot start the job: %s", strerror(errno));
    }
    close(go[1]);

    for (;;) {
        int st = 0;
        pid_t p = waitpid(child, &st, WUNTRACED | WCONTINUED);
        if (p < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("waitpid: %s", strerror(errno));
        }
        if (WIFSTOPPED(st)) {
            log_line("stopped pid=%d sig=%s", child, signame(WSTOPSIG(st)));
        } else if (WIFCONTINUED(st)) {
            log_line("continued pid=%d", child);
        } else {
            int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            log_line("exited pid=%d status=%d", child, status);
            return status;
        }
    }
}
