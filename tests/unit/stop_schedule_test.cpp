#include "stop_schedule.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <string>

using namespace std::chrono_literals;
using pidshim::parse_stop_schedule;
using pidshim::stop_schedule;

BOOST_AUTO_TEST_SUITE(stop_schedules)

BOOST_AUTO_TEST_CASE(signals_and_waits_alternate) {
    stop_schedule s;
    BOOST_TEST(parse_stop_schedule("QUIT/20/TERM/10/KILL/5", s) == "");
    BOOST_TEST_REQUIRE(s.steps.size() == 3U);
    BOOST_TEST(s.steps[0].signo == SIGQUIT);
    BOOST_TEST(s.steps[0].wait.value().count() == 20000);
    BOOST_TEST(s.steps[1].signo == SIGTERM);
    BOOST_TEST(s.steps[2].signo == SIGKILL);
    BOOST_TEST(s.steps[2].wait.value().count() == 5000);
    BOOST_TEST(s.first_signal() == SIGQUIT);
    BOOST_TEST(s.text == "QUIT/20/TERM/10/KILL/5");
}

BOOST_AUTO_TEST_CASE(a_leading_time_means_the_signal_received) {
    stop_schedule s;
    BOOST_TEST(parse_stop_schedule("30/KILL/0.5", s) == "");
    BOOST_TEST_REQUIRE(s.steps.size() == 2U);
    BOOST_TEST(s.steps[0].signo == 0);
    BOOST_TEST(s.first_signal() == 0);
    BOOST_TEST(s.steps[1].wait.value().count() == 500);
}

BOOST_AUTO_TEST_CASE(a_lone_time_is_start_stop_daemons_shorthand) {
    stop_schedule s;
    BOOST_TEST(parse_stop_schedule("7", s) == "");
    BOOST_TEST_REQUIRE(s.steps.size() == 2U);
    BOOST_TEST(s.steps[0].signo == 0);
    BOOST_TEST(s.steps[1].signo == SIGKILL);
    BOOST_TEST(s.steps[1].wait.value().count() == 7000);
}

BOOST_AUTO_TEST_CASE(numbered_signals_take_a_dash_and_forever_ends) {
    stop_schedule s;
    BOOST_TEST(parse_stop_schedule("-15/2/SIGKILL/forever", s) == "");
    BOOST_TEST_REQUIRE(s.steps.size() == 2U);
    BOOST_TEST(s.steps[0].signo == SIGTERM);
    BOOST_TEST(!s.steps[1].wait.has_value());
}

BOOST_AUTO_TEST_CASE(bad_schedules_say_which_part) {
    stop_schedule s;
    BOOST_TEST(parse_stop_schedule("TERM/x", s).find("'x'") != std::string::npos);
    BOOST_TEST(parse_stop_schedule("TERM", s).find("ends with a signal") != std::string::npos);
    BOOST_TEST(parse_stop_schedule("BOGUS/5", s).find("'BOGUS' is not a signal") !=
               std::string::npos);
    BOOST_TEST(parse_stop_schedule("TERM/forever/KILL/5", s).find("forever") != std::string::npos);
    BOOST_TEST(parse_stop_schedule("TERM/-1", s).find("sign") != std::string::npos);
    BOOST_TEST(parse_stop_schedule("", s) != "");
    BOOST_TEST(parse_stop_schedule("TERM//KILL/5", s) != "");
}

BOOST_AUTO_TEST_CASE(kill_after_is_a_schedule) {
    auto s = pidshim::kill_after_schedule(1500ms);
    BOOST_TEST(s.from_kill_after);
    BOOST_TEST_REQUIRE(s.steps.size() == 2U);
    BOOST_TEST(s.steps[0].signo == 0);
    BOOST_TEST(s.steps[0].wait.value().count() == 1500);
    BOOST_TEST(s.steps[1].signo == SIGKILL);
    BOOST_TEST(!s.steps[1].wait.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
