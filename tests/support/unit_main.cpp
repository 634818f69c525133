// Entry point of the unit test executable, for when no file in tests/unit/ defines one.
#define BOOST_TEST_MODULE pidshim unit tests
#include <boost/test/unit_test.hpp>
