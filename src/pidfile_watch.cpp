#include "pidfile_watch.hpp"

#include "log.hpp"

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pidshim {
namespace {

// Only finished writes: a pidfile caught between creation and its first write would look
// empty and earn a needless refusal.
constexpr uint32_t file_events =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr uint32_t ancestor_events =
    IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

std::string parent_directory(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

pidfile_watch::pidfile_watch(const boost::asio::any_io_executor& executor,
                             const std::string& pidfile)
    : inotify_(executor), directory_(parent_directory(pidfile)),
      name_(pidfile.substr(pidfile.find_last_of('/') + 1)) {}

std::string pidfile_watch::start(std::function<void()> changed) {
    changed_ = std::move(changed);
    return open();
}

std::string pidfile_watch::open() {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        return std::string("cannot watch the pidfile (inotify_init1): ") + std::strerror(errno);
    }
    inotify_.assign(fd);
    arm();
    follow_link();
    wait();
    return {};
}

void pidfile_watch::follow_link() {
    // A daemon writes through the link into another directory; that directory's events are
    // the ones that tell of a new pid.
    std::string path = directory_ + "/" + name_;
    std::array<char, PATH_MAX> buffer{};
    ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size() - 1);
    if (n <= 0) {
        link_unwatched_ = false;
        return;
    }
    std::string target(buffer.data(), static_cast<std::size_t>(n));
    if (target.front() != '/') {
        target = directory_ + "/" + target;
    }
    std::string dir = parent_directory(target);
    std::string name = target.substr(target.find_last_of('/') + 1);
    if (dir == link_directory_ && name == link_name_) {
        return;
    }
    int wd = ::inotify_add_watch(inotify_.native_handle(), dir.c_str(), file_events);
    struct stat st {};
    // A link to a link: the second hop's directory is not watched, so re-read every time.
    link_unwatched_ = wd < 0 || (::lstat(target.c_str(), &st) == 0 && S_ISLNK(st.st_mode));
    if (wd < 0) {
        log::debug("cannot watch " + dir + ", where the pidfile's link points (" +
                   std::strerror(errno) + "); it is re-read on each signal and retry");
        return;
    }
    link_watch_ = wd;
    link_directory_ = dir;
    link_name_ = name;
    log::debug("watching " + target + ", where the pidfile's link points");
}

void pidfile_watch::arm() {
    // Watch the deepest existing directory on the way to the pidfile.
    std::string dir = directory_;
    while (true) {
        uint32_t mask = dir == directory_ ? file_events : ancestor_events;
        int wd = ::inotify_add_watch(inotify_.native_handle(), dir.c_str(), mask);
        if (wd >= 0) {
            if (watch_ >= 0 && watch_ != wd) {
                ::inotify_rm_watch(inotify_.native_handle(), watch_);
            }
            watch_ = wd;
            if (watched_ != dir) {
                log::debug("watching " + dir + " for " +
                           (dir == directory_ ? "the pidfile" : "the pidfile's directory"));
            }
            watched_ = dir;
            return;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
            log::warning("cannot watch " + dir + " (" + std::strerror(errno) +
                         "); the pidfile is re-read on each signal and retry");
            return;
        }
        std::string up = parent_directory(dir);
        if (up == dir) {
            return;
        }
        dir = up;
    }
}

void pidfile_watch::wait() {
    inotify_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& ec) {
                            if (ec) {
                                return;
                            }
                            if (read_events()) {
                                changed_();
                            }
                            wait();
                        });
}

void pidfile_watch::pause() {
    if (paused_ || !inotify_.is_open()) {
        return;
    }
    paused_ = true;
    // Closed, not just emptied: the descriptor's release waits for the kernel to free its
    // watches, and waiting now, while nothing waits on pidshim, spares its exit the wait.
    boost::system::error_code ignored;
    inotify_.close(ignored);
    watch_ = -1;
    link_watch_ = -1;
    watched_.clear();
    link_directory_.clear();
    link_name_.clear();
}

void pidfile_watch::resume() {
    if (!paused_) {
        return;
    }
    paused_ = false;
    std::string problem = open();
    if (!problem.empty()) {
        log::warning(problem + "; the pidfile is re-read on each signal and retry");
    }
}

bool pidfile_watch::drain() {
    return inotify_.is_open() && read_events();
}

bool pidfile_watch::read_events() {
    alignas(inotify_event) char buffer[16 * (sizeof(inotify_event) + NAME_MAX + 1)];
    bool relevant = false;
    bool rearm = false;
    bool relink = false;
    while (true) {
        ssize_t n = ::read(inotify_.native_handle(), buffer, sizeof buffer);
        if (n <= 0) {
            break;
        }
        for (char* p = buffer; p < buffer + n;) {
            const auto* event = reinterpret_cast<const inotify_event*>(p);
            p += sizeof(inotify_event) + event->len;
            if ((event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
                // The watched directory went away or was replaced: find the path again.
                rearm = true;
                relevant = true;
            } else if (watched_ != directory_) {
                rearm = true;
            } else if (event->len > 0 && name_ == event->name) {
                relevant = true;
                relink = true;
            } else if ((event->len > 0 && event->wd == link_watch_ && link_name_ == event->name) ||
                       (event->mask & IN_Q_OVERFLOW) != 0) {
                relevant = true;
            }
        }
    }
    if (relink) {
        follow_link();
    }
    if (rearm) {
        arm();
        // The pidfile may have been written before the new watch was in place.
        relevant = relevant || watched_ == directory_;
    }
    return relevant;
}

} // namespace pidshim
