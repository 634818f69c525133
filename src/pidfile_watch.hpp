#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <functional>
#include <string>

// Tells when the pidfile may have changed, through inotify on its directory (the file itself
// may not exist yet, and daemons often replace it with rename()). A directory that does not
// exist yet (/run/mysqld before mysqld_safe creates it) is waited for through its nearest
// existing ancestor.
namespace pidshim {

class pidfile_watch {
  public:
    pidfile_watch(const boost::asio::any_io_executor& executor, const std::string& pidfile);

    // Calls `changed` after every event that may concern the pidfile. Returns an error
    // message, or "" when watching.
    std::string start(std::function<void()> changed);

    // Reads queued events without waiting: true when any may concern the pidfile. Lets a
    // signal that races with a rewrite see the new pid.
    bool drain();

    // Stops watching while the daemon is known and its pidfile is re-read on each signal
    // instead. Closing an inotify descriptor that holds a watch waits for the kernel to free
    // it (an RCU grace period, milliseconds); done at exit, that wait would delay the
    // supervisor's notice of the daemon's death.
    void pause();
    // Watches again, for a launcher that may write another pid; the caller re-reads the
    // pidfile afterwards, since it may have changed in the meantime.
    void resume();

    // True while the pidfile's own directory (and the target directory of a pidfile that is a
    // symbolic link) is watched, so that no rewrite can go unnoticed.
    bool sees_every_change() const {
        return watched_ == directory_ && watch_ >= 0 && !link_unwatched_;
    }

  private:
    std::string open();
    void arm();
    void follow_link();
    void wait();
    bool read_events();

    boost::asio::posix::stream_descriptor inotify_;
    std::string directory_;
    std::string name_;
    std::string watched_; // the directory, or its nearest existing ancestor
    int watch_ = -1;
    // Where the pidfile points when it is a symbolic link.
    std::string link_directory_;
    std::string link_name_;
    int link_watch_ = -1;
    bool link_unwatched_ = false;
    bool paused_ = false;
    std::function<void()> changed_;
};

} // namespace pidshim
