// End to end: a day split into shards (`chatdc run --shard I/N`) and merged (`chatdc merge`) gives the
// outputs one process writes, byte for byte apart from wall times; what cannot be sharded or merged is an
// error that writes nothing.
#include <fmt/format.h>

#include "e2e/harness.hpp"

namespace fs = std::filesystem;
using chatdc::test::run;
using chatdc::test::scratch;
using chatdc::test::slurp;
using chatdc::test::summary_sans_wall;

namespace {

// Two datacenters of two servers, two balancer cells each (four cells), routed to the nearest site.
const std::string kSites = "tests/fixtures/two_sites.yaml --set routing.policy=nearest --set serving.cell_replicas=2 ";

void require_same_day(const fs::path& one, const fs::path& merged, const std::vector<std::string>& files) {
  for (const auto& f : files) {
    INFO(f);
    REQUIRE(fs::exists(merged / f));
    CHECK(slurp(one / f) == slurp(merged / f));
  }
  CHECK(summary_sans_wall(one).dump() == summary_sans_wall(merged).dump());
}

}  // namespace

TEST_CASE("shards: three shards merged equal one process, byte for byte (exact percentiles, rack detail, request log)",
          "[e2e][shard]") {
  const auto d = scratch("shard-exact");
  const std::string s = kSites + "--set run.timeline_detail=rack --set run.request_log=all ";
  REQUIRE(run("run " + s + "-q -o " + (d / "one").string()).code == 0);
  for (int i = 0; i < 3; ++i) {
    const auto p = run("run " + s + fmt::format("--shard {}/3 -o {}", i, (d / fmt::format("s{}", i)).string()));
    INFO(p.err);
    REQUIRE(p.code == 0);
    CHECK(p.out.find(fmt::format("shard {}/3", i)) != std::string::npos);
    CHECK(fs::exists(d / fmt::format("s{}", i) / "shard.cbor"));
    CHECK_FALSE(fs::exists(d / fmt::format("s{}", i) / "summary.json"));
  }
  // Any order of folders.
  const auto m = run("merge " + (d / "s2").string() + " " + (d / "s0").string() + " " + (d / "s1").string() + " -o " +
                     (d / "merged").string());
  INFO(m.err);
  REQUIRE(m.code == 0);
  CHECK(m.out.find("merged 3 shards") != std::string::npos);
  require_same_day(d / "one", d / "merged",
                   {"timeline.csv", "hourly.csv", "timeline_racks.csv", "requests.csv", "scenario.resolved.yaml"});
  // The shards really split the work: each simulated only some of the requests.
  const auto total = chatdc::test::summary(d / "one")["requests"]["arrived"].get<double>();
  CHECK(total > 10000);
}

TEST_CASE("shards: two shards merged equal one process with percentile sketches, per-server detail and prefix caching",
          "[e2e][shard]") {
  const auto d = scratch("shard-sketch");
  const std::string s = kSites + "--set run.percentiles=sketch --set run.timeline_detail=server --set serving.prefix_caching=true "
                                 "--set serving.prefix_routing=true --set workload.system_prompt_tokens=1500 "
                                 "--set workload.system_prompt_share=1 --set workload.system_prompts=4 ";
  REQUIRE(run("run " + s + "-q -o " + (d / "one").string()).code == 0);
  for (int i = 0; i < 2; ++i)
    REQUIRE(run("run " + s + fmt::format("-q --shard {}/2 -o {}", i, (d / fmt::format("s{}", i)).string())).code == 0);
  REQUIRE(run("merge -q " + (d / "s0").string() + " " + (d / "s1").string() + " -o " + (d / "merged").string()).code == 0);
  require_same_day(d / "one", d / "merged", {"timeline.csv", "hourly.csv", "timeline_servers.csv", "scenario.resolved.yaml"});
  CHECK(chatdc::test::summary(d / "merged")["prefix_cache"]["hit_tokens"].get<double>() > 0);
}

TEST_CASE("shards: what cannot be split or merged is an error that writes nothing", "[e2e][shard]") {
  const auto d = scratch("shard-bad");
  // Cells coupled by live-load routing.
  auto p = run("run tests/fixtures/two_sites.yaml --shard 0/2 -o " + (d / "x").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("slo_spillover") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "x"));
  // Index out of range, malformed, more shards than cells.
  p = run("run " + kSites + "--shard 2/2 -o " + (d / "x").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("out of range") != std::string::npos);
  CHECK(run("run " + kSites + "--shard 1 -o " + (d / "x").string()).code == 2);
  p = run("run " + kSites + "--shard 0/5 -o " + (d / "x").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("4 balancer cells") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "x"));

  REQUIRE(run("run " + kSites + "-q --shard 0/2 -o " + (d / "a0").string()).code == 0);
  REQUIRE(run("run " + kSites + "-q --shard 1/2 -o " + (d / "a1").string()).code == 0);
  REQUIRE(run("run " + kSites + "--set run.seed=12 -q --shard 1/2 -o " + (d / "b1").string()).code == 0);
  // A missing shard, a shard twice, shards of different scenarios, a folder that is not a shard.
  p = run("merge " + (d / "a0").string() + " -o " + (d / "m").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("shard 1/2 missing") != std::string::npos);
  p = run("merge " + (d / "a0").string() + " " + (d / "a0").string() + " -o " + (d / "m").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("both shard 0/2") != std::string::npos);
  p = run("merge " + (d / "a0").string() + " " + (d / "b1").string() + " -o " + (d / "m").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("different scenarios") != std::string::npos);
  p = run("merge " + (d / "a0").string() + " " + d.string() + " -o " + (d / "m").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("no shard.cbor") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "m"));
  // A damaged shard file.
  fs::create_directories(d / "junk");
  { std::ofstream(d / "junk" / "shard.cbor") << "not cbor"; }
  p = run("merge " + (d / "a0").string() + " " + (d / "junk").string() + " -o " + (d / "m").string());
  CHECK(p.code == 2);
  CHECK(p.err.find("junk") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "m"));
}
