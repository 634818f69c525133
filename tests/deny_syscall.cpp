// deny_syscall: runs a program with some system calls failing, the way an old kernel or a
// container runtime's seccomp profile makes them fail.
//
//   deny_syscall ERRNO SYSCALL[,SYSCALL...] -- PROGRAM [ARG...]
//
// ERRNO is a name (ENOSYS, EPERM, EMFILE, ...) or a number; each SYSCALL a name from the table
// below or a number. The seccomp filter is inherited by everything PROGRAM starts. A system
// call made through another ABI than this binary's (x32, i386) kills the process, so that the
// filter cannot be stepped around.
//
// Exit status: 2 for bad arguments, 125 when the filter cannot be installed, 126/127 when
// PROGRAM cannot be run; otherwise PROGRAM's.

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace {

#if defined(__x86_64__)
constexpr unsigned native_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned native_arch = AUDIT_ARCH_AARCH64;
#else
#error "deny_syscall: add this architecture's AUDIT_ARCH_ value"
#endif

struct named {
    const char* name;
    long number;
};

const named syscalls[] = {
    {"pidfd_open", SYS_pidfd_open},
    {"pidfd_send_signal", SYS_pidfd_send_signal},
    {"pidfd_getfd", SYS_pidfd_getfd},
    {"inotify_init1", SYS_inotify_init1},
#ifdef SYS_inotify_init
    {"inotify_init", SYS_inotify_init},
#endif
    {"inotify_add_watch", SYS_inotify_add_watch},
    {"epoll_ctl", SYS_epoll_ctl},
    {"signalfd4", SYS_signalfd4},
};

const named errnos[] = {
    {"ENOSYS", ENOSYS}, {"EPERM", EPERM},   {"EACCES", EACCES}, {"EMFILE", EMFILE},
    {"ENFILE", ENFILE}, {"ENOMEM", ENOMEM}, {"ENOSPC", ENOSPC}, {"EINVAL", EINVAL},
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "deny_syscall: %s\n"
                 "usage: deny_syscall ERRNO SYSCALL[,SYSCALL...] -- PROGRAM [ARG...]\n",
                 problem.c_str());
    std::_Exit(2);
}

bool parse_number(std::string_view text, long& out) {
    return !text.empty() && std::from_chars(text.data(), text.data() + text.size(), out).ptr ==
                                text.data() + text.size();
}

long lookup(std::string_view text, const named* table, std::size_t size, const char* what) {
    long number = 0;
    if (parse_number(text, number)) {
        if (number < 0) {
            usage(std::string("negative ") + what + ": " + std::string(text));
        }
        return number;
    }
    for (std::size_t i = 0; i < size; ++i) {
        if (text == table[i].name) {
            return table[i].number;
        }
    }
    usage(std::string("unknown ") + what + ": " + std::string(text));
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 5 || std::string_view(argv[3]) != "--") {
        usage("expected ERRNO SYSCALLS -- PROGRAM");
    }
    long err = lookup(argv[1], errnos, std::size(errnos), "errno");
    if (err == 0 || err > SECCOMP_RET_DATA) {
        usage("errno out of range: " + std::string(argv[1]));
    }
    std::vector<long> denied;
    std::string_view list = argv[2];
    while (!list.empty()) {
        auto comma = list.find(',');
        denied.push_back(lookup(list.substr(0, comma), syscalls, std::size(syscalls), "syscall"));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
    if (denied.empty() || denied.size() > 200) {
        usage("name between 1 and 200 syscalls");
    }

    // arch check, then one comparison per denied call, allow, deny.
    std::vector<sock_filter> filter;
    filter.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, native_arch, 1, 0));
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
    filter.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
    // x32 system calls share the x86_64 arch value and are told apart by this bit.
    filter.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1));
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
#endif
    for (std::size_t i = 0; i < denied.size(); ++i) {
        // Jump over the remaining comparisons and the allow to the deny (at most 200 < 256).
        auto to_deny = static_cast<unsigned char>(denied.size() - i);
        filter.push_back(
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(denied[i]), to_deny, 0));
    }
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    filter.push_back(BPF_STMT(BPF_RET | BPF_K,
                              SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)));

    sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        std::fprintf(stderr, "deny_syscall: PR_SET_NO_NEW_PRIVS: %s\n", std::strerror(errno));
        return 125;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0) {
        std::fprintf(stderr, "deny_syscall: PR_SET_SECCOMP: %s\n", std::strerror(errno));
        return 125;
    }
    execvp(argv[4], argv + 4);
    int failed = errno;
    std::fprintf(stderr, "deny_syscall: cannot run %s: %s\n", argv[4], std::strerror(failed));
    return failed == ENOENT ? 127 : 126;
}
