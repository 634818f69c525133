#include "exit_map.hpp"

#include "log.hpp"

#include <charconv>

namespace pidshim {
namespace {

bool parse_status(std::string_view text, int& out) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0 ||
        value > 255) {
        return false;
    }
    out = value;
    return true;
}

} // namespace

exit_map::exit_map() {
    for (std::size_t i = 0; i < table_.size(); ++i) {
        table_[i] = static_cast<int>(i);
    }
}

std::string exit_map::add(std::string_view spec) {
    while (true) {
        auto comma = spec.find(',');
        std::string_view item = spec.substr(0, comma);
        auto colon = item.find(':');
        int from = 0;
        int to = 0;
        if (colon == std::string_view::npos || !parse_status(item.substr(0, colon), from) ||
            !parse_status(item.substr(colon + 1), to)) {
            return log::quoted(item) + " is not FROM:TO (two exit statuses, 0 to 255)";
        }
        table_[static_cast<std::size_t>(from)] = to;
        if (comma == std::string_view::npos) {
            return {};
        }
        spec.remove_prefix(comma + 1);
    }
}

} // namespace pidshim
