#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

// Starting COMMAND: looked up in PATH, with a clean signal state (empty mask, default
// dispositions) whatever pidshim inherited, exactly the descriptors pidshim inherited, and
// the shell's 126/127 on exec failure.
namespace pidshim {

struct spawn_result {
    pid_t pid = -1;    // > 0 when started
    int exit_code = 0; // 126 or 127 (or 125) when not
    std::string error; // "cannot run 'x': command not found"
};

// Notes the descriptors open now as the ones COMMAND inherits, whatever pidshim opens later;
// call it before opening any. Without it, those open at the first spawn_command count.
void note_inherited_descriptors();

// With new_group, COMMAND leads a new process group, which also gets the terminal when
// pidshim's group has it.
spawn_result spawn_command(const std::vector<std::string>& command, bool new_group);

} // namespace pidshim
