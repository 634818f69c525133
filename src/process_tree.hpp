#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

// What /proc says about processes: parents, names, pidshim's descendants.
namespace pidshim::process_tree {

std::optional<pid_t> parent_of(pid_t pid);

// True when `ancestor` is on the parent chain of `pid`.
bool is_descendant(pid_t pid, pid_t ancestor);

// The command name, for log lines ("1234 (nginx)").
std::string name_of(pid_t pid);

// "1234 (nginx)"
std::string describe(pid_t pid);

// Every live process below `ancestor`, parents before their children.
std::vector<pid_t> descendants_of(pid_t ancestor);

// The live (not zombie) processes whose parent is `parent`.
std::vector<pid_t> children_of(pid_t parent);

} // namespace pidshim::process_tree
