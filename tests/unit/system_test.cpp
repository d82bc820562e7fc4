#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "model/step_model.hpp"
#include "serving/router.hpp"
#include "core/rng.hpp"
#include "serving/system.hpp"
#include "test_specs.hpp"

using namespace chatdc;

namespace {

// A scripted source: requests at given times.
struct ListSource final : workload::RequestSource {
  std::vector<workload::RequestSpec> reqs;
  std::size_t next = 0;
  std::vector<std::pair<std::uint64_t, double>> responses;
  double peek_time() override { return next < reqs.size() ? reqs[next].time_s : kNever; }
  workload::RequestSpec pop() override { return reqs[next++]; }
  void on_response(std::uint64_t id, double t) override { responses.emplace_back(id, t); }
  double expected_requests() const override { return static_cast<double>(reqs.size()); }
};

struct Sink final : serving::RequestObserver {
  std::map<std::uint64_t, serving::RequestRecord> done;
  int rejected = 0;
  void on_done(const serving::RequestRecord& r) override { done[r.id] = r; }
  void on_rejected(const workload::RequestSpec&, std::uint32_t) override { ++rejected; }
  void on_dropped(const workload::RequestSpec&, std::uint32_t) override {}
};

serving::SystemSetup two_dcs() {
  serving::SystemSetup s;
  for (int d = 0; d < 2; ++d) {
    serving::PoolSetup p;
    p.name = d == 0 ? "east" : "west";
    p.servers = 2;
    p.gpus_per_server = 8;
    p.replicas_per_server = 4;
    p.step_model = std::make_shared<model::RooflineStepModel>(test::hand_gpu(), test::hand_llm(), 2);
    p.scheduler.max_batch_size = 16;
    p.scheduler.kv_capacity_tokens = 50000;
    p.server_power = {8, 60, 400, 1000, 3000};
    s.dcs.push_back(p);
  }
  s.user_regions = 2;
  s.one_way_s = {{0.002, 0.015}, {0.015, 0.002}};
  s.max_context_tokens = 4096;
  return s;
}

}  // namespace

TEST_CASE("requests travel to the nearest datacenter and pay the network both ways") {
  ListSource src;
  for (int i = 0; i < 4; ++i) src.reqs.push_back({static_cast<std::uint64_t>(i), 1.0 + i, 200, 50, static_cast<std::uint32_t>(i % 2)});
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(two_dcs(), src, router, sink);
  sys.advance_to(1000);
  REQUIRE(sink.done.size() == 4);
  for (const auto& [id, r] : sink.done) {
    CHECK(r.dc == r.user_region);  // user region 0 is near east, 1 near west
    CHECK(r.delivered_s == Approx(r.sent_s + 0.002).epsilon(1e-12));
  }
  CHECK(src.responses.size() == 4);
  CHECK(sys.arrived() == 4);
  CHECK(sys.completed() == 4);
}

TEST_CASE("the same request served far away is slower by exactly the extra round trip") {
  auto run = [](std::vector<std::vector<double>> one_way) {
    ListSource src;
    src.reqs.push_back({0, 5.0, 300, 40, 0});
    Sink sink;
    auto setup = two_dcs();
    setup.one_way_s = std::move(one_way);
    serving::NearestRouter router;
    serving::ServingSystem sys(setup, src, router, sink);
    sys.advance_to(100);
    return sink.done.at(0);
  };
  const auto near = run({{0.002, 0.015}, {0.015, 0.002}});
  const auto far = run({{0.030, 0.015}, {0.015, 0.002}});  // user region 0 now nearest to west (15 ms)
  CHECK(far.dc == 1);
  CHECK((far.first_token_s - far.sent_s) - (near.first_token_s - near.sent_s) == Approx(2 * (0.015 - 0.002)).epsilon(1e-9));
  CHECK((far.done_s - far.sent_s) - (near.done_s - near.sent_s) == Approx(2 * (0.015 - 0.002)).epsilon(1e-9));
}

TEST_CASE("least-loaded routing sends a burst to both datacenters") {
  ListSource src;
  for (int i = 0; i < 40; ++i) src.reqs.push_back({static_cast<std::uint64_t>(i), 1.0, 500, 200, 0});
  Sink sink;
  serving::LeastLoadedRouter router;
  serving::ServingSystem sys(two_dcs(), src, router, sink);
  sys.advance_to(1.0);
  CHECK(sys.dc_state(0).inflight + sys.dc_state(0).outstanding == 20);
  CHECK(sys.dc_state(1).inflight + sys.dc_state(1).outstanding == 20);
}

TEST_CASE("requests beyond the model's context are rejected and counted") {
  ListSource src;
  src.reqs.push_back({0, 1.0, 4000, 200, 0});
  src.reqs.push_back({1, 2.0, 100, 10, 0});
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(two_dcs(), src, router, sink);
  sys.advance_to(100);
  CHECK(sink.rejected == 1);
  CHECK(sys.rejected() == 1);
  CHECK(sys.completed() == 1);
  CHECK(sys.arrived() == sys.completed() + sys.rejected());
}

TEST_CASE("an idle epoch draws idle power on every server") {
  ListSource src;
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(two_dcs(), src, router, sink);
  sys.advance_to(60);
  const auto rep = sys.close_epoch(0, 60);
  REQUIRE(rep.server_it_energy_j.size() == 4);
  for (double e : rep.server_it_energy_j) CHECK(e == Approx((8 * 60 + 1000) * 60.0).epsilon(1e-12));
  CHECK(rep.dcs[0].busy_gpu_s == 0);
}

TEST_CASE("epoch energy adds up to the whole-run energy whatever the epoch length") {
  auto energy = [](double epoch) {
    ListSource src;
    for (int i = 0; i < 200; ++i)
      src.reqs.push_back({static_cast<std::uint64_t>(i), 0.1 * i, 300u + 7u * i, 20u + i % 50, static_cast<std::uint32_t>(i % 2)});
    Sink sink;
    serving::NearestRouter router;
    serving::ServingSystem sys(two_dcs(), src, router, sink);
    double total = 0, busy = 0;
    for (double t = 0; t < 120; t += epoch) {
      const double end = std::min(120.0, t + epoch);
      sys.advance_to(end);
      const auto rep = sys.close_epoch(t, end);
      for (double e : rep.server_it_energy_j) total += e;
      busy += rep.dcs[0].busy_gpu_s + rep.dcs[1].busy_gpu_s;
    }
    return std::make_pair(total, busy);
  };
  const auto a = energy(1.0), b = energy(0.37), c = energy(120.0);
  CHECK(a.second == Approx(c.second).epsilon(1e-9));
  CHECK(b.second == Approx(c.second).epsilon(1e-9));
  // Server energy is affine in GPU energy per epoch, except for the clamp of the non-GPU share:
  // equal when no epoch saturates.
  CHECK(a.first == Approx(c.first).epsilon(1e-9));
  CHECK(b.first == Approx(c.first).epsilon(1e-9));
}

namespace {

// One datacenter of 5 servers x 4 replicas and a day's worth of random requests from two regions.
serving::SystemSetup one_dc(std::uint32_t cell_replicas) {
  serving::SystemSetup s = two_dcs();
  s.dcs.resize(1);
  s.dcs[0].servers = 5;
  s.one_way_s = {{0.002}, {0.011}};
  s.cell_replicas = cell_replicas;
  return s;
}

ListSource random_requests(int n, double rate_per_s, double max_output = 300) {
  ListSource src;
  Rng rng(42);
  double t = 0;
  for (int i = 0; i < n; ++i) {
    t += rng.exponential(1 / rate_per_s);
    src.reqs.push_back({static_cast<std::uint64_t>(i), t, static_cast<std::uint32_t>(50 + rng.uniform() * 1500),
                        static_cast<std::uint32_t>(1 + rng.uniform() * max_output), static_cast<std::uint32_t>(i % 3 == 0)});
  }
  return src;
}

struct ClosedLoop final : workload::RequestSource {
  double peek_time() override { return kNever; }
  workload::RequestSpec pop() override { return {}; }
  bool closed_loop() const override { return true; }
  double expected_requests() const override { return 0; }
};

}  // namespace

TEST_CASE("cells: whole servers, as even as possible; requests spread over every replica") {
  ListSource src = random_requests(4000, 40);
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(one_dc(8), src, router, sink);  // 8 replicas = 2 servers per cell
  CHECK(sys.cell_count(0) == 3);                              // 5 servers: 1 + 2 + 2
  CHECK(sys.dc_state(0).replicas == 20);
  sys.advance_to(1e4);
  REQUIRE(sink.done.size() == 4000);
  std::map<std::uint32_t, int> per_replica;
  for (const auto& [id, r] : sink.done) ++per_replica[r.replica];
  CHECK(per_replica.size() == 20);
  // Requests are spread over cells in proportion to their replicas: the one-server cell (4 of 20
  // replicas) gets a fifth (binomial sd 25 requests; 80 is 3.2 sd).
  int first_cell = 0;
  for (std::uint32_t k = 0; k < 4; ++k) first_cell += per_replica[k];
  CHECK(first_cell == Approx(800).margin(80));
  CHECK(sys.dc_state(0).outstanding == 0);
  CHECK(sys.dc_state(0).inflight == 0);
}

TEST_CASE("windows of independent cells give the answers of one global event order, whatever the threads") {
  // Windows also merge prefill steps into the decode runs after them (fewer events): exactly.
  const bool chunked = GENERATE(false, true);
  const double max_output = GENERATE(300.0, 12.0);  // short answers: many complete at a merged step's end
  INFO("chunked prefill " << chunked << ", answers up to " << max_output << " tokens");
  std::uint64_t events[2] = {0, 0};
  auto run = [&](bool windows, unsigned threads) {
    ListSource src = random_requests(6000, 60, max_output);
    Sink sink;
    serving::NearestRouter router;
    serving::SystemSetup setup = one_dc(4);  // 5 cells of one server
    setup.dcs[0].scheduler.chunked_prefill = chunked;
    setup.dcs[0].scheduler.max_tokens_per_step = 512;  // long prompts take several chunks
    setup.allow_windows = windows;
    setup.threads = threads;
    setup.window_s = 1;
    setup.max_context_tokens = 1500;  // some are rejected
    serving::ServingSystem sys(setup, src, router, sink);
    std::vector<double> energy;
    // Short periods, each a window, and a stop while requests still arrive (6,000 in 100 s): an answer
    // must not come before its time, nor count after the end.
    for (int k = 1; k <= 240; ++k) {
      sys.advance_to(k * 0.37);
      const auto rep = sys.close_epoch((k - 1) * 0.37, k * 0.37);
      energy.push_back(rep.dcs[0].it_energy_j);
      energy.push_back(static_cast<double>(sink.done.size()));  // answered by now: not one more
      energy.push_back(static_cast<double>(rep.dcs[0].completions));
      // Arrivals and rejections by now, though windows route a window ahead of the call's end.
      energy.push_back(static_cast<double>(sys.arrived()));
      energy.push_back(static_cast<double>(rep.dcs[0].rejected));
      energy.push_back(static_cast<double>(sys.dc_state(0).routed));
      energy.push_back(static_cast<double>(sink.rejected));
    }
    CHECK(sink.rejected > 0);
    CHECK(sys.windowed() == windows);
    CHECK(src.responses.size() == sink.done.size());
    events[windows] = sys.events();
    return std::make_pair(sink.done, energy);
  };
  const auto ordered = run(false, 1), one = run(true, 1), two = run(true, 2);
  REQUIRE(ordered.first.size() > 4000);
  REQUIRE(ordered.first.size() < 5400);
  REQUIRE(one.first.size() == ordered.first.size());
  REQUIRE(two.first.size() == ordered.first.size());
  for (const auto& [id, r] : ordered.first) {
    INFO("request " << id);
    for (const auto* other : {&one.first.at(id), &two.first.at(id)}) {
      CHECK(other->replica == r.replica);
      CHECK(other->first_token_s == r.first_token_s);
      CHECK(other->done_s == r.done_s);
    }
  }
  for (std::size_t k = 0; k < ordered.second.size(); ++k) {
    CHECK(one.second[k] == Approx(ordered.second[k]).epsilon(1e-12));
    CHECK(two.second[k] == one.second[k]);
  }
  CHECK(events[1] < 0.95 * events[0]);  // merged steps
}

TEST_CASE("one global event order when answers shape later requests or routing reads live load") {
  Sink sink;
  {
    ClosedLoop src;
    serving::NearestRouter router;
    serving::ServingSystem sys(one_dc(4), src, router, sink);
    sys.advance_to(1);
    CHECK_FALSE(sys.windowed());
  }
  {
    ListSource src;
    serving::LeastLoadedRouter router;
    serving::ServingSystem sys(two_dcs(), src, router, sink);
    sys.advance_to(1);
    CHECK_FALSE(sys.windowed());
  }
  {
    ListSource src;
    serving::LeastLoadedRouter router;  // one datacenter: nothing to choose
    serving::ServingSystem sys(one_dc(4), src, router, sink);
    sys.advance_to(1);
    CHECK(sys.windowed());
  }
}
