// --signal-map values come from users and config files: parse anything without crashing, and
// never map a signal to a number outside the table.
#include "signals.hpp"

#include <csignal>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view spec(reinterpret_cast<const char*>(data), size);
    pidshim::signal_map map;
    (void)map.add(spec);
    for (int signo = 1; signo < NSIG; ++signo) {
        int to = map[signo];
        if (to < 0 || to >= NSIG) {
            std::abort();
        }
    }
    (void)pidshim::parse_signal(spec);
    return 0;
}
