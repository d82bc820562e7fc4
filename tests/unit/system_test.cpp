#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "model/dvfs.hpp"
#include "model/step_model.hpp"
#include "serving/router.hpp"
#include "core/rng.hpp"
#include "serving/system.hpp"
#include "test_specs.hpp"
#include "workload/conversation.hpp"
#include "workload/trace.hpp"

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

ListSource random_requests(int n, double rate_per_s, double max_output = 300, bool system_prompts = false) {
  ListSource src;
  Rng rng(42);
  double t = 0;
  for (int i = 0; i < n; ++i) {
    t += rng.exponential(1 / rate_per_s);
    src.reqs.push_back({static_cast<std::uint64_t>(i), t, static_cast<std::uint32_t>(50 + rng.uniform() * 1500),
                        static_cast<std::uint32_t>(1 + rng.uniform() * max_output), static_cast<std::uint32_t>(i % 3 == 0)});
    if (system_prompts && i % 4 != 0) {  // three in four start with one of three system prompts of 200 tokens
      auto& r = src.reqs.back();
      r.prompt_tokens += 200;
      r.system_prompt_tokens = 200;
      r.prefix = workload::prefix::synthetic(1 + i % 3, 0);
    }
  }
  return src;
}

// Each request of `ordered` answered alike (replica, first token, completion, cached tokens) in `a` and `b`.
void check_same_answers(const std::map<std::uint64_t, serving::RequestRecord>& ordered,
                        const std::map<std::uint64_t, serving::RequestRecord>& a,
                        const std::map<std::uint64_t, serving::RequestRecord>& b) {
  for (const auto& [id, r] : ordered) {
    INFO("request " << id);
    for (const auto* other : {&a.at(id), &b.at(id)}) {
      CHECK(other->replica == r.replica);
      CHECK(other->first_token_s == r.first_token_s);
      CHECK(other->done_s == r.done_s);
      CHECK(other->cached_tokens == r.cached_tokens);
    }
  }
}

struct ClosedLoop final : workload::RequestSource {
  double peek_time() override { return kNever; }
  workload::RequestSpec pop() override { return {}; }
  bool closed_loop() const override { return true; }
  double expected_requests() const override { return 0; }
};

}  // namespace

TEST_CASE("cells: whole servers, as even as possible, requests spread over every replica") {
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
  const bool caching = GENERATE(false, true);  // prefix caching of system prompts, prefix-aware balancing
  INFO("chunked prefill " << chunked << ", answers up to " << max_output << " tokens, prefix caching " << caching);
  std::uint64_t events[2] = {0, 0};
  auto run = [&](bool windows, unsigned threads) {
    ListSource src = random_requests(6000, 60, max_output, caching);
    Sink sink;
    serving::NearestRouter router;
    serving::SystemSetup setup = one_dc(4);  // 5 cells of one server
    setup.dcs[0].scheduler.chunked_prefill = chunked;
    if (caching) {
      setup.dcs[0].scheduler.prefix_block_tokens = 16;
      setup.dcs[0].scheduler.kv_capacity_tokens = 12000;  // small: cached blocks are evicted
      setup.prefix_routing = true;
      setup.prefix_routing_slack = 2;
    }
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
      energy.push_back(rep.dcs[0].prefix_hit_tokens);
      energy.push_back(rep.dcs[0].prefix_queried_tokens);
      energy.push_back(rep.dcs[0].kv_cached_tokens);
      energy.push_back(rep.dcs[0].flops);
    }
    CHECK(sink.rejected > 0);
    CHECK(sys.windowed() == windows);
    CHECK(src.responses.size() == sink.done.size());
    events[windows] = sys.events();
    return std::make_pair(sink.done, energy);
  };
  const auto ordered = run(false, 1), one = run(true, 1), two = run(true, 2);
  REQUIRE(ordered.first.size() > (caching ? 3500u : 4000u));
  REQUIRE(ordered.first.size() < 5400);
  REQUIRE(one.first.size() == ordered.first.size());
  REQUIRE(two.first.size() == ordered.first.size());
  check_same_answers(ordered.first, one.first, two.first);
  for (std::size_t k = 0; k < ordered.second.size(); ++k) {
    CHECK(one.second[k] == Approx(ordered.second[k]).epsilon(1e-12));
    CHECK(two.second[k] == one.second[k]);
  }
  CHECK(events[1] < 0.95 * events[0]);  // merged steps
  if (caching) {
    double hits = 0;
    for (const auto& [id, r] : ordered.first) hits += r.cached_tokens;
    CHECK(hits > 0);
  }
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

// ---- Prefix caching through the serving system ----------------------------------------------------

TEST_CASE("prefix caching: a conversation's second turn finds its history where prefix-aware balancing sends it") {
  const bool affinity = GENERATE(false, true);
  INFO("prefix-aware balancing " << affinity);
  serving::SystemSetup setup = one_dc(0);  // one cell of 20 replicas
  setup.dcs[0].scheduler.prefix_block_tokens = 16;
  setup.prefix_routing = affinity;
  auto base = std::make_unique<ListSource>();
  base->reqs.push_back({0, 1.0, 500, 50, 0});
  workload::ConversationSpec conv;
  conv.turns_mean = 1e9;  // it goes on
  conv.think_time_s.value = 5;
  conv.message_tokens.value = 100;
  conv.output_tokens.value = 20;
  workload::ConversationSource src(std::move(base), conv);
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  sys.advance_to(20);
  REQUIRE(sink.done.size() >= 2);
  const auto& first = sink.done.at(0);
  const auto& second = sink.done.at(1);
  CHECK(second.prompt_tokens == 500 + 50 + 100);
  CHECK(first.cached_tokens == 0);
  if (!affinity) {
    // Least outstanding requests rotates ties: the second turn goes to another replica, which has nothing.
    CHECK(second.replica != first.replica);
    CHECK(second.cached_tokens == 0);
  } else {
    // The same replica: the history's blocks are cached up to its KV's last full block, 549 -> 544.
    CHECK(second.replica == first.replica);
    CHECK(second.cached_tokens == 544);
    const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 2);
    model::StepShape pre;  // 106 new tokens after the 544 cached ones
    pre.prefill_seqs = 1;
    pre.prefill_tokens = 106;
    pre.prefill_attention_pairs = 106 * (544 + 107 / 2.0);
    pre.prefill_context_tokens = 544;
    CHECK(second.first_token_s - second.sent_s == Approx(0.002 + m.cost(pre).time_s + 0.002).epsilon(1e-12));
  }
}

TEST_CASE("prefix caching: the Mooncake sample's hash_ids are found cached as the trace says they are shared") {
  workload::TraceOptions o;
  o.format = workload::TraceFormat::kMooncake;
  o.path = std::string(CHATDC_SOURCE_DIR) + "/workloads/traces/mooncake_conv_sample.jsonl";
  o.time_scale = 2000;  // 72 s of trace over 40 h: one request at a time, so the hits are the trace's own
  o.duration_s = 1e6;
  workload::TraceSource src(o);
  serving::SystemSetup setup = one_dc(0);
  setup.dcs[0].servers = 1;
  setup.dcs[0].replicas_per_server = 1;
  setup.dcs[0].scheduler.prefix_block_tokens = 16;
  setup.dcs[0].scheduler.kv_capacity_tokens = 1e7;  // nothing is evicted
  setup.max_context_tokens = 1000000;
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  sys.advance_to(o.duration_s);
  REQUIRE(sink.done.size() == 200);
  // What the hashes say, request by request in file order: the leading blocks whose hash an earlier
  // prompt had, in 16-token blocks, up to the last full block before the prompt's last token.
  const workload::HashChains& chains = *src.hash_chains();
  const auto down = [](std::uint64_t t) { return t / 16 * 16; };
  std::map<std::uint64_t, std::uint64_t> cached;  // hash -> its blocks cached up to this token
  std::vector<std::uint64_t> expect(200);
  std::vector<std::uint32_t> prompt(200);
  for (const auto& [id, r] : sink.done) prompt[id] = r.prompt_tokens;  // ids follow the file's lines
  double hits = 0, queried = 0, expected_hits = 0;
  for (std::uint64_t line = 0; line < 200; ++line) {
    const std::uint64_t p = prompt[line], limit = down(p - 1);
    std::uint64_t hit = 0;
    for (std::size_t i = 0; i < chains.size(line); ++i) {
      const std::uint64_t start = 512 * i, end = std::min<std::uint64_t>(512 * (i + 1), p), want = down(std::min(end, limit));
      if (want > start) {
        const auto it = cached.find(chains.data(line)[i]);
        if (it == cached.end()) break;
        hit = std::min(it->second, want);
        if (hit < want) break;
      }
      if (end >= limit) break;
    }
    for (std::size_t i = 0; i < chains.size(line); ++i) {
      const std::uint64_t end = std::min<std::uint64_t>(512 * (i + 1), p);
      auto& c = cached[chains.data(line)[i]];
      c = std::max(c, down(end));
      if (end >= p) break;
    }
    expect[line] = hit;
  }
  for (const auto& [id, r] : sink.done) {
    INFO("request " << id);
    CHECK(r.cached_tokens == expect[id]);
    hits += r.cached_tokens;
    queried += r.prompt_tokens;
    expected_hits += expect[id];
  }
  // By hand: the file's second prompt (hash_ids 0, 14, ...) shares its first 512-token block with the first.
  CHECK(sink.done.at(1).cached_tokens == 512);
  CHECK(hits > 0.05 * queried);
  CHECK(hits == expected_hits);
}

TEST_CASE("power caps by the hour: the clock switches at the local hour, alike in windows and in one global order") {
  // The datacenter's local hour 0 ends 30 s into the run: hour 0 runs at clock 0.3, hour 1 at full clock.
  const bool chunked = GENERATE(false, true);
  INFO("chunked prefill " << chunked);
  const auto slow = std::make_shared<model::RooflineStepModel>(model::Dvfs::at_clock(test::hand_gpu(), 0.3), test::hand_llm(), 2);
  auto run = [&](bool windows, unsigned threads, bool hourly) {
    ListSource src = random_requests(4000, 60);
    Sink sink;
    serving::NearestRouter router;
    serving::SystemSetup setup = one_dc(4);  // 5 cells of one server
    setup.dcs[0].scheduler.chunked_prefill = chunked;
    setup.dcs[0].scheduler.max_tokens_per_step = 512;
    setup.dcs[0].local_offset_s = 3600 - 30;
    if (hourly) {
      setup.dcs[0].clock_models = {setup.dcs[0].step_model, slow};
      setup.dcs[0].hour_model.fill(0);
      setup.dcs[0].hour_model[0] = 1;
    }
    setup.allow_windows = windows;
    setup.threads = threads;
    setup.window_s = 1;
    serving::ServingSystem sys(setup, src, router, sink);
    std::vector<double> energy;
    for (int k = 1; k <= 240; ++k) {  // half-second periods: the hour ends on the 60th
      sys.advance_to(k * 0.5);
      const auto rep = sys.close_epoch((k - 1) * 0.5, k * 0.5);
      sys.operate(k * 0.5);
      energy.push_back(rep.dcs[0].it_energy_j);
      energy.push_back(rep.dcs[0].busy_gpu_s);
      energy.push_back(static_cast<double>(rep.dcs[0].completions));
      if (hourly && k == 59)  // 29.5 s: still hour 0 on every replica
        for (std::uint32_t i = 0; i < sys.replica_count(); ++i) CHECK(&sys.replica(i).step_model() == slow.get());
    }
    sys.advance_to(1e4);
    CHECK(sys.windowed() == windows);
    for (std::uint32_t i = 0; i < sys.replica_count(); ++i)  // hour 1 on every replica once it reached a step boundary
      CHECK(&sys.replica(i).step_model() == sys.setup().dcs[0].step_model.get());
    return std::make_pair(sink.done, energy);
  };
  const auto ordered = run(false, 1, true), one = run(true, 1, true), two = run(true, 2, true);
  const auto fast = run(true, 1, false);
  REQUIRE(ordered.first.size() == 4000);
  REQUIRE(one.first.size() == 4000);
  REQUIRE(two.first.size() == 4000);
  REQUIRE(fast.first.size() == 4000);
  check_same_answers(ordered.first, one.first, two.first);
  int slower = 0;
  for (const auto& [id, r] : ordered.first)
    if (r.done_s < 30) slower += r.first_token_s > fast.first.at(id).first_token_s;  // the first hour at clock 0.3
  CHECK(slower > 500);
  for (std::size_t k = 0; k < ordered.second.size(); ++k) {
    CHECK(one.second[k] == Approx(ordered.second[k]).epsilon(1e-12));
    CHECK(two.second[k] == one.second[k]);
  }
  // The first hour's periods draw less power but stay busy longer than at full clock.
  double e_slow = 0, e_fast = 0;
  for (std::size_t k = 0; k < 60 * 3; k += 3) e_slow += ordered.second[k], e_fast += fast.second[k];
  CHECK(e_slow != Approx(e_fast));
}
