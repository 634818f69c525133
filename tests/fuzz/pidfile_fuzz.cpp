// The pidfile parser gets bytes another program wrote: it must never crash, and anything it
// accepts must be a pid pidshim may consider signalling.
#include "pidfile.hpp"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    bool complete = size < pidshim::pidfile_read_limit;
    auto content = pidshim::parse_pidfile(bytes.substr(0, pidshim::pidfile_read_limit), complete);
    if (content.what == pidshim::pidfile_content::status::ok &&
        (content.pid <= 1 || content.pid > 4194304 || !content.reason.empty())) {
        std::abort();
    }
    if (content.what != pidshim::pidfile_content::status::ok && content.reason.empty()) {
        std::abort(); // every refusal must say why
    }
    return 0;
}
