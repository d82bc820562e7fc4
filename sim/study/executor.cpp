#include "study/executor.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "core/interrupt.hpp"
#include "study/points.hpp"

extern char** environ;

namespace chatdc::study {

namespace fs = std::filesystem;

namespace {

/// The study's live `chatdc run` children: on SIGINT or SIGTERM the interrupt watcher stops them (SIGTERM:
/// each removes its staging folder) and waits for them before this process exits (README "Command line").
struct LiveChildren {
  std::mutex mutex;
  std::set<pid_t> pids;
  bool stopping = false;  // set once by the watcher: no child may start after it, nor any outcome be reported
};
LiveChildren& live_children() {
  static LiveChildren* l = new LiveChildren;  // never destroyed: the watcher may use it while the process ends
  return *l;
}

void stop_children(int) {
  LiveChildren& l = live_children();
  std::lock_guard<std::mutex> lock(l.mutex);  // kept until they are gone: no child starts meanwhile
  l.stopping = true;
  for (const pid_t p : l.pids) ::kill(p, SIGTERM);
  for (const pid_t p : l.pids) {
    int status = 0;
    while (::waitpid(p, &status, 0) < 0 && errno == EINTR) {
    }
  }
  l.pids.clear();
}

/// Once the watcher has stopped the children the process is ending (the watcher exits it): the study's
/// thread must neither start another run (it would outlive the study) nor report the stopped ones as failed
/// points, so it waits here for the end.
[[noreturn]] void wait_for_the_end() {
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

/// Starts argv with stdin from /dev/null and stdout + stderr into `log`; -1 (and *error) on failure.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, std::string* error) {
  std::vector<char*> av;
  for (const auto& s : argv) av.push_back(const_cast<char*>(s.c_str()));
  av.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 2, 1);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    *error = fmt::format("cannot start {}: {}", argv[0], std::strerror(rc));
    return -1;
  }
  return pid;
}

}  // namespace

unsigned online_cores() {
  unsigned cores = std::thread::hardware_concurrency();
  if (cores == 0) {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    cores = n > 0 ? static_cast<unsigned>(n) : 1;
  }
  return cores;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> last_lines(const fs::path& p, std::size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(slurp(p));
  for (std::string l; std::getline(in, l);)
    if (!trim(l).empty()) lines.push_back(l);
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

int run_and_wait(const std::vector<std::string>& argv, const std::string& log, std::string* error, double timeout_s) {
  const pid_t pid = spawn(argv, log, error);
  if (pid < 0) return -1;
  int status = 0;
  if (timeout_s > 0) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) return status;
      if (r < 0 && errno != EINTR) {
        *error = fmt::format("lost track of {}: {}", argv[0], std::strerror(errno));
        return -1;
      }
      if (std::chrono::steady_clock::now() >= end) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        *error = fmt::format("no answer within {:g} s", timeout_s);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      *error = fmt::format("lost track of {}: {}", argv[0], std::strerror(errno));
      return -1;
    }
  return status;
}

LocalExecutor::LocalExecutor(std::string exe, unsigned jobs, unsigned cores)
    : exe_(std::move(exe)), jobs_(std::max(1u, jobs)), cores_(std::max(1u, cores)) {}

void LocalExecutor::run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) {
  if (jobs.empty()) return;
  const auto at_once = static_cast<unsigned>(std::min<std::size_t>(jobs_, jobs.size()));
  const std::string threads = fmt::format("run.threads={}", std::max(1u, cores_ / at_once));
  std::map<pid_t, std::size_t> running;
  std::map<pid_t, std::chrono::steady_clock::time_point> started;
  std::size_t next = 0;
  struct Guard {
    int id = add_interrupt_callback(stop_children);
    ~Guard() { remove_interrupt_callback(id); }
  } guard;
  LiveChildren& live = live_children();
  auto finish = [&](std::size_t i, Outcome o) {
    if (o.state == Outcome::State::kFailed) o.stderr_tail = last_lines(jobs[i].log, 8);
    done(i, o);
  };
  while (next < jobs.size() || !running.empty()) {
    while (next < jobs.size() && running.size() < at_once) {
      const Job& j = jobs[next];
      std::vector<std::string> argv = {exe_, "run"};
      argv.insert(argv.end(), j.run_args.begin(), j.run_args.end());
      argv.insert(argv.end(), {"--quiet", "--no-progress", "--set", threads});
      std::string err;
      pid_t pid = -1;
      {
        std::unique_lock<std::mutex> lock(live.mutex);
        if (live.stopping || interrupted()) {
          lock.unlock();
          wait_for_the_end();
        }
        pid = spawn(argv, j.log, &err);
        if (pid >= 0) live.pids.insert(pid);
      }
      if (pid < 0) {
        Outcome o;
        o.state = Outcome::State::kFailed;
        o.failure = err;
        finish(next++, o);
        continue;
      }
      running[pid] = next++;
      started[pid] = std::chrono::steady_clock::now();
    }
    if (running.empty()) continue;
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    const int wait_errno = errno;
    {
      std::unique_lock<std::mutex> lock(live.mutex);  // waits while the watcher stops (and reaps) the children
      if (live.stopping || interrupted()) {
        lock.unlock();
        wait_for_the_end();
      }
      if (pid >= 0) live.pids.erase(pid);
    }
    if (pid < 0) {
      if (wait_errno == EINTR) continue;
      const std::string why = fmt::format("lost track of the child process: {}", std::strerror(wait_errno));
      for (const auto& [p, i] : running) {
        Outcome o;
        o.state = Outcome::State::kFailed;
        o.failure = why;
        finish(i, o);
      }
      return;
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;  // not one of ours
    Outcome o;
    o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started[pid]).count();
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    o.state = ok ? Outcome::State::kSucceeded : Outcome::State::kFailed;
    if (!ok) o.failure = describe_status(status);
    const std::size_t i = it->second;
    running.erase(it);
    started.erase(pid);
    finish(i, o);
  }
}

}  // namespace chatdc::study
