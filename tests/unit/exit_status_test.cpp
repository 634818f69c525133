#include "exit_status.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <sys/wait.h>

namespace exit_code = pidshim::exit_code;

BOOST_AUTO_TEST_SUITE(exit_status_mapping)

BOOST_AUTO_TEST_CASE(an_exit_code_passes_through) {
    for (int code : {0, 1, 3, 124, 255}) {
        BOOST_TEST(exit_code::from_wait_status(W_EXITCODE(code, 0)) == code);
    }
}

BOOST_AUTO_TEST_CASE(death_by_signal_n_is_128_plus_n) {
    BOOST_TEST(exit_code::from_wait_status(W_EXITCODE(0, SIGKILL)) == 137);
    BOOST_TEST(exit_code::from_wait_status(W_EXITCODE(0, SIGTERM)) == 143);
    BOOST_TEST(exit_code::from_wait_status(W_EXITCODE(0, SIGSEGV) | WCOREFLAG) == 139);
}

BOOST_AUTO_TEST_CASE(descriptions_say_what_happened) {
    BOOST_TEST(exit_code::describe(W_EXITCODE(3, 0)) == "exited with status 3");
    BOOST_TEST(exit_code::describe(W_EXITCODE(0, SIGKILL)) == "was killed by SIGKILL");
    BOOST_TEST(exit_code::describe(W_EXITCODE(0, SIGSEGV) | WCOREFLAG) ==
               "was killed by SIGSEGV (core dumped)");
}

BOOST_AUTO_TEST_CASE(the_documented_codes_are_the_shells) {
    BOOST_TEST(exit_code::usage == 2);
    BOOST_TEST(exit_code::timeout == 124);
    BOOST_TEST(exit_code::internal == 125);
    BOOST_TEST(exit_code::not_executable == 126);
    BOOST_TEST(exit_code::not_found == 127);
}

BOOST_AUTO_TEST_SUITE_END()
