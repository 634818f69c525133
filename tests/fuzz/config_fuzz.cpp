// The --config file: any content gives options or a one-line error naming the file.
#include "options.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static int fd = ::memfd_create("pidshim-config", 0);
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
        return 0;
    }
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    const char* argv[] = {"pidshim", "--config", path.c_str(), "pidfile", "command"};
    auto result = pidshim::parse_options(5, argv);
    if (result.what == pidshim::parse_result::action::error &&
        (result.error.find(path) == std::string::npos ||
         result.error.find('\n') != std::string::npos)) {
        std::abort();
    }
    return 0;
}
