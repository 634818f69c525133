// pidshim: run a daemonizing program in the foreground. The whole lifecycle is here; each
// step lives in the file named after it.
#include "exit_status.hpp"
#include "log.hpp"
#include "options.hpp"
#include "proxy.hpp"
#include "signals.hpp"
#include "spawn.hpp"
#include "version.hpp"

#include <boost/asio/io_context.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <unistd.h>

namespace {

void print(const std::string& text) {
    (void)std::fwrite(text.data(), 1, text.size(), stdout);
}

// Orphans of the daemon (double-forked workers) must become pidshim's children, so that it
// can tell when they are gone and reap them.
bool become_subreaper() {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        pidshim::log::error(std::string("cannot become a child subreaper: ") +
                            std::strerror(errno));
        return false;
    }
    return true;
}

// A closed stdin, stdout or stderr would be reused by the next descriptor pidshim opens, and
// the daemon would inherit it as its own stdio; /dev/null takes the place instead.
bool ensure_standard_descriptors() {
    for (int fd = 0; fd <= 2; ++fd) {
        if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
            ::open("/dev/null", O_RDWR | O_NOCTTY) != fd) {
            return false;
        }
    }
    return true;
}

// pidshim learns who descends from it through /proc: a /proc of another PID namespace
// (unshare --pid without --mount-proc) would describe strangers.
bool proc_is_ours() {
    char link[32] = {};
    ssize_t n = ::readlink("/proc/self", link, sizeof link - 1);
    if (n > 0 &&
        std::string_view(link, static_cast<std::size_t>(n)) == std::to_string(::getpid())) {
        return true;
    }
    pidshim::log::error("/proc shows another PID namespace (or is not mounted); mount a proc for "
                        "this one (for example unshare --pid --fork --mount-proc)");
    return false;
}

// pidshim leaves its working directory once COMMAND runs (so that it keeps no mount busy):
// a relative PIDFILE is anchored where pidshim was started first. Where that directory
// cannot be named, PIDFILE stays relative and pidshim stays there.
void anchor_pidfile(std::string& pidfile) {
    if (pidfile.empty() || pidfile.front() == '/') {
        return;
    }
    char* cwd = ::getcwd(nullptr, 0);
    if (cwd == nullptr) {
        return;
    }
    std::string dir = cwd;
    std::free(cwd);
    pidfile = dir + (dir.back() == '/' ? "" : "/") + pidfile;
}

} // namespace

int main(int argc, char* argv[]) {
    using namespace pidshim;
    if (!ensure_standard_descriptors()) {
        return exit_code::internal;
    }
    // Before pidshim opens anything of its own: COMMAND inherits these, and only these.
    note_inherited_descriptors();
    auto parsed = parse_options(argc, argv);
    switch (parsed.what) {
    case parse_result::action::help:
        print(help_text());
        return 0;
    case parse_result::action::version:
        print(std::string("pidshim ") + version + "\n");
        return 0;
    case parse_result::action::error:
        log::error(parsed.error);
        (void)std::fputs("Try 'pidshim --help' for more information.\n", stderr);
        return exit_code::usage;
    case parse_result::action::run:
        break;
    }
    log::set_threshold(parsed.opts.verbosity);
    anchor_pidfile(parsed.opts.pidfile);
    log::detect_journal();
    // A closed stderr must not kill pidshim while the daemon runs.
    (void)std::signal(SIGPIPE, SIG_IGN);
    if (!proc_is_ours() || !become_subreaper()) {
        return exit_code::internal;
    }
    try {
        boost::asio::io_context io(1);
        proxy shim(io, std::move(parsed.opts));
        int status = shim.run();
        // The kernel closes everything pidshim holds when it exits, all at once; taking the
        // event loop apart first would only delay the supervisor's notice of the exit.
        (void)std::fflush(nullptr);
        ::_exit(status);
    } catch (const std::exception& e) {
        log::error(std::string("internal error: ") + e.what());
        return exit_code::internal;
    }
}
