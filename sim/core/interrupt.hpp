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
/// Holds SIGINT and SIGTERM back (they stay pending) in the calling thread while it lives, and installs
/// chatdc's handlers again before letting them through: around code that installs handlers of its own
/// (SimGrid's Engine), so that a signal can never reach those (SimGrid's prints and exits with 1, leaving
/// the staging folder behind).
class InterruptsHeld {
 public:
  InterruptsHeld();
  ~InterruptsHeld();
  InterruptsHeld(const InterruptsHeld&) = delete;
  InterruptsHeld& operator=(const InterruptsHeld&) = delete;

 private:
  alignas(16) unsigned char old_mask_[128];  // the thread's signal mask before (a sigset_t)
};

/// True once SIGINT or SIGTERM has arrived (the watcher is ending, or about to end, the process).
bool interrupted();

}  // namespace chatdc
