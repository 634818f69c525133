#include "signals.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <csignal>

using pidshim::parse_signal;
using pidshim::signal_map;
using pidshim::signal_name;

BOOST_AUTO_TEST_SUITE(signal_names)

BOOST_AUTO_TEST_CASE(names_parse_with_or_without_sig_in_any_case_and_as_numbers) {
    for (const char* text : {"TERM", "SIGTERM", "term", "sigterm", "SigTerm", "15"}) {
        BOOST_TEST_CONTEXT(text) {
            BOOST_TEST(parse_signal(text).value_or(-1) == SIGTERM);
        }
    }
    BOOST_TEST(parse_signal("hup").value_or(-1) == SIGHUP);
    BOOST_TEST(parse_signal("WINCH").value_or(-1) == SIGWINCH);
    BOOST_TEST(parse_signal("40").value_or(-1) == 40);
}

BOOST_AUTO_TEST_CASE(unknown_names_and_out_of_range_numbers_are_rejected) {
    for (const char* text : {"", "SIG", "FOO", "SIGFOO", "0", "65", "-1", "15x", " 15", "TERM "}) {
        BOOST_TEST_CONTEXT("'" << text << "'") {
            BOOST_TEST(!parse_signal(text).has_value());
        }
    }
}

BOOST_AUTO_TEST_CASE(names_print_with_the_sig_prefix) {
    BOOST_TEST(signal_name(SIGHUP) == "SIGHUP");
    BOOST_TEST(signal_name(SIGKILL) == "SIGKILL");
}

BOOST_AUTO_TEST_CASE(every_catchable_signal_is_forwarded_but_pidshims_own) {
    const auto& forwarded = pidshim::forwarded_signals();
    auto has = [&](int s) {
        return std::find(forwarded.begin(), forwarded.end(), s) != forwarded.end();
    };
    // Fault signals sent by another process and signals 32 and 33 are forwarded too.
    for (int s : {SIGHUP,  SIGINT,  SIGQUIT, SIGALRM, SIGTERM, SIGUSR1,  SIGUSR2, SIGWINCH,
                  SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGSEGV, SIGBUS,   SIGFPE,  SIGILL,
                  SIGABRT, SIGTRAP, SIGSYS,  32,      33,      SIGRTMIN, SIGRTMAX}) {
        BOOST_TEST(has(s), signal_name(s));
    }
    for (int s : {SIGCHLD, SIGPIPE, SIGKILL, SIGSTOP}) {
        BOOST_TEST(!has(s), signal_name(s));
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(signal_maps)

BOOST_AUTO_TEST_CASE(an_empty_map_delivers_every_signal_as_itself) {
    signal_map map;
    for (int s = 1; s < NSIG; ++s) {
        BOOST_TEST(map[s] == s);
    }
}

BOOST_AUTO_TEST_CASE(pairs_rewrite_and_none_drops) {
    signal_map map;
    BOOST_TEST(map.add("TERM:QUIT") == "");
    BOOST_TEST(map.add("sigusr1:none,10:NONE") == "");
    BOOST_TEST(map.add("HUP:usr2,WINCH:28") == "");
    BOOST_TEST(map[SIGTERM] == SIGQUIT);
    BOOST_TEST(map[SIGUSR1] == signal_map::none);
    BOOST_TEST(map[SIGHUP] == SIGUSR2);
    BOOST_TEST(map[SIGINT] == SIGINT);
}

BOOST_AUTO_TEST_CASE(a_later_pair_for_the_same_signal_wins) {
    signal_map map;
    BOOST_TEST(map.add("TERM:QUIT") == "");
    BOOST_TEST(map.add("TERM:INT") == "");
    BOOST_TEST(map[SIGTERM] == SIGINT);
}

BOOST_AUTO_TEST_CASE(malformed_pairs_are_rejected_naming_the_bad_part) {
    struct bad {
        const char* spec;
        const char* mentions;
    };
    for (auto [spec, mentions] :
         {bad{"TERM", "'TERM' is not FROM:TO"}, bad{"FOO:TERM", "'FOO'"}, bad{"TERM:BAR", "'BAR'"},
          bad{"TERM:", "''"}, bad{"HUP:HUP,x", "'x'"}, bad{"none:TERM", "'none'"}}) {
        signal_map map;
        std::string problem = map.add(spec);
        BOOST_TEST_CONTEXT(spec) {
            BOOST_TEST(problem.find(mentions) != std::string::npos, problem);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
