// Errors before anything runs: exit statuses 127 / 126 / 2, each explained in one line.
#include "harness.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>

#include <cctype>
#include <filesystem>

using namespace harness;
namespace data = boost::unit_test::data;

PIDSHIM_TEST_MODULE("exec and usage errors");

namespace {

std::string lower(std::string s) {
    for (auto& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

struct Usage {
    std::vector<std::string> args; // "@P" is the pidfile, "@CMD..." the rest of the command
    std::string named;             // what the first stderr line must mention
};

std::ostream& operator<<(std::ostream& o, const Usage& u) {
    for (auto& a : u.args) {
        o << a << ' ';
    }
    return o;
}

const Usage usage_errors[] = {
    {{"--bogus", "@P", "@CMD"}, "--bogus"},
    {{"--timeout", "abc", "@P", "@CMD"}, "abc"},
    {{"--timeout", "-1", "@P", "@CMD"}, "-1"},
    {{"--retry-interval", "soon", "@P", "@CMD"}, "soon"},
    {{"--kill-after", "x1", "@P", "@CMD"}, "x1"},
    {{"--signal-map", "TERM:NOSUCHSIG", "@P", "@CMD"}, "nosuchsig"},
    {{"--signal-map", "TERM", "@P", "@CMD"}, "term"},
    {{"--timeout"}, "--timeout"},
    {{"@P"}, "command"},
    {{}, "pidfile"},
};

} // namespace

BOOST_FIXTURE_TEST_CASE(command_not_found_is_127, Sandbox) {
    auto pidfile = path("app.pid");
    Process shim({pidshim_bin, pidfile, "no-such-command-for-pidshim"}, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 127);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    BOOST_CHECK_MESSAGE(
        contains(lines[0], "pidshim: cannot run 'no-such-command-for-pidshim': command not found"),
        lines[0]);
}

BOOST_FIXTURE_TEST_CASE(missing_path_is_127, Sandbox) {
    auto pidfile = path("app.pid");
    auto cmd = path("missing/daemon");
    Process shim({pidshim_bin, pidfile, cmd}, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 127);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    BOOST_CHECK_MESSAGE(contains(lines[0], "pidshim: cannot run '" + cmd + "'"), lines[0]);
}

BOOST_FIXTURE_TEST_CASE(command_not_executable_is_126, Sandbox) {
    auto pidfile = path("app.pid");
    auto cmd = path("not-executable");
    write_file(cmd, "#!/bin/sh\nexit 0\n", 0644);
    Process shim({pidshim_bin, pidfile, cmd}, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 126);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    BOOST_CHECK_MESSAGE(contains(lines[0], "pidshim: cannot run '" + cmd + "': Permission denied"),
                        lines[0]);
}

BOOST_DATA_TEST_CASE_F(Sandbox, usage_error_is_2_and_runs_nothing, data::make(usage_errors),
                       usage) {
    auto pidfile = path("app.pid");
    auto log = path("app.log");
    std::vector<std::string> argv{pidshim_bin};
    for (auto& a : usage.args) {
        if (a == "@P") {
            argv.push_back(pidfile);
        } else if (a == "@CMD") {
            argv.insert(argv.end(), {testd_bin, "--no-pidfile", "--log", log});
        } else {
            argv.push_back(a);
        }
    }
    Process shim(argv, dir);
    BOOST_CHECK_EQUAL(shim.wait_exit(), 2);
    auto lines = split_lines(shim.err());
    BOOST_REQUIRE_MESSAGE(lines.size() == 2,
                          "expected a message and a hint" << dump(shim.err_path));
    BOOST_CHECK_MESSAGE(lines[0].rfind("pidshim: ", 0) == 0, lines[0]);
    BOOST_CHECK_MESSAGE(contains(lower(lines[0]), usage.named),
                        "'" << lines[0] << "' does not name " << usage.named);
    BOOST_CHECK_MESSAGE(contains(lines[1], "Try 'pidshim --help' for more information."), lines[1]);
    BOOST_CHECK(shim.out().empty());
    BOOST_CHECK_MESSAGE(!std::filesystem::exists(log), "the command was started anyway");
}
