// End-to-end tests of `chatdc plan`: a capacity question whose answer queueing theory gives by hand,
// the search against an exhaustive sweep, the chosen fleet rerun from plan.resolved.yaml, infeasible
// points never ranked first, bad input, resume and placement across sites.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <set>
#include <sstream>
#include <vector>

#include "core/csv.hpp"
#include "e2e/harness.hpp"

using namespace chatdc::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// tests/fixtures/md1.yaml: every DGX A100 holds one replica serving one request at a time with fixed
// lengths, so its service time D is deterministic; cells of one replica pick a replica by a hash of the
// request id, which splits the Poisson stream at random: each of c replicas is an M/D/1 queue with
// load rho = lambda D / c. Its waiting time W (Erlang's M/D/1 formula) has P(W <= D) = (1 - rho) e^rho,
// and its mean is Pollaczek-Khinchine's rho D / (2 (1 - rho)).
double p_wait_within_d(double rho) { return rho < 1 ? (1 - rho) * std::exp(rho) : 0.0; }

struct Md1 {
  double d = 0, ttft0 = 0;
  double lambda_d = 2.0;  // offered load, Erlangs
  double target = 0.85;   // SLO attainment target: share of requests waiting at most D
  std::string sets;
};

/// D and the TTFT of a request that does not wait, measured on a fleet so large that almost nobody waits.
Md1 calibrate() {
  Md1 m;
  const auto out = scratch("md1-calibrate");
  const Proc p = run("run " + fixture("md1.yaml") + " --set platform.regions[0].datacenters[0].racks=50 --quiet --out " +
                     out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  // Busy time per request: GPU-seconds executing steps / 8 GPUs per replica / completed requests.
  m.d = s["utilization"]["gpu_mean"].get<double>() * s["fleet"]["gpus"].get<double>() * s["simulated_s"].get<double>() / 8.0 /
        s["requests"]["completed"].get<double>();
  REQUIRE(s["latency_s"]["queue"]["p90"].get<double>() == 0);  // 90% do not wait: p50 is the no-wait TTFT
  m.ttft0 = s["latency_s"]["ttft"]["p50"].get<double>();
  std::ostringstream o;
  o << std::setprecision(17) << " --set workload.requests_per_day=" << m.lambda_d / m.d * 86400
    << " --set slo.ttft_s=" << m.ttft0 + m.d << " --slo-attainment " << m.target << " ";
  m.sets = o.str();
  return m;
}

/// The fewest replicas meeting the target, by hand.
int replicas_by_hand(const Md1& m) {
  int c = 1;
  while (p_wait_within_d(m.lambda_d / c) < m.target) ++c;
  return c;
}

const std::vector<std::string>* row_where(const std::vector<std::vector<std::string>>& rows, std::size_t col,
                                          const std::string& value) {
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i][col] == value) return &rows[i];
  return nullptr;
}

}  // namespace

TEST_CASE("plan: the fewest M/D/1 replicas meeting a waiting-time target, as queueing theory gives it by hand") {
  const Md1 m = calibrate();
  const int c = replicas_by_hand(m);
  REQUIRE(c == 5);  // rho = 0.4: 89.5% wait at most D; with 4 (rho = 0.5), 82.4%
  const auto out = scratch("plan-md1");
  const Proc p = run("plan " + fixture("md1.yaml") + m.sets + "--out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto rows = read_csv(out / "plan.csv");
  const auto& h = rows[0];
  const auto chosen = row_where(rows, column(h, "chosen"), "1");
  REQUIRE(chosen);
  CHECK((*chosen)[column(h, "phase")] == "day");
  CHECK((*chosen)[column(h, "racks_east-1")] == std::to_string(c));
  CHECK((*chosen)[column(h, "servers")] == std::to_string(c));
  // The fleet's own figures against theory: SLO attainment and the mean wait.
  const json s = summary(out / (*chosen)[column(h, "folder")]);
  const double rho = m.lambda_d / c;
  CHECK(s["slo"]["attainment"].get<double>() == Approx(p_wait_within_d(rho)).margin(0.01));
  CHECK(s["latency_s"]["queue"]["mean"].get<double>() == Approx(rho * m.d / (2 * (1 - rho))).epsilon(0.05));
  // Verified: one server fewer was evaluated over a full day and fails.
  bool below = false;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i][column(h, "phase")] == "day" && rows[i][column(h, "racks_east-1")] == std::to_string(c - 1)) {
      below = true;
      CHECK(rows[i][column(h, "feasible")] == "0");
      CHECK_THAT(rows[i][column(h, "reason")], Catch::Contains("SLO"));
    }
  CHECK(below);
  // Headroom: the largest multiplier (steps of 0.05) with P(W <= D) >= target at c replicas, by hand,
  // within one step (the simulated attainment is a sample).
  double m_star = 1;
  while (p_wait_within_d(m.lambda_d * (m_star + 0.05) / c) >= m.target) m_star += 0.05;
  const std::string md = slurp(out / "plan.md");
  const auto at = md.find("headroom x");
  REQUIRE(at != std::string::npos);
  const double headroom = std::stod(md.substr(at + 10, 4));
  CHECK(headroom >= m_star - 0.05 - 1e-9);
  CHECK(headroom <= m_star + 0.05 + 1e-9);
  CHECK_THAT(md, Catch::StartsWith("# chatdc plan: md1\n\n**5 dgx-a100-80gb at east-1**"));
  CHECK(fs::exists(out / "plan.png"));

  // An infeasible point is never ranked first: the cheapest fleet evaluated over a full day fails.
  double cheapest = 1e300, chosen_cost = std::stod((*chosen)[column(h, "cost_total")]);
  std::string cheapest_feasible;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i][column(h, "phase")] == "day" && std::stod(rows[i][column(h, "cost_total")]) < cheapest) {
      cheapest = std::stod(rows[i][column(h, "cost_total")]);
      cheapest_feasible = rows[i][column(h, "feasible")];
    }
  CHECK(cheapest < chosen_cost);
  CHECK(cheapest_feasible == "0");

  // plan.resolved.yaml reruns to the reported figures.
  const auto again = scratch("plan-md1-rerun");
  REQUIRE(run("run " + (out / "plan.resolved.yaml").string() + " --quiet --out " + again.string()).code == 0);
  const json r = summary(again);
  CHECK(r["cost"]["total"].get<double>() == std::stod((*chosen)[column(h, "cost_total")]));
  CHECK(r["slo"]["attainment"].get<double>() == std::stod((*chosen)[column(h, "slo_attainment")]));
  CHECK(r["requests"]["completed"].get<long>() == std::stol((*chosen)[column(h, "requests_completed")]));
  CHECK(r["latency_s"]["ttft"]["p99"].get<double>() == std::stod((*chosen)[column(h, "ttft_p99_s")]));

  // A rerun resumes: every point is found done, and the plan is the same.
  const Proc p2 = run("plan " + fixture("md1.yaml") + m.sets + "--no-plot --out " + out.string());
  REQUIRE(p2.code == 0);
  CHECK_THAT(p2.out, Catch::Contains("(0 run now,"));
  const auto rows2 = read_csv(out / "plan.csv");
  REQUIRE(rows2.size() == rows.size());
  const auto chosen2 = row_where(rows2, column(h, "chosen"), "1");
  REQUIRE(chosen2);
  CHECK((*chosen2)[column(h, "cost_total")] == (*chosen)[column(h, "cost_total")]);
}

TEST_CASE("plan: the search finds the same minimum as an exhaustive sweep of full days") {
  const Md1 m = calibrate();
  const auto sweep = scratch("plan-md1-sweep"), plan = scratch("plan-md1-search");
  REQUIRE(run("sweep " + fixture("md1.yaml") + m.sets + "--grid 'platform.regions[0].datacenters[0].racks=1:8' --no-plot " +
              "--quiet --out " + sweep.string())
              .code == 0);
  const auto s = read_csv(sweep / "sweep.csv");
  std::string fewest;
  for (std::size_t i = 1; i < s.size() && fewest.empty(); ++i)
    if (s[i][column(s[0], "feasible")] == "1") fewest = s[i][column(s[0], "platform.regions[0].datacenters[0].racks")];
  REQUIRE_FALSE(fewest.empty());
  // Monotone: every larger fleet is feasible too.
  for (std::size_t i = 1; i < s.size(); ++i)
    CHECK(s[i][column(s[0], "feasible")] ==
          (std::stoi(s[i][column(s[0], "platform.regions[0].datacenters[0].racks")]) >= std::stoi(fewest) ? "1" : "0"));
  // The plan, without screening and with it, from a poor first guess (the scenario's 3 racks... and 1).
  for (const std::string extra : {"--screen-hours 0", "--screen-hours 1", "--set platform.regions[0].datacenters[0].racks=1"}) {
    INFO(extra);
    const Proc p = run("plan " + fixture("md1.yaml") + m.sets + extra + " --no-headroom --no-plot --rerun --out " + plan.string());
    REQUIRE(p.code == 0);
    const auto rows = read_csv(plan / "plan.csv");
    const auto chosen = row_where(rows, column(rows[0], "chosen"), "1");
    REQUIRE(chosen);
    CHECK((*chosen)[column(rows[0], "racks_east-1")] == fewest);
  }
}

TEST_CASE("plan: bad --objective, --vary, --servers, --tp, --engine input is an error naming the option, nothing is written") {
  const auto out = scratch("plan-bad") / "never";
  const std::string base = "plan " + fixture("md1.yaml") + " --out " + out.string() + " ";
  const std::vector<BadInput> cases = {
      {"--objective speed", "--objective \"speed\": expected cost, energy or carbon"},
      {"--vary 'serving.max_batch_size=1:8'", "--vary \"serving.max_batch_size=1:8\": the key must be a datacenter's racks"},
      {"--vary 'platform.regions[0].datacenters[0].racks=0:8'", "expected 1 <= MIN <= MAX <= 100,000, got 0:8"},
      {"--vary 'platform.regions[0].datacenters[0].racks=8:2'", "got 8:2"},
      {"--vary 'platform.regions[0].datacenters[0].racks=a:b'", "expected whole numbers MIN:MAX"},
      {"--vary 'platform.regions[0].datacenters[0].racks'", "expected KEY=MIN:MAX"},
      {"--vary 'platform.regions[west].datacenters[0].racks=1:8'", "no region \"west\" (there are: east)"},
      {"--vary 'platform.regions[0].datacenters[x-1].racks=1:8'", "no datacenter in east \"x-1\" (there are: east-1)"},
      {"--servers dgx-z900", "--servers: unknown server \"dgx-z900\""},
      {"--servers dgx-a100-80gb,dgx-a100-80gb", "dgx-a100-80gb is given twice"},
      {"--tp 0", "--tp \"0\": expected whole numbers from 1 to 64"},
      {"--tp 2.5", "--tp \"2.5\""},
      {"--engine vllm-1999", "--engine: unknown serving engine \"vllm-1999\""},
      {"--tp 1", "no candidate can serve the scenario"},  // Llama-2-70B does not fit one A100
      {"--slo-attainment 0", "--slo-attainment \"0\": expected a share in (0, 1]"},
      {"--screen-hours 13", "--screen-hours 13: expected 0 (no screening) to 12 hours"},
      {"--set serving.max_batch_size=0", "serving.max_batch_size"},
  };
  check_bad_inputs(base, cases, out);
}

namespace {

/// Rows of plan.csv whose `answer` is 1: each placement's verified answer.
std::vector<std::vector<std::string>> answers(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> out;
  for (std::size_t i = 1; i < rows.size(); ++i)
    if (rows[i][column(rows[0], "answer")] == "1") out.push_back(rows[i]);
  return out;
}

}  // namespace

TEST_CASE("plan: placement across two sites: each alone, splits, the best by cost or energy, a single --vary site") {
  const auto out = scratch("plan-two-sites");
  const Proc p = run("plan " + fixture("two_sites.yaml") + " --no-plot --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  auto rows = read_csv(out / "plan.csv");
  auto h = rows[0];
  std::set<std::string> placements;
  for (std::size_t i = 1; i < rows.size(); ++i) placements.insert(rows[i][column(h, "placement")]);
  CHECK(placements.count("all at sh-1"));
  CHECK(placements.count("all at zw-1"));
  CHECK(placements.count("split zw-1 + sh-1"));  // the cheaper site (Ningxia's tariff) with the nearer one
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i][column(h, "placement")] != "all at zw-1") continue;
    const json s = summary(out / rows[i][column(h, "folder")]);
    REQUIRE(s["datacenters"].size() == 1);  // Shanghai removed
    CHECK(s["datacenters"][0]["name"] == "zw-1");
  }
  // The chosen plan is the feasible answer of lowest cost; every answer is feasible.
  auto a = answers(rows);
  REQUIRE(a.size() >= 3);
  const std::vector<std::string>* chosen = row_where(rows, column(h, "chosen"), "1");
  REQUIRE(chosen);
  CHECK((*chosen)[column(h, "answer")] == "1");
  for (const auto& r : a) {
    CHECK(r[column(h, "feasible")] == "1");
    CHECK(std::stod(r[column(h, "objective_per_day")]) >= std::stod((*chosen)[column(h, "objective_per_day")]));
  }
  CHECK_THAT(slurp(out / "plan.md"), Catch::Contains("| all at zw-1") && Catch::Contains("split zw-1 + sh-1"));

  // By energy: the chosen answer uses the least facility energy a day.
  const auto energy = scratch("plan-two-sites-energy");
  REQUIRE(run("plan " + fixture("two_sites.yaml") + " --objective energy --no-headroom --no-plot --out " + energy.string()).code == 0);
  rows = read_csv(energy / "plan.csv");
  h = rows[0];
  chosen = row_where(rows, column(h, "chosen"), "1");
  REQUIRE(chosen);
  CHECK((*chosen)[column(h, "objective")] == "energy");
  for (const auto& r : answers(rows))
    CHECK(std::stod(r[column(h, "facility_energy_kwh")]) >= std::stod((*chosen)[column(h, "facility_energy_kwh")]));

  // --vary one site: only Shanghai is sized; Ningxia keeps its 2 servers in every run.
  const auto vary = scratch("plan-two-sites-vary");
  const Proc pv = run("plan " + fixture("two_sites.yaml") + " --vary 'platform.regions[shanghai].datacenters[sh-1].racks=1:6' " +
                      "--no-headroom --no-plot --out " + vary.string());
  INFO(pv.err);
  REQUIRE(pv.code == 0);
  rows = read_csv(vary / "plan.csv");
  h = rows[0];
  CHECK(std::find(h.begin(), h.end(), "racks_zw-1") == h.end());
  for (std::size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i][column(h, "placement")] == "at sh-1");
    const json s = summary(vary / rows[i][column(h, "folder")]);
    REQUIRE(s["datacenters"].size() == 2);
    CHECK(s["datacenters"][1]["servers"] == 2);
  }
  REQUIRE(row_where(rows, column(h, "chosen"), "1"));
}

TEST_CASE("plan: DeepSeek's demand (scenarios/plan-deepseek.yaml), shrunk: racks of one decode unit and three prefill units, the answer and the size below") {
  // 6% of the published demand for 15 minutes of the peak window (a test's size, not the README's figures):
  // about 127 requests a second. One rack (18 decode + 12 prefill H800 nodes) prefills about 100 a second
  // with the `vllm` profile (36.6 k input tokens/s per prefill node at 4,384 tokens a prompt), so its queue
  // grows past the 2 s TTFT target; two racks carry it. The plan starts at one rack.
  const auto out = scratch("plan-deepseek");
  const std::string dc = "platform.regions[east].datacenters[deepseek]";
  const Proc p = run("plan " + std::string(CHATDC_SOURCE_DIR) + "/scenarios/plan-deepseek.yaml --set run.duration_h=0.25 "
                     "--set workload.demand_multiplier=0.06 --set " + dc + ".racks=1 --jobs 1 --no-headroom --no-plot --out " +
                     out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto rows = read_csv(out / "plan.csv");
  const auto& h = rows[0];
  const std::vector<std::string>* chosen = row_where(rows, column(h, "chosen"), "1");
  REQUIRE(chosen);
  CHECK((*chosen)[column(h, "racks_deepseek")] == "2");
  CHECK((*chosen)[column(h, "feasible")] == "1");
  CHECK((*chosen)[column(h, "servers")] == "60");
  const std::vector<std::string>* below = row_where(rows, column(h, "racks_deepseek"), "1");
  REQUIRE(below);
  CHECK((*below)[column(h, "feasible")] == "0");
  // Both pools scale with the racks, each in whole units: 2 decode units of 18 nodes, 6 prefill units of 4.
  for (const auto* r : {chosen, below}) {
    const json s = summary(out / (*r)[column(h, "folder")]);
    const double racks = std::stod((*r)[column(h, "racks_deepseek")]);
    CHECK(s["disaggregation"]["decode"]["servers_mean"].get<double>() == Approx(18 * racks));
    CHECK(s["disaggregation"]["prefill"]["servers_mean"].get<double>() == Approx(12 * racks));
    CHECK(s["cost"]["rental"].get<double>() == Approx(30 * racks * 8 * 2 * 0.25).epsilon(1e-9));  // $2 per GPU-hour
  }
}
