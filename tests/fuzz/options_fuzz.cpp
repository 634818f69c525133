// The command line: NUL-separated arguments. Any input gives run, help, version or a one-line
// error; never a crash or an exception.
#include "options.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> args = {"pidshim"};
    std::size_t start = 0;
    while (start <= input.size() && args.size() < 64) {
        auto end = input.find('\0', start);
        if (end == std::string::npos) {
            end = input.size();
        }
        std::string arg = input.substr(start, end - start);
        // Reading real files is the config fuzzer's job.
        if (arg.starts_with("--config") || arg.starts_with("--c")) {
            arg = "--quiet";
        }
        args.push_back(arg);
        start = end + 1;
    }
    std::vector<const char*> argv;
    for (const auto& arg : args) {
        argv.push_back(arg.c_str());
    }
    auto result = pidshim::parse_options(static_cast<int>(argv.size()), argv.data());
    if (result.what == pidshim::parse_result::action::error &&
        (result.error.empty() || result.error.find('\n') != std::string::npos)) {
        std::abort();
    }
    // An empty PIDFILE means --no-pidfile (an empty PIDFILE operand is refused); COMMAND is
    // always there.
    if (result.what == pidshim::parse_result::action::run && result.opts.command.empty()) {
        std::abort();
    }
    return 0;
}
