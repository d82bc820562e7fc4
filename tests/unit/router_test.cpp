#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "model/step_model.hpp"
#include "serving/router.hpp"
#include "serving/system.hpp"
#include "test_sources.hpp"
#include "test_specs.hpp"

using namespace chatdc;

namespace {

using test::ListSource;
using test::Sink;

// DC 0 is near the users (2 ms) with one small server; DC 1 is far (15 ms) with eight.
serving::SystemSetup near_small_far_big() {
  serving::SystemSetup s;
  for (int d = 0; d < 2; ++d) {
    serving::PoolSetup p;
    p.name = d == 0 ? "near" : "far";
    p.servers = d == 0 ? 1 : 8;
    p.gpus_per_server = 2;
    p.replicas_per_server = 1;
    p.step_model = std::make_shared<model::RooflineStepModel>(test::hand_gpu(), test::hand_llm(), 2);
    p.scheduler.max_batch_size = 8;
    p.scheduler.kv_capacity_tokens = 1e5;
    p.server_power = {2, 60, 400, 500, 1000};
    s.dcs.push_back(p);
  }
  s.user_regions = 1;
  s.one_way_s = {{0.002, 0.015}};
  s.max_context_tokens = 4096;
  s.track_ttft_signal = true;
  return s;
}

std::vector<workload::RequestSpec> steady(int n, double rate, std::uint32_t prompt, std::uint32_t output) {
  std::vector<workload::RequestSpec> v;
  for (int i = 0; i < n; ++i) v.push_back({static_cast<std::uint64_t>(i), i / rate, prompt, output, 0});
  return v;
}

std::pair<int, int> served_at(serving::Router& router, const std::vector<workload::RequestSpec>& reqs, double until) {
  ListSource src;
  src.reqs = reqs;
  Sink sink;
  serving::ServingSystem sys(near_small_far_big(), src, router, sink);
  sys.advance_to(until);
  int a = 0, b = 0;
  for (const auto& [id, r] : sink.done) (r.dc == 0 ? a : b)++;
  return {a, b};
}

serving::RouteInfo info(model::DailyCurve price, model::DailyCurve carbon) {
  return {std::move(price), std::move(carbon), model::DailyCurve::constant(1.2), 0.0};
}

}  // namespace

TEST_CASE("routing: lowest price follows the time-of-use windows of each site", "[routing]") {
  // Near: 0.5 before noon, 1.0 after; far: 0.7 all day.
  std::vector<serving::RouteInfo> sites = {info(model::DailyCurve({{0, 0.5}, {12, 1.0}}), model::DailyCurve::constant(0.5)),
                                           info(model::DailyCurve::constant(0.7), model::DailyCurve::constant(0.5))};
  serving::CostRouter router(serving::CostRouter::Signal::kPrice, sites, 0);
  ListSource src;
  Sink sink;
  serving::ServingSystem sys(near_small_far_big(), src, router, sink);
  CHECK(router.route({0, 3 * 3600.0, 10, 10, 0}, sys) == 0);
  CHECK(router.route({1, 13 * 3600.0, 10, 10, 0}, sys) == 1);
}

TEST_CASE("routing: lowest carbon picks the cleaner grid", "[routing]") {
  std::vector<serving::RouteInfo> sites = {info(model::DailyCurve::constant(0.5), model::DailyCurve::constant(0.6)),
                                           info(model::DailyCurve::constant(0.5), model::DailyCurve::constant(0.2))};
  serving::CostRouter router(serving::CostRouter::Signal::kCarbon, sites, 0);
  const auto [near, far] = served_at(router, steady(50, 1, 100, 10), 1000);
  CHECK(near == 0);
  CHECK(far == 50);
}

TEST_CASE("routing: the capacity guard moves traffic off a full cheap site", "[routing]") {
  std::vector<serving::RouteInfo> sites = {info(model::DailyCurve::constant(0.1), model::DailyCurve::constant(0.5)),
                                           info(model::DailyCurve::constant(0.9), model::DailyCurve::constant(0.5))};
  serving::CostRouter guarded(serving::CostRouter::Signal::kPrice, sites, 4), unguarded(serving::CostRouter::Signal::kPrice, sites, 0);
  const auto burst = steady(30, 1e6, 500, 200);  // 30 requests at once
  const auto g = served_at(guarded, burst, 1e4);
  const auto u = served_at(unguarded, burst, 1e4);
  CHECK(u.first == 30);   // price alone piles everything onto the cheap site
  CHECK(g.first == 4);    // one replica x 4 requests, then the next cheapest (8 replicas x 4)
  CHECK(g.second == 26);
  // Once every site is at its guard, the least loaded (then nearest) takes the request.
  CHECK(served_at(guarded, steady(40, 1e6, 500, 200), 1e4).first == 5);
}

TEST_CASE("routing: SLO spill-over serves near until queueing breaks the TTFT target", "[routing]") {
  // 20 requests/s of 2,000-token prompts: far beyond one small replica (~7 prefills/s), easy for eight.
  const auto load = steady(2000, 20.0, 2000, 100);
  serving::NearestRouter nearest;
  serving::SloSpilloverRouter spill(/*ttft target*/ 1.0, /*margin*/ 0.8);
  const auto n = served_at(nearest, load, 5000);
  const auto s = served_at(spill, load, 5000);
  CHECK(n.second == 0);
  CHECK(s.first > 10);     // the near site still takes what it can
  CHECK(s.second > 1000);  // the rest spills far
  // A light load stays near.
  const auto light = served_at(spill, steady(20, 0.05, 200, 20), 5000);
  CHECK(light.second == 0);
}

TEST_CASE("routing: a fixed split keeps its shares", "[routing]") {
  serving::SplitRouter router({0.7, 0.3}, 5);
  const auto [a, b] = served_at(router, steady(10000, 5, 50, 2), 1e5);
  REQUIRE(a + b == 10000);
  // Binomial(10000, 0.7): sd = 45.8; 5 sd.
  CHECK(std::abs(a - 7000) < 230);
}
