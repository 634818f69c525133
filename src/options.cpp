#include "options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace po = boost::program_options;

namespace pidshim {
namespace {

// Options that take a value on the command line; the rest are switches.
po::options_description command_line_options() {
    po::options_description desc;
    desc.add_options()                                        //
        ("timeout,t", po::value<std::string>())               //
        ("signal-map", po::value<std::vector<std::string>>()) //
        ("retry", po::value<std::string>())                   //
        ("retry-interval", po::value<std::string>())          //
        ("kill-after", po::value<std::string>())              //
        ("stop-schedule", po::value<std::string>())           //
        ("exit-map", po::value<std::vector<std::string>>())   //
        ("parent-death", po::value<std::string>())            //
        ("upgrade-signal", po::value<std::string>())          //
        ("upgrade-settle", po::value<std::string>())          //
        ("retire-signal", po::value<std::string>())           //
        ("upgrade-timeout", po::value<std::string>())         //
        ("no-pidfile", po::bool_switch())                     //
        ("group,g", po::bool_switch())                        //
        ("notify-mainpid", po::bool_switch())                 //
        ("config", po::value<std::string>())                  //
        ("verbose,v", po::bool_switch())                      //
        ("quiet,q", po::bool_switch())                        //
        ("help,h", po::bool_switch())                         //
        ("version,V", po::bool_switch());
    return desc;
}

// The same long names in the file; switches take true/false there.
po::options_description config_file_options() {
    po::options_description desc;
    desc.add_options()                                        //
        ("timeout", po::value<std::string>())                 //
        ("signal-map", po::value<std::vector<std::string>>()) //
        ("retry", po::value<std::string>())                   //
        ("retry-interval", po::value<std::string>())          //
        ("kill-after", po::value<std::string>())              //
        ("stop-schedule", po::value<std::string>())           //
        ("exit-map", po::value<std::vector<std::string>>())   //
        ("parent-death", po::value<std::string>())            //
        ("upgrade-signal", po::value<std::string>())          //
        ("upgrade-settle", po::value<std::string>())          //
        ("retire-signal", po::value<std::string>())           //
        ("upgrade-timeout", po::value<std::string>())         //
        ("no-pidfile", po::value<std::string>())              //
        ("group", po::value<std::string>())                   //
        ("notify-mainpid", po::value<std::string>())          //
        ("verbose", po::value<std::string>())                 //
        ("quiet", po::value<std::string>());
    return desc;
}

bool takes_value(const po::options_description& desc, const std::string& name) {
    const auto* option = desc.find_nothrow(name, false, false, false);
    return option != nullptr && option->semantic()->max_tokens() > 0;
}

// Options end at the first non-option argument (PIDFILE) so that everything after it reaches
// COMMAND untouched. Returns the index of PIDFILE in argv.
int find_operands(int argc, const char* const argv[], const po::options_description& desc) {
    int i = 1;
    while (i < argc) {
        std::string_view arg = argv[i];
        if (arg == "--") {
            return i + 1;
        }
        if (arg.size() < 2 || arg[0] != '-') {
            return i;
        }
        ++i;
        if (arg.starts_with("--")) {
            if (arg.find('=') == std::string_view::npos &&
                takes_value(desc, std::string(arg.substr(2)))) {
                ++i;
            }
            continue;
        }
        // A group of short switches; the first one that takes a value consumes the rest of
        // the group, or the next argument when the group ends with it.
        for (std::size_t c = 1; c < arg.size(); ++c) {
            if (takes_value(desc, std::string{'-', arg[c]})) {
                if (c + 1 == arg.size()) {
                    ++i;
                }
                break;
            }
        }
    }
    return argc;
}

struct option_error {
    std::string message;
};

milliseconds seconds_value(const std::string& flag, const std::string& text) {
    milliseconds value{};
    std::string problem = parse_seconds(text, value);
    if (!problem.empty()) {
        throw option_error{flag + ": '" + text + "' " + problem};
    }
    return value;
}

unsigned count_value(const std::string& flag, const std::string& text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        throw option_error{flag + ": '" + text + "' is not a whole number"};
    }
    return value;
}

bool truth_value(const std::string& where, const std::string& text) {
    if (text == "true" || text == "yes" || text == "on" || text == "1") {
        return true;
    }
    if (text == "false" || text == "no" || text == "off" || text == "0") {
        return false;
    }
    throw option_error{where + ": '" + text + "' is not true or false"};
}

// Boost.Program_options 1.81 loops forever formatting an error whose option name contains one
// of its own placeholders ("%option%"); no option or value of pidshim's has a '%'.
void refuse_percent(std::string_view text, const std::string& where) {
    if (text.find('%') != std::string_view::npos) {
        throw option_error{where + "'" + std::string(text) + "': '%' is not allowed here"};
    }
}

po::variables_map read_config_file(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        throw option_error{"--config: cannot read '" + path + "'"};
    }
    std::stringstream text;
    text << file.rdbuf();
    std::string line;
    for (int number = 1; std::getline(text, line); ++number) {
        refuse_percent(line.substr(0, line.find('#')),
                       path + ": line " + std::to_string(number) + ": ");
    }
    text.clear();
    text.seekg(0);
    po::variables_map vm;
    try {
        po::store(po::parse_config_file(text, config_file_options(), false), vm);
    } catch (const po::error& e) {
        throw option_error{path + ": " + e.what()};
    }
    return vm;
}

// The command line wins over the file: each option is taken from the first map that has it.
class option_sources {
  public:
    option_sources(const po::variables_map& cli, const po::variables_map& file)
        : cli_(cli), file_(file) {}

    const std::string* text(const std::string& name, std::string& where) const {
        if (cli_.count(name) != 0U) {
            where = "--" + name;
            return &cli_[name].as<std::string>();
        }
        if (file_.count(name) != 0U) {
            where = config_path_ + ": " + name;
            return &file_[name].as<std::string>();
        }
        return nullptr;
    }

    bool flag(const std::string& name) const {
        if (cli_.count(name) != 0U && cli_[name].as<bool>()) {
            return true;
        }
        return file_.count(name) != 0U &&
               truth_value(config_path_ + ": " + name, file_[name].as<std::string>());
    }

    void set_config_path(std::string path) { config_path_ = std::move(path); }

  private:
    const po::variables_map& cli_;
    const po::variables_map& file_;
    std::string config_path_;
};

void apply_signal_maps(const po::variables_map& vm, const std::string& where, signal_map& map) {
    if (vm.count("signal-map") == 0U) {
        return;
    }
    for (const auto& spec : vm["signal-map"].as<std::vector<std::string>>()) {
        std::string problem = spec.empty() ? "empty value" : map.add(spec);
        if (!problem.empty()) {
            throw option_error{where + ": " + std::move(problem)};
        }
    }
}

int signal_value(const option_sources& sources, const std::string& name, int otherwise) {
    std::string where;
    const auto* t = sources.text(name, where);
    if (t == nullptr) {
        return otherwise;
    }
    auto signo = parse_signal(*t);
    if (!signo) {
        throw option_error{where + ": '" + *t + "' is not a signal (for example TERM)"};
    }
    return *signo;
}

void apply_exit_maps(const po::variables_map& vm, const std::string& where, exit_map& map) {
    if (vm.count("exit-map") == 0U) {
        return;
    }
    for (const auto& spec : vm["exit-map"].as<std::vector<std::string>>()) {
        std::string problem = map.add(spec);
        if (!problem.empty()) {
            throw option_error{where + ": " + std::move(problem)};
        }
    }
}

options build_options(const po::variables_map& cli, const po::variables_map& file,
                      const std::string& config_path, bool& no_pidfile) {
    options opts;
    option_sources sources(cli, file);
    sources.set_config_path(config_path);
    std::string where;
    if (const auto* t = sources.text("timeout", where)) {
        opts.timeout = seconds_value(where, *t);
    }
    if (const auto* t = sources.text("retry", where)) {
        opts.retry = count_value(where, *t);
    }
    if (const auto* t = sources.text("retry-interval", where)) {
        opts.retry_interval = seconds_value(where, *t);
    }
    if (const auto* t = sources.text("kill-after", where)) {
        opts.kill_after = seconds_value(where, *t);
    }
    if (const auto* t = sources.text("stop-schedule", where)) {
        if (opts.kill_after.count() > 0) {
            throw option_error{"--kill-after and --stop-schedule cannot be used together "
                               "(--kill-after N is --stop-schedule N/KILL/forever)"};
        }
        std::string problem = parse_stop_schedule(*t, opts.schedule);
        if (!problem.empty()) {
            throw option_error{where + ": '" + *t + "': " + problem};
        }
    } else if (opts.kill_after.count() > 0) {
        opts.schedule = kill_after_schedule(opts.kill_after);
    }
    opts.parent_death = signal_value(sources, "parent-death", 0);
    opts.upgrade_signal = signal_value(sources, "upgrade-signal", 0);
    opts.retire_signal = signal_value(sources, "retire-signal", SIGQUIT);
    if (const auto* t = sources.text("upgrade-settle", where)) {
        opts.upgrade_settle = seconds_value(where, *t);
    }
    if (const auto* t = sources.text("upgrade-timeout", where)) {
        opts.upgrade_timeout = seconds_value(where, *t);
        if (opts.upgrade_timeout.count() == 0) {
            throw option_error{where + ": '" + *t + "' must be more than 0"};
        }
    }
    // The file's map first, so that the command line's entries override it per signal.
    apply_signal_maps(file, config_path + ": signal-map", opts.map);
    apply_signal_maps(cli, "--signal-map", opts.map);
    apply_exit_maps(file, config_path + ": exit-map", opts.exits);
    apply_exit_maps(cli, "--exit-map", opts.exits);
    opts.group = sources.flag("group");
    no_pidfile = sources.flag("no-pidfile");
    opts.notify_mainpid = sources.flag("notify-mainpid");
    bool verbose = sources.flag("verbose");
    bool quiet = sources.flag("quiet");
    if (verbose && quiet) {
        throw option_error{"--verbose and --quiet cannot be used together"};
    }
    opts.verbosity = verbose ? log::level::debug : quiet ? log::level::warning : log::level::info;
    return opts;
}

} // namespace

std::string parse_seconds(std::string_view text, milliseconds& out) {
    // Decimal digits only, read exactly: no floating point, so that 0.1 is 100 ms and not a
    // rounding away from it, and nan, inf, hex and exponents are not numbers here.
    constexpr std::string_view example = "for example 5 or 0.5";
    if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
        // "-0" too: pidshim does not guess whether it means 0 or is a mistake.
        return "has a sign; give 0 or more seconds, " + std::string(example);
    }
    auto point = text.find('.');
    std::string_view whole = text.substr(0, point);
    std::string_view fraction =
        point == std::string_view::npos ? std::string_view{} : text.substr(point + 1);
    auto digits_only = [](std::string_view part) {
        return std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (whole.size() + fraction.size() == 0 || !digits_only(whole) || !digits_only(fraction)) {
        return "is not a number of seconds (" + std::string(example) + ")";
    }
    // A week is far beyond any sane start or stop time, and keeps the arithmetic in range.
    constexpr long long most_ms = 7LL * 24 * 3600 * 1000;
    std::string too_long = "is more than a week (" + std::to_string(most_ms / 1000) + " seconds)";
    whole.remove_prefix(std::min(whole.find_first_not_of('0'), whole.size()));
    if (whole.size() > 7) {
        return too_long;
    }
    long long ms = 0;
    (void)std::from_chars(whole.data(), whole.data() + whole.size(), ms); // digits only, <= 7

    for (std::size_t i = 0; i < 3; ++i) {
        ms = ms * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
    }
    // Rounded up, never down: 0.0004 rounded to 0 would mean "forever" for --timeout and
    // "never" for --kill-after.
    if (fraction.size() > 3 && fraction.find_first_not_of('0', 3) != std::string_view::npos) {
        ++ms;
    }
    if (ms > most_ms) {
        return too_long;
    }
    out = milliseconds(ms);
    return {};
}

parse_result parse_options(int argc, const char* const argv[]) {
    parse_result result;
    bool no_pidfile = false;
    auto desc = command_line_options();
    int operands = find_operands(argc, argv, desc);
    try {
        for (int i = 1; i < operands; ++i) {
            refuse_percent(argv[i], "");
        }
        po::variables_map cli;
        po::store(po::command_line_parser(operands, argv)
                      .options(desc)
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run(),
                  cli);
        if (cli["help"].as<bool>()) {
            result.what = parse_result::action::help;
            return result;
        }
        if (cli["version"].as<bool>()) {
            result.what = parse_result::action::version;
            return result;
        }
        po::variables_map file;
        std::string config_path;
        if (cli.count("config") != 0U) {
            config_path = cli["config"].as<std::string>();
            file = read_config_file(config_path);
        }
        result.opts = build_options(cli, file, config_path, no_pidfile);
    } catch (const po::error& e) {
        result.error = log::printable(e.what());
        return result;
    } catch (const option_error& e) {
        result.error = log::printable(e.message);
        return result;
    }
    if (no_pidfile) {
        if (result.opts.upgrade_signal != 0) {
            result.error = "--upgrade-signal needs a PIDFILE: the new master is found through it "
                           "(not with --no-pidfile)";
            return result;
        }
        if (operands >= argc) {
            result.error = "missing COMMAND (--no-pidfile)";
            return result;
        }
        result.opts.command.assign(argv + operands, argv + argc);
        result.what = parse_result::action::run;
        return result;
    }
    if (operands >= argc) {
        result.error = "missing PIDFILE and COMMAND";
        return result;
    }
    if (operands + 1 >= argc) {
        result.error = "missing COMMAND after PIDFILE '" + log::printable(argv[operands]) + "'";
        return result;
    }
    if (argv[operands][0] == '\0') {
        result.error = "PIDFILE is an empty string";
        return result;
    }
    result.opts.pidfile = argv[operands];
    result.opts.command.assign(argv + operands + 1, argv + argc);
    result.what = parse_result::action::run;
    return result;
}

std::string help_text() {
    return R"(Usage: pidshim [OPTIONS] PIDFILE COMMAND [ARG...]
       pidshim [OPTIONS] --no-pidfile COMMAND [ARG...]

Run COMMAND, find the daemon it starts through PIDFILE, forward the signals pidshim
receives to that daemon, and stay in the foreground until the daemon is gone, exiting
with the daemon's own status. A drop-in for "pidproxy PIDFILE COMMAND [ARG...]".
With --no-pidfile, COMMAND itself is the daemon (a foreground program, as under tini or
dumb-init); if it exits 0 leaving exactly one process, that process is the daemon.

Options (option parsing stops at PIDFILE, or at COMMAND with --no-pidfile; everything
after it goes to COMMAND):
      --no-pidfile          there is no PIDFILE: follow COMMAND, then the one process a
                            forking COMMAND leaves when it exits 0
  -t, --timeout SECS        wait this long for PIDFILE to name a live descendant;
                            then stop COMMAND and exit 124 (default 300, 0 = forever)
      --signal-map FROM:TO  deliver a received FROM as TO; repeatable or comma-separated;
                            names (TERM, SIGTERM, term) or numbers; TO may be "none"
      --retry N             hold a signal that cannot be delivered yet and retry it up to
                            N times (default 100); a TERM, INT or QUIT is held until
                            the daemon is known, however long that takes
      --retry-interval SECS ...this far apart (default 0.1: signals are held 10 s)
      --stop-schedule SCHED after a TERM, INT or QUIT: SIG/SECS/SIG/SECS..., as in
                            start-stop-daemon --retry: QUIT/20/TERM/10/KILL/5 sends QUIT,
                            waits up to 20 s for the daemon to exit, sends TERM, and so on;
                            starting with SECS, the first signal is the one received; if
                            the daemon outlives the schedule, pidshim exits 124
      --kill-after SECS     SIGKILL the daemon if it still runs SECS after a TERM, INT or
                            QUIT reached it (default 0 = never); same as
                            --stop-schedule SECS/KILL/forever
      --exit-map FROM:TO    exit TO when the daemon's status is FROM (143:0 for a runtime
                            that takes only 0 as success); repeatable or comma-separated;
                            pidshim's own statuses (1, 2, 124-127) are never mapped
      --parent-death SIG    when the process that started pidshim exits, act as if SIG
                            had been received (for example TERM)
      --upgrade-signal SIG  receiving SIG (USR2 for nginx, gunicorn, unicorn) runs a binary
                            upgrade: SIG to the master, wait for PIDFILE (or PIDFILE.2) to
                            name a new master, let it settle, retire the old one, follow
                            the new one
      --upgrade-settle SECS the new master must live this long before the old one is
                            retired (default 2)
      --retire-signal SIG   sent to the old master once the new one has settled (default
                            QUIT; TERM for gunicorn, whose QUIT is a fast stop)
      --upgrade-timeout SECS  give up an upgrade whose new master has not appeared in this
                            time (default 60); the old master keeps serving
  -g, --group               deliver signals to the daemon's whole process group, when it
                            leads one; with --no-pidfile, COMMAND starts a new group (and
                            gets the terminal, if pidshim has it)
      --notify-mainpid      with NOTIFY_SOCKET, also tell systemd MAINPID=<daemon pid>
      --config FILE         read options from FILE (INI, same long names; the command
                            line wins)
  -v, --verbose             say more on stderr
  -q, --quiet               say only warnings and errors
  -h, --help                print this help and exit
  -V, --version             print the version and exit

SECS is a number of seconds such as 5 or 0.25, no sign, at most 604800 (a week); a
positive value is rounded up to whole milliseconds, so it never becomes 0.

Exit status: the daemon's exit code, or 128+N if signal N killed it; COMMAND's status if
it failed before PIDFILE named the daemon; 1 COMMAND exited 0 and left no daemon; 2 usage
error; 124 --timeout expired, or the daemon outlived --stop-schedule; 125 pidshim failed;
126 COMMAND not executable; 127 COMMAND not found.
)";
}

} // namespace pidshim
