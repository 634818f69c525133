#include "options.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using pidshim::parse_options;
using pidshim::parse_result;

namespace {

parse_result parse(std::initializer_list<const char*> args) {
    std::vector<const char*> argv = {"pidshim"};
    argv.insert(argv.end(), args.begin(), args.end());
    return parse_options(static_cast<int>(argv.size()), argv.data());
}

bool runs(const parse_result& r) {
    return r.what == parse_result::action::run;
}
bool fails(const parse_result& r) {
    return r.what == parse_result::action::error;
}

struct config_file {
    std::string path;
    explicit config_file(const std::string& text) {
        char tmpl[] = "/tmp/pidshim-conf.XXXXXX";
        int fd = ::mkstemp(tmpl);
        path = tmpl;
        BOOST_REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
    }
    ~config_file() { ::unlink(path.c_str()); }
};

} // namespace

BOOST_AUTO_TEST_SUITE(command_line)

BOOST_AUTO_TEST_CASE(the_pidproxy_form_needs_no_options_and_has_safe_defaults) {
    auto r = parse({"/run/x.pid", "x", "-d"});
    BOOST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.pidfile == "/run/x.pid");
    BOOST_TEST((r.opts.command == std::vector<std::string>{"x", "-d"}));
    BOOST_TEST(r.opts.timeout.count() == 300000);
    // Signals before the daemon is known are held for at least 10 s.
    BOOST_TEST((r.opts.retry * r.opts.retry_interval >= 10s));
    BOOST_TEST(r.opts.kill_after.count() == 0);
    BOOST_TEST(!r.opts.group);
}

BOOST_AUTO_TEST_CASE(options_stop_at_pidfile_and_the_rest_reaches_the_command) {
    auto r = parse({"-t", "5", "/run/x.pid", "prog", "--timeout", "7", "-g", "--", "-v"});
    BOOST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.timeout.count() == 5000);
    BOOST_TEST(!r.opts.group);
    BOOST_TEST(
        (r.opts.command == std::vector<std::string>{"prog", "--timeout", "7", "-g", "--", "-v"}));
}

BOOST_AUTO_TEST_CASE(double_dash_before_pidfile_is_accepted) {
    auto r = parse({"-g", "--", "-odd.pid", "prog"});
    BOOST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.group);
    BOOST_TEST(r.opts.pidfile == "-odd.pid");
}

BOOST_AUTO_TEST_CASE(every_value_form_is_understood) {
    auto r =
        parse({"--timeout=2.5", "--kill-after", "0.25", "--retry=7", "--retry-interval", "0.5",
               "--signal-map", "TERM:QUIT,HUP:none", "--signal-map=USR1:USR2", "-gq", "p", "c"});
    BOOST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.timeout.count() == 2500);
    BOOST_TEST(r.opts.kill_after.count() == 250);
    BOOST_TEST(r.opts.retry == 7U);
    BOOST_TEST(r.opts.retry_interval.count() == 500);
    BOOST_TEST(r.opts.map[SIGTERM] == SIGQUIT);
    BOOST_TEST(r.opts.map[SIGHUP] == 0);
    BOOST_TEST(r.opts.map[SIGUSR1] == SIGUSR2);
    BOOST_TEST(r.opts.group);
    BOOST_TEST((r.opts.verbosity == pidshim::log::level::warning));
}

BOOST_AUTO_TEST_CASE(a_short_option_group_ending_in_a_value_option_takes_the_next_argument) {
    auto r = parse({"-gt", "9", "p", "c"});
    BOOST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.group);
    BOOST_TEST(r.opts.timeout.count() == 9000);
}

BOOST_AUTO_TEST_CASE(help_and_version_win) {
    BOOST_TEST((parse({"-h"}).what == parse_result::action::help));
    BOOST_TEST((parse({"--version"}).what == parse_result::action::version));
    BOOST_TEST((parse({"-V", "p", "c"}).what == parse_result::action::version));
}

BOOST_AUTO_TEST_CASE(bad_input_is_one_error_naming_the_flag) {
    struct bad {
        std::initializer_list<const char*> args;
        const char* mentions;
    };
    for (const auto& [args, mentions] : {
             bad{{}, "missing PIDFILE"},
             bad{{"p"}, "missing COMMAND"},
             bad{{"", "c"}, "PIDFILE"},
             bad{{"--timeout", "abc", "p", "c"}, "--timeout"},
             bad{{"--timeout", "-1", "p", "c"}, "--timeout"},
             bad{{"--timeout", "nan", "p", "c"}, "--timeout"},
             bad{{"--timeout", "inf", "p", "c"}, "--timeout"},
             bad{{"--timeout", "1e3", "p", "c"}, "--timeout"},
             bad{{"--kill-after", "", "p", "c"}, "--kill-after"},
             bad{{"--retry", "-2", "p", "c"}, "--retry"},
             bad{{"--retry", "1.5", "p", "c"}, "--retry"},
             bad{{"--retry-interval", "x", "p", "c"}, "--retry-interval"},
             bad{{"--signal-map", "TERM", "p", "c"}, "--signal-map"},
             bad{{"--signal-map", "", "p", "c"}, "--signal-map"},
             bad{{"--bogus", "p", "c"}, "--bogus"},
             bad{{"--time", "5", "p", "c"}, "--time"},
             bad{{"--s\n/}ax}", "p", "c"}, "--s\\x0a/}ax}"},
             bad{{"\xff\xff"
                  "A\n"},
                 "missing COMMAND"},
             bad{{"--timeout", "1\n2", "p", "c"}, "'1\\x0a2'"},
             bad{{"-t", "1", "-t", "2", "p", "c"}, "timeout"},
             bad{{"-v", "-q", "p", "c"}, "--quiet"},
             bad{{"--config", "/nonexistent/pidshim.conf", "p", "c"}, "/nonexistent/pidshim.conf"},
         }) {
        auto r = parse(args);
        BOOST_TEST_CONTEXT("expecting an error mentioning " << mentions) {
            BOOST_TEST(fails(r));
            BOOST_TEST(r.error.find(mentions) != std::string::npos, r.error);
            BOOST_TEST(r.error.find('\n') == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(config_file_options)

BOOST_AUTO_TEST_CASE(the_file_sets_every_option_by_its_long_name) {
    config_file conf("# pidshim\ntimeout = 30\nkill-after = 4\nretry = 3\nretry-interval = 0.2\n"
                     "signal-map = TERM:QUIT\nsignal-map = HUP:none\ngroup = true\nquiet = yes\n");
    auto r = parse({"--config", conf.path.c_str(), "p", "c"});
    BOOST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.timeout.count() == 30000);
    BOOST_TEST(r.opts.kill_after.count() == 4000);
    BOOST_TEST(r.opts.retry == 3U);
    BOOST_TEST(r.opts.retry_interval.count() == 200);
    BOOST_TEST(r.opts.map[SIGTERM] == SIGQUIT);
    BOOST_TEST(r.opts.map[SIGHUP] == 0);
    BOOST_TEST(r.opts.group);
    BOOST_TEST((r.opts.verbosity == pidshim::log::level::warning));
}

BOOST_AUTO_TEST_CASE(the_command_line_wins_over_the_file) {
    config_file conf("timeout = 30\nsignal-map = TERM:QUIT,USR1:USR2\n");
    auto r = parse(
        {"--timeout", "8", "--signal-map", "TERM:INT", "--config", conf.path.c_str(), "p", "c"});
    BOOST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.timeout.count() == 8000);
    BOOST_TEST(r.opts.map[SIGTERM] == SIGINT);
    BOOST_TEST(r.opts.map[SIGUSR1] == SIGUSR2);
}

BOOST_AUTO_TEST_CASE(bad_file_content_names_the_file_and_the_option) {
    struct bad {
        const char* text;
        const char* mentions;
    };
    for (auto [text, mentions] :
         {bad{"timeout = soon\n", "timeout"}, bad{"group = maybe\n", "group"},
          bad{"colour = blue\n", "colour"}, bad{"signal-map = TERM\n", "signal-map"}}) {
        config_file conf(text);
        auto r = parse({"--config", conf.path.c_str(), "p", "c"});
        BOOST_TEST_CONTEXT(text) {
            BOOST_TEST(fails(r));
            BOOST_TEST(r.error.find(conf.path) != std::string::npos, r.error);
            BOOST_TEST(r.error.find(mentions) != std::string::npos, r.error);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(durations)

// Every option that takes a number of seconds, on the command line and in --config.
const std::vector<std::string> duration_flags = {"timeout", "retry-interval", "kill-after"};

long long milliseconds_of(const parse_result& r, const std::string& flag) {
    if (flag == "timeout") {
        return r.opts.timeout.count();
    }
    if (flag == "retry-interval") {
        return r.opts.retry_interval.count();
    }
    return r.opts.kill_after.count();
}

parse_result parse_duration(const std::string& flag, const std::string& value) {
    std::string option = "--" + flag;
    return parse({option.c_str(), value.c_str(), "p", "c"});
}

BOOST_AUTO_TEST_CASE(a_positive_duration_rounds_up_to_whole_milliseconds_never_to_zero) {
    struct expect {
        const char* text;
        long long ms;
    };
    for (const auto& flag : duration_flags) {
        for (auto [text, ms] :
             {expect{"0.0004", 1}, expect{"0.0000000000000000000001", 1}, expect{"0.001", 1},
              expect{"0.0015", 2}, expect{"0.0011", 2}, expect{"0.1", 100}, expect{"0.3", 300},
              expect{"2.5", 2500}, expect{"1.0009", 1001}, expect{"7", 7000}, expect{".5", 500},
              expect{"5.", 5000}, expect{"604800", 604800000}}) {
            auto r = parse_duration(flag, text);
            BOOST_TEST_CONTEXT("--" << flag << " " << text) {
                BOOST_REQUIRE(runs(r));
                BOOST_TEST(milliseconds_of(r, flag) == ms);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(zero_stays_zero) {
    // 0 means "forever" for --timeout and "never" for --kill-after.
    for (const auto& flag : duration_flags) {
        for (const char* text : {"0", "0.0", "0.000000", "000", ".0"}) {
            auto r = parse_duration(flag, text);
            BOOST_TEST_CONTEXT("--" << flag << " " << text) {
                BOOST_REQUIRE(runs(r));
                BOOST_TEST(milliseconds_of(r, flag) == 0);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_sign_nan_infinity_hex_or_an_absurd_size_is_one_line_naming_flag_and_value) {
    for (const auto& flag : duration_flags) {
        for (const char* text : {"-0",
                                 "-0.0",
                                 "-0.0004",
                                 "-1",
                                 "+1",
                                 "nan",
                                 "-nan",
                                 "NaN",
                                 "inf",
                                 "-inf",
                                 "infinity",
                                 "0x10",
                                 "0x1p3",
                                 "1e3",
                                 "1e-3",
                                 "604800.001",
                                 "604801",
                                 "99999999999999999999999999999999",
                                 "18446744073709551617",
                                 "9223372036854775.807",
                                 "1.2.3",
                                 ".",
                                 "",
                                 " 1",
                                 "1 ",
                                 "1,5",
                                 "١"}) {
            auto r = parse_duration(flag, text);
            BOOST_TEST_CONTEXT("--" << flag << " '" << text << "'") {
                BOOST_REQUIRE(fails(r));
                BOOST_TEST(r.error.find("--" + flag) != std::string::npos, r.error);
                BOOST_TEST(r.error.find(std::string("'") + text + "'") != std::string::npos,
                           r.error);
                BOOST_TEST(r.error.find('\n') == std::string::npos);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_minus_sign_is_refused_as_a_sign_not_as_garbage) {
    auto r = parse_duration("kill-after", "-0");
    BOOST_REQUIRE(fails(r));
    BOOST_TEST(r.error == "--kill-after: '-0' has a sign; give 0 or more seconds, for example "
                          "5 or 0.5");
}

BOOST_AUTO_TEST_CASE(the_config_file_follows_the_same_rules) {
    for (const auto& flag : duration_flags) {
        config_file small(flag + " = 0.0004\n");
        auto r = parse({"--config", small.path.c_str(), "p", "c"});
        BOOST_TEST_CONTEXT(flag << " = 0.0004") {
            BOOST_REQUIRE(runs(r));
            BOOST_TEST(milliseconds_of(r, flag) == 1);
        }
        for (const char* text : {"-0", "nan", "1e9", "604801"}) {
            config_file bad(flag + " = " + text + "\n");
            auto b = parse({"--config", bad.path.c_str(), "p", "c"});
            BOOST_TEST_CONTEXT(flag << " = " << text) {
                BOOST_REQUIRE(fails(b));
                BOOST_TEST(b.error.find(bad.path + ": " + flag) != std::string::npos, b.error);
                BOOST_TEST(b.error.find(std::string("'") + text + "'") != std::string::npos,
                           b.error);
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(issue11_options)

BOOST_AUTO_TEST_CASE(no_pidfile_makes_the_first_operand_command) {
    auto r = parse({"--no-pidfile", "sleep", "5"});
    BOOST_TEST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.pidfile.empty());
    BOOST_TEST(r.opts.command == (std::vector<std::string>{"sleep", "5"}));
    auto missing = parse({"--no-pidfile"});
    BOOST_TEST_REQUIRE(fails(missing));
    BOOST_TEST(missing.error == "missing COMMAND (--no-pidfile)");
}

BOOST_AUTO_TEST_CASE(no_pidfile_from_the_config_file) {
    config_file conf("no-pidfile = true\nexit-map = 143:0\nparent-death = HUP\n"
                     "stop-schedule = QUIT/2/KILL/1\n");
    auto r = parse({"--config", conf.path.c_str(), "sleep", "5"});
    BOOST_TEST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.pidfile.empty());
    BOOST_TEST(r.opts.command.front() == "sleep");
    BOOST_TEST(r.opts.exits[143] == 0);
    BOOST_TEST(r.opts.parent_death == SIGHUP);
    BOOST_TEST(r.opts.schedule.first_signal() == SIGQUIT);
}

BOOST_AUTO_TEST_CASE(command_line_exit_map_wins_per_status) {
    config_file conf("exit-map = 143:0,3:9\n");
    auto r = parse({"--config", conf.path.c_str(), "--exit-map", "3:4", "x.pid", "sleep"});
    BOOST_TEST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.exits[143] == 0);
    BOOST_TEST(r.opts.exits[3] == 4);
}

BOOST_AUTO_TEST_CASE(kill_after_is_a_schedule_and_excludes_one) {
    auto r = parse({"--kill-after", "2", "x.pid", "sleep"});
    BOOST_TEST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.schedule.from_kill_after);
    auto both = parse({"--kill-after", "2", "--stop-schedule", "TERM/1", "x.pid", "sleep"});
    BOOST_TEST_REQUIRE(fails(both));
    BOOST_TEST(both.error.find("cannot be used together") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_values_name_the_flag) {
    auto schedule = parse({"--stop-schedule", "TERM/x", "x.pid", "sleep"});
    BOOST_TEST_REQUIRE(fails(schedule));
    BOOST_TEST(schedule.error.rfind("--stop-schedule: ", 0) == 0);
    auto death = parse({"--parent-death", "NOPE", "x.pid", "sleep"});
    BOOST_TEST_REQUIRE(fails(death));
    BOOST_TEST(death.error == "--parent-death: 'NOPE' is not a signal (for example TERM)");
    auto map = parse({"--exit-map", "143", "x.pid", "sleep"});
    BOOST_TEST_REQUIRE(fails(map));
    BOOST_TEST(map.error.rfind("--exit-map: ", 0) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(upgrade_options)

BOOST_AUTO_TEST_CASE(defaults_and_values) {
    auto plain = parse({"x.pid", "nginx"});
    BOOST_TEST_REQUIRE(runs(plain));
    BOOST_TEST(plain.opts.upgrade_signal == 0);
    BOOST_TEST(plain.opts.retire_signal == SIGQUIT);
    BOOST_TEST(plain.opts.upgrade_settle.count() == 2000);
    BOOST_TEST(plain.opts.upgrade_timeout.count() == 60000);
    auto r = parse({"--upgrade-signal", "USR2", "--retire-signal", "TERM", "--upgrade-settle",
                    "0.5", "--upgrade-timeout", "30", "x.pid", "gunicorn"});
    BOOST_TEST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.upgrade_signal == SIGUSR2);
    BOOST_TEST(r.opts.retire_signal == SIGTERM);
    BOOST_TEST(r.opts.upgrade_settle.count() == 500);
    BOOST_TEST(r.opts.upgrade_timeout.count() == 30000);
}

BOOST_AUTO_TEST_CASE(from_the_config_file) {
    config_file conf("upgrade-signal = USR2\nretire-signal = TERM\n");
    auto r = parse({"--config", conf.path.c_str(), "x.pid", "gunicorn"});
    BOOST_TEST_REQUIRE(runs(r));
    BOOST_TEST(r.opts.upgrade_signal == SIGUSR2);
    BOOST_TEST(r.opts.retire_signal == SIGTERM);
}

BOOST_AUTO_TEST_CASE(bad_values_name_the_flag) {
    auto sig = parse({"--upgrade-signal", "NOPE", "x.pid", "nginx"});
    BOOST_TEST_REQUIRE(fails(sig));
    BOOST_TEST(sig.error == "--upgrade-signal: 'NOPE' is not a signal (for example TERM)");
    auto zero = parse({"--upgrade-timeout", "0", "x.pid", "nginx"});
    BOOST_TEST_REQUIRE(fails(zero));
    BOOST_TEST(zero.error.rfind("--upgrade-timeout: ", 0) == 0);
    auto no_pidfile = parse({"--no-pidfile", "--upgrade-signal", "USR2", "nginx"});
    BOOST_TEST_REQUIRE(fails(no_pidfile));
    BOOST_TEST(no_pidfile.error.find("--upgrade-signal needs a PIDFILE") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
