// End-to-end tests of `chatdc compare`: runs as child processes, the comparison files, failures.
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <vector>

#include "core/csv.hpp"
#include "e2e/harness.hpp"

using namespace chatdc::test;
using nlohmann::json;

namespace {

const std::string kOneHour = " --set run.duration_h=1 ";

}  // namespace

TEST_CASE("compare: a scenario and a variant side by side, in command-line order, costs as in each summary") {
  const auto out = scratch("compare");
  const Proc p = run("compare " + fixture("tiny.yaml") + kOneHour +
                     "--variant 'small-batch: serving.max_batch_size=8 run.seed=3' --jobs 2 --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto rows = read_csv(out / "comparison.csv");
  REQUIRE(rows.size() == 3);
  const auto& h = rows[0];
  CHECK(h.front() == "label");
  CHECK(h.back() == "wall_s");
  CHECK(h.size() == 61);  // the figures of the README's compare table
  for (const auto& r : rows) CHECK(r.size() == h.size());
  CHECK(rows[1][0] == "tiny");
  CHECK(rows[2][0] == "small-batch");
  CHECK(rows[1][column(h, "scenario_file")] == fixture("tiny.yaml"));
  CHECK(rows[1][column(h, "currency")] == "USD");
  for (std::size_t i = 1; i <= 2; ++i) {
    const json s = summary(out / rows[i][0]);
    // The shortest round-trip form reads back to the very same double.
    CHECK(std::stod(rows[i][column(h, "cost_total")]) == s["cost"]["total"].get<double>());
    CHECK(std::stod(rows[i][column(h, "facility_energy_kwh")]) == s["energy_kwh"]["facility"].get<double>());
    CHECK(std::stod(rows[i][column(h, "kv_cache_mean")]) == s["utilization"]["kv_cache_mean"].get<double>());
    CHECK(std::stod(rows[i][column(h, "mbu_mean")]) == s["utilization"]["mbu_mean"].get<double>());
    CHECK(rows[i][column(h, "requests_arrived")] == std::to_string(s["requests"]["arrived"].get<long>()));
    // Failures and batch work (none here: zeros read from the summary, not absent).
    CHECK(rows[i][column(h, "server_failures")] == std::to_string(s["failures"]["failures"].get<long>()));
    CHECK(rows[i][column(h, "requests_retried")] == std::to_string(s["failures"]["retried_requests"].get<long>()));
    CHECK(std::stod(rows[i][column(h, "server_hours_maintenance")]) == s["failures"]["server_hours_maintenance"].get<double>());
    CHECK(rows[i][column(h, "batch_deadline_misses")] == std::to_string(s["batch"]["deadline_misses"].get<long>()));
    CHECK(std::stod(rows[i][column(h, "batch_facility_energy_kwh")]) == s["batch"]["energy_kwh"]["facility"].get<double>());
    CHECK(std::filesystem::exists(out / rows[i][0] / "stderr.txt"));
  }
  CHECK(rows[1][column(h, "requests_arrived")] != rows[2][column(h, "requests_arrived")]);  // the variant's seed applied

  const std::string md = slurp(out / "comparison.md");
  CHECK_THAT(md, Catch::Contains("| tiny |") && Catch::Contains("| small-batch |"));
  CHECK_THAT(md, Catch::Contains("total cost (USD)"));
  CHECK_THAT(md, Catch::Contains("`serving.max_batch_size=8` `run.seed=3`"));
  // The defaults neither run set, once each, with the runs that used them.
  CHECK_THAT(md, Catch::Contains("## Defaults to review"));
  CHECK_THAT(md, Catch::Contains("| `economics.facility_capex_usd_per_kw` | 9,500 | USD per kW of IT nameplate | 2 of 2 |"));
  for (std::size_t i = 1; i <= 2; ++i) {
    const json s = summary(out / rows[i][0]);
    CHECK(std::stod(rows[i][column(h, "cost_capex_facility")]) == s["cost"]["capex_facility"].get<double>());
    CHECK(s["cost"]["capex_network"].get<double>() == Approx(0.14 * s["cost"]["capex_servers"].get<double>()));
  }
  CHECK_THAT(p.out, Catch::Contains("tiny") && Catch::Contains("small-batch"));
  REQUIRE(std::filesystem::exists(out / "comparison.png"));
  CHECK(std::filesystem::file_size(out / "comparison.png") > 10000);
  for (const auto& e : std::filesystem::directory_iterator(out))  // no temporary files left behind
    CHECK(e.path().filename().string().front() != '.');
}

TEST_CASE("compare: two runs with the same name get distinct labels and identical results") {
  const auto out = scratch("compare-same");
  const Proc p = run("compare " + fixture("tiny.yaml") + " " + fixture("tiny.yaml") + kOneHour + "--quiet --no-plot --out " +
                     out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  CHECK(p.out.empty());
  const auto rows = read_csv(out / "comparison.csv");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "tiny");
  CHECK(rows[2][0] == "tiny-2");
  const auto wall = column(rows[0], "wall_s");
  for (std::size_t c = 1; c < rows[0].size(); ++c)
    if (c != wall) CHECK(rows[1][c] == rows[2][c]);
}

TEST_CASE("compare: a run that does not validate is named with its error before anything runs, exit 2") {
  const auto out = scratch("compare-fail");
  std::ofstream(out / "comparison.md") << "an earlier comparison\n";
  const Proc p = run("compare " + fixture("tiny.yaml") + kOneHour + "--variant 'broken: serving.max_batch_size=0' --out " +
                     out.string());
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("run \"broken\" (--variant \"broken: serving.max_batch_size=0\")"));
  CHECK_THAT(p.err, Catch::Contains("serving.max_batch_size: expected a whole number in [1, 4096], got 0"));
  CHECK_FALSE(std::filesystem::exists(out / "comparison.csv"));
  CHECK_FALSE(std::filesystem::exists(out / "tiny"));  // nothing ran
  CHECK_FALSE(std::filesystem::exists(out / "broken"));
  CHECK(slurp(out / "comparison.md") == "an earlier comparison\n");  // the folder is as it was
}

TEST_CASE("compare: infeasible runs are marked and never called cheapest, however cheap") {
  const auto out = scratch("compare-feasible");
  // At 1.5 M requests a day, one or two servers drop requests and build a backlog; six carry the load.
  const Proc p = run("compare " + fixture("tiny.yaml") + kOneHour + "--set workload.requests_per_day=1.5e6 " +
                     "--variant 'one-server: platform.regions[0].datacenters[0].servers_per_rack=1' " +
                     "--variant 'six-servers: platform.regions[0].datacenters[0].racks=3' --no-plot --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto rows = read_csv(out / "comparison.csv");
  REQUIRE(rows.size() == 4);
  const auto& h = rows[0];
  const auto feasible = column(h, "feasible"), why = column(h, "infeasible_reason"), cost = column(h, "cost_total");
  CHECK(rows[1][feasible] == "0");
  CHECK(rows[2][feasible] == "0");
  CHECK(rows[3][feasible] == "1");
  CHECK_THAT(rows[2][why], Catch::Contains("dropped") && Catch::Contains("backlog"));
  CHECK(rows[3][why].empty());
  CHECK(std::stod(rows[2][cost]) < std::stod(rows[3][cost]));  // the infeasible run is the cheapest in money
  CHECK(rows[2][column(h, "requests_dropped")] != "0");
  CHECK(rows[3][column(h, "slo_met")] == "1");
  const std::string md = slurp(out / "comparison.md");
  CHECK_THAT(md, Catch::Contains("Cheapest feasible run: **six-servers**"));
  CHECK_THAT(md, Catch::Contains("| **feasible** | **no** | **no** | yes |"));
  CHECK_THAT(p.out, Catch::Contains("six-servers (cheapest)"));
  CHECK_THAT(p.out, !Catch::Contains("one-server (cheapest)"));
  CHECK_THAT(p.err, Catch::Contains("2 of 3 runs are infeasible"));
}

TEST_CASE("compare: a rerun reuses runs whose outputs exist for the same resolved scenario") {
  const auto out = scratch("compare-resume");
  const std::string args = "compare " + fixture("tiny.yaml") + kOneHour + "--variant 'seed-3: run.seed=3' --no-plot --out " +
                           out.string();
  REQUIRE(run(args).code == 0);
  const auto first = std::filesystem::last_write_time(out / "tiny" / "summary.json");
  const Proc again = run(args + " --jobs 1");  // another thread count: the same resolved scenario
  REQUIRE(again.code == 0);
  CHECK(std::filesystem::last_write_time(out / "tiny" / "summary.json") == first);
  CHECK_THAT(slurp(out / "comparison.md"), Catch::Contains("outputs in `tiny/` (from an earlier run)"));
  const Proc changed = run("compare " + fixture("tiny.yaml") + kOneHour + "--set serving.max_batch_size=64 --variant "
                           "'seed-3: run.seed=3' --no-plot --out " + out.string());
  REQUIRE(changed.code == 0);  // a different resolved scenario runs again
  CHECK(std::filesystem::last_write_time(out / "tiny" / "summary.json") != first);
  const Proc rerun = run(args + " --rerun");
  REQUIRE(rerun.code == 0);
  CHECK_THAT(slurp(out / "comparison.md"), !Catch::Contains("from an earlier run"));
  CHECK_FALSE(std::filesystem::exists(out / "comparison.png"));  // --no-plot
}

TEST_CASE("compare: fewer than two runs, or a malformed variant, is an error") {
  const auto out = scratch("compare-one");
  const Proc one = run("compare " + fixture("tiny.yaml") + kOneHour + "--out " + out.string());
  CHECK(one.code == 2);
  CHECK_THAT(one.err, Catch::Contains("at least two runs"));
  const Proc bad = run("compare " + fixture("tiny.yaml") + " --variant 'serving.max_batch_size=8' --out " + out.string());
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("LABEL: key.path=value"));
  CHECK_FALSE(std::filesystem::exists(out / "comparison.csv"));
}

TEST_CASE("compare: runs in different currencies are not compared") {
  const auto out = scratch("compare-currency");
  const Proc p = run("compare " + fixture("tiny.yaml") + kOneHour + "--variant 'yuan: economics.currency=CNY' --out " +
                     out.string());
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("different currencies") && Catch::Contains("CNY: yuan") &&
                        Catch::Contains("USD: tiny"));
  CHECK_FALSE(std::filesystem::exists(out / "comparison.csv"));
}
