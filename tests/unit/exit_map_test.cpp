#include "exit_map.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using pidshim::exit_map;

BOOST_AUTO_TEST_SUITE(exit_maps)

BOOST_AUTO_TEST_CASE(unmapped_statuses_stay) {
    exit_map map;
    for (int status = 0; status < 256; ++status) {
        BOOST_TEST(map[status] == status);
    }
}

BOOST_AUTO_TEST_CASE(pairs_map_and_the_last_wins) {
    exit_map map;
    BOOST_TEST(map.add("143:0,3:4") == "");
    BOOST_TEST(map.add("3:5") == "");
    BOOST_TEST(map[143] == 0);
    BOOST_TEST(map[3] == 5);
    BOOST_TEST(map[4] == 4);
    BOOST_TEST(map.add("255:0") == "");
    BOOST_TEST(map[255] == 0);
}

BOOST_AUTO_TEST_CASE(bad_pairs_are_named) {
    exit_map map;
    BOOST_TEST(map.add("143") == "'143' is not FROM:TO (two exit statuses, 0 to 255)");
    BOOST_TEST(map.add("1:256") != "");
    BOOST_TEST(map.add("-1:0") != "");
    BOOST_TEST(map.add("a:b") != "");
    BOOST_TEST(map.add("1:0,") != "");
    BOOST_TEST(map.add("") != "");
}

BOOST_AUTO_TEST_SUITE_END()
