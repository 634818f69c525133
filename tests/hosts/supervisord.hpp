// A private supervisord for a test executable: its own configuration, socket, pidfile and log
// in the test's directory, never the system service. It runs in the foreground as the test's
// child and is shut down with "supervisorctl -c CONF shutdown".
#pragma once

#include "hosts.hpp"

#include <memory>

namespace hosts {

// A [program:NAME] section of a shipped config/supervisord/ example, made to run in a test
// directory: paths in its command replaced, some keys replaced or dropped, all else as shipped.
struct Entry {
    std::string file;                                         // under config/supervisord/
    std::string name;                                         // the program's, if renamed
    std::vector<std::pair<std::string, std::string>> command; // replacements, in order
    std::map<std::string, std::string> set;                   // keys replaced or added
    std::vector<std::string> drop;                            // keys removed
};

inline std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// The program sections of a file: name -> key -> value (comment lines skipped).
inline std::map<std::string, std::map<std::string, std::string>>
program_sections(const std::string& text) {
    std::map<std::string, std::map<std::string, std::string>> out;
    std::map<std::string, std::string>* current = nullptr;
    for (auto& raw : split_lines(text)) {
        std::string line = trim(raw);
        if (line.empty() || line[0] == ';' || line[0] == '#') {
            continue;
        }
        if (line.rfind("[program:", 0) == 0 && line.back() == ']') {
            current = &out[line.substr(9, line.size() - 10)];
            continue;
        }
        if (line[0] == '[') {
            current = nullptr;
            continue;
        }
        auto eq = line.find('=');
        if (current && eq != std::string::npos) {
            (*current)[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
        }
    }
    return out;
}

// The one program a shipped file defines, adapted: [program:NAME] and its settings.
inline std::string adapt(const Entry& e) {
    auto sections = program_sections(read_config("supervisord/" + e.file));
    BOOST_REQUIRE_MESSAGE(sections.size() == 1, e.file << " should define exactly one program");
    std::string name = e.name.empty() ? sections.begin()->first : e.name;
    auto keys = sections.begin()->second;
    BOOST_REQUIRE_MESSAGE(keys.count("command"), e.file << " has no command=");
    for (auto& [from, to] : e.command) {
        keys["command"] = replace_all(keys["command"], from, to);
    }
    for (auto& k : e.drop) {
        keys.erase(k);
    }
    for (auto& [k, v] : e.set) {
        keys[k] = v;
    }
    std::string text = "[program:" + name + "]\n";
    for (auto& [k, v] : keys) {
        text += k + "=" + v + "\n";
    }
    return text;
}

// The program name a shipped file defines.
inline std::string program_name(const std::string& file) {
    return program_sections(read_config("supervisord/" + file)).begin()->first;
}

// What every test changes in a shipped entry, and why. The program's output (pidshim's
// stderr, and the daemon's) goes to NAME.out in the test directory.
inline Entry test_entry(const Sandbox& box, const std::string& file, const std::string& name = {}) {
    Entry e;
    e.file = file;
    e.name = name;
    e.command = {{"/usr/bin/pidshim ", pidshim_bin + " -v "}};
    e.set = {
        {"autostart", "false"}, // each test starts what it drives
        {"startsecs", "1"},     // seconds are the suite's budget
        {"stdout_logfile", box.path((name.empty() ? program_name(file) : name) + ".out")},
        {"stdout_logfile_maxbytes", "0"},
    };
    e.drop = {"user"}; // the tests run as root and their directory is root's
    return e;
}

class Supervisord {
  public:
    Supervisord(const Sandbox& box, const std::string& programs)
        : conf(box.path("supervisord.conf")), log(box.path("supervisord.log")),
          sock(box.path("supervisor.sock")), box_(box) {
        write_file(conf, lines({
                             "[unix_http_server]",
                             "file=" + sock,
                             "[supervisord]",
                             "nodaemon=true",
                             "user=root",
                             "logfile=" + log,
                             "logfile_maxbytes=0",
                             "loglevel=info",
                             "pidfile=" + box.path("supervisord.pid"),
                             "childlogdir=" + box.dir,
                             "[rpcinterface:supervisor]",
                             "supervisor.rpcinterface_factory = "
                             "supervisor.rpcinterface:make_main_rpcinterface",
                             "[supervisorctl]",
                             "serverurl=unix://" + sock,
                         }) + programs);
        SpawnOptions o;
        o.name = "supervisord";
        process_ = std::make_unique<Process>(std::vector<std::string>{"supervisord", "-c", conf},
                                             box.dir, o);
        // Logged just before its main loop starts answering on the socket.
        expect("supervisord started with pid");
    }

    ~Supervisord() {
        try {
            if (process_->running()) {
                run(box_, {"supervisorctl", "-c", conf, "shutdown"});
                if (!process_->try_wait(30s)) {
                    BOOST_TEST_MESSAGE("supervisord did not shut down; killing it");
                }
            }
        } catch (...) {
            // The Sandbox kills whatever is left.
        }
    }
    Supervisord(const Supervisord&) = delete;
    Supervisord& operator=(const Supervisord&) = delete;

    pid_t pid() const { return process_->pid(); }

    // supervisorctl's output, checked to contain `expected`.
    std::string ctl(const std::vector<std::string>& args, const std::string& expected = {}) {
        std::vector<std::string> argv{"supervisorctl", "-c", conf};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run(box_, argv, 60s);
        if (!expected.empty()) {
            BOOST_CHECK_MESSAGE(contains(r.out, expected), "supervisorctl " << args.front()
                                                                            << " said: " << r.out
                                                                            << dump(log));
        }
        return r.out;
    }

    // What supervisord knows about a program (statename, pid, exitstatus, spawnerr, ...),
    // asked over its XML-RPC interface: it answers at once, where each supervisorctl call
    // costs half a second. supervisorctl does the driving; this only looks.
    std::map<std::string, std::string> info(const std::string& name) {
        std::string body = "<?xml version='1.0'?><methodCall>"
                           "<methodName>supervisor.getProcessInfo</methodName><params><param>"
                           "<value><string>" +
                           name + "</string></value></param></params></methodCall>";
        std::string reply = rpc(body);
        std::map<std::string, std::string> out;
        std::regex member("<name>([a-z_]+)</name>\\s*<value><([a-z0-9]+)>([^<]*)</\\2></value>");
        for (std::sregex_iterator it(reply.begin(), reply.end(), member), end; it != end; ++it) {
            out[(*it)[1]] = (*it)[3];
        }
        BOOST_REQUIRE_MESSAGE(out.count("statename"),
                              "getProcessInfo(" << name << ") said: " << reply);
        return out;
    }

    std::string state(const std::string& name) { return info(name)["statename"]; }

    // The pid supervisord knows for a program: pidshim's.
    pid_t pid_of(const std::string& name) { return std::stoi(info(name)["pid"]); }

    // Waits for the next line of supervisord's log (after the last one expected) that
    // matches regex, so that events are checked in the order they happened.
    std::string expect(const std::string& regex, Clock::duration timeout = 15s) {
        std::regex re(regex);
        std::string found;
        auto ok = wait_for_text(
            log,
            [&](const std::string& text) {
                auto lines = split_lines(text);
                for (size_t i = cursor_; i < lines.size(); ++i) {
                    if (std::regex_search(lines[i], re)) {
                        found = lines[i];
                        cursor_ = i + 1;
                        return true;
                    }
                }
                return false;
            },
            timeout);
        if (!ok) {
            BOOST_FAIL("supervisord never logged /" << regex << "/" << dump(log));
        }
        return found;
    }

    const std::string conf;
    const std::string log;
    const std::string sock;

  private:
    // One HTTP/1.0 request on supervisord's socket; the reply ends when it closes.
    std::string rpc(const std::string& body) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        BOOST_REQUIRE(fd >= 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        BOOST_REQUIRE(sock.size() < sizeof a.sun_path);
        std::strcpy(a.sun_path, sock.c_str());
        BOOST_REQUIRE_MESSAGE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0,
                              "cannot connect to " << sock << ": " << strerror(errno));
        timeval tv{10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string request = "POST /RPC2 HTTP/1.0\r\nContent-Type: text/xml\r\n"
                              "Content-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
        (void)!write(fd, request.data(), request.size());
        std::string reply;
        char buf[4096];
        for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) {
            reply.append(buf, static_cast<size_t>(n));
        }
        close(fd);
        return reply;
    }

    const Sandbox& box_;
    std::unique_ptr<Process> process_;
    size_t cursor_ = 0;
};

// One test directory and one supervisord for all the test cases of an executable: starting
// and shutting down supervisord costs seconds. Each test case drives programs of its own,
// all defined up front, so the cases stay independent. Use it as a global fixture:
//   struct Host : SupervisordHost { Host() { start(programs(*this)); } };
//   BOOST_TEST_GLOBAL_FIXTURE(Host);
// and reach it from the test cases with SupervisordHost::get().
struct SupervisordHost : Sandbox {
    SupervisordHost() { current = this; }
    ~SupervisordHost() {
        sv.reset(); // supervisorctl shutdown, before the Sandbox kills what is left
        current = nullptr;
    }

    void start(const std::string& programs) { sv.emplace(*this, programs); }

    static SupervisordHost& get() {
        BOOST_REQUIRE(current && current->sv);
        return *current;
    }

    // The live processes below supervisord that belong to program `name`: pidshim and all
    // it started.
    std::vector<pid_t> processes_of(const std::string& name) {
        auto info = sv->info(name);
        pid_t pid = std::stoi(info["pid"]);
        if (pid <= 0) {
            return {};
        }
        auto out = live_descendants_of(pid);
        out.push_back(pid);
        return out;
    }

    std::optional<Supervisord> sv;

  private:
    static inline SupervisordHost* current = nullptr;
};

} // namespace hosts
