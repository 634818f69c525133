#include "process_tree.hpp"

#include <algorithm>
#include <charconv>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <unistd.h>

namespace pidshim::process_tree {
namespace {

std::string read_small_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return {};
    }
    char buffer[512];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    ::close(fd);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string{};
}

struct stat_fields {
    pid_t parent = 0;
    char state = '?';
};

std::optional<stat_fields> read_stat(pid_t pid) {
    // The name in parentheses may contain anything, so parse from the last ')'.
    std::string stat = read_small_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) {
        return std::nullopt;
    }
    stat_fields fields;
    fields.state = stat[close + 2];
    const char* begin = stat.data() + close + 4;
    const char* end = stat.data() + stat.size();
    if (std::from_chars(begin, end, fields.parent).ec != std::errc{}) {
        return std::nullopt;
    }
    return fields;
}

} // namespace

std::optional<pid_t> parent_of(pid_t pid) {
    auto fields = read_stat(pid);
    if (!fields) {
        return std::nullopt;
    }
    return fields->parent;
}

bool is_descendant(pid_t pid, pid_t ancestor) {
    // Parent chains are short; the bound only guards against a /proc that changes under us.
    for (int depth = 0; depth < 4096 && pid > 0; ++depth) {
        auto parent = parent_of(pid);
        if (!parent) {
            return false;
        }
        if (*parent == ancestor) {
            return true;
        }
        pid = *parent;
    }
    return false;
}

std::string name_of(pid_t pid) {
    std::string comm = read_small_file("/proc/" + std::to_string(pid) + "/comm");
    while (!comm.empty() && comm.back() == '\n') {
        comm.pop_back();
    }
    return comm;
}

std::string describe(pid_t pid) {
    std::string name = name_of(pid);
    return std::to_string(pid) + (name.empty() ? "" : " (" + name + ")");
}

namespace {

// Each live process's parent, from one pass over /proc.
std::multimap<pid_t, pid_t> live_children() {
    std::multimap<pid_t, pid_t> children;
    if (DIR* proc = ::opendir("/proc")) {
        while (const dirent* entry = ::readdir(proc)) {
            pid_t pid = 0;
            std::string_view name = entry->d_name;
            if (std::from_chars(name.data(), name.data() + name.size(), pid).ptr !=
                name.data() + name.size()) {
                continue;
            }
            auto fields = read_stat(pid);
            // A zombie is dead already: it only waits to be reaped.
            if (fields && fields->state != 'Z') {
                children.emplace(fields->parent, pid);
            }
        }
        ::closedir(proc);
    }
    return children;
}

} // namespace

std::vector<pid_t> descendants_of(pid_t ancestor) {
    auto children = live_children();
    std::vector<pid_t> found;
    std::vector<pid_t> frontier = {ancestor};
    while (!frontier.empty()) {
        pid_t parent = frontier.back();
        frontier.pop_back();
        auto [first, last] = children.equal_range(parent);
        for (auto it = first; it != last; ++it) {
            found.push_back(it->second);
            frontier.push_back(it->second);
        }
    }
    return found;
}

std::vector<pid_t> children_of(pid_t parent) {
    auto children = live_children();
    std::vector<pid_t> found;
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
        found.push_back(it->second);
    }
    std::sort(found.begin(), found.end());
    return found;
}

} // namespace pidshim::process_tree
