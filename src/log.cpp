#include "log.hpp"

#include <charconv>
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
    std::string_view text = stream;
    auto colon = text.find(':');
    unsigned long long dev = 0;
    unsigned long long ino = 0;
    if (colon == std::string_view::npos ||
        std::from_chars(text.data(), text.data() + colon, dev).ptr != text.data() + colon ||
        std::from_chars(text.data() + colon + 1, text.data() + text.size(), ino).ptr !=
            text.data() + text.size()) {
        return;
    }
    to_journal = dev == st.st_dev && ino == st.st_ino;
}

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
    return out;
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
    line += printable(message);
    line += '\n';
    // One write per line keeps lines whole when the daemon shares the same stderr.
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

} // namespace pidshim::log
