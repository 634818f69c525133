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

// Every way a file's content changes: a write (IN_MODIFY, also through a descriptor kept
// open, as libbsd's pidfile(3) does), the end of a write, a rename or link over it, its
// removal. Masks are added to, never replaced: the two places may share a directory.
constexpr uint32_t file_events = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_DELETE |
                                 IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_MASK_ADD;
constexpr uint32_t ancestor_events =
    IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_MASK_ADD;

std::string parent_directory(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name(const std::string& path) {
    return path.substr(path.find_last_of('/') + 1);
}

} // namespace

pidfile_watch::pidfile_watch(const boost::asio::any_io_executor& executor,
                             const std::string& pidfile)
    : inotify_(executor) {
    file_.directory = parent_directory(pidfile);
    file_.name = base_name(pidfile);
}

std::string pidfile_watch::start(std::function<void()> changed) {
    changed_ = std::move(changed);
    return open();
}

std::string pidfile_watch::open() {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        return std::string("cannot watch the pidfile (inotify_init1): ") + std::strerror(errno) +
               "; it is re-read every second instead";
    }
    boost::system::error_code ec;
    inotify_.assign(fd, ec); // registers it with epoll, which can run out of memory
    if (ec) {
        ::close(fd);
        return "cannot watch the pidfile (" + ec.message() +
               "); it is re-read every second instead";
    }
    file_.watched.clear();
    file_.wd = -1;
    link_ = {};
    is_link_ = false;
    arm(file_, link_);
    follow_link();
    wait();
    return {};
}

void pidfile_watch::follow_link() {
    // A daemon writes through the link into another directory; that directory's events are
    // the ones that tell of a new pid.
    std::string path = file_.directory + "/" + file_.name;
    std::array<char, PATH_MAX> buffer{};
    ssize_t n = ::readlink(path.c_str(), buffer.data(), buffer.size() - 1);
    if (n <= 0) {
        is_link_ = false;
        return;
    }
    std::string target(buffer.data(), static_cast<std::size_t>(n));
    if (target.front() != '/') {
        target = file_.directory + "/" + target;
    }
    std::string directory = parent_directory(target);
    std::string name = base_name(target);
    if (is_link_ && link_.directory == directory && link_.name == name && link_.complete()) {
        return;
    }
    is_link_ = true;
    link_.directory = directory;
    link_.name = name;
    arm(link_, file_);
}

void pidfile_watch::arm(place& where, const place& other) {
    // Watch the deepest existing directory on the way to the pidfile.
    std::string dir = where.directory;
    while (true) {
        uint32_t mask = dir == where.directory ? file_events : ancestor_events;
        int wd = ::inotify_add_watch(inotify_.native_handle(), dir.c_str(), mask);
        if (wd >= 0) {
            if (where.wd >= 0 && where.wd != wd && where.wd != other.wd) {
                ::inotify_rm_watch(inotify_.native_handle(), where.wd);
            }
            where.wd = wd;
            if (where.watched != dir) {
                log::debug("watching " + dir + " for " + where.directory + "/" + where.name);
            }
            where.watched = dir;
            return;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
            log::warning("cannot watch " + dir + " (" + std::strerror(errno) +
                         "); the pidfile is re-read on each signal and every second while "
                         "waiting for the daemon");
            where.wd = -1;
            where.watched.clear();
            return;
        }
        std::string up = parent_directory(dir);
        if (up == dir) {
            where.wd = -1;
            where.watched.clear();
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
                            if (inotify_.is_open()) {
                                wait();
                            }
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
}

void pidfile_watch::resume() {
    if (!paused_) {
        return;
    }
    paused_ = false;
    std::string problem = open();
    if (!problem.empty()) {
        log::warning(problem);
    }
}

bool pidfile_watch::read_events() {
    alignas(inotify_event) char buffer[16 * (sizeof(inotify_event) + NAME_MAX + 1)];
    bool relevant = false;
    bool rearm_file = false;
    bool rearm_link = false;
    while (true) {
        ssize_t n = ::read(inotify_.native_handle(), buffer, sizeof buffer);
        if (n <= 0) {
            break;
        }
        for (char* p = buffer; p < buffer + n;) {
            const auto* event = reinterpret_cast<const inotify_event*>(p);
            p += sizeof(inotify_event) + event->len;
            if ((event->mask & IN_Q_OVERFLOW) != 0) {
                relevant = rearm_file = rearm_link = true;
                continue;
            }
            bool gone = (event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0;
            for (place* where : {&file_, &link_}) {
                if (event->wd != where->wd || (where == &link_ && !is_link_)) {
                    continue;
                }
                if (gone || where->watched != where->directory) {
                    // The watched directory went away, or one on the way to it appeared.
                    (where == &file_ ? rearm_file : rearm_link) = true;
                    relevant = true;
                } else if (event->len > 0 && where->name == event->name) {
                    relevant = true;
                    // The pidfile itself changed: it may be a new symbolic link.
                    rearm_link = rearm_link || where == &file_;
                }
            }
        }
    }
    if (rearm_file) {
        arm(file_, link_);
    }
    if (rearm_link) {
        if (is_link_) {
            arm(link_, file_);
        }
        follow_link();
    }
    return relevant;
}

} // namespace pidshim
