// pidshim_bench: how close pidshim comes to the kernel's own floor, side by side with the
// wrappers users would otherwise pick, in one run. See README.md for how to read the table.
//
// The run: start one long-lived instance per row and measure idle wake-ups and forward
// latency on them, interleaving the rows so that drift on the machine hits every row alike;
// then start cost, death notice and the signal storm, each on fresh instances, also
// interleaved; then one table.

#include "instance.hpp"
#include "stats.hpp"
#include "system.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#ifndef PIDSHIM_BENCH_PIDSHIM
#define PIDSHIM_BENCH_PIDSHIM "pidshim"
#endif
#ifndef PIDSHIM_BENCH_PROBE
#define PIDSHIM_BENCH_PROBE "pidshim_probe"
#endif

namespace pidshim_bench {
namespace {

constexpr std::uint64_t us = 1000ULL;
constexpr std::uint64_t ms = 1000000ULL;
constexpr std::uint64_t forward_timeout = 5000 * ms;

volatile std::sig_atomic_t interrupted = 0;

struct settings {
    bool quick = false;
    std::string pidshim = PIDSHIM_BENCH_PIDSHIM;
    std::string probe = PIDSHIM_BENCH_PROBE;
    unsigned forward = 2000;
    unsigned start = 200;
    unsigned death = 200;
    unsigned death_polling = 10; // pidproxy notices a death only every 5 s
    unsigned storms = 5;
    unsigned storm_signals = 10000;
    unsigned idle_seconds = 10;
    std::uint64_t gap_ns = 500 * us;
    std::vector<std::string> only; // wrapper programs to run; empty: all
    std::vector<std::pair<std::string, std::string>> variants; // other pidshim builds: name, path
};

const char usage_text[] =
    "usage: pidshim_bench [--quick] [OPTIONS]\n"
    "  --quick             few iterations (CI): about 20 s\n"
    "  --pidshim PATH      the pidshim binary (default: the one built with the benchmark)\n"
    "  --probe PATH        the probe daemon (default: the one built with the benchmark)\n"
    "  --forward N         forwarded signals per row (2000)\n"
    "  --start N           starts per row (200)\n"
    "  --death N           daemon deaths per row (200)\n"
    "  --death-polling N   daemon deaths for wrappers that poll, i.e. pidproxy (10)\n"
    "  --storms N          storms per row (5), each of --storm-signals signals (10000)\n"
    "  --idle SECONDS      idle window for wake-ups (10)\n"
    "  --gap-us N          pause after the wrapper is asleep, before each signal (500)\n"
    "  --only LIST         run only these wrappers (comma-separated: pidshim, tini,\n"
    "                      dumb-init, pidproxy); the floor always runs\n"
    "  --variant NAME=PATH another pidshim build to compare in the same run (repeatable)\n";

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "pidshim_bench: %s\n%s", message.c_str(), usage_text);
    std::exit(2);
}

settings parse_settings(int argc, char* argv[]) {
    settings s;
    std::vector<std::string> args(argv + 1, argv + argc);
    // --quick first, so that explicit counts given with it still win.
    for (const auto& a : args) {
        if (a == "--quick") {
            s.quick = true;
            s.forward = 100;
            s.start = 10;
            s.death = 10;
            s.death_polling = 1;
            s.storms = 1;
            s.idle_seconds = 2;
        }
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                usage_error(a + " needs a value");
            }
            return args[++i];
        };
        auto number = [&]() -> unsigned {
            std::string v = value();
            char* end = nullptr;
            unsigned long n = std::strtoul(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n > 10000000) {
                usage_error(a + ": '" + v + "' is not a count");
            }
            return static_cast<unsigned>(n);
        };
        if (a == "--quick") {
            continue;
        } else if (a == "--pidshim") {
            s.pidshim = value();
        } else if (a == "--probe") {
            s.probe = value();
        } else if (a == "--forward") {
            s.forward = number();
        } else if (a == "--start") {
            s.start = number();
        } else if (a == "--death") {
            s.death = number();
        } else if (a == "--death-polling") {
            s.death_polling = number();
        } else if (a == "--storms") {
            s.storms = number();
        } else if (a == "--storm-signals") {
            s.storm_signals = number();
        } else if (a == "--idle") {
            s.idle_seconds = number();
        } else if (a == "--gap-us") {
            s.gap_ns = number() * us;
        } else if (a == "--variant") {
            std::string v = value();
            auto equals = v.find('=');
            if (equals == std::string::npos || equals == 0) {
                usage_error("--variant needs NAME=PATH");
            }
            s.variants.emplace_back(v.substr(0, equals), v.substr(equals + 1));
        } else if (a == "--only") {
            std::string list = value() + ",";
            for (std::size_t start = 0, comma; (comma = list.find(',', start)) != std::string::npos;
                 start = comma + 1) {
                if (comma > start) {
                    s.only.push_back(list.substr(start, comma - start));
                }
            }
        } else if (a == "-h" || a == "--help") {
            std::fputs(usage_text, stdout);
            std::exit(0);
        } else {
            usage_error("unknown argument '" + a + "'");
        }
    }
    return s;
}

// ---------------------------------------------------------------------------------------
// The rows

struct measured {
    row spec;
    std::string version;
    std::optional<binary_size> size;
    bool polls = false; // notices a death only by polling: fewer death iterations

    std::vector<double> forward_us;
    std::vector<double> forward_cpu_us;
    std::vector<double> death_us;
    std::vector<double> death_cpu_us;
    std::vector<double> start_us;
    std::vector<double> rss_anon_kb;
    std::vector<double> rss_file_kb;
    std::vector<double> vm_rss_kb;
    std::vector<double> binary_kb;
    std::vector<double> wakeups;
    std::vector<double> storm_lost;
    std::vector<double> storm_received;
    std::vector<double> storm_term_ms;
    std::vector<double> storm_rss_anon_kb;
    unsigned storms_stopped = 0;
    unsigned storms_run = 0;
    unsigned failures = 0;
    std::string last_failure;

    bool runs() const { return spec.absent.empty(); }
    void failed(const std::string& what) {
        ++failures;
        last_failure = what;
    }
};

// What a row runs, besides its label and mode.
enum class kind { floor, pidshim, peer, polling_peer };

std::vector<measured> make_rows(const settings& s) {
    std::vector<measured> rows;
    // `program` is the name --only selects by.
    auto add = [&](std::string label, daemon_mode mode, kind k, const std::string& program,
                   std::vector<std::string> argv) {
        if (k != kind::floor && !s.only.empty() &&
            std::find(s.only.begin(), s.only.end(), program) == s.only.end()) {
            return;
        }
        measured m;
        m.spec.label = std::move(label);
        m.spec.mode = mode;
        m.spec.floor = k == kind::floor;
        m.spec.foreground_only = k == kind::peer || k == kind::polling_peer;
        m.polls = k == kind::polling_peer;
        if (!m.spec.floor) {
            std::string path = find_in_path(argv.front());
            if (path.empty()) {
                m.spec.absent = argv.front() + " is not installed";
            } else {
                argv.front() = path;
                m.size = measure_binary(path);
            }
        }
        m.spec.wrapper_argv = std::move(argv);
        rows.push_back(std::move(m));
    };
    const std::string& shim = s.pidshim;
    for (daemon_mode mode : {daemon_mode::forking, daemon_mode::foreground}) {
        add("kill (floor)", mode, kind::floor, {}, {});
        add("pidshim -q", mode, kind::pidshim, "pidshim", {shim, "-q", "{PIDFILE}"});
        if (mode == daemon_mode::forking) {
            // Once, so that the cost of the per-signal log line is visible.
            add("pidshim (default log)", mode, kind::pidshim, "pidshim", {shim, "{PIDFILE}"});
        }
        for (const auto& [name, path] : s.variants) {
            add(name + " -q", mode, kind::pidshim, "pidshim", {path, "-q", "{PIDFILE}"});
        }
    }
    // The peers can only run a daemon that stays in the foreground: tini and dumb-init do not
    // read a pidfile, pidproxy exits when its child does.
    auto fg = daemon_mode::foreground;
    add("tini -s *", fg, kind::peer, "tini", {"tini", "-s", "--"});
    add("dumb-init *", fg, kind::peer, "dumb-init", {"dumb-init"});
    add("pidproxy *", fg, kind::polling_peer, "pidproxy", {"pidproxy", "{PIDFILE}"});

    for (auto& m : rows) {
        if (m.spec.floor || !m.runs()) {
            continue;
        }
        const std::string& path = m.spec.wrapper_argv.front();
        if (!m.polls) {
            m.version = first_output_line({path, "--version"});
        } else if (std::string dpkg = find_in_path("dpkg-query"); !dpkg.empty()) {
            // pidproxy has no --version; it ships with Supervisor.
            std::string v = first_output_line({dpkg, "-W", "-f=${Version}", "supervisor"});
            m.version = "pidproxy (Supervisor" + (v.empty() ? "" : " " + v) + ")";
        } else {
            m.version = "pidproxy (Supervisor)";
        }
        if (m.size) {
            m.binary_kb.push_back(static_cast<double>(m.size->loaded_bytes) / 1024.0);
        }
    }
    return rows;
}

const char* mode_name(daemon_mode mode) {
    return mode == daemon_mode::forking ? "forking" : "foreground";
}

// ---------------------------------------------------------------------------------------
// The measurements

class bench {
  public:
    bench(settings s, std::string dir) : s_(std::move(s)), dir_(std::move(dir)) {}

    std::vector<measured> rows;

    void idle_and_forward();
    void start_cost();
    void death_notice();
    void storm();

  private:
    std::unique_ptr<instance> launch(measured& m) {
        auto i = std::make_unique<instance>(m.spec, s_.probe, dir_, ++serial_);
        if (!i->error().empty()) {
            m.failed(i->error());
            return nullptr;
        }
        return i;
    }
    std::unique_ptr<instance> launch_warm(measured& m) {
        auto i = launch(m);
        if (i && !i->warm_up()) {
            m.failed("the first signal did not reach the daemon within 10 s");
            return nullptr;
        }
        return i;
    }
    // Each round visits the rows in a new order, so that no row always follows the same
    // neighbour (one that leaves a CPU busy or cold); the seed is fixed, for repeatable runs.
    std::vector<std::size_t> round_order() {
        std::vector<std::size_t> order(rows.size());
        for (std::size_t r = 0; r < order.size(); ++r) {
            order[r] = r;
        }
        std::shuffle(order.begin(), order.end(), rng_);
        return order;
    }
    void progress(const std::string& what) {
        std::fprintf(stderr, "pidshim_bench: %s\n", what.c_str());
    }

    settings s_;
    std::string dir_;
    unsigned serial_ = 0;
    std::mt19937 rng_{1};
};

void record_footprint(measured& m, const std::optional<process_status>& status) {
    if (status) {
        m.rss_anon_kb.push_back(static_cast<double>(status->rss_anon_kb));
        m.rss_file_kb.push_back(static_cast<double>(status->rss_file_kb));
        m.vm_rss_kb.push_back(static_cast<double>(status->vm_rss_kb));
    }
}

void bench::idle_and_forward() {
    progress("idle window of " + std::to_string(s_.idle_seconds) + " s, then " +
             std::to_string(s_.forward) + " forwarded signals per row");
    std::vector<std::unique_ptr<instance>> live(rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
        if (rows[r].runs()) {
            live[r] = launch_warm(rows[r]);
        }
    }
    for (auto& i : live) {
        if (i) {
            i->settle(10 * ms);
        }
    }
    // Wake-ups are counted on every row at once, over the same window.
    std::vector<long> previous(rows.size(), -1);
    for (unsigned second = 0; second <= s_.idle_seconds && !interrupted; ++second) {
        if (second > 0) {
            sleep_ns(1000 * ms);
        }
        for (std::size_t r = 0; r < rows.size(); ++r) {
            auto status = live[r] ? live[r]->wrapper_status() : std::nullopt;
            if (!status) {
                continue;
            }
            if (previous[r] >= 0) {
                rows[r].wakeups.push_back(
                    static_cast<double>(status->voluntary_switches - previous[r]));
            }
            previous[r] = status->voluntary_switches;
        }
    }
    for (unsigned n = 0; n < s_.forward && !interrupted; ++n) {
        for (std::size_t r : round_order()) {
            if (!live[r]) {
                continue;
            }
            live[r]->settle(s_.gap_ns);
            auto result = live[r]->forward_measured(SIGUSR1, forward_timeout);
            if (result) {
                rows[r].forward_us.push_back(static_cast<double>(result->latency_ns) / 1e3);
                if (result->wrapper_cpu_ns) {
                    rows[r].forward_cpu_us.push_back(static_cast<double>(*result->wrapper_cpu_ns) /
                                                     1e3);
                }
            } else {
                rows[r].failed("a forwarded signal did not arrive within 5 s");
            }
        }
    }
}

void bench::start_cost() {
    progress(std::to_string(s_.start) + " starts per row");
    for (unsigned n = 0; n < s_.start && !interrupted; ++n) {
        for (std::size_t r : round_order()) {
            measured& m = rows[r];
            if (!m.runs()) {
                continue;
            }
            if (auto i = launch(m)) {
                m.start_us.push_back(static_cast<double>(i->start_cost_ns()) / 1e3);
            }
        }
    }
}

void bench::death_notice() {
    progress(std::to_string(s_.death) + " daemon deaths per row (" +
             std::to_string(s_.death_polling) + " for pidproxy, which polls)");
    for (unsigned n = 0; n < s_.death && !interrupted; ++n) {
        for (std::size_t r : round_order()) {
            measured& m = rows[r];
            if (!m.runs() || (m.polls && n >= s_.death_polling)) {
                continue;
            }
            auto i = launch_warm(m);
            if (!i) {
                continue;
            }
            i->settle(s_.gap_ns);
            record_footprint(m, i->wrapper_status());
            auto notice = i->death_notice();
            if (notice) {
                m.death_us.push_back(static_cast<double>(notice->latency_ns) / 1e3);
                if (notice->wrapper_cpu_ns) {
                    m.death_cpu_us.push_back(static_cast<double>(*notice->wrapper_cpu_ns) / 1e3);
                }
            } else {
                m.failed("the wrapper did not exit within 15 s of the daemon's death");
            }
        }
    }
}

void bench::storm() {
    progress(std::to_string(s_.storms) + " storms of " + std::to_string(s_.storm_signals) +
             " signals per row");
    for (unsigned n = 0; n < s_.storms && !interrupted; ++n) {
        for (std::size_t r : round_order()) {
            measured& m = rows[r];
            if (!m.runs()) {
                continue;
            }
            auto i = launch_warm(m);
            if (!i) {
                continue;
            }
            i->settle(10 * ms);
            auto result = i->storm(s_.storm_signals);
            ++m.storms_run;
            m.storm_lost.push_back(result.lost);
            m.storm_received.push_back(result.received);
            if (result.term_to_exit_ns) {
                m.storm_term_ms.push_back(static_cast<double>(*result.term_to_exit_ns) / 1e6);
            }
            if (result.daemon_stopped) {
                ++m.storms_stopped;
            }
            if (result.wrapper_after) {
                m.storm_rss_anon_kb.push_back(
                    static_cast<double>(result.wrapper_after->rss_anon_kb));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The table

struct figure {
    std::string title;
    std::vector<double> measured::*samples;
    bool has_floor; // the floor row is a real baseline (otherwise: no wrapper, nothing to count)
    int decimals;
    std::function<std::string(const measured&)> note;
};

std::string fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

std::string pad(const std::string& text, std::size_t width, bool right) {
    if (text.size() >= width) {
        return text;
    }
    std::string fill(width - text.size(), ' ');
    return right ? fill + text : text + fill;
}

const measured* floor_of(const std::vector<measured>& rows, daemon_mode mode) {
    for (const auto& m : rows) {
        if (m.spec.floor && m.spec.mode == mode) {
            return &m;
        }
    }
    return nullptr;
}

// NaN when the row has no data: comparisons with it are false, which reads as "not met".
double median_of(const measured& m, std::vector<double> measured::*samples) {
    auto s = summarize(m.*samples);
    return s ? s->median : std::nan("");
}

void print_table(const std::vector<measured>& rows, const std::vector<figure>& figures) {
    const std::size_t widths[] = {30, 22, 10, 5, 9, 9, 9, 7, 0};
    const bool right[] = {false, false, false, true, true, true, true, true, false};
    auto line = [&](const std::vector<std::string>& cells) {
        std::string out = "|";
        for (std::size_t c = 0; c < cells.size(); ++c) {
            out += ' ';
            out += pad(cells[c], widths[c], right[c]);
            out += " |";
        }
        std::puts(out.c_str());
    };
    line({"figure", "wrapper", "mode", "n", "median", "p99", "max", "x floor", "note"});
    line({"---", "---", "---", "--:", "--:", "--:", "--:", "--:", "---"});
    for (const auto& f : figures) {
        bool first = true;
        for (const auto& m : rows) {
            if (m.spec.floor && !f.has_floor) {
                continue;
            }
            std::vector<std::string> cells = {first ? f.title : "", m.spec.label,
                                              mode_name(m.spec.mode)};
            first = false;
            std::string note = f.note ? f.note(m) : "";
            if (!m.runs()) {
                line(
                    {cells[0], cells[1], cells[2], "", "", "", "", "", "absent: " + m.spec.absent});
                continue;
            }
            auto s = summarize(m.*f.samples);
            if (!s) {
                std::string why = m.last_failure.empty() ? "no data" : m.last_failure;
                line({cells[0], cells[1], cells[2], "0", "", "", "", "", why});
                continue;
            }
            std::string ratio;
            const measured* floor = floor_of(rows, m.spec.mode);
            if (f.has_floor && floor != nullptr) {
                double base = median_of(*floor, f.samples);
                if (base > 0) {
                    ratio = fixed(s->median / base, 2);
                }
            }
            cells.insert(cells.end(),
                         {std::to_string(s->n), fixed(s->median, f.decimals),
                          fixed(s->p99, f.decimals), fixed(s->max, f.decimals), ratio, note});
            line(cells);
        }
    }
}

std::vector<figure> make_figures(const settings& s) {
    auto failures = [](const measured& m) {
        return m.failures == 0 ? std::string{}
                               : std::to_string(m.failures) + " failed: " + m.last_failure;
    };
    std::string idle = std::to_string(s.idle_seconds);
    return {
        {"1 forward latency (us)", &measured::forward_us, true, 1, failures},
        {"1 wrapper CPU per signal (us)", &measured::forward_cpu_us, false, 1, {}},
        {"2 death notice (us)", &measured::death_us, true, 1,
         [](const measured& m) {
             return m.polls ? std::string("fewer runs: it polls every 5 s") : std::string{};
         }},
        {"2 wrapper CPU until exit (us)", &measured::death_cpu_us, false, 1, {}},
        {"3 start cost (us)", &measured::start_us, true, 1, {}},
        {"4 idle RssAnon (kB)", &measured::rss_anon_kb, false, 0, {}},
        {"4 idle VmRSS (kB)", &measured::vm_rss_kb, false, 0,
         [](const measured& m) {
             auto file = summarize(m.rss_file_kb);
             return file ? "file-backed " + fixed(file->median, 0) + " kB" : std::string{};
         }},
        {"4 binary size (kB)", &measured::binary_kb, false, 0,
         [](const measured& m) {
             if (!m.size) {
                 return std::string{};
             }
             if (!m.size->interpreter.empty()) {
                 return "the " + m.size->interpreter + " interpreter; script " +
                        std::to_string(m.size->file_bytes) + " B";
             }
             return "file " + std::to_string((m.size->file_bytes + 1023) / 1024) + " kB";
         }},
        {"4 idle wake-ups (per s)", &measured::wakeups, false, 0,
         [idle](const measured& m) {
             double total = 0;
             for (double w : m.wakeups) {
                 total += w;
             }
             return m.wakeups.empty() ? std::string{} : fixed(total, 0) + " in " + idle + " s";
         }},
        {"5 storm: lost signals", &measured::storm_lost, false, 0,
         [s](const measured& m) {
             return m.storms_run == 0
                        ? std::string{}
                        : "of " + std::to_string(s.storm_signals) + "; TERM stopped the daemon " +
                              std::to_string(m.storms_stopped) + "/" + std::to_string(m.storms_run);
         }},
        {"5 storm: handler runs", &measured::storm_received, false, 0, {}},
        {"5 storm: TERM to exit (ms)", &measured::storm_term_ms, true, 2, {}},
        {"5 storm: RssAnon after (kB)", &measured::storm_rss_anon_kb, false, 0, {}},
    };
}

// pidshim's ratio to the best peer of this run for every figure, and the goals read off the
// same numbers as the table, one line each.
void print_goals(const std::vector<measured>& rows, const std::vector<figure>& figures) {
    auto find = [&](const std::string& label, daemon_mode mode) -> const measured* {
        for (const auto& m : rows) {
            if (m.spec.label == label && m.spec.mode == mode && m.runs()) {
                return &m;
            }
        }
        return nullptr;
    };
    auto best_peer = [&](std::vector<double> measured::*samples) {
        double best = std::nan("");
        std::string who;
        for (const auto& m : rows) {
            if (!m.spec.foreground_only || !m.runs()) {
                continue;
            }
            double med = median_of(m, samples);
            if (!std::isnan(med) && (std::isnan(best) || med < best)) {
                best = med;
                who = m.spec.label.substr(0, m.spec.label.size() - 2);
            }
        }
        return std::make_pair(best, who);
    };
    // The goal of a figure: its largest ratio to the best peer, or none (shown, not judged).
    struct goal {
        std::vector<double> measured::*samples;
        double ratio;
    };
    const goal goals[] = {{&measured::forward_us, 1.10},
                          {&measured::death_us, 1.10},
                          {&measured::start_us, 1.10},
                          {&measured::rss_anon_kb, 1.00}};
    auto goal_of = [&](std::vector<double> measured::*samples) {
        for (const auto& g : goals) {
            if (g.samples == samples) {
                return g.ratio;
            }
        }
        return std::nan("");
    };
    const measured* shims[] = {find("pidshim -q", daemon_mode::forking),
                               find("pidshim -q", daemon_mode::foreground)};
    std::puts("");
    std::puts("pidshim -q against the best peer of this run (medians; ratio = pidshim / peer):");
    std::puts("| figure | forking | foreground | best peer | ratio forking | ratio foreground | "
              "goal |");
    std::puts("|---|--:|--:|---|--:|--:|---|");
    bool all_met = true;
    for (const auto& f : figures) {
        if (f.samples == &measured::storm_received) {
            continue; // how much coalescing happened: fewer is not better
        }
        auto [best, who] = best_peer(f.samples);
        std::string cells[2];
        std::string ratios[2];
        double worst = std::nan("");
        for (int i = 0; i < 2; ++i) {
            double mine = shims[i] ? median_of(*shims[i], f.samples) : std::nan("");
            if (std::isnan(mine)) {
                cells[i] = "no data";
                continue;
            }
            cells[i] = fixed(mine, f.decimals);
            if (!std::isnan(best) && best > 0) {
                double r = mine / best;
                ratios[i] = fixed(r, 2);
                worst = std::isnan(worst) ? r : std::max(worst, r);
            } else if (!std::isnan(best)) {
                // A peer at 0 (wake-ups, lost signals): pidshim must be at 0 too.
                ratios[i] = mine == 0 ? "=" : "more";
                worst = std::isnan(worst) ? (mine == 0 ? 0 : INFINITY)
                                          : std::max(worst, mine == 0 ? 0.0 : INFINITY);
            }
        }
        double limit = goal_of(f.samples);
        bool zero_goal = f.samples == &measured::wakeups || f.samples == &measured::storm_lost;
        std::string verdict;
        if (zero_goal) {
            bool ok = true;
            for (const auto* shim : shims) {
                ok = ok && shim != nullptr && !(shim->*f.samples).empty() &&
                     std::all_of((shim->*f.samples).begin(), (shim->*f.samples).end(),
                                 [](double v) { return v == 0; });
            }
            verdict = std::string("0 in every run: ") + (ok ? "met" : "NOT met");
            all_met = all_met && ok;
        } else if (!std::isnan(limit)) {
            bool ok = !std::isnan(worst) && worst <= limit;
            verdict = "<= " + fixed(limit, 2) + ": " +
                      (std::isnan(worst) ? "no peer"
                       : ok              ? "met"
                                         : "NOT met");
            all_met = all_met && ok;
        }
        std::string peer = std::isnan(best) ? "none" : who + " " + fixed(best, f.decimals);
        std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", f.title.c_str(), cells[0].c_str(),
                    cells[1].c_str(), peer.c_str(), ratios[0].c_str(), ratios[1].c_str(),
                    verdict.c_str());
    }
    for (const auto* shim : shims) {
        if (shim != nullptr && shim->storms_run > 0 && shim->storms_stopped != shim->storms_run) {
            std::printf("- storm, %s: TERM stopped the daemon in %u of %u storms: NOT met\n",
                        mode_name(shim->spec.mode), shim->storms_stopped, shim->storms_run);
            all_met = false;
        }
    }
    std::printf("goals: %s\n", all_met ? "all met" : "not all met");
}

void print_header(const settings& s, const std::vector<measured>& rows, int argc, char* argv[]) {
    std::string command;
    for (int i = 0; i < argc; ++i) {
        if (i > 0) {
            command += ' ';
        }
        command += argv[i];
    }
    std::printf("pidshim_bench, %s run, %s\n", s.quick ? "quick" : "full", utc_now().c_str());
    std::printf("machine: %s\n", machine_description().c_str());
    std::printf("command: %s\n", command.c_str());
    std::string versions;
    std::string absent;
    for (const auto& m : rows) {
        if (m.spec.floor) {
            continue;
        }
        if (!m.runs()) {
            absent += absent.empty() ? "" : ", ";
            absent += m.spec.absent;
        } else if (!m.version.empty() && versions.find(m.version) == std::string::npos) {
            versions += versions.empty() ? "" : "; ";
            versions += m.version;
        }
    }
    std::printf("wrappers: %s\n", versions.empty() ? "-" : versions.c_str());
    std::printf("absent: %s\n", absent.empty() ? "none" : absent.c_str());
    std::printf("iterations per row: forward %u, start %u, death %u (pidproxy %u), storm %u x %u "
                "signals, idle window %u s\n\n",
                s.forward, s.start, s.death, s.death_polling, s.storms, s.storm_signals,
                s.idle_seconds);
}

void print_legend() {
    std::puts("");
    std::puts("* foreground only: tini and dumb-init cannot read a pidfile and pidproxy cannot "
              "follow a forking daemon, so their probe stays in the foreground; compare them "
              "with the foreground floor.");
    std::puts("x floor: median over the floor's median in the same mode. Idle memory and "
              "wake-ups have no floor (no wrapper, no cost).");
}

std::string scratch_directory() {
    struct stat st {};
    std::string base = ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "";
    if (base.empty()) {
        const char* tmp = std::getenv("TMPDIR");
        base = tmp != nullptr ? tmp : "/tmp";
    }
    std::string pattern = base + "/pidshim-bench.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error(pattern + ": " + std::strerror(errno));
    }
    return pattern;
}

} // namespace
} // namespace pidshim_bench

int main(int argc, char* argv[]) {
    using namespace pidshim_bench;
    settings s = parse_settings(argc, argv);
    if (::access(s.probe.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "pidshim_bench: cannot run the probe %s: %s\n", s.probe.c_str(),
                     std::strerror(errno));
        return 1;
    }
    // Daemons whose wrapper died are re-parented to the harness, which reaps them.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    struct sigaction stop {};
    stop.sa_handler = [](int) { interrupted = 1; };
    ::sigaction(SIGINT, &stop, nullptr);
    ::sigaction(SIGTERM, &stop, nullptr);

    std::string dir;
    try {
        dir = scratch_directory();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pidshim_bench: %s\n", e.what());
        return 1;
    }
    bench b(s, dir);
    b.rows = make_rows(s);
    try {
        // Between phases no instance is alive: any child left is a stray from a failure.
        for (auto phase :
             {&bench::idle_and_forward, &bench::start_cost, &bench::death_notice, &bench::storm}) {
            (b.*phase)();
            kill_children();
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pidshim_bench: %s\n", e.what());
        kill_children();
        ::rmdir(dir.c_str());
        return 1;
    }
    kill_children();
    ::rmdir(dir.c_str());
    if (interrupted) {
        std::fputs("pidshim_bench: interrupted\n", stderr);
        return 130;
    }
    print_header(s, b.rows, argc, argv);
    auto figures = make_figures(s);
    print_table(b.rows, figures);
    print_legend();
    print_goals(b.rows, figures);
    return 0;
}
