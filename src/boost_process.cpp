// Boost.Process v2's compiled part, built once here (BOOST_PROCESS_V2_SEPARATE_COMPILATION):
// in 1.81 its header-only mode does not link once its environment API is used.
#include <boost/process/v2/src.hpp>
