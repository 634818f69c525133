// A soak scenario: how testd is run under pidshim, and what the soak does to it over time.
// Everything here follows from the scenario's seed alone, so that a seed names a scenario.
#pragma once

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdint>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace soak {

// std::mt19937_64 is specified exactly; the standard's distributions are not, so the few
// needed here are written out.
class Rng {
  public:
    explicit Rng(uint64_t seed) : gen_(mix(seed)) {}
    int between(int lo, int hi) {
        return lo + static_cast<int>(gen_() % static_cast<uint64_t>(hi - lo + 1));
    }
    bool chance(int percent) { return between(1, 100) <= percent; }
    template <class T> T pick(const std::vector<T>& v) {
        return v[static_cast<size_t>(between(0, static_cast<int>(v.size()) - 1))];
    }

  private:
    // Neighbouring seeds must give unrelated scenarios (splitmix64).
    static uint64_t mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
    }
    std::mt19937_64 gen_;
};

enum class Mode { plain, fork, wrapper };
enum class Write { rename, inplace, held };
enum class Link { none, existing_dir, later_dir };
// normal: the daemon writes its pidfile and lives until the soak ends it; crash_timer: it
// exits by itself (--exit-after) at a random moment, perhaps before its pidfile; hostile: its
// pidfile names a bystander; silent: it never writes one.
enum class Kind { normal, crash_timer, hostile, silent };
enum class Ending { stop, crash, kill_daemon, timer, timeout };

enum class StepKind {
    sleep,          // ms
    burst,          // sigs sent to pidshim, in order
    wait_following, // until pidshim follows the daemon that wrote the pidfile last
    wait_arrivals,  // until every counted signal sent so far has reached the daemon
    upgrade,        // send the re-exec signal to pidshim, wait for the new master
    stop,           // sig sent to pidshim
    crash,          // the daemon is told (directly) to exit with a code
    kill_daemon,    // sig sent directly to the daemon, as by someone else
    mkdir_later,    // create the directory the pidfile symlink points into
};

struct Step {
    StepKind kind = StepKind::sleep;
    int ms = 0;
    std::vector<int> sigs;
    // Counted signals must arrive (standard: at least once after they were sent; real-time:
    // exactly as often as sent). A burst is counted only when nothing legitimate can lose it.
    bool counted = false;
    int sig = 0;
};

inline Step step(StepKind kind) {
    Step s;
    s.kind = kind;
    return s;
}

struct Scenario {
    uint64_t seed = 0;
    Mode mode = Mode::plain;
    Write write = Write::rename;
    Link link = Link::none;
    Kind kind = Kind::normal;
    Ending ending = Ending::stop;
    int pidfile_delay = 0;
    bool multiline = false;
    int workers = 0;
    bool workers_outlive = false;
    bool worker_ignore_term = false;
    int orphans = 0;
    bool group = false;
    int kill_after = 0;     // ms, 0 = never
    int retry = 0;          // 0 = pidshim's default
    int retry_interval = 0; // ms
    bool stale = false;     // a pidfile naming a bystander exists before pidshim starts
    int timeout = 30000;    // ms; shorter where the scenario may rightly run into it
    int stop_delay = 0;
    std::optional<int> stop_exit_code;
    bool ignore_stop = false;
    int exit_after = -1;
    int exit_code = 0;
    bool exit_on = false; // the daemon exits with exit_code on SIGPWR (the crash step)
    int reexec_sig = 0;
    std::vector<Step> steps;

    // The held-signal budget is long enough for anything a scenario does.
    bool long_retry_budget() const { return retry == 0; }
};

inline const std::vector<int>& standard_palette() {
    // testd reads all of these from its signalfd, and pidshim forwards them. SIGCONT is left
    // out: sending it discards pending TSTP/TTIN/TTOU (and they discard it), by design.
    static const std::vector<int> p = {SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH,
                                       SIGURG, SIGIO,   SIGTSTP, SIGTTIN, SIGTTOU};
    return p;
}

inline const std::vector<int>& fault_palette() {
    static const std::vector<int> p = {SIGABRT, SIGSEGV, SIGBUS, SIGSYS, SIGILL, SIGFPE, SIGTRAP};
    return p;
}

// Signals from 32 on queue: each one sent is delivered once.
inline bool is_realtime(int sig) {
    return sig >= 32;
}

// As testd logs them: 32 and 33 by number, glibc's real-time signals as RTMIN+N.
inline std::string sig_name(int sig) {
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        return "RTMIN+" + std::to_string(sig - SIGRTMIN);
    }
    const char* n = sigabbrev_np(sig);
    return n ? n : std::to_string(sig);
}

inline int sig_number(const std::string& name) {
    if (name.rfind("RTMIN+", 0) == 0) {
        return SIGRTMIN + std::stoi(name.substr(6));
    }
    if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) {
        return std::stoi(name);
    }
    for (int s = 1; s < NSIG; ++s) {
        const char* n = sigabbrev_np(s);
        if (n && name == n) {
            return s;
        }
    }
    return 0;
}

inline Scenario make_scenario(uint64_t seed) {
    Rng r(seed);
    Scenario s;
    s.seed = seed;
    int m = r.between(1, 100);
    s.mode = m <= 35 ? Mode::plain : m <= 80 ? Mode::fork : Mode::wrapper;
    int w = r.between(1, 100);
    s.write = w <= 40 ? Write::rename : w <= 70 ? Write::inplace : Write::held;
    int l = r.between(1, 100);
    s.link = l <= 60 ? Link::none : l <= 85 ? Link::existing_dir : Link::later_dir;
    if (s.link == Link::later_dir && s.write == Write::held) {
        s.link = Link::existing_dir; // a held pidfile is opened at start: its directory exists
    }
    int k = r.between(1, 100);
    s.kind = k <= 76   ? Kind::normal
             : k <= 88 ? Kind::crash_timer
             : k <= 95 ? Kind::hostile
                       : Kind::silent;
    if (s.kind == Kind::silent) {
        s.write = Write::rename; // nothing to hold a descriptor to
    }
    s.pidfile_delay = r.chance(30) ? 0 : r.between(5, 300);
    if (s.link == Link::later_dir) {
        s.pidfile_delay = r.between(150, 300);
    }
    s.multiline = r.chance(15);
    s.workers = r.chance(30) ? r.between(1, 3) : 0;
    s.workers_outlive = s.workers > 0 && r.chance(40);
    s.orphans = r.chance(20) ? r.between(1, 3) : 0;
    s.group = r.chance(30);
    // At least 300 ms: a leftover worker on a loaded machine must get to log the SIGTERM it
    // was sent before the SIGKILL that follows it.
    s.kill_after = r.chance(35) ? r.between(300, 600) : 0;
    s.worker_ignore_term = s.workers_outlive && s.kill_after > 0 && r.chance(50);
    if (r.chance(25)) {
        s.retry = r.between(1, 4);
        s.retry_interval = r.between(10, 60);
    }
    s.stale = s.link != Link::later_dir && r.chance(20);
    s.stop_delay = r.chance(50) ? 0 : r.between(1, 150);
    if (r.chance(25)) {
        s.stop_exit_code = r.between(0, 120);
    }
    bool quiet_kind = s.kind == Kind::hostile || s.kind == Kind::silent;
    if (s.kill_after > 0 && !quiet_kind) {
        // The daemon outlasts the stop by far: only --kill-after can end it in time.
        if (r.chance(25)) {
            s.ignore_stop = true;
        } else if (r.chance(30)) {
            s.stop_delay = 20000;
        }
    }
    if (quiet_kind) {
        s.timeout = r.between(200, 600);
    }
    if (s.kind == Kind::crash_timer) {
        s.exit_after = r.between(0, s.pidfile_delay + 300);
        s.exit_code = r.chance(30) ? 0 : r.between(1, 120);
        if (s.workers_outlive) {
            // Workers that outlive a daemon gone before its pidfile keep pidshim waiting for
            // one, rightly, until --timeout.
            s.timeout = std::max(s.exit_after, s.pidfile_delay) + r.between(800, 1500);
        }
    }
    if (s.kind == Kind::normal && r.chance(35)) {
        s.reexec_sig = r.pick(standard_palette());
    }

    std::vector<int> palette;
    for (int sig : standard_palette()) {
        if (sig != s.reexec_sig) {
            palette.push_back(sig);
        }
    }
    auto burst = [&](bool counted) {
        Step b = step(StepKind::burst);
        b.counted = counted;
        int n = r.between(1, 4);
        for (int i = 0; i < n; ++i) {
            if (r.chance(5)) {
                // A fault signal sent with kill(), as a person or a runtime may.
                b.sigs.push_back(r.pick(fault_palette()));
            } else if (r.chance(50)) {
                b.sigs.push_back(r.pick(palette));
            } else {
                // 32 and 33 queue like the real-time signals glibc names.
                int rt =
                    r.chance(15) ? r.pick(std::vector<int>{32, 33}) : SIGRTMIN + r.between(1, 4);
                for (int j = r.between(1, 3); j > 0; --j) {
                    b.sigs.push_back(rt);
                }
            }
        }
        return b;
    };
    auto sleep = [&](int lo, int hi) {
        Step st = step(StepKind::sleep);
        st.ms = r.between(lo, hi);
        return st;
    };
    const std::vector<int> stops = {SIGTERM, SIGINT, SIGQUIT};
    auto stop = [&] {
        Step st = step(StepKind::stop);
        st.sig = r.pick(stops);
        return st;
    };

    if (s.link == Link::later_dir) {
        s.steps.push_back(sleep(0, 30));
        s.steps.push_back(step(StepKind::mkdir_later));
    }
    bool early_stop = s.kind == Kind::normal ? r.chance(20) : r.chance(35);
    bool counted_early = s.kind == Kind::normal && !early_stop;
    for (int n = r.between(0, 3); n > 0; --n) {
        s.steps.push_back(sleep(0, std::max(5, s.pidfile_delay / 2)));
        s.steps.push_back(burst(counted_early));
    }
    if (early_stop) {
        if (s.workers_outlive && s.kind == Kind::normal) {
            // Should the stop end COMMAND before any pidfile, workers left running keep
            // pidshim waiting, rightly, for a daemon that may still be starting: until
            // --timeout.
            s.timeout = s.pidfile_delay + r.between(1000, 1500);
        }
        s.steps.push_back(sleep(0, s.pidfile_delay + 50));
        s.steps.push_back(stop());
        if (r.chance(25)) {
            s.steps.push_back(sleep(0, 20));
            s.steps.push_back(stop());
        }
        if (r.chance(30)) {
            s.steps.push_back(burst(false));
        }
        s.ending = Ending::stop;
        return s;
    }
    if (s.kind == Kind::crash_timer) {
        s.ending = Ending::timer;
        return s;
    }
    if (quiet_kind) {
        s.ending = Ending::timeout;
        return s;
    }

    s.steps.push_back(step(StepKind::wait_following));
    int upgrades = 0;
    for (int n = r.between(0, 4); n > 0; --n) {
        s.steps.push_back(sleep(0, 40));
        if (s.reexec_sig != 0 && upgrades < 2 && r.chance(40)) {
            // Signals read together with the re-exec signal die with the old master: the
            // counted ones must be in before it.
            s.steps.push_back(step(StepKind::wait_arrivals));
            Step u = step(StepKind::upgrade);
            u.sig = s.reexec_sig;
            s.steps.push_back(u);
            ++upgrades;
        } else {
            s.steps.push_back(burst(true));
        }
    }
    // Likewise, what the daemon has not read when it ends is lost with it.
    s.steps.push_back(step(StepKind::wait_arrivals));
    s.steps.push_back(sleep(0, 30));
    int e = r.between(1, 100);
    if (e <= 55 || (s.ignore_stop && e <= 80)) {
        s.ending = Ending::stop;
        s.steps.push_back(stop());
        if (r.chance(25)) {
            s.steps.push_back(sleep(0, 20));
            s.steps.push_back(stop());
        }
        if (r.chance(30)) {
            s.steps.push_back(burst(false));
        }
    } else if (e <= 72 && upgrades == 0) {
        // A new master forgets --exit-on: the crash step is only for the first daemon.
        s.ending = Ending::crash;
        s.exit_on = true;
        s.exit_code = r.between(0, 120);
        s.steps.push_back(step(StepKind::crash));
    } else {
        s.ending = Ending::kill_daemon;
        Step kd = step(StepKind::kill_daemon);
        // A TERM from someone else must end the daemon by itself, soon.
        bool term_ends_it = !s.ignore_stop && s.stop_delay < 1000;
        kd.sig = term_ends_it && r.chance(50) ? SIGTERM : SIGKILL;
        s.steps.push_back(kd);
    }
    return s;
}

inline std::string describe(const Scenario& s) {
    std::ostringstream o;
    const char* modes[] = {"plain", "fork", "wrapper"};
    const char* writes[] = {"rename", "in-place", "held-descriptor"};
    const char* links[] = {"", " via symlink", " via symlink into a later directory"};
    const char* kinds[] = {"normal", "crash-timer", "hostile-pidfile", "no-pidfile"};
    const char* endings[] = {"stop", "crash", "kill-daemon", "timer", "timeout"};
    o << "seed " << s.seed << ": " << kinds[static_cast<int>(s.kind)] << ", "
      << modes[static_cast<int>(s.mode)] << ", pidfile by " << writes[static_cast<int>(s.write)]
      << links[static_cast<int>(s.link)] << " after " << s.pidfile_delay << " ms, ends by "
      << endings[static_cast<int>(s.ending)];
    return o.str();
}

} // namespace soak
