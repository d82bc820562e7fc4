// App: starting helper processes (chatdc runs for compare, Python plots) without a shell.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace chatdc::app {

/// Starts argv[0] (no shell: arguments reach it as they are) with stdin from /dev/null and stdout and
/// stderr into the file `log`; -1 (and *error) if it cannot start.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, std::string* error);
/// Waits for `pid` (again after a signal); the status as waitpid gives it.
int wait_for(pid_t pid);

}  // namespace chatdc::app
