#include "log.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace pidshim::log {
namespace {

level current_threshold = level::info;
bool to_journal = false;

// syslog priorities: err, warning, info, debug.
constexpr char journal_priority[] = {'3', '4', '6', '7'};

} // namespace

void set_threshold(level threshold) {
    current_threshold = threshold;
}

bool enabled(level l) {
    return l <= current_threshold;
}

void detect_journal() {
    // systemd sets JOURNAL_STREAM to "DEV:INO" of the stream it connected to stderr.
    const char* stream = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (stream == nullptr || ::fstat(STDERR_FILENO, &st) != 0) {
        return;
    }
    unsigned long long dev = 0;
    unsigned long long ino = 0;
    if (std::sscanf(stream, "%llu:%llu", &dev, &ino) == 2) {
        to_journal = dev == st.st_dev && ino == st.st_ino;
    }
}

void write(level l, std::string_view message) {
    if (!enabled(l)) {
        return;
    }
    std::string line;
    line.reserve(message.size() + 16);
    if (to_journal) {
        line += '<';
        line += journal_priority[static_cast<int>(l)];
        line += '>';
    }
    line += "pidshim: ";
    line += message;
    line += '\n';
    // One write per line keeps lines whole when the daemon shares the same stderr.
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

} // namespace pidshim::log
