#include "system.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pidshim_bench {
namespace {

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so C++ cannot link its declarations.
int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
}

void pidfd_send_signal(int fd, int signo) {
    ::syscall(SYS_pidfd_send_signal, fd, signo, nullptr, 0U);
}

} // namespace

shared_area::shared_area(std::string path) : path_(std::move(path)) {
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::ftruncate(fd, sizeof(probe_area)) != 0) {
        throw std::runtime_error(path_ + ": " + std::strerror(errno));
    }
    void* p = ::mmap(nullptr, sizeof(probe_area), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
        throw std::runtime_error(path_ + ": mmap: " + std::strerror(errno));
    }
    area_ = static_cast<probe_area*>(p);
}

shared_area::~shared_area() {
    ::munmap(area_, sizeof(probe_area));
    ::unlink(path_.c_str());
}

void shared_area::reset() {
    std::memset(static_cast<void*>(area_), 0, sizeof(probe_area));
}

pidfd::pidfd(pid_t pid) : fd_(pidfd_open(pid)) {}

pidfd::~pidfd() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

pidfd::pidfd(pidfd&& other) noexcept : fd_(other.fd_) {
    other.fd_ = -1;
}

pidfd& pidfd::operator=(pidfd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

bool pidfd::wait_exit(int timeout_ms) const {
    if (fd_ < 0) {
        return true;
    }
    pollfd p{fd_, POLLIN, 0};
    while (true) {
        int n = ::poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n > 0;
    }
}

void pidfd::kill(int signo) const {
    if (fd_ >= 0) {
        pidfd_send_signal(fd_, signo);
    }
}

void pidfd::reap() const {
    if (fd_ >= 0) {
        siginfo_t info{};
        ::waitid(P_PIDFD, static_cast<id_t>(fd_), &info, WEXITED | WNOHANG);
    }
}

pid_t spawn(const std::vector<std::string>& argv, probe_area& area) {
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) {
        return -1;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(null_fd, STDOUT_FILENO);
        ::dup2(null_fd, STDERR_FILENO);
        for (int signo = 1; signo < NSIG; ++signo) {
            ::signal(signo, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        area.exec_ns.store(now_ns(), std::memory_order_relaxed);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(null_fd);
    return pid;
}

void reap_strays() {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

void kill_children() {
    pid_t self = ::getpid();
    for (int round = 0; round < 10; ++round) {
        DIR* proc = ::opendir("/proc");
        if (proc == nullptr) {
            return;
        }
        std::vector<pidfd> children;
        while (const dirent* entry = ::readdir(proc)) {
            char* end = nullptr;
            long pid = std::strtol(entry->d_name, &end, 10);
            if (pid <= 0 || *end != '\0') {
                continue;
            }
            std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
            std::string line;
            std::getline(stat, line);
            auto close = line.rfind(')');
            if (close == std::string::npos) {
                continue;
            }
            std::istringstream fields(line.substr(close + 2));
            char state = 0;
            long parent = 0;
            if (fields >> state >> parent && parent == self) {
                children.emplace_back(static_cast<pid_t>(pid));
            }
        }
        ::closedir(proc);
        if (children.empty()) {
            return;
        }
        for (const auto& child : children) {
            child.kill(SIGKILL);
        }
        for (const auto& child : children) {
            child.wait_exit(5000);
            child.reap();
        }
    }
}

char process_state(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return '?';
    }
    char buffer[512];
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    if (n <= 0) {
        return '?';
    }
    buffer[n] = '\0';
    // The name in parentheses may contain anything; the state follows the last ')'.
    const char* close = std::strrchr(buffer, ')');
    return close != nullptr && close[1] == ' ' ? close[2] : '?';
}

std::optional<process_status> read_status(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    if (!in) {
        return std::nullopt;
    }
    process_status status;
    std::string key;
    long value = 0;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        if (!(fields >> key >> value)) {
            continue;
        }
        if (key == "RssAnon:") {
            status.rss_anon_kb = value;
        } else if (key == "RssFile:") {
            status.rss_file_kb = value;
        } else if (key == "VmRSS:") {
            status.vm_rss_kb = value;
        } else if (key == "voluntary_ctxt_switches:") {
            status.voluntary_switches = value;
        }
    }
    if (status.vm_rss_kb < 0) {
        return std::nullopt; // a zombie has no memory lines
    }
    return status;
}

std::optional<std::uint64_t> cpu_time_ns(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/schedstat", static_cast<int>(pid));
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return std::nullopt;
    }
    char buffer[128];
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    if (n <= 0) {
        return std::nullopt;
    }
    buffer[n] = '\0';
    return std::strtoull(buffer, nullptr, 10);
}

std::string find_in_path(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        return ::access(name.c_str(), X_OK) == 0 ? name : std::string{};
    }
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        std::size_t colon = dirs.find(':', start);
        std::string dir = dirs.substr(start, colon - start);
        std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        if (colon == std::string::npos) {
            break;
        }
        start = colon + 1;
    }
    return {};
}

namespace {

std::optional<long> loaded_size(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    Elf64_Ehdr header{};
    if (!in.read(reinterpret_cast<char*>(&header), sizeof header) ||
        std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
        header.e_ident[EI_CLASS] != ELFCLASS64) {
        return std::nullopt;
    }
    long total = 0;
    for (int i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr segment{};
        in.seekg(static_cast<std::streamoff>(header.e_phoff + i * sizeof segment));
        if (!in.read(reinterpret_cast<char*>(&segment), sizeof segment)) {
            return std::nullopt;
        }
        if (segment.p_type == PT_LOAD) {
            total += static_cast<long>(segment.p_filesz);
        }
    }
    return total;
}

} // namespace

std::optional<binary_size> measure_binary(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return std::nullopt;
    }
    binary_size size;
    size.file_bytes = st.st_size;
    if (auto loaded = loaded_size(path)) {
        size.loaded_bytes = *loaded;
        return size;
    }
    // A script costs its interpreter, which is what actually runs.
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line) || !line.starts_with("#!")) {
        return std::nullopt;
    }
    std::istringstream words(line.substr(2));
    std::string interpreter;
    words >> interpreter;
    char resolved[PATH_MAX];
    if (::realpath(interpreter.c_str(), resolved) == nullptr) {
        return std::nullopt;
    }
    auto loaded = loaded_size(resolved);
    if (!loaded) {
        return std::nullopt;
    }
    size.loaded_bytes = *loaded;
    size.interpreter = interpreter.substr(interpreter.find_last_of('/') + 1);
    return size;
}

std::string first_output_line(const std::vector<std::string>& argv) {
    std::string command;
    for (const auto& a : argv) {
        command += "'" + a + "' ";
    }
    command += "2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return {};
    }
    char buffer[256] = {};
    std::string line;
    if (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
        line = buffer;
    }
    ::pclose(pipe);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.pop_back();
    }
    return line;
}

std::string machine_description() {
    utsname u{};
    ::uname(&u);
    std::string cpu;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
        if (line.starts_with("model name")) {
            cpu = line.substr(line.find(':') + 2);
            break;
        }
    }
    std::string os;
    std::ifstream release("/etc/os-release");
    while (std::getline(release, line)) {
        if (line.starts_with("PRETTY_NAME=")) {
            os = line.substr(12);
            if (os.size() >= 2 && os.front() == '"') {
                os = os.substr(1, os.size() - 2);
            }
        }
    }
    long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
    return os + ", Linux " + u.release + " " + u.machine + ", " + std::to_string(cores) + " cores" +
           (cpu.empty() ? "" : " (" + cpu + ")");
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC", &tm);
    return buffer;
}

void sleep_ns(std::uint64_t ns) {
    timespec ts{static_cast<time_t>(ns / 1000000000ULL), static_cast<long>(ns % 1000000000ULL)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

} // namespace pidshim_bench
