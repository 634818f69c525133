#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <functional>
#include <string>
#include <sys/types.h>

// --parent-death: tells when the process that started pidshim exits. Only that first parent
// counts: once pidshim is re-parented (to a subreaper, or init), a later parent's exit says
// nothing about the one that asked for pidshim.
//
// The parent is watched through a pidfd, which names that process and no other, whichever of
// its threads forked pidshim. Where there is no pidfd for it (pidfd_open refused; or pidshim is
// PID 1 of its namespace, under unshare, and its parent is outside), the kernel's
// PR_SET_PDEATHSIG sends the signal itself, and is cleared once it has come for the first
// parent.
namespace pidshim {

class parent_watch {
  public:
    explicit parent_watch(boost::asio::io_context& io);

    // Starts watching pidshim's parent of now; `gone(parent)` is called once, through the
    // executor, when it has exited (at once if it already has). Returns a warning, or "".
    std::string start(int signo, const std::function<void(pid_t)>& gone);

    // With PR_SET_PDEATHSIG: true once, when SIGNO has come and the first parent is gone.
    bool sent_by_kernel(int signo);

    // The parent pidshim had at start (0 when it is outside pidshim's PID namespace).
    pid_t parent() const { return parent_; }

  private:
    boost::asio::io_context& io_;
    boost::asio::posix::stream_descriptor pidfd_;
    pid_t parent_ = 0;
    int signo_ = 0;
    bool by_kernel_ = false;
};

} // namespace pidshim
