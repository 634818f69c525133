#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>

// Reading a pidfile and parsing its first line. Whether the pid may be signalled is
// decided by process_tree (alive, a descendant); this file only says what the file says.
namespace pidshim {

// No pid line is longer; more than this is not a pidfile.
inline constexpr std::size_t pidfile_read_limit = 64;

// Which file, and which version of it: a pidfile left from before pidshim started is stale
// until it is rewritten. Where timestamps are coarse (whole seconds on ext3, 2 s on FAT, the
// server's clock on NFS) a rewrite may keep the same version, so a version is only ever used
// to refuse, never to skip reading the file.
struct file_version {
    dev_t device = 0;
    ino_t inode = 0;
    long long modified_ns = 0;
    long long changed_ns = 0; // ctime: every write moves it, and no program can set it back
    long long size = 0;
    bool operator==(const file_version&) const = default;
};

struct pidfile_content {
    // `unwritten`: the file exists and is empty, as it is between its creation (or a
    // truncation) and the write of the pid; not a reason to refuse it.
    enum class status { ok, missing, unwritten, invalid };
    status what = status::missing;
    pid_t pid = 0;
    std::string reason;    // why it is invalid or missing, for the operator
    std::string ownership; // non-empty when the file is writable by someone other than root
    file_version version;
    // pidshim could not open it for want of a descriptor of its own (EMFILE): no use waiting.
    bool out_of_descriptors = false;
};

// Parses the bytes of a pidfile: the first line must be a plain decimal pid greater than 1.
// Surrounding blanks and further lines (PostgreSQL's postmaster.pid) are allowed.
pidfile_content parse_pidfile(std::string_view bytes, bool complete);

// Opens PATH without opening what it names unless it is a regular file (a FIFO, device or
// directory is refused without being opened), and reads at most pidfile_read_limit bytes.
pidfile_content read_pidfile(const std::string& path);

// Reads one pidfile again and again, as read_pidfile() does, but keeps the regular file it
// last read open: while PATH still names that file (same device and inode), a read is a
// stat() of PATH and a pread() of the open file, two system calls instead of seven. The
// content is read every time, never assumed from the file's times. Only on local file
// systems whose page cache is the file (ext2/3/4, XFS, Btrfs, tmpfs, ramfs): NFS and other network
// file systems check a file for changes made elsewhere only when it is opened, and an
// overlay may swap the file underneath while keeping its inode number.
class pidfile_reader {
  public:
    explicit pidfile_reader(std::string path) : path_(std::move(path)) {}
    pidfile_reader(const pidfile_reader&) = delete;
    pidfile_reader& operator=(const pidfile_reader&) = delete;
    ~pidfile_reader() { forget(); }

    pidfile_content read();

  private:
    void forget(); // closes the file kept open

    std::string path_;
    int held_ = -1;
    dev_t device_ = 0;
    ino_t inode_ = 0;
};

} // namespace pidshim
