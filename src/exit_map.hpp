#pragma once

#include <array>
#include <string>
#include <string_view>

// --exit-map: a status of the daemon's (or COMMAND's) becomes another before pidshim exits
// with it, for runtimes that take only 0 for success (tini -e 143 is --exit-map 143:0).
namespace pidshim {

class exit_map {
  public:
    exit_map();

    // Adds "FROM:TO[,FROM:TO...]", both 0 to 255; a later FROM wins. Returns what is wrong,
    // or "".
    std::string add(std::string_view spec);

    int operator[](int status) const {
        return status >= 0 && status < 256 ? table_[static_cast<std::size_t>(status)] : status;
    }

  private:
    std::array<int, 256> table_{};
};

} // namespace pidshim
