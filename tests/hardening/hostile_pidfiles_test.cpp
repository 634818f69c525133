// Things at the pidfile's path that are not a pidfile: pidshim refuses them with one line
// naming the file, signals nothing, never blocks on them, and still gives up at --timeout. A
// symlink is followed, but only to a regular file.
//
// Each case runs inside its own PID namespace (see PidNamespace):
//
//   PID 1 testd --spawn (init.log)
//     sh
//       testd, unrelated to pidshim (unrelated.log)
//       pidshim -v PIDFILE testd --fork ... (launcher, then the daemon: app.log)
#include "hardening.hpp"

using namespace hardening;

PIDSHIM_TEST_MODULE("hostile pidfiles");

namespace {

// Long enough for the test to signal pidshim before it gives up, even on a loaded machine.
constexpr auto give_up_after = 3s;

const char refused_script[] = R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$PIDSHIM" -v --timeout "$TIMEOUT" "$PIDFILE" "$TESTD" --fork --no-pidfile --log "$D/app.log" &
wait $!
)";

// PIDFILE must be refused for a reason containing `reason`; then pidshim must hold a signal
// instead of hanging or sending it anywhere, and exit 124 at --timeout, stopping the daemon.
void check_refused(Sandbox& box, const std::string& pidfile, const std::string& reason,
                   const std::function<void()>& while_refused = {}) {
    auto app_log = box.path("app.log");
    auto unrelated_log = box.path("unrelated.log");
    auto started = Clock::now();
    PidNamespace ns(box, refused_script,
                    {"PIDFILE=" + pidfile, "TIMEOUT=" + std::to_string(give_up_after.count())});
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");

    std::string prefix = "pidshim: " + pidfile + ": ignoring pidfile: ";
    std::string refusal = wait_for_line(
        ns.proc.err_path,
        [&](const std::string& l) { return l.rfind(prefix, 0) == 0 && contains(l, reason); },
        "pidshim to refuse " + pidfile + " because " + reason);
    BOOST_TEST_MESSAGE(refusal);

    // With the launcher gone, a signal has nowhere to go but to be held; a pidshim stuck in
    // open() or read() would not even say so.
    pid_t launcher = wait_started(app_log, "launcher");
    wait_for_line(ns.proc.err_path, "(pid " + std::to_string(launcher) + ") exited with status 0");
    pid_t shim = ns.pidshim();
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_line(ns.proc.err_path, "holding SIGHUP until " + pidfile);
    wait_signal_handled(shim, SIGHUP);
    if (while_refused) {
        while_refused();
    }
    check_only_markers({{unrelated_log, unrelated, ns.host(unrelated)},
                        {ns.init_log, 1, ns.host(1)},
                        {app_log, daemon, ns.host(daemon)}});

    BOOST_CHECK_EQUAL(ns.proc.wait_exit(give_up_after + prompt), 124);
    auto took = ns.proc.exited_at() - started;
    BOOST_CHECK_MESSAGE(took < give_up_after + prompt,
                        "pidshim gave up only after " << seconds(took) << " s");
    // The daemon was stopped by pidshim, not by the end of the namespace.
    wait_for_line(app_log, "exit pid=" + std::to_string(daemon) + " role=daemon sig=TERM");
    auto err = ns.proc.err();
    BOOST_CHECK_MESSAGE(count_lines(err, prefix) == 1, "not exactly one refusal:\n" << err);
    BOOST_CHECK_MESSAGE(count_lines(err, "forwarded") == 0, "something was signalled:\n" << err);
    check_stderr_format(err);
}

} // namespace

BOOST_FIXTURE_TEST_CASE(symlink_to_a_regular_file_is_followed, Sandbox) {
    auto pidfile = path("app.pid");
    auto real = path("run/daemon.pid");
    auto app_log = path("app.log");
    auto unrelated_log = path("unrelated.log");
    std::filesystem::create_directory(path("run"));
    BOOST_REQUIRE(symlink(real.c_str(), pidfile.c_str()) == 0);
    PidNamespace ns(*this, R"(
"$TESTD" --no-pidfile --log "$D/unrelated.log" &
"$PIDSHIM" -v "$D/app.pid" "$TESTD" --fork --pidfile "$D/run/daemon.pid" --log "$D/app.log" &
wait $!
)");
    pid_t unrelated = wait_started(unrelated_log, "daemon");
    pid_t daemon = wait_started(app_log, "daemon");
    wait_for_line(app_log, "pidfile pid=" + std::to_string(daemon) + " ");

    // The daemon writing the symlink's target is news pidshim must notice by itself, as it
    // notices a plain pidfile being written; otherwise --timeout stops a healthy daemon.
    bool followed = wait_for_text(ns.proc.err_path, [&](const std::string& text) {
                        for (auto& l : split_lines(text)) {
                            if (has_pid_phrase(l, pidfile + ": following pid ", daemon)) {
                                return true;
                            }
                        }
                        return false;
                    }).has_value();
    BOOST_CHECK_MESSAGE(followed, "pidshim did not notice the daemon writing "
                                      << real << " behind the symlink " << pidfile
                                      << dump(ns.proc.err_path));

    pid_t shim = ns.pidshim();
    BOOST_REQUIRE(kill(shim, SIGHUP) == 0);
    wait_for_signal(app_log, daemon, SIGHUP);
    check_only_markers(
        {{unrelated_log, unrelated, ns.host(unrelated)}, {ns.init_log, 1, ns.host(1)}});
    BOOST_REQUIRE(kill(shim, SIGTERM) == 0);
    BOOST_CHECK_EQUAL(ns.proc.wait_exit(), 128 + SIGTERM);
    BOOST_CHECK_EQUAL(count_signal(app_log, daemon, SIGHUP), 1u);
    BOOST_CHECK_EQUAL(count_lines(ns.proc.err(), "ignoring pidfile"), 0u);
    check_stderr_format(ns.proc.err());
}

BOOST_FIXTURE_TEST_CASE(symlink_to_dev_zero_is_refused, Sandbox) {
    auto pidfile = path("app.pid");
    BOOST_REQUIRE(symlink("/dev/zero", pidfile.c_str()) == 0);
    check_refused(*this, pidfile, "not a regular file");
}

BOOST_FIXTURE_TEST_CASE(fifo_is_refused_without_blocking, Sandbox) {
    auto pidfile = path("app.pid");
    BOOST_REQUIRE(mkfifo(pidfile.c_str(), 0644) == 0);
    check_refused(*this, pidfile, "FIFO", [&] {
        // Opening a FIFO for writing without blocking fails while nobody holds it for
        // reading: pidshim did not open it, not even with O_NONBLOCK.
        int fd = open(pidfile.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        BOOST_CHECK_MESSAGE(fd < 0 && err == ENXIO, "someone holds the FIFO open for reading");
    });
}

BOOST_FIXTURE_TEST_CASE(directory_is_refused, Sandbox) {
    auto pidfile = path("app.pid");
    std::filesystem::create_directory(pidfile);
    check_refused(*this, pidfile, "directory");
}

BOOST_FIXTURE_TEST_CASE(dev_zero_is_refused, Sandbox) {
    check_refused(*this, "/dev/zero", "not a regular file");
}

BOOST_FIXTURE_TEST_CASE(sparse_gigabyte_of_zeros_is_refused, Sandbox) {
    auto pidfile = path("app.pid");
    write_in_place(pidfile, "");
    BOOST_REQUIRE(truncate(pidfile.c_str(), 1LL << 30) == 0);
    check_refused(*this, pidfile, "longer than 64 bytes");
}

BOOST_FIXTURE_TEST_CASE(sparse_gigabyte_of_digits_is_refused, Sandbox) {
    auto pidfile = path("app.pid");
    // Digits as far as anyone would read, then a hole: no newline in the first gigabyte.
    write_in_place(pidfile, std::string(65536, '7'));
    BOOST_REQUIRE(truncate(pidfile.c_str(), 1LL << 30) == 0);
    check_refused(*this, pidfile, "longer than 64 bytes");
}
