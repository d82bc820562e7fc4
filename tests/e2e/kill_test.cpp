// Killing runs at random moments (SIGINT, SIGTERM, SIGKILL), with and without request logs: the output
// folder is exactly as it was, apart from a staging folder left by SIGKILL that the next run removes.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "e2e/harness.hpp"

extern char** environ;

using namespace chatdc::test;
namespace fs = std::filesystem;

namespace {

/// Every entry under `dir`: relative path -> kind, size and a digest of the content.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    const auto rel = fs::relative(it->path(), dir).string();
    if (it->is_directory()) {
      out[rel] = "dir";
    } else {
      out[rel] = std::to_string(it->file_size()) + ":" + std::to_string(std::hash<std::string>{}(slurp(it->path())));
    }
  }
  return out;
}

bool is_staging(const std::string& rel) { return rel.find(".chatdc-staging-") != std::string::npos; }

/// Waits (at most 60 s) until `count` staging folders exist under `dir`: the runs are under way.
void wait_for_staging(const fs::path& dir, std::size_t count) {
  for (int i = 0; i < 6000; ++i) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      n += is_staging(it->path().filename().string()) && it->is_directory(ec);
    if (n >= count) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

struct Child {
  pid_t pid = -1;
  fs::path err;
};

Child start(const std::vector<std::string>& args, const fs::path& err) {
  std::vector<std::string> argv = {CHATDC_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> av;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  Child c;
  c.err = err;
  REQUIRE(::posix_spawn(&c.pid, av[0], &fa, nullptr, av.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  return c;
}

int wait_for(const Child& c) {
  int status = 0;
  while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

#ifdef CHATDC_SANITIZE
constexpr int kKills = 9;               // a sanitized run is 5-10x slower: fewer, shorter runs
constexpr const char* kHours = "run.duration_h=2";
#else
constexpr int kKills = 15;
constexpr const char* kHours = "run.duration_h=8";
#endif

std::vector<std::string> run_args(const fs::path& out, const std::string& log) {
  return {"run", fixture("tiny.yaml"), "--set", "workload.requests_per_day=1.5e6", "--set", kHours,
          "--set", "run.request_log=" + log, "--set", "run.request_log_fraction=0.3", "--out", out.string(), "--quiet"};
}

const char* name_of(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGKILL"; }

}  // namespace

TEST_CASE("killed runs (SIGINT, SIGTERM, SIGKILL at random moments, with and without request logs) leave the folder as it was") {
  const fs::path parent = scratch("kill"), pristine = scratch("kill-pristine");
  const fs::path out = parent / "out";
  // An earlier run's outputs and a file of the user's: what the folder holds before each killed run.
  double full_s = 1e9;  // the shorter of two whole runs (the first may be slower: cold caches)
  for (int k = 0; k < 2; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    Child first = start(run_args(out, "all"), parent.parent_path() / "kill-first.err");
    REQUIRE(wait_for(first) == 0);
    full_s = std::min(full_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::ofstream(out / "notes.txt") << "mine\n";
  fs::copy(parent, pristine, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  const auto before = snapshot(parent);
  REQUIRE(before.count("out/requests.csv"));

  std::mt19937_64 rng(20251201);  // the moments are random, but the same in every run of the test
  const std::vector<int> signals = {SIGINT, SIGTERM, SIGKILL};
  const std::vector<std::string> logs = {"none", "all", "sample"};
  int finished = 0, interrupted = 0, killed = 0;
  for (int i = 0; i < kKills; ++i) {
    const int sig = signals[i % 3];
    const std::string log = logs[(i / 3) % 3];
    // Within the first 60% of a whole run's time: the machine's load may speed the later runs up (a test
    // beside this one ends), and the signals must still land during most of them.
    const double delay_s = std::uniform_real_distribution<double>(0.0, 0.6 * full_s)(rng);
    INFO("kill " << i << ": " << name_of(sig) << " after " << delay_s << " s of a " << full_s << "-s run, request_log " << log);
    Child c = start(run_args(out, log), parent.parent_path() / "kill.err");
    std::this_thread::sleep_for(std::chrono::duration<double>(delay_s));
    ::kill(c.pid, sig);
    const int status = wait_for(c);
    const auto after = snapshot(parent);
    INFO("stderr: " << slurp(c.err));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      // It finished first: the folder holds the new outputs, whole, and the user's file.
      ++finished;
      CHECK(after.count("out/summary.json"));
      CHECK(after.count("out/notes.txt"));
      CHECK(after.count("out/requests.csv") == (log != "none"));
      for (const auto& [rel, _] : after) CHECK_FALSE(is_staging(rel));
    } else if (WIFSIGNALED(status)) {
      // SIGKILL, or SIGINT/SIGTERM before chatdc had installed its handlers (while it was starting).
      ++killed;
      CHECK(WTERMSIG(status) == sig);
      // As it was, apart from the staging folder the killed run could not remove; or, killed after its commit
      // (the folders swapped in one step, the earlier one not yet removed), the new outputs whole: the same
      // files as a finished run's (this run's request log or none), the user's file kept.
      std::map<std::string, std::string> rest;
      for (const auto& [rel, d] : after)
        if (!is_staging(rel)) rest[rel] = d;
      std::set<std::string> names, whole;
      for (const auto& [rel, _] : rest) names.insert(rel);
      for (const auto& [rel, _] : before)
        if (rel != "out/requests.csv" || log != "none") whole.insert(rel);
      INFO("killed after its commit: " << (rest != before && names == whole));
      CHECK((rest == before || names == whole));
      // The next run into the same folder removes it.
      Child next = start({"run", fixture("tiny.yaml"), "--set", "run.duration_h=1", "--out", out.string(), "--quiet"},
                         parent.parent_path() / "kill-next.err");
      CHECK(wait_for(next) == 0);
      for (const auto& [rel, _] : snapshot(parent)) CHECK_FALSE(is_staging(rel));
      CHECK(fs::exists(out / "notes.txt"));
    } else {
      ++interrupted;
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 128 + sig);
      const std::string err = slurp(c.err);
      CHECK_THAT(err, Catch::Contains(std::string("interrupted by ") + name_of(sig)));
      if (err.find("the outputs had already been written whole") != std::string::npos) {
        // The signal came after the commit (while the process was ending): the new outputs, whole.
        CHECK(after.count("out/summary.json"));
        CHECK(after.count("out/notes.txt"));
        CHECK(after.count("out/requests.csv") == (log != "none"));
        for (const auto& [rel, _] : after) CHECK_FALSE(is_staging(rel));
      } else {
        CHECK_THAT(err, Catch::Contains("no output was written (the output folder is as it was)"));
        CHECK(after == before);
      }
    }
    // Back to the earlier state for the next kill.
    fs::remove_all(parent);
    fs::copy(pristine, parent, fs::copy_options::recursive);
  }
  WARN(finished << " finished before the signal, " << interrupted << " interrupted, " << killed << " killed");
  CHECK(interrupted + killed >= kKills / 3);  // most signals land during the run
}

TEST_CASE("an interrupted run into a new folder leaves nothing, and an interrupted compare stops its runs and keeps no partial point") {
  const fs::path parent = scratch("kill-new");
  for (const int sig : {SIGINT, SIGTERM}) {
    Child c = start(run_args(parent / "out", "all"), parent.parent_path() / "kill-new.err");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(c.pid, sig);
    const int status = wait_for(c);
    INFO(slurp(c.err));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;  // finished first (a very fast machine)
    if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 128 + sig);
    else CHECK(WTERMSIG(status) == sig);  // it was still starting, before its handlers
    CHECK(snapshot(parent).empty());
  }
  Child cmp = start({"compare", fixture("tiny.yaml"), "--variant", "b: run.seed=2", "--set", "workload.requests_per_day=1.5e6",
                     "--set", kHours, "--set", "run.request_log=all", "--out", (parent / "cmp").string(), "--quiet"},
                    parent.parent_path() / "kill-cmp.err");
  wait_for_staging(parent, 2);  // both runs' (inside the study's folder): the runs have started
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(cmp.pid, SIGTERM);
  const int status = wait_for(cmp);
  INFO(slurp(cmp.err));
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    if (WIFEXITED(status)) CHECK(WEXITSTATUS(status) == 143);
    else CHECK(WTERMSIG(status) == SIGTERM);  // it was still starting
    // Its runs were stopped, and cleaned up, before it exited: no run of it is left, nor any staging folder,
    // and no point holds a partial output (a study keeps only finished points, whole).
    std::size_t alive = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::ifstream in(it->path() / "cmdline", std::ios::binary);
      std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      alive += cmd.find((parent / "cmp").string()) != std::string::npos;
    }
    CHECK(alive == 0);
    for (const auto& [rel, _] : snapshot(parent)) {
      INFO(rel);
      CHECK_FALSE(is_staging(rel));
      CHECK(rel.find("summary.json") == std::string::npos);
    }
  }
}
