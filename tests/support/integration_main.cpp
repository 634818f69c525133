// Entry point of every integration test executable; each test file names its module with
// PIDSHIM_TEST_MODULE.
#define BOOST_TEST_MODULE pidshim integration tests
#include <boost/test/unit_test.hpp>
