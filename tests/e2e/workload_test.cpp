#include <catch2/catch.hpp>
#include <unistd.h>

#include "e2e/harness.hpp"

using namespace chatdc::test;
using nlohmann::json;

TEST_CASE("a run replays a trace, looped to fill the run") {
  const auto out = scratch("trace-run");
  const Proc p = run("run " + fixture("tiny_trace.yaml") + " --quiet --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const json s = summary(out);
  CHECK(s["workload"]["source"] == "trace");
  const int loops = s["workload"]["trace"]["loops"];
  CHECK(loops > 20);  // a one-minute sample over 30 minutes
  const long arrived = s["requests"]["arrived"];
  CHECK(arrived >= loops * 200);
  CHECK(arrived == s["requests"]["completed"].get<long>() + s["requests"]["unfinished"].get<long>() +
                       s["requests"]["rejected"].get<long>());
}

TEST_CASE("a malformed trace line is an error naming file and line, or is skipped and counted") {
  const auto dir = scratch("bad-trace");
  std::ofstream(dir / "t.csv") << "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                  "2023-11-16 18:15:46.6805900,374,44\n"
                                  "2023-11-16 18:15:50.5000000,abc,44\n"
                                  "2023-11-16 18:15:51.5000000,100,20\n";
  const std::string base = "run " + fixture("tiny_trace.yaml") + " --set workload.trace.path=" + (dir / "t.csv").string() +
                           " --set workload.trace.loop=false --out " + (dir / "out").string();
  const Proc bad = run(base);
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("t.csv:3"));
  CHECK_THAT(bad.err, Catch::Contains("ContextTokens"));
  const Proc skip = run(base + " --set workload.trace.skip_malformed=true --quiet");
  INFO(skip.err);
  REQUIRE(skip.code == 0);
  const json s = summary(dir / "out");
  CHECK(s["workload"]["trace"]["skipped_malformed_lines"] == 1);
  CHECK(s["requests"]["arrived"] == 2);
}

TEST_CASE("multi-turn conversations add follow-up turns to a synthetic day") {
  const auto out = scratch("conversations");
  const Proc p = run("run " + fixture("tiny.yaml") +
                     " --set run.duration_h=2 --set 'workload.conversations={turns_mean: 3, think_time_s: {median: 20}}'"
                     " --quiet --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const double follow = s["workload"]["follow_up_turns"], arrived = s["requests"]["arrived"];
  CHECK(follow > 0.5 * arrived);  // about 2 of every 3 turns are follow-ups
  // The expected total stays the scenario's demand: 100 k/day spread over 2 hours of the profile.
  CHECK(arrived == Approx(s["workload"]["expected_requests"].get<double>()).epsilon(0.1));
}

TEST_CASE("chatdc workload: a scenario's hours add up, a bare trace, JSON") {
  const Proc p = run("workload " + fixture("tiny.yaml") + " --json");
  INFO(p.err);
  REQUIRE(p.code == 0);
  const json j = json::parse(p.out);
  long sum = 0;
  for (const auto& h : j["requests_per_bucket"]) sum += h.get<long>();
  CHECK(sum == j["requests"].get<long>());
  CHECK(j["requests_per_bucket"].size() == 24);
  CHECK(j["requests"].get<double>() == Approx(100000).epsilon(0.02));
  const Proc t = run("workload --trace workloads/traces/azure_conv_sample.csv --format azure --json");
  REQUIRE(t.code == 0);
  const json k = json::parse(t.out);
  CHECK(k["requests"] == 200);
  CHECK(k["prompt_tokens"]["max"].get<double>() > 0);
  const Proc bad = run("workload --trace nowhere.csv --format azure");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("nowhere.csv"));
  const auto png = scratch("workload-png") / "w.png";
  CHECK(run("workload " + fixture("tiny.yaml") + " --png " + png.string()).code == 0);
  CHECK(std::filesystem::file_size(png) > 5000);
}
