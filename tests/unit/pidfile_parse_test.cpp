#include "pidfile.hpp"

#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

using pidshim::parse_pidfile;
using pidshim::pidfile_content;
using pidshim::read_pidfile;

BOOST_AUTO_TEST_SUITE(pidfile_parsing)

BOOST_AUTO_TEST_CASE(a_plain_pid_with_or_without_newline_is_accepted) {
    for (const char* text : {"1234", "1234\n", " 1234 \r\n", "2\n"}) {
        auto content = parse_pidfile(text, true);
        BOOST_TEST_CONTEXT(text) {
            BOOST_TEST((content.what == pidfile_content::status::ok));
        }
    }
    BOOST_TEST(parse_pidfile("1234\n", true).pid == 1234);
}

BOOST_AUTO_TEST_CASE(lines_after_the_first_are_ignored_as_postgresql_writes_them) {
    auto content = parse_pidfile("4242\n/var/lib/postgresql/15/main\n1700000000\n5432\n", true);
    BOOST_TEST((content.what == pidfile_content::status::ok));
    BOOST_TEST(content.pid == 4242);
}

BOOST_AUTO_TEST_CASE(anything_but_a_decimal_pid_above_one_is_refused_with_a_reason) {
    struct refusal {
        const char* text;
        const char* reason_mentions;
    };
    for (auto [text, mentions] :
         {refusal{"", "empty"}, refusal{"\n1234\n", "empty"}, refusal{"   \n", "empty"},
          refusal{"-1", "'-1'"}, refusal{"0", "pid 0"}, refusal{"1", "pid 1"},
          refusal{"abc", "'abc'"}, refusal{"12abc", "'12abc'"}, refusal{"+12", "'+12'"},
          refusal{"0x10", "'0x10'"}, refusal{"12 34", "'12 34'"}, refusal{"1e3", "'1e3'"},
          refusal{"99999999999", "out of range"}, refusal{"4194305", "out of range"},
          refusal{"99999999999999999999999", "out of range"}}) {
        auto content = parse_pidfile(text, true);
        BOOST_TEST_CONTEXT("pidfile text '" << text << "'") {
            BOOST_TEST((content.what == pidfile_content::status::invalid));
            BOOST_TEST(content.reason.find(mentions) != std::string::npos, content.reason);
        }
    }
}

BOOST_AUTO_TEST_CASE(control_bytes_are_escaped_in_the_reason) {
    auto content = parse_pidfile(std::string("12\x1b[31m", 7), true);
    BOOST_TEST((content.what == pidfile_content::status::invalid));
    BOOST_TEST(content.reason.find('\x1b') == std::string::npos);
    BOOST_TEST(content.reason.find("\\x1b") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_first_line_longer_than_the_read_limit_is_refused) {
    std::string long_line(pidshim::pidfile_read_limit, '1');
    auto content = parse_pidfile(long_line, false);
    BOOST_TEST((content.what == pidfile_content::status::invalid));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pidfile_reading)

namespace {
struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/pidshim-unit.XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path, ignored);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::string file = path + "/" + name;
        FILE* f = std::fopen(file.c_str(), "w");
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
        return file;
    }
};
} // namespace

BOOST_AUTO_TEST_CASE(a_missing_file_is_missing_not_invalid) {
    temp_dir dir;
    auto content = read_pidfile(dir.path + "/none.pid");
    BOOST_TEST((content.what == pidfile_content::status::missing));
}

BOOST_AUTO_TEST_CASE(a_regular_file_is_read) {
    temp_dir dir;
    auto content = read_pidfile(dir.write("d.pid", "777\n"));
    BOOST_TEST((content.what == pidfile_content::status::ok));
    BOOST_TEST(content.pid == 777);
}

BOOST_AUTO_TEST_CASE(a_fifo_a_directory_and_a_device_are_not_pidfiles) {
    temp_dir dir;
    std::string fifo = dir.path + "/fifo.pid";
    BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // A FIFO with no writer would block a reader forever; it must be refused at once.
    auto content = read_pidfile(fifo);
    BOOST_TEST((content.what == pidfile_content::status::invalid));
    BOOST_TEST(content.reason.find("FIFO") != std::string::npos);

    content = read_pidfile(dir.path);
    BOOST_TEST((content.what == pidfile_content::status::invalid));
    BOOST_TEST(content.reason.find("directory") != std::string::npos);

    content = read_pidfile("/dev/zero");
    BOOST_TEST((content.what == pidfile_content::status::invalid));
    BOOST_TEST(content.reason.find("device") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_huge_file_is_read_only_up_to_the_limit) {
    temp_dir dir;
    auto content = read_pidfile(dir.write("big.pid", std::string(1 << 20, '7')));
    BOOST_TEST((content.what == pidfile_content::status::invalid));
    BOOST_TEST(content.reason.find("longer than") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_rewritten_file_has_a_new_version) {
    temp_dir dir;
    auto first = read_pidfile(dir.write("v.pid", "100\n"));
    std::string replacement = dir.write("v.pid.new", "100\n");
    BOOST_REQUIRE(::rename(replacement.c_str(), (dir.path + "/v.pid").c_str()) == 0);
    auto second = read_pidfile(dir.path + "/v.pid");
    BOOST_TEST(!(first.version == second.version));
    BOOST_TEST((read_pidfile(dir.path + "/v.pid").version == second.version));
}

namespace {
// How many of this process's descriptors are open on PATH.
int open_on(const std::string& path) {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        if (std::filesystem::read_symlink(entry.path(), ec) == path) {
            ++count;
        }
    }
    return count;
}
} // namespace

BOOST_AUTO_TEST_CASE(a_reader_sees_every_rewrite_of_the_file_it_keeps_open) {
    temp_dir dir;
    std::string path = dir.write("h.pid", "100\n");
    pidshim::pidfile_reader reader(path);
    BOOST_TEST(reader.read().pid == 100);
    BOOST_TEST(open_on(path) == 1); // /tmp is a local file system: the file is kept open
    struct stat before {};
    BOOST_REQUIRE(::stat(path.c_str(), &before) == 0);
    // Rewritten in place, same size, and its modification time set back: only the content
    // tells, as on a file system with coarse times.
    for (const char* text : {"200\n", "300\n", "", "400\n"}) {
        FILE* f = std::fopen(path.c_str(), "r+");
        BOOST_REQUIRE(f != nullptr);
        BOOST_REQUIRE(::ftruncate(::fileno(f), 0) == 0);
        std::fputs(text, f);
        std::fclose(f);
        timespec times[2] = {before.st_atim, before.st_mtim};
        BOOST_REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
        auto content = reader.read();
        BOOST_TEST_CONTEXT("rewritten to '" << text << "'") {
            if (*text == '\0') {
                BOOST_TEST((content.what == pidfile_content::status::unwritten));
            } else {
                BOOST_TEST((content.what == pidfile_content::status::ok));
                BOOST_TEST(content.pid == std::atoi(text));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_reader_follows_the_name_not_the_file_it_keeps_open) {
    temp_dir dir;
    std::string path = dir.write("r.pid", "100\n");
    pidshim::pidfile_reader reader(path);
    BOOST_TEST(reader.read().pid == 100);

    std::string replacement = dir.write("r.pid.new", "200\n");
    BOOST_REQUIRE(::rename(replacement.c_str(), path.c_str()) == 0);
    BOOST_TEST(reader.read().pid == 200);
    BOOST_TEST(open_on(path) == 1); // the old file was let go

    BOOST_REQUIRE(::unlink(path.c_str()) == 0);
    BOOST_TEST((reader.read().what == pidfile_content::status::missing));
    BOOST_TEST(open_on(path + " (deleted)") == 0);

    // A FIFO put in its place is refused without being opened, so without blocking.
    BOOST_REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    auto content = reader.read();
    BOOST_TEST((content.what == pidfile_content::status::invalid));
    BOOST_TEST(content.reason.find("FIFO") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_reader_keeps_nothing_open_on_an_overlay) {
    // An overlay may put a copied-up file under the same inode number: the reader must open
    // the name afresh there. Needs root (a mount); elsewhere the case says so and passes.
    temp_dir dir;
    for (const char* sub : {"lower", "upper", "work", "merged"}) {
        std::filesystem::create_directory(dir.path + "/" + sub);
    }
    std::string options = "lowerdir=" + dir.path + "/lower,upperdir=" + dir.path +
                          "/upper,workdir=" + dir.path + "/work";
    std::string merged = dir.path + "/merged";
    if (::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0) {
        BOOST_TEST_MESSAGE("skipped: cannot mount an overlay here: " << std::strerror(errno));
        return;
    }
    std::string path = merged + "/o.pid";
    { std::ofstream(path) << "100\n"; }
    pidshim::pidfile_reader reader(path);
    BOOST_TEST(reader.read().pid == 100);
    BOOST_TEST(open_on(path) == 0);
    { std::ofstream(path, std::ios::trunc) << "200\n"; }
    BOOST_TEST(reader.read().pid == 200);
    BOOST_TEST(::umount(merged.c_str()) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
