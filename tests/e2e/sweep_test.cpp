// End-to-end tests of `chatdc sweep`: grid and zip expansion through real runs, bad input before
// anything runs, resume.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "core/csv.hpp"
#include "e2e/harness.hpp"

using namespace chatdc::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kHour = " --set run.duration_h=1 ";

std::string fmt_points(int n, int run, int done) {
  return std::to_string(n) + " points (" + std::to_string(run) + " run, " + std::to_string(done) + " done before)";
}
const std::string kRacks = "platform.regions[0].datacenters[0].racks";

}  // namespace

TEST_CASE("sweep: a grid and zipped lists, one run per point, values applied, figures as in each summary") {
  const auto out = scratch("sweep");
  const Proc p = run("sweep " + fixture("tiny.yaml") + kHour + "--grid '" + kRacks + "=1:2' " +
                     "--zip run.seed=3,4 --zip 'serving.max_batch_size=16,32' --y ttft_p99_s --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto rows = read_csv(out / "sweep.csv");
  REQUIRE(rows.size() == 1 + 2 * 2);
  const auto& h = rows[0];
  CHECK(h[2] == kRacks);
  CHECK(h[3] == "run.seed");
  CHECK(h[4] == "serving.max_batch_size");
  const std::vector<std::vector<std::string>> want = {{"1", "3", "16"}, {"1", "4", "32"}, {"2", "3", "16"}, {"2", "4", "32"}};
  for (std::size_t i = 1; i < rows.size(); ++i) {
    CHECK(std::vector<std::string>(rows[i].begin() + 2, rows[i].begin() + 5) == want[i - 1]);
    const fs::path dir = out / rows[i][column(h, "folder")];
    const json s = summary(dir);
    CHECK(s["fleet"]["servers"] == 2 * std::stoi(want[i - 1][0]));
    CHECK(s["scenario"]["seed"] == std::stoi(want[i - 1][1]));
    CHECK_THAT(slurp(dir / "scenario.resolved.yaml"), Catch::Contains("max_batch_size: " + want[i - 1][2]));
    CHECK(std::stod(rows[i][column(h, "cost_total")]) == s["cost"]["total"].get<double>());
    CHECK(rows[i][column(h, "requests_dropped")] == std::to_string(s["requests"]["dropped"].get<long>()));
    CHECK(rows[i][column(h, "slo_met")] == "1");
    CHECK(rows[i][column(h, "feasible")] == "1");
  }
  CHECK(rows[1][0] == "racks=1 seed=3 max_batch_size=16");
  const std::string md = slurp(out / "sweep.md");
  CHECK_THAT(md, Catch::Contains("**Cheapest feasible point: racks=1 seed="));
  CHECK_THAT(md, Catch::Contains("| racks | seed | max_batch_size | feasible |"));
  CHECK_THAT(md, Catch::Contains("| `economics.network_capex_fraction` | 0.1400 | share of server capex | 4 of 4 |"));
  REQUIRE(fs::exists(out / "sweep.png"));
  CHECK(fs::file_size(out / "sweep.png") > 10000);
  for (const auto& e : fs::directory_iterator(out)) CHECK(e.path().filename().string().front() != '.');
}

TEST_CASE("sweep: bad --grid, --zip, --x or --y input is an error naming the option and value, nothing runs or is written") {
  const auto out = scratch("sweep-bad") / "never";
  const std::string base = "sweep " + fixture("tiny.yaml") + kHour + "--out " + out.string() + " ";
  const std::vector<BadInput> cases = {
      {"--grid racks", "--grid \"racks\": expected KEY=V1,V2,... or KEY=START:STOP[:STEP]"},
      {"--grid '" + kRacks + "=4:1'", "STOP (1) is below START (4)"},
      {"--grid '" + kRacks + "=1:8:0'", "the step must be > 0, got 0"},
      {"--grid '" + kRacks + "=1,,2'", "an empty value"},
      {"--grid 'serving.max_batch_size=8,0'",
       "--grid \"serving.max_batch_size=8,0\" (value 0): invalid scenario"},
      {"--grid 'serving.max_batch_size=8,0'", "serving.max_batch_size: expected a whole number in [1, 4096], got 0"},
      {"--grid 'serving.max_batchsize=8,16'", "max_batchsize"},
      {"--zip run.seed=1,2 --zip 'serving.max_batch_size=8,16,32'", "--zip \"serving.max_batch_size=8,16,32\" has 3 values"},
      {"--grid run.seed=1,2 --zip run.seed=3,4", "the key run.seed is varied twice"},
      {"--grid run.seed=1,2 --y cheapness", "--y \"cheapness\": not a figure of sweep.csv"},
      {"--grid run.seed=1,2 --x racks", "--x \"racks\": not a varied key (varied: seed)"},
      {"--grid run.seed=1,2 --slo-attainment 1.5", "--slo-attainment \"1.5\": expected a share in (0, 1]"},
      {"", "sweep needs at least one --grid"},
  };
  check_bad_inputs(base, cases, out);
}

TEST_CASE("sweep: a rerun resumes, running only the points whose outputs are missing") {
  const auto out = scratch("sweep-resume");
  const std::string args = "sweep " + fixture("tiny.yaml") + kHour + "--grid run.seed=1,2,3 --quiet --no-plot --out " + out.string();
  REQUIRE(run(args).code == 0);
  const auto kept = fs::last_write_time(out / "seed=1" / "summary.json");
  // As if the sweep had been interrupted before seed=3 finished: its folder holds no summary.
  fs::remove(out / "seed=3" / "summary.json");
  const std::string before = slurp(out / "sweep.csv");
  const Proc again = run("sweep " + fixture("tiny.yaml") + kHour + "--grid run.seed=1,2,3 --no-plot --out " + out.string());
  INFO(again.err);
  REQUIRE(again.code == 0);
  CHECK_THAT(again.out, Catch::Contains("3 points (1 run, 2 done before)"));
  CHECK(fs::last_write_time(out / "seed=1" / "summary.json") == kept);
  CHECK(fs::exists(out / "seed=3" / "summary.json"));
  // The same table (apart from wall times) whichever way the points were run.
  auto strip_wall = [](const std::string& csv) {
    std::string o;
    std::istringstream in(csv);
    for (std::string l; std::getline(in, l);) o += l.substr(0, l.rfind(',')) + "\n";
    return o;
  };
  CHECK(strip_wall(slurp(out / "sweep.csv")) == strip_wall(before));
}

TEST_CASE("sweep: interrupted (SIGINT to its process group, as Ctrl-C), it leaves finished points usable and resumes") {
  const auto out = scratch("sweep-interrupt");
  const auto pidfile = out.parent_path() / (out.filename().string() + ".pid");
  // Four points of a few seconds each, one at a time, in a process group of their own.
  const std::string args = "sweep " + fixture("tiny.yaml") + " --set workload.requests_per_day=2e6 --grid run.seed=1,2,3,4 " +
                           "--jobs 1 --no-plot --quiet --out " + out.string();
  const std::string cmd = "cd '" CHATDC_SOURCE_DIR "' && setsid " CHATDC_BINARY " " + args + " >/dev/null 2>&1 & echo $! > '" +
                          pidfile.string() + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto finished = [&] {
    int n = 0;
    for (const char* s : {"seed=1", "seed=2", "seed=3", "seed=4"}) n += fs::exists(out / s / "summary.json");
    return n;
  };
  const long pid = std::stol(slurp(pidfile));
  const ProcessGroupGuard guard{pid};  // the sweep and its runs never outlive the test, even when it fails
  for (int i = 0; i < 2400 && finished() == 0; ++i) ::usleep(50000);
  REQUIRE(finished() >= 1);
  ::kill(static_cast<pid_t>(-pid), SIGINT);
  // The sweep is not this process's child: once it has ended it may stay a zombie until init reaps it.
  for (int i = 0; i < 1200 && !process_ended(pid); ++i) ::usleep(50000);
  REQUIRE(process_ended(pid));
  // No run of it is left (a run started while the sweep was stopping would outlive it).
  for (int i = 0; i < 100 && live_in_group(pid) > 0; ++i) ::usleep(50000);
  CHECK(live_in_group(pid) == 0);
  const int done = finished();
  for (const char* s : {"seed=1", "seed=2", "seed=3", "seed=4"})  // every folder whole or empty
    if (fs::exists(out / s / "summary.json")) CHECK(fs::exists(out / s / "scenario.resolved.yaml"));
  const Proc again = run("sweep " + fixture("tiny.yaml") + " --set workload.requests_per_day=2e6 --grid run.seed=1,2,3,4 " +
                         "--no-plot --out " + out.string());
  INFO(again.err);
  REQUIRE(again.code == 0);
  CHECK_THAT(again.out, Catch::Contains(fmt_points(4, 4 - done, done)));
  CHECK(read_csv(out / "sweep.csv").size() == 5);
}
