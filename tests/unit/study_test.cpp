// The study layer: sweep points (grids, zips, ranges), feasibility, and the study's run, resume and
// failure paths with a fake executor (no process is started).
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "study/feasibility.hpp"
#include "study/points.hpp"
#include "study/search.hpp"
#include "study/study.hpp"
#include "scratch_dir.hpp"

using namespace chatdc;
using namespace chatdc::study;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sweep axes: lists, ranges and YAML values") {
  const Axis a = parse_axis("--grid", "serving.max_batch_size=8, 16,32");
  CHECK(a.key == "serving.max_batch_size");
  CHECK(a.values == std::vector<std::string>{"8", "16", "32"});
  CHECK(parse_axis("--grid", "platform.regions[0].datacenters[0].racks=8:64:8").values ==
        std::vector<std::string>{"8", "16", "24", "32", "40", "48", "56", "64"});
  CHECK(parse_axis("--grid", "k=1:3").values == std::vector<std::string>{"1", "2", "3"});
  CHECK(parse_axis("--grid", "k=1:10:4").values == std::vector<std::string>{"1", "5", "9"});  // STOP need not be on the grid
  CHECK(parse_axis("--grid", "k=0.1:0.3:0.1").values == std::vector<std::string>{"0.1", "0.2", "0.3"});
  CHECK(parse_axis("--grid", "k=1,4:6,10").values == std::vector<std::string>{"1", "4", "5", "6", "10"});
  // Commas inside brackets, braces and quotes belong to the value; colons outside numbers are not ranges.
  CHECK(parse_axis("--grid", "workload.day_of_week=[1, 1, 1, 1, 1, 1, 1],[1, 1, 1, 1, 1, 0.5, 0.5]").values.size() == 2);
  CHECK(parse_axis("--zip", "workload.conversations={turns_mean: 2},{turns_mean: 3}").values ==
        std::vector<std::string>{"{turns_mean: 2}", "{turns_mean: 3}"});
  CHECK(parse_axis("--grid", "name='a,b',c").values == std::vector<std::string>{"'a,b'", "c"});
  CHECK(parse_axis("--grid", "serving.priority=prefill_first,decode_first").values.size() == 2);
}

TEST_CASE("sweep axes: bad input names the option and the value") {
  CHECK_THAT(error_of([] { parse_axis("--grid", "racks"); }), Catch::Contains("--grid \"racks\": expected KEY=V1,V2"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "=1,2"); }), Catch::Contains("--grid \"=1,2\": no key"));
  CHECK_THAT(error_of([] { parse_axis("--zip", "k=1,,2"); }), Catch::Contains("--zip \"k=1,,2\": an empty value"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "k=1,"); }), Catch::Contains("an empty value"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "k=8:64:0"); }), Catch::Contains("\"8:64:0\": the step must be > 0, got 0"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "k=8:4"); }), Catch::Contains("STOP (4) is below START (8)"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "k=1:2:3:4"); }), Catch::Contains("a range is START:STOP or START:STOP:STEP"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "k=1:1e9"); }), Catch::Contains("more than 10000 in one range"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "k=8,8"); }), Catch::Contains("the value 8 is given twice"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "k=[1, 2"); }), Catch::Contains("unbalanced"));
  CHECK_THAT(error_of([] { parse_axis("--grid", "a key=1"); }), Catch::Contains("contains a blank"));
}

TEST_CASE("sweep points: the grids' cartesian product, first grid slowest, zips as one more axis") {
  const std::vector<Axis> grids = {parse_axis("--grid", "a=1,2"), parse_axis("--grid", "b=x,y,z")};
  const std::vector<Axis> zips = {parse_axis("--zip", "c=10,20"), parse_axis("--zip", "d=p,q")};
  const auto pts = expand(grids, zips);
  REQUIRE(pts.size() == 2 * 3 * 2);
  CHECK(pts[0] == Assignment{{"a", "1"}, {"b", "x"}, {"c", "10"}, {"d", "p"}});
  CHECK(pts[1] == Assignment{{"a", "1"}, {"b", "x"}, {"c", "20"}, {"d", "q"}});  // zipped values move together
  CHECK(pts[2] == Assignment{{"a", "1"}, {"b", "y"}, {"c", "10"}, {"d", "p"}});
  CHECK(pts.back() == Assignment{{"a", "2"}, {"b", "z"}, {"c", "20"}, {"d", "q"}});
  CHECK(expand({parse_axis("--grid", "a=1,2,3")}, {}).size() == 3);
  CHECK(expand({}, zips).size() == 2);
  CHECK_THAT(error_of([&] { expand(grids, {parse_axis("--zip", "c=1,2"), parse_axis("--zip", "d=1,2,3")}); }),
             Catch::Contains("--zip \"d=1,2,3\" has 3 values but --zip \"c=1,2\" has 2"));
  CHECK_THAT(error_of([&] { expand({parse_axis("--grid", "a=1,2"), parse_axis("--zip", "a=3,4")}, {}); }),
             Catch::Contains("the key a is varied twice"));
  CHECK_THAT(error_of([&] { expand({parse_axis("--grid", "a=1:200"), parse_axis("--grid", "b=1:200")}, {}); }),
             Catch::Contains("the sweep has 40,000 points, more than 10000"));
}

TEST_CASE("sweep points: short names and folder names") {
  CHECK(short_names({"serving.max_batch_size", "platform.regions[0].datacenters[0].racks"}) ==
        std::vector<std::string>{"max_batch_size", "racks"});
  CHECK(short_names({"platform.regions[0].datacenters[a].racks", "platform.regions[1].datacenters[b].racks"}) ==
        std::vector<std::string>{"datacenters[a].racks", "datacenters[b].racks"});
  CHECK(folder_name("racks=8 max_batch_size=16") == "racks=8_max_batch_size=16");
  const std::string a = folder_name(std::string(150, 'x') + "a"), b = folder_name(std::string(150, 'x') + "b");
  CHECK(a.size() == 100);
  CHECK(a != b);
  CHECK(split_overrides("a=1 b=[1, 2]  c='x y'", "--variant") == std::vector<std::string>{"a=1", "b=[1, 2]", "c='x y'"});
  CHECK_THAT(error_of([] { split_overrides("a=1 b", "--variant \"v: a=1 b\""); }), Catch::Contains("\"b\" is not key.path=value"));
}

TEST_CASE("feasibility: the SLO target, drops, rejections by the fleet and a backlog, each named") {
  RunFigures f;
  f.arrived = 100000;
  f.completed = 99900;
  f.unfinished = 100;
  f.attainment = 0.995;
  f.ttft_target_s = 2;
  f.tpot_target_s = 0.2;
  f.mean_output_tokens = 201;       // W_slo = 2 + 0.2 * 200 = 42 s
  f.end_arrival_rate_per_s = 1.0;   // L = 42 in flight: limit 42 + 5 sqrt(42) + 5 = 79.4
  CHECK(backlog_limit(1.0, 2, 0.2, 201) == Approx(42 + 5 * std::sqrt(42.0) + 5));
  Feasibility r = judge(f, 0.99);
  CHECK(r.slo_met);
  CHECK_FALSE(r.feasible);  // 100 unfinished > 79
  CHECK(r.why == "backlog: 100 unfinished at the end (0.1%) > 79 in flight at most");
  f.unfinished = 79;
  f.completed = 99921;
  CHECK(judge(f, 0.99).feasible);
  CHECK(judge(f, 0.99).why.empty());
  CHECK_FALSE(judge(f, 0.996).feasible);
  CHECK(judge(f, 0.996).why == "SLO 99.50% < 99.6%");
  f.dropped = 10;
  f.rejected = 7;
  f.rejected_over_context = 7;  // forced by the context: allowed
  CHECK(judge(f, 0.99).why == "10 dropped (0.010%)");
  f.dropped = 0;
  f.rejected_over_context = 5;
  CHECK(judge(f, 0.99).why == "2 rejected by the fleet (KV cache) (0.002%)");
  // An idle run meets its SLO; a run that completed nothing while requests arrived does not.
  RunFigures idle;
  CHECK(judge(idle, 0.99).feasible);
  idle.arrived = 5;
  idle.unfinished = 5;
  CHECK(judge(idle, 0.99).why == "no request completed");
}

namespace {

/// Writes what `chatdc run` would (summary.json, timeline.csv, scenario.resolved.yaml) for given figures;
/// fails the jobs whose label is in `fail`.
class FakeExecutor : public Executor {
 public:
  std::vector<std::string> fail;
  std::vector<std::string> ran;
  std::string resolved_text;
  std::string name() const override { return "fake"; }
  void run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) override {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      ran.push_back(jobs[i].label);
      Outcome o;
      if (std::find(fail.begin(), fail.end(), jobs[i].label) != fail.end()) {
        std::ofstream(jobs[i].log) << "chatdc: error: something went wrong\n";
        o.state = Outcome::State::kFailed;
        o.failure = "exit status 3";
        o.stderr_tail = last_lines(jobs[i].log, 8);
      } else {
        const fs::path d = jobs[i].out_dir;
        std::ofstream(d / "summary.json")
            << R"({"simulated_s": 7200, "requests": {"arrived": 7200, "completed": 7190, "unfinished": 10, "rejected": 0,
                  "rejected_over_context": 0, "dropped": 0}, "slo": {"attainment": 1, "ttft_target_s": 2, "tpot_target_s": 0.2},
                  "tokens": {"output": 719000}, "cost": {"total": 5, "currency": "USD"}})";
        std::ofstream(d / "timeline.csv") << "time_s,clock_hour,datacenter,arrivals\n0,0,a,1800\n1800,0.5,a,1800\n"
                                             "3600,1,a,3600\n5400,1.5,a,3600\n";
        std::ofstream(d / "scenario.resolved.yaml") << resolved_text;
        o.state = Outcome::State::kSucceeded;
      }
      done(i, o);
    }
  }
};

}  // namespace

TEST_CASE("study: resume skips finished points, reruns changed or failed ones, reports failures") {
  const fs::path out = test::scratch_dir() / "study";
  fs::remove_all(out);
  FakeExecutor ex;
  StudyOptions o;
  o.out = out;
  Study s(o, ex);
  const std::vector<Point> pts = {{"a", "s.yaml", {}, "a"}, {"b", "s.yaml", {}, "b"}, {"c", "s.yaml", {}, "c"}};
  ex.resolved_text = "# comment\nrun:\n  seed: 1\n  threads: 2\nname: x\n";
  const std::string same = normalised_resolved("run:\n  seed: 1\n  threads: 0\nname: x\n");  // threads set aside
  ex.fail = {"c"};
  auto r = s.run(pts, {same, same, same});
  CHECK(ex.ran == std::vector<std::string>{"a", "b", "c"});
  CHECK(r[0].ok());
  CHECK(r[0].figures.end_arrival_rate_per_s == Approx(2.0));  // the last hour: 3600 + 3600 arrivals
  CHECK(r[0].figures.mean_output_tokens == Approx(100));
  CHECK(r[0].feasibility.feasible);
  CHECK_FALSE(r[2].ok());
  const std::string report = failure_report(s, pts, r);
  CHECK_THAT(report, Catch::StartsWith("1 of 3 runs failed"));
  CHECK_THAT(report, Catch::Contains("run \"c\" (s.yaml): exit status 3") && Catch::Contains("something went wrong"));

  // Again: a and b are reused, c (failed) runs again; b's scenario changed, so it runs again too.
  ex.ran.clear();
  ex.fail.clear();
  const std::string other = normalised_resolved("run:\n  seed: 2\nname: x\n");
  r = s.run(pts, {same, other, same});
  CHECK(ex.ran == std::vector<std::string>{"b", "c"});
  CHECK(r[0].reused);
  CHECK_FALSE(r[1].reused);
  CHECK(s.reused() == 1);
  CHECK(s.started() == 5);
  CHECK(failure_report(s, pts, r).empty());
  // --rerun runs everything.
  o.rerun = true;
  Study s2(o, ex);
  ex.ran.clear();
  s2.run(pts, {same, other, same});
  CHECK(ex.ran.size() == 3);
  fs::remove_all(out);
}

TEST_CASE("study: the cheapest row is always a feasible one") {
  std::vector<PointResult> r(3);
  for (auto& x : r) x.outcome.state = Outcome::State::kSucceeded;
  r[0].summary = {{"cost", {{"total", 10.0}}}};
  r[1].summary = {{"cost", {{"total", 5.0}}}};  // cheapest, infeasible
  r[2].summary = {{"cost", {{"total", 8.0}}}};
  r[0].feasibility.feasible = true;
  r[2].feasibility.feasible = true;
  CHECK(cheapest_feasible(r) == 2);
  r[0].feasibility.feasible = r[2].feasibility.feasible = false;
  CHECK(cheapest_feasible(r) == -1);
}

namespace {

/// Runs a search against P(x) = x >= threshold; returns the number of evaluations.
std::size_t search_count(MonotoneSearch& s, const std::function<bool(std::int64_t)>& p, std::size_t parallel) {
  std::size_t n = 0;
  for (int rounds = 0; !s.done() && rounds < 1000; ++rounds) {
    const auto xs = s.next(parallel);
    REQUIRE_FALSE(xs.empty());
    CHECK(xs.size() <= parallel);
    for (const auto x : xs) {
      s.record(x, p(x));
      ++n;
    }
  }
  REQUIRE(s.done());
  return n;
}

}  // namespace

TEST_CASE("search: the fewest x meeting a monotone predicate, from any start, one or several at a time") {
  for (const std::size_t parallel : {1u, 2u, 3u})
    for (std::int64_t t = 1; t <= 70; ++t)
      for (const std::int64_t start : {1, 5, 40, 200}) {
        MonotoneSearch s(1, 200, {start});
        const auto n = search_count(s, [t](std::int64_t x) { return x >= t; }, parallel);
        INFO("threshold " << t << ", start " << start << ", parallel " << parallel);
        REQUIRE(s.answer());
        CHECK(*s.answer() == t);
        // Verified: the neighbour below was evaluated false (unless t is the lower bound).
        if (t > 1) CHECK(s.evaluated().at(t - 1) == false);
        CHECK(s.contradictions().empty());
        // Galloping then bisection: about two logarithms of the distance, times the parallelism.
        CHECK(n <= parallel * (2 * 8 + 4));
      }
}

TEST_CASE("search: a good estimate and its neighbour below settle it in two evaluations") {
  for (std::int64_t t = 2; t <= 50; ++t) {
    MonotoneSearch s(1, 1000, {t, t - 1});
    CHECK(search_count(s, [t](std::int64_t x) { return x >= t; }, 2) == 2);
    CHECK(*s.answer() == t);
  }
  // An estimate two too high: 12 and 11 hold, 10 holds (the step doubles), 8 fails, 9 fails.
  MonotoneSearch s(1, 1000, {12, 11});
  CHECK(search_count(s, [](std::int64_t x) { return x >= 10; }, 1) == 5);
  CHECK(*s.answer() == 10);
}

TEST_CASE("search: nothing in range, the lower bound, and a predicate that is not monotone") {
  MonotoneSearch none(1, 64, {4});
  search_count(none, [](std::int64_t) { return false; }, 1);
  CHECK_FALSE(none.answer());
  CHECK(none.evaluated().at(64) == false);
  MonotoneSearch all(3, 64, {10}, 4);
  search_count(all, [](std::int64_t) { return true; }, 2);
  CHECK(*all.answer() == 3);
  // True at 5..9 and from 20 on, false elsewhere: whatever it finds is verified against the point below,
  // and the contradiction is reported when it saw one.
  MonotoneSearch odd(1, 100, {30, 29});
  odd.record(30, true);
  odd.record(29, true);
  odd.record(7, true);
  odd.record(15, false);
  const auto p = [](std::int64_t x) { return (x >= 5 && x <= 9) || x >= 20; };
  search_count(odd, p, 1);
  REQUIRE(odd.answer());
  CHECK(*odd.answer() == 5);
  CHECK(odd.evaluated().at(4) == false);
  const auto c = odd.contradictions();
  CHECK(std::find(c.begin(), c.end(), std::pair<std::int64_t, std::int64_t>{7, 15}) != c.end());
  for (const auto& [a, b] : c) CHECK((a < b && p(a) && !p(b)));
}
