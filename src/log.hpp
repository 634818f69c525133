#pragma once

#include <string>
#include <string_view>

// One line per event on stderr, prefixed with the program name, so that an operator reading
// supervisord's or the journal's log sees who said it.
namespace pidshim::log {

enum class level { error = 0, warning = 1, info = 2, debug = 3 };

void set_threshold(level threshold);
bool enabled(level l);

// Prefix "<N>" priorities when stderr is the journal, so journald records the level.
void detect_journal();

// Control bytes as \xNN: text from files and arguments must not break a line or drive the
// terminal.
std::string printable(std::string_view text);

// 'text', for a message naming the bad part of a value. Built by appending: GCC 12 warns
// (-Wrestrict) wrongly on "'" + std::string(...).
inline std::string quoted(std::string_view text) {
    std::string out = "'";
    out += text;
    out += '\'';
    return out;
}

void write(level l, std::string_view message);
inline void error(std::string_view message) {
    write(level::error, message);
}
inline void warning(std::string_view message) {
    write(level::warning, message);
}
inline void info(std::string_view message) {
    write(level::info, message);
}
inline void debug(std::string_view message) {
    write(level::debug, message);
}

} // namespace pidshim::log
