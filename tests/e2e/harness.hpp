// End-to-end test helpers: run the real chatdc binary and read its outputs.
#pragma once
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/csv.hpp"

namespace chatdc::test {

struct Proc {
  int code = -1;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A fresh, empty folder for one test. Its name carries a hash of the source folder, so that the suites
/// of two checkouts (worktrees) running at once do not share folders.
inline std::filesystem::path scratch(const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (const char c : std::string(CHATDC_SOURCE_DIR)) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  const auto d = std::filesystem::temp_directory_path() / ("chatdc-e2e-" + std::to_string(h % 100000) + "-" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

/// Runs `chatdc ARGS` (and any other command when `command` is given) in the source folder.
inline Proc run(const std::string& args, const std::string& command = CHATDC_BINARY) {
  static int n = 0;
  const auto d = std::filesystem::temp_directory_path() / ("chatdc-proc-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  std::filesystem::create_directories(d);
  const std::string cmd = "cd '" CHATDC_SOURCE_DIR "' && " + command + " " + args + " >'" + (d / "out").string() +
                          "' 2>'" + (d / "err").string() + "'";
  const int status = std::system(cmd.c_str());
  Proc p;
  p.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  p.out = slurp(d / "out");
  p.err = slurp(d / "err");
  std::filesystem::remove_all(d);
  return p;
}

inline nlohmann::json summary(const std::filesystem::path& dir) { return nlohmann::json::parse(slurp(dir / "summary.json")); }

/// summary.json without its wall time (what two executors, or a merged and a whole day, must share).
inline nlohmann::json summary_sans_wall(const std::filesystem::path& dir) {
  auto j = summary(dir);
  j.erase("wall_s");
  return j;
}

/// True once process `pid` has ended (gone, or a zombie nobody has reaped yet).
inline bool process_ended(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');  // "pid (comm) state ppid pgrp ..."
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z' || line[paren + 2] == 'X';
}

/// How many live (not zombie) processes are in process group `pgid`.
inline int live_in_group(long pgid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec); !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(it->path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (rest >> state >> ppid >> pgrp && pgrp == pgid && state != 'Z' && state != 'X') ++n;
  }
  return n;
}

/// Kills a process group that a test started (SIGKILL) when the test leaves its scope, passed or failed,
/// so that no process of it outlives the test.
struct ProcessGroupGuard {
  long pgid = -1;
  ~ProcessGroupGuard() {
    if (pgid > 0) ::kill(static_cast<pid_t>(-pgid), SIGKILL);
  }
};

/// A CSV file as rows of fields (the header first).
inline std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(slurp(p));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    REQUIRE(chatdc::split_csv_line(line, &f));
    rows.push_back(f);
  }
  return rows;
}

/// The index of a named column in a CSV header (fails the test when absent).
inline std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  const auto it = std::find(header.begin(), header.end(), name);
  REQUIRE(it != header.end());
  return static_cast<std::size_t>(it - header.begin());
}

/// A command-line case that must fail as bad input: its arguments and words its error must contain.
struct BadInput {
  std::string args, words;
};

/// Runs `base + args` for every case: exit status 2, the words in stderr, and `never` not created.
inline void check_bad_inputs(const std::string& base, const std::vector<BadInput>& cases, const std::filesystem::path& never) {
  for (const auto& c : cases) {
    INFO(c.args);
    const Proc p = run(base + c.args);
    CHECK(p.code == 2);
    CHECK_THAT(p.err, Catch::Contains(c.words));
    CHECK_FALSE(std::filesystem::exists(never));
  }
}

inline std::string fixture(const std::string& name) { return std::string(CHATDC_SOURCE_DIR) + "/tests/fixtures/" + name; }

}  // namespace chatdc::test
