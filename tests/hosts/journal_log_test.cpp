// pidshim's stderr under systemd: when JOURNAL_STREAM names the stream stderr is connected to,
// every line carries a syslog priority prefix (<3> error, <4> warning, <6> info, <7> debug)
// that the journal stores as the line's priority; anywhere else the lines stay plain.
#include "hosts.hpp"

#include <sys/stat.h>

PIDSHIM_TEST_MODULE("journal log");

using namespace hosts;

namespace {

// JOURNAL_STREAM as systemd sets it: device and inode of the stream on stderr. The capture
// file is created first so that the inode is known before pidshim starts; Process truncates
// it without replacing it.
std::string journal_stream_for(const std::string& path) {
    write_file(path, "");
    struct stat st {};
    BOOST_REQUIRE(stat(path.c_str(), &st) == 0);
    return "JOURNAL_STREAM=" + std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
           std::to_string(static_cast<unsigned long long>(st.st_ino));
}

// A run that logs at every level but error: debug (-v), info, and the warning of a
// --kill-after escalation on a daemon that ignores TERM.
std::vector<std::string> stderr_of_a_stop(const Sandbox& box, const std::string& journal_env) {
    auto pidfile = box.path("daemon.pid");
    SpawnOptions o;
    o.name = "shim";
    o.env = {journal_env};
    Process shim({pidshim_bin, "-v", "--kill-after", "0.2", pidfile, testd_bin, "--fork",
                  "--ignore", "TERM", "--pidfile", pidfile},
                 box.dir, o);
    wait_for_line(shim.err_path, "following pid");
    shim.signal(SIGTERM);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 128 + SIGKILL);
    return split_lines(shim.err());
}

bool any_starts_with(const std::vector<std::string>& lines, const std::string& prefix,
                     const std::string& needle) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
        return l.rfind(prefix, 0) == 0 && contains(l, needle);
    });
}

} // namespace

BOOST_FIXTURE_TEST_CASE(lines_carry_priorities_when_stderr_is_the_journal, Sandbox) {
    auto lines = stderr_of_a_stop(*this, journal_stream_for(path("shim.stderr")));
    BOOST_REQUIRE(!lines.empty());
    for (auto& l : lines) {
        BOOST_CHECK_MESSAGE(std::regex_search(l, std::regex("^<[3467]>pidshim: ")),
                            "line without a priority prefix: '" << l << "'");
    }
    BOOST_CHECK(any_starts_with(lines, "<7>pidshim: ", "started"));
    BOOST_CHECK(any_starts_with(lines, "<6>pidshim: ", "following pid"));
    BOOST_CHECK(any_starts_with(lines, "<6>pidshim: ", "forwarded SIGTERM"));
    BOOST_CHECK(any_starts_with(lines, "<4>pidshim: ", "SIGKILL"));
}

BOOST_FIXTURE_TEST_CASE(errors_carry_priority_3_in_the_journal, Sandbox) {
    SpawnOptions o;
    o.name = "shim";
    o.env = {journal_stream_for(path("shim.stderr"))};
    Process shim({pidshim_bin, path("x.pid"), path("no-such-command")}, dir, o);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 127);
    BOOST_CHECK_MESSAGE(any_starts_with(split_lines(shim.err()), "<3>pidshim: ", "no-such-command"),
                        shim.err());
}

BOOST_FIXTURE_TEST_CASE(lines_stay_plain_when_journal_stream_names_another_stream, Sandbox) {
    // A service's child whose stderr was redirected inherits JOURNAL_STREAM, but its stderr is
    // no longer the journal: prefixes there would be noise.
    auto lines = stderr_of_a_stop(*this, journal_stream_for(path("elsewhere")));
    BOOST_REQUIRE(!lines.empty());
    for (auto& l : lines) {
        BOOST_CHECK_MESSAGE(l.rfind("pidshim: ", 0) == 0, "line not plain: '" << l << "'");
    }
}
