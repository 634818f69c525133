#include "parent_watch.hpp"

#include <boost/asio/post.hpp>

#include <cerrno>
#include <cstring>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pidshim {

parent_watch::parent_watch(boost::asio::io_context& io) : io_(io), pidfd_(io) {}

std::string parent_watch::start(int signo, const std::function<void(pid_t)>& gone) {
    signo_ = signo;
    parent_ = ::getppid();
    int fd = parent_ > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, parent_, 0U)) : -1;
    if (fd >= 0) {
        // Still pidshim's parent after the pidfd was opened: the pidfd names it, not a
        // process that took its pid.
        if (::getppid() != parent_) {
            ::close(fd);
            boost::asio::post(io_, [gone, p = parent_] { gone(p); });
            return {};
        }
        pidfd_.assign(fd);
        pidfd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                          [this, gone](const boost::system::error_code& ec) {
                              if (!ec) {
                                  pidfd_.close();
                                  gone(parent_);
                              }
                          });
        return {};
    }
    std::string why = parent_ > 0 ? std::string("pidfd_open: ") + std::strerror(errno)
                                  : std::string("its parent is outside pidshim's PID namespace");
    if (::prctl(PR_SET_PDEATHSIG, signo) != 0) {
        return std::string("--parent-death: cannot watch the parent process (") + why +
               "; prctl: " + std::strerror(errno) + ")";
    }
    by_kernel_ = true;
    if (parent_ > 0 && ::getppid() != parent_) {
        // Gone before the request was made: the kernel sends nothing for that.
        by_kernel_ = false;
        (void)::prctl(PR_SET_PDEATHSIG, 0);
        boost::asio::post(io_, [gone, p = parent_] { gone(p); });
    }
    return {};
}

bool parent_watch::sent_by_kernel(int signo) {
    if (!by_kernel_ || signo != signo_ || parent_ <= 0 || ::getppid() == parent_) {
        return false;
    }
    // Once: the parent pidshim is re-parented to is not the one it was started by.
    by_kernel_ = false;
    (void)::prctl(PR_SET_PDEATHSIG, 0);
    return true;
}

} // namespace pidshim
