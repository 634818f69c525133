// gunicorn's binary upgrade names the new master only after the old one has gone: after USR2
// the new master writes PIDFILE.2, and renames it to PIDFILE once it sees its parent, the old
// master, exit (its main loop looks once a second). pidshim must give PIDFILE that moment
// instead of stopping the new master and its workers as leftovers of the old one.
#include "hosts.hpp"

PIDSHIM_TEST_MODULE("gunicorn successor");

using namespace hosts;

namespace {

// Not in hosts.hpp's table: only this test uses it.
constexpr int gunicorn_port = 23811;

const char* const app = R"(def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from gunicorn\n"]
)";

} // namespace

BOOST_FIXTURE_TEST_CASE(new_master_named_after_the_old_one_left_is_followed, Sandbox) {
    if (access("/usr/bin/gunicorn", X_OK) != 0) {
        BOOST_TEST_MESSAGE("skipped: /usr/bin/gunicorn is not installed (Debian's gunicorn)");
        return;
    }
    write_file(path("app.py"), app);
    auto pidfile = path("gunicorn.pid");
    Process shim({pidshim_bin, "-v", pidfile, "/usr/bin/gunicorn", "--chdir", dir, "-b",
                  "127.0.0.1:" + std::to_string(gunicorn_port), "-w", "2", "-p", pidfile,
                  "app:app"},
                 dir);
    pid_t old_master = wait_pidfile(pidfile);
    wait_for_line(shim.err_path, "following pid " + std::to_string(old_master));
    require_eventually([&] { return contains(http_get(gunicorn_port), "hello from gunicorn"); },
                       "gunicorn to answer");

    // The upgrade: USR2 through pidshim, then the old master retired by hand, as gunicorn's
    // documentation has it.
    BOOST_REQUIRE(kill(shim.pid(), SIGUSR2) == 0);
    require_eventually([&] { return access((pidfile + ".2").c_str(), F_OK) == 0; },
                       "the new master to write " + pidfile + ".2", 20s);
    pid_t new_master = wait_pidfile(pidfile + ".2");
    BOOST_REQUIRE(new_master != old_master);
    require_eventually([&] { return children_of(new_master).size() == 2; },
                       "the new master's two workers", 20s);
    BOOST_REQUIRE(kill(old_master, SIGTERM) == 0);

    wait_for_line(shim.err_path, "following pid " + std::to_string(new_master), 10s);
    BOOST_CHECK(alive(new_master));
    BOOST_CHECK(!contains(slurp(shim.err_path), "leftover"));
    BOOST_CHECK(contains(http_get(gunicorn_port), "hello from gunicorn"));

    // pidshim follows the new master: its stop reaches it, and its status is pidshim's.
    BOOST_REQUIRE(kill(shim.pid(), SIGTERM) == 0);
    BOOST_CHECK_EQUAL(shim.try_wait(20s).value_or(-1), 0);
    BOOST_CHECK(wait_dead(new_master));
    BOOST_CHECK(http_get(gunicorn_port).empty());
}
