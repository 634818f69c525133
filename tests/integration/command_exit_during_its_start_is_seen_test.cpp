// A COMMAND that exits while pidshim is still starting it (within a millisecond) is seen to
// exit: its SIGCHLD can arrive while the launcher resets SIGCHLD's disposition, which makes
// the kernel discard it, so pidshim looks for exited children once COMMAND has started.
#include "harness.hpp"

PIDSHIM_TEST_MODULE("command exit during its start");

using namespace harness;

BOOST_FIXTURE_TEST_CASE(instant_exit_gives_commands_status_every_time, Sandbox) {
    // A miss costs --timeout (then 124): 2 s keeps a miss visible and the test short.
    int missed = 0;
    for (int round = 0; round < 300; ++round) {
        Process shim({pidshim_bin, "--timeout", "2", path("none.pid"), "sh", "-c", "exit 3"}, dir);
        int status = shim.wait_exit(10s);
        if (status != 3) {
            ++missed;
            BOOST_TEST_MESSAGE("round " << round << ": exit " << status << dump(shim.err_path));
        }
        if (missed >= 2) {
            break;
        }
    }
    BOOST_CHECK_EQUAL(missed, 0);
}
