#include "core/interrupt.hpp"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "core/output_stage.hpp"

namespace chatdc {

namespace {

sem_t g_wake;
volatile sig_atomic_t g_signal = 0;

std::mutex& callbacks_mutex() {
  static std::mutex m;
  return m;
}
std::map<int, std::function<void(int)>>& callbacks() {
  static std::map<int, std::function<void(int)>> c;
  return c;
}

extern "C" void on_signal(int sig) {
  if (g_signal != 0) return;  // already stopping
  g_signal = sig;
  sem_post(&g_wake);  // async-signal-safe
}

void watch() {
  while (sem_wait(&g_wake) != 0) {
  }
  const int sig = g_signal;
  {
    std::lock_guard<std::mutex> lock(callbacks_mutex());
    for (auto& [id, fn] : callbacks()) fn(sig);
  }
  const bool committed = OutputStage::abandon_all();
  const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
  std::fprintf(stderr, "\nchatdc: interrupted by %s: stopped; %s\n", name,
               committed ? "the outputs had already been written whole"
                         : "no output was written (the output folder is as it was)");
  std::fflush(stderr);
  ::_exit(128 + sig);
}

}  // namespace

void install_interrupt_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    sem_init(&g_wake, 0, 0);
    std::thread(watch).detach();
  });
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int add_interrupt_callback(std::function<void(int)> fn) {
  static std::atomic<int> next{1};
  const int id = next++;
  std::lock_guard<std::mutex> lock(callbacks_mutex());
  callbacks()[id] = std::move(fn);
  return id;
}

void remove_interrupt_callback(int id) {
  std::lock_guard<std::mutex> lock(callbacks_mutex());
  callbacks().erase(id);
}

bool interrupted() { return g_signal != 0; }

static_assert(sizeof(sigset_t) <= 128, "InterruptsHeld keeps a sigset_t");

InterruptsHeld::InterruptsHeld() {
  sigset_t hold;
  sigemptyset(&hold);
  sigaddset(&hold, SIGINT);
  sigaddset(&hold, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &hold, reinterpret_cast<sigset_t*>(old_mask_));
}

InterruptsHeld::~InterruptsHeld() {
  install_interrupt_handlers();  // ours again, before any held signal is delivered
  pthread_sigmask(SIG_SETMASK, reinterpret_cast<const sigset_t*>(old_mask_), nullptr);
}

}  // namespace chatdc
