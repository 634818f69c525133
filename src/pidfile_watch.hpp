#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <functional>
#include <string>

// Tells when the pidfile may have changed, through inotify on its directory (the file itself
// may not exist yet, and daemons often replace it with rename()). A directory that does not
// exist yet (/run/mysqld before mysqld_safe creates it) is waited for through its nearest
// existing ancestor; so is the directory a symlinked pidfile points into.
//
// inotify is one source among others: the caller also re-reads the pidfile on a timer while
// it waits for the daemon, since inotify may be unavailable (out of instances), and says
// nothing of a file on a network file system written by another host.
namespace pidshim {

class pidfile_watch {
  public:
    pidfile_watch(const boost::asio::any_io_executor& executor, const std::string& pidfile);

    // Calls `changed` after every event that may concern the pidfile. Returns an error
    // message, or "" when watching.
    std::string start(std::function<void()> changed);

    // Stops watching while the daemon is known and its pidfile is re-read on each signal
    // instead. Closing an inotify descriptor that holds a watch waits for the kernel to free
    // it (an RCU grace period, milliseconds); done at exit, that wait would delay the
    // supervisor's notice of the daemon's death.
    void pause();
    // Watches again, for a launcher that may write another pid; the caller re-reads the
    // pidfile afterwards, since it may have changed in the meantime.
    void resume();

  private:
    // A directory to watch for one name in it, through its nearest existing ancestor while
    // it does not exist.
    struct place {
        std::string directory;
        std::string name;
        std::string watched; // the directory, or its nearest existing ancestor; "" if none
        int wd = -1;
        bool complete() const { return wd >= 0 && watched == directory; }
    };

    std::string open();
    void arm(place& where, const place& other);
    void follow_link();
    void wait();
    bool read_events();

    boost::asio::posix::stream_descriptor inotify_;
    place file_;
    place link_; // where the pidfile points, when it is a symbolic link
    bool is_link_ = false;
    bool paused_ = false;
    std::function<void()> changed_;
};

} // namespace pidshim
