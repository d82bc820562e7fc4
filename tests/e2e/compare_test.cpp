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

std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(slurp(p));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    REQUIRE(chatdc::split_csv_line(line, &f));
    rows.push_back(f);
  }
  return rows;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  const auto it = std::find(header.begin(), header.end(), name);
  REQUIRE(it != header.end());
  return static_cast<std::size_t>(it - header.begin());
}

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
  CHECK(h.size() == 35);
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
    CHECK(rows[i][column(h, "requests_arrived")] == std::to_string(s["requests"]["arrived"].get<long>()));
    CHECK(std::filesystem::exists(out / rows[i][0] / "stderr.txt"));
  }
  CHECK(rows[1][column(h, "requests_arrived")] != rows[2][column(h, "requests_arrived")]);  // the variant's seed applied

  const std::string md = slurp(out / "comparison.md");
  CHECK_THAT(md, Catch::Contains("| tiny |") && Catch::Contains("| small-batch |"));
  CHECK_THAT(md, Catch::Contains("total cost (USD)"));
  CHECK_THAT(md, Catch::Contains("`serving.max_batch_size=8` `run.seed=3`"));
  CHECK_THAT(p.out, Catch::Contains("tiny") && Catch::Contains("small-batch"));
  REQUIRE(std::filesystem::exists(out / "comparison.png"));
  CHECK(std::filesystem::file_size(out / "comparison.png") > 10000);
  for (const auto& e : std::filesystem::directory_iterator(out))  // no temporary files left behind
    CHECK(e.path().filename().string().front() != '.');
}

TEST_CASE("compare: two runs with the same name get distinct labels and identical results") {
  const auto out = scratch("compare-same");
  const Proc p = run("compare " + fixture("tiny.yaml") + " " + fixture("tiny.yaml") + kOneHour + "--quiet --out " + out.string());
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

TEST_CASE("compare: a failed run is named with its error, exit 2, and nothing is written") {
  const auto out = scratch("compare-fail");
  std::ofstream(out / "comparison.md") << "an earlier comparison\n";
  const Proc p = run("compare " + fixture("tiny.yaml") + kOneHour + "--variant 'broken: serving.max_batch_size=0' --out " +
                     out.string());
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("\"broken\""));
  CHECK_THAT(p.err, Catch::Contains("serving.max_batch_size: expected a whole number in [1, 4096], got 0"));
  CHECK_FALSE(std::filesystem::exists(out / "comparison.csv"));
  CHECK_FALSE(std::filesystem::exists(out / "comparison.png"));
  CHECK_FALSE(std::filesystem::exists(out / "tiny"));  // all or nothing: the good run's folder is not kept either
  CHECK(slurp(out / "comparison.md") == "an earlier comparison\n");  // the folder is as it was
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(out.parent_path()))
    entries += e.path().filename().string().rfind("." + out.filename().string() + ".chatdc-staging-", 0) == 0;
  CHECK(entries == 0);
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
