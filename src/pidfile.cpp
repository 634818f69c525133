#include "pidfile.hpp"

#include "log.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace pidshim {
namespace {

// PID_MAX_LIMIT on 64-bit Linux: no pid is larger.
constexpr long long pid_limit = 4194304;

pidfile_content invalid(std::string reason) {
    return {pidfile_content::status::invalid, 0, std::move(reason), {}, {}};
}

std::string quoted(std::string_view text) {
    std::string out = "'";
    out += log::printable(text);
    out += '\'';
    return out;
}

std::string_view trim(std::string_view text) {
    constexpr std::string_view blanks = " \t\r";
    auto first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos) {
        return {};
    }
    auto last = text.find_last_not_of(blanks);
    return text.substr(first, last - first + 1);
}

class fd_guard {
  public:
    explicit fd_guard(int fd) : fd_(fd) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

std::string ownership_note(const struct stat& st) {
    if (st.st_uid != 0 && ::geteuid() == 0) {
        return "it is owned by uid " + std::to_string(st.st_uid) + ", not root";
    }
    if ((st.st_mode & S_IWOTH) != 0) {
        return "it is world-writable";
    }
    return {};
}

long long nanoseconds(const timespec& t) {
    return static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec;
}

file_version version_of(const struct stat& st) {
    return {st.st_dev, st.st_ino, nanoseconds(st.st_mtim), nanoseconds(st.st_ctim),
            static_cast<long long>(st.st_size)};
}

} // namespace

pidfile_content parse_pidfile(std::string_view bytes, bool complete) {
    auto newline = bytes.find('\n');
    if (newline == std::string_view::npos && !complete) {
        return invalid("the first line is longer than " + std::to_string(pidfile_read_limit) +
                       " bytes");
    }
    std::string_view line = trim(bytes.substr(0, newline));
    if (line.empty()) {
        return invalid("the first line is empty");
    }
    long long pid = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
    bool digits_only = line.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits_only || end != line.data() + line.size()) {
        return invalid(quoted(line) + " is not a decimal pid");
    }
    if (ec == std::errc::result_out_of_range || pid > pid_limit) {
        return invalid(quoted(line) + " is out of range for a pid");
    }
    if (pid <= 1) {
        return invalid("pid " + std::string(line) +
                       " is not a daemon's pid (must be greater than 1)");
    }
    return {pidfile_content::status::ok, static_cast<pid_t>(pid), {}, {}, {}};
}

namespace {

// A regular file opened for reading, or why it was not.
struct opened {
    int fd = -1;
    struct stat st {};
    pidfile_content refusal;
};

opened open_regular(const std::string& path) {
    opened result;
    // O_PATH opens the name without opening the object: a FIFO cannot block us and a
    // device sees no open() side effects before we know what it is.
    fd_guard where(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (where.get() < 0) {
        int err = errno;
        if (err == ENOENT) {
            result.refusal = {pidfile_content::status::missing, 0, "it does not exist", {}, {}};
            return result;
        }
        result.refusal = invalid(std::string("cannot open it: ") + std::strerror(err));
        result.refusal.out_of_descriptors = err == EMFILE;
        return result;
    }
    if (::fstat(where.get(), &result.st) != 0) {
        result.refusal = invalid(std::string("cannot stat it: ") + std::strerror(errno));
        return result;
    }
    const auto mode = result.st.st_mode;
    if (!S_ISREG(mode)) {
        result.refusal = invalid(S_ISDIR(mode)    ? "it is a directory, not a regular file"
                                 : S_ISFIFO(mode) ? "it is a FIFO, not a regular file"
                                                  : "it is a device or socket, not a regular file");
        return result;
    }
    std::string reopen = "/proc/self/fd/";
    reopen += std::to_string(where.get());
    result.fd = ::open(reopen.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (result.fd < 0) {
        int err = errno;
        result.refusal = invalid(std::string("cannot read it: ") + std::strerror(err));
        result.refusal.out_of_descriptors = err == EMFILE;
    }
    return result;
}

// Reads the first pidfile_read_limit bytes of FD, the regular file ST describes. A read of a
// regular file returns less than asked only at its end, so one read is enough for a pidfile.
pidfile_content read_content(int fd, const struct stat& st) {
    char buffer[pidfile_read_limit];
    std::size_t used = 0;
    while (used < sizeof buffer) {
        std::size_t asked = sizeof buffer - used;
        ssize_t n = ::pread(fd, buffer + used, asked, static_cast<off_t>(used));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return invalid(std::string("cannot read it: ") + std::strerror(errno));
        }
        used += static_cast<std::size_t>(n);
        if (static_cast<std::size_t>(n) < asked) {
            break;
        }
    }
    auto content =
        used == 0 ? pidfile_content{pidfile_content::status::unwritten, 0, "it is empty", {}, {}}
                  : parse_pidfile({buffer, used}, used < sizeof buffer);
    content.ownership = ownership_note(st);
    content.version = version_of(st);
    return content;
}

// Whether a file kept open shows every later write to the name's file, as long as the name
// still names it.
bool is_local(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) {
        return false;
    }
    switch (static_cast<unsigned long>(fs.f_type)) {
    case EXT4_SUPER_MAGIC: // also ext2 and ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case RAMFS_MAGIC:
        return true;
    default:
        return false;
    }
}

} // namespace

pidfile_content read_pidfile(const std::string& path) {
    auto file = open_regular(path);
    if (file.fd < 0) {
        return file.refusal;
    }
    fd_guard guard(file.fd);
    return read_content(file.fd, file.st);
}

pidfile_content pidfile_reader::read() {
    if (held_ >= 0) {
        struct stat st {};
        if (::stat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_) {
            return read_content(held_, st);
        }
        forget(); // renamed over, removed, or unreadable now: looked at afresh
    }
    auto file = open_regular(path_);
    if (file.fd < 0) {
        return file.refusal;
    }
    auto content = read_content(file.fd, file.st);
    if (is_local(file.fd)) {
        held_ = file.fd;
        device_ = file.st.st_dev;
        inode_ = file.st.st_ino;
    } else {
        ::close(file.fd);
    }
    return content;
}

void pidfile_reader::forget() {
    if (held_ >= 0) {
        ::close(held_);
        held_ = -1;
    }
}

} // namespace pidshim
