// End to end through a real Slurm cluster (tests/slurm/cluster.sh, started by ctest's slurm_cluster fixture):
// a sweep as one job array, --no-wait and `chatdc collect`, a failed task reported with its stderr, a rerun
// that resumes only what is missing, a 2-shard day through sbatch; each compared with the local executor,
// byte for byte apart from wall times. Every test exits 77 (ctest: skipped) when no cluster answers.
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <thread>

#include "e2e/harness.hpp"

namespace fs = std::filesystem;
using chatdc::test::run;
using chatdc::test::scratch;
using chatdc::test::slurp;
using chatdc::test::summary_sans_wall;

namespace {

void need_cluster() {
  const char* conf = std::getenv("SLURM_CONF");
  if (conf == nullptr || !fs::exists(conf) || std::system("scontrol ping >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "no Slurm cluster answers (SLURM_CONF=%s): skipped\n", conf ? conf : "");
    std::exit(77);
  }
}

const std::string kTiny = "tests/fixtures/tiny.yaml --set run.duration_h=1 ";

/// A CSV with its wall_s column emptied.
std::string sans_wall(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  std::size_t col = std::string::npos;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    REQUIRE(chatdc::split_csv_line(line, &f));
    if (col == std::string::npos) col = static_cast<std::size_t>(std::find(f.begin(), f.end(), "wall_s") - f.begin());
    if (col < f.size()) f[col] = "";
    for (const auto& x : f) out += x + ",";
    out += "\n";
  }
  return out;
}

void require_same_points(const fs::path& a, const fs::path& b, const std::vector<std::string>& points) {
  for (const auto& p : points) {
    INFO(p);
    for (const char* f : {"timeline.csv", "hourly.csv"}) CHECK(slurp(a / p / f) == slurp(b / p / f));
    CHECK(summary_sans_wall(a / p).dump() == summary_sans_wall(b / p).dump());
  }
}

std::string job_id(const fs::path& study) {
  const auto j = nlohmann::json::parse(slurp(study / "slurm" / "job.json"));
  return j.at("job_id").get<std::string>();
}

/// Waits (at most two minutes) until the job has left the queue.
void wait_job(const std::string& id) {
  for (int i = 0; i < 240; ++i) {
    const auto q = run("-h -j " + id + " -o %i", "squeue");
    if (q.code != 0 || q.out.find_first_not_of(" \n") == std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  FAIL("Slurm job " << id << " did not finish in two minutes");
}

}  // namespace

TEST_CASE("slurm: a sweep as one job array gives the local executor's tables and runs, byte for byte apart from wall times",
          "[slurm]") {
  need_cluster();
  const auto d = scratch("slurm-sweep");
  const std::string sweep = "sweep " + kTiny + "--grid run.seed=1,2,3 --no-plot ";
  const auto local = run(sweep + "-q --out " + (d / "local").string());
  REQUIRE(local.code == 0);
  const auto slurm = run(sweep + "--executor slurm --slurm-cpus-per-task 1 --slurm-array-max 2 --slurm-time 10 --out " +
                         (d / "slurm").string());
  INFO(slurm.err);
  REQUIRE(slurm.code == 0);
  CHECK(slurm.out.find("3 points (3 run, 0 done before)") != std::string::npos);
  CHECK(sans_wall(slurp(d / "local" / "sweep.csv")) == sans_wall(slurp(d / "slurm" / "sweep.csv")));
  require_same_points(d / "local", d / "slurm", {"seed=1", "seed=2", "seed=3"});
  // The job script asked for what the options said, and each task wrote its result.
  const std::string script = slurp(d / "slurm" / "slurm" / "job.sh");
  CHECK(script.find("#SBATCH --array=0-2%2") != std::string::npos);
  CHECK(script.find("#SBATCH --time=10") != std::string::npos);
  CHECK(script.find("#SBATCH --cpus-per-task=1") != std::string::npos);
  for (const char* p : {"seed=1", "seed=2", "seed=3"}) CHECK(slurp(d / "slurm" / p / "slurm.exit").rfind("0 ", 0) == 0);
}

TEST_CASE("slurm: --no-wait then chatdc collect, a failed task is reported with its stderr, a rerun runs only what is missing",
          "[slurm]") {
  need_cluster();
  const auto d = scratch("slurm-collect");
  const std::string sweep = "sweep " + kTiny + "--grid run.seed=4,5 --no-plot ";
  const fs::path out = d / "study";
  // Held in the queue until released, so that the test can break one task's command line first.
  auto p = run(sweep + "--executor slurm --no-wait --sbatch=--hold --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  CHECK(p.out.find("2 runs submitted to Slurm as job") != std::string::npos);
  CHECK_FALSE(fs::exists(out / "sweep.csv"));
  const std::string id = job_id(out);
  // Collected too early: nothing written, every point named as not finished.
  p = run("collect " + out.string());
  CHECK(p.code == 2);
  CHECK(p.err.find("2 of 2 runs have not finished yet") != std::string::npos);
  CHECK_FALSE(fs::exists(out / "sweep.csv"));
  // Task 1 (seed=5) will now run with a bad value: its `chatdc run` fails with exit status 2.
  const fs::path points = out / "slurm" / "points.json";
  std::string text = slurp(points);
  const auto at = text.find("run.seed=5");
  REQUIRE(at != std::string::npos);
  text.replace(at, 10, "run.seed=x");
  { std::ofstream(points) << text; }
  REQUIRE(run("release " + id, "scontrol").code == 0);
  wait_job(id);
  p = run("collect " + out.string());
  CHECK(p.code == 2);
  CHECK(p.err.find("1 of 2 runs failed") != std::string::npos);
  CHECK(p.err.find("seed=5") != std::string::npos);
  CHECK(p.err.find("exit status 2") != std::string::npos);
  CHECK(p.err.find("run.seed") != std::string::npos);  // the run's own error, from its stderr.txt
  CHECK_FALSE(fs::exists(out / "sweep.csv"));
  // Run again (waiting): only the failed point is submitted; the tables equal the local executor's.
  p = run(sweep + "--executor slurm --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  CHECK(p.out.find("2 points (1 run, 1 done before)") != std::string::npos);
  REQUIRE(run(sweep + "-q --out " + (d / "local").string()).code == 0);
  CHECK(sans_wall(slurp(d / "local" / "sweep.csv")) == sans_wall(slurp(out / "sweep.csv")));
}

TEST_CASE("slurm: a 2-shard day through sbatch, merged, equals one process byte for byte apart from wall times", "[slurm]") {
  need_cluster();
  const auto d = scratch("slurm-shards");
  const std::string s = "tests/fixtures/two_sites.yaml --set routing.policy=nearest --set serving.cell_replicas=2 ";
  REQUIRE(run("run " + s + "-q -o " + (d / "one").string()).code == 0);
  const auto p = run("run " + s + "--shards 2 --executor slurm -o " + (d / "merged").string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  CHECK(p.out.find("2 shards ran with the slurm executor") != std::string::npos);
  CHECK(p.out.find("merged 2 shards") != std::string::npos);
  for (const char* f : {"timeline.csv", "hourly.csv", "scenario.resolved.yaml"}) {
    INFO(f);
    CHECK(slurp(d / "one" / f) == slurp(d / "merged" / f));
  }
  CHECK(summary_sans_wall(d / "one").dump() == summary_sans_wall(d / "merged").dump());
}

TEST_CASE("slurm: no sbatch, or a controller that does not answer, is a clear error that writes nothing", "[slurm]") {
  need_cluster();
  const auto d = scratch("slurm-bad");
  const std::string sweep = "sweep " + kTiny + "--grid run.seed=1,2 --no-plot --executor slurm --out ";
  auto p = run(sweep + (d / "a").string(), "PATH=/nonexistent " CHATDC_BINARY);
  CHECK(p.code == 2);
  CHECK(p.err.find("sbatch not found on PATH") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "a"));
  // The same cluster's configuration, but a port nobody listens on.
  const std::string conf = std::regex_replace(slurp(std::getenv("SLURM_CONF")), std::regex("SlurmctldPort=\\d+"), "SlurmctldPort=9");
  { std::ofstream(d / "down.conf") << conf; }
  p = run(sweep + (d / "b").string(), "SLURM_CONF=" + (d / "down.conf").string() + " " CHATDC_BINARY);
  CHECK(p.code == 2);
  CHECK(p.err.find("controller does not answer") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "b"));
  p = run("run tests/fixtures/two_sites.yaml --set routing.policy=nearest --shards 2 --executor slurm -o " + (d / "c").string(),
          "SLURM_CONF=" + (d / "down.conf").string() + " " CHATDC_BINARY);
  CHECK(p.code == 2);
  CHECK(p.err.find("controller does not answer") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "c"));
  // Options checked before anything is submitted.
  CHECK(run(sweep + (d / "e").string() + " --slurm-time soon").code == 2);
  CHECK(run(sweep + (d / "e").string() + " --slurm-cpus-per-task 0").code == 2);
  CHECK(run(sweep + (d / "e").string() + " --sbatch=account").code == 2);
  CHECK(run("sweep " + kTiny + "--grid run.seed=1,2 --no-wait --out " + (d / "e").string()).code == 2);
  CHECK_FALSE(fs::exists(d / "e"));
}
