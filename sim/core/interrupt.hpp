// Core: stopping cleanly on SIGINT and SIGTERM (README "Command line": exit status 130 and 143).
//
// install_interrupt_handlers() sets a handler that only wakes a watcher thread (async-signal-safe). The
// watcher runs the registered callbacks (e.g. stop child processes), removes every live output staging
// folder (OutputStage::abandon_all: the destinations stay as they were), prints one line and ends the
// process with 128 + the signal number. Call it again after anything that installs its own handler
// (SimGrid's Engine installs one for SIGINT). A second signal during the cleanup is ignored.
#pragma once
#include <functional>

namespace chatdc {

/// Installs (or re-installs) the SIGINT and SIGTERM handlers; starts the watcher thread once.
void install_interrupt_handlers();
/// Runs `fn` in the watcher thread before the outputs are abandoned; returns an id for remove_interrupt_callback.
int add_interrupt_callback(std::function<void(int signal)> fn);
void remove_interrupt_callback(int id);

}  // namespace chatdc
