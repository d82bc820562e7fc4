// Prefill/decode disaggregation in the serving system (README "Prefill/decode disaggregation"):
// a prefill/decode pair computed by hand, and conservation.
#include <catch2/catch.hpp>

#include <memory>

#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "model/step_model.hpp"
#include "operations/autoscaling.hpp"
#include "serving/router.hpp"
#include "serving/system.hpp"
#include "test_sources.hpp"
#include "test_specs.hpp"
#include "workload/request_source.hpp"

using namespace chatdc;

namespace {

// One datacenter: a prefill pool of `prefill` servers of one replica (tp 2 of 8 GPUs) and a decode pool
// of `decode` units of two 8-GPU servers, one replica each (tp 2 of 16 GPUs: the rest idle).
serving::SystemSetup pd_setup(std::uint32_t prefill, std::uint32_t decode) {
  serving::SystemSetup s;
  serving::PoolSetup p = test::tp2_pool("dc", prefill, 16);
  auto d = std::make_shared<serving::PoolSetup>(p);
  d->servers = decode;
  d->servers_per_unit = 2;
  d->gpus_per_server = 16;
  d->server_power = {16, 60, 400, 2000, 6000};
  p.decode = d;
  p.kv_bytes_per_token = 1e5;         // 100 kB of KV per token
  p.kv_transfer_bytes_per_s = 1e9;    // 1 GB/s between the pools
  p.kv_transfer_latency_s = 0.001;
  s.dcs.push_back(p);
  s.user_regions = 1;
  s.one_way_s = {{0.002}};
  s.max_context_tokens = 4096;
  return s;
}

/// Time of one prefill step of a lone prompt of `tokens` tokens.
double prefill_s(const model::StepModel& m, std::uint32_t tokens) {
  model::StepShape pre;
  pre.prefill_seqs = 1;
  pre.prefill_tokens = tokens;
  pre.prefill_attention_pairs = tokens * (tokens + 1) / 2.0;
  return m.cost(pre).time_s;
}

}  // namespace

TEST_CASE("disaggregation by hand: TTFT = prefill + KV transfer + first decode step, and the pools' figures") {
  test::ListSource src;
  src.reqs.push_back({7, 1.0, 1000, 4, 0});
  test::Sink sink;
  serving::NearestRouter router;
  const serving::SystemSetup setup = pd_setup(1, 1);
  serving::ServingSystem sys(setup, src, router, sink);
  sys.advance_to(100);
  const auto rep = sys.close_epoch(0, 100);
  REQUIRE(sink.done.size() == 1);
  const serving::RequestRecord& r = sink.done.at(7);

  const model::StepModel& m = *setup.dcs[0].step_model;
  const double prefill = prefill_s(m, 1000);
  const double transfer_s = 0.001 + 1000 * 1e5 / 1e9;  // latency + 100 MB at 1 GB/s
  double dec[4];
  for (int k = 0; k < 4; ++k) {  // four decode steps attending 1001..1004 tokens: every output token
    model::StepShape s;
    s.decode_seqs = 1;
    s.decode_context_tokens = 1001 + k;
    dec[k] = m.cost(s).time_s;
  }
  const double delivered = 1.002, back = 0.002;
  CHECK(r.delivered_s == Approx(delivered).epsilon(1e-12));
  CHECK(r.admitted_s == Approx(delivered).epsilon(1e-12));  // admitted in the prefill pool
  CHECK(r.first_token_s - r.sent_s == Approx(0.002 + prefill + transfer_s + dec[0] + back).epsilon(1e-12));
  CHECK(r.done_s == Approx(delivered + prefill + transfer_s + dec[0] + dec[1] + dec[2] + dec[3] + back).epsilon(1e-12));
  CHECK(r.replica == 1);  // the decode replica answers
  CHECK(r.output_tokens == 4);

  const serving::DcEpoch& e = rep.dcs[0];
  CHECK(e.completions == 1);
  CHECK(e.output_tokens == 4);
  CHECK(e.prefill_input_tokens == 1000);
  CHECK(e.kv_transfers == 1);
  CHECK(e.kv_transfer_bytes == Approx(1e8));
  CHECK(e.prefill_busy_gpu_s == Approx(2 * prefill).epsilon(1e-12));
  CHECK(e.decode_busy_gpu_s == Approx(2 * (dec[0] + dec[1] + dec[2] + dec[3])).epsilon(1e-12));
  CHECK(e.busy_gpu_s == Approx(e.prefill_busy_gpu_s + e.decode_busy_gpu_s).epsilon(1e-12));
  // Physical servers: one prefill server and a decode unit of two, all on the whole epoch.
  CHECK(sys.server_count() == 3);
  CHECK(e.servers_serving == 3);
  CHECK(e.prefill_server_s == Approx(100));
  CHECK(e.decode_server_s == Approx(200));
  CHECK(e.serving_s == Approx(300));
  CHECK(rep.server_it_energy_j.size() == 3);
  CHECK(rep.server_it_energy_j[1] == Approx(rep.server_it_energy_j[2]));  // the unit's energy shared out
  // Idle power: prefill server 8 x 60 W GPUs + 1000 W; the decode unit 16 x 60 W + 2000 W, with the busy
  // GPU-seconds at their step power on top.
  CHECK(rep.server_it_energy_j[0] > 100 * (8 * 60 + 1000) * 0.999);
  CHECK(rep.server_it_energy_j[1] + rep.server_it_energy_j[2] > 100 * (16 * 60 + 2000) * 0.999);
}

namespace {
// An external driver (the fine engine's role): it carries requests, KV caches and answers itself.
struct Driver final : serving::ResponseSink {
  struct Kv {
    std::uint32_t prefill, decode;
    serving::Job job;
    double bytes, t;
  };
  std::vector<Kv> kv;
  std::vector<std::pair<std::uint64_t, double>> first;
  std::vector<std::pair<serving::Job, serving::JobTimes>> done;
  void on_first_token(std::uint32_t, const serving::Job& job, double t) override { first.emplace_back(job.id, t); }
  void on_complete(std::uint32_t, const serving::Job& job, const serving::JobTimes& times) override { done.emplace_back(job, times); }
  void on_kv_ready(std::uint32_t prefill, std::uint32_t decode, const serving::Job& job, double bytes, double t) override {
    kv.push_back({prefill, decode, job, bytes, t});
  }
};

// Runs replica `rid`'s events until `until` says stop.
template <class F>
void run_replica(serving::Replica& rep, F until) {
  while (!until() && rep.next_event_time() < serving::Replica::kNever) rep.on_event();
}
}  // namespace

TEST_CASE("disaggregation driven from outside (the fine engine): the prefill only, the KV cache handed to the driver, the decode, the record's times") {
  test::ListSource src;
  test::Sink sink;
  serving::NearestRouter router;
  const serving::SystemSetup setup = pd_setup(1, 1);
  serving::ServingSystem sys(setup, src, router, sink);
  Driver drv;
  sys.set_response_sink(&drv);
  // Servers as the model counts them, and their hosts: the prefill server, then the decode unit of two.
  REQUIRE(sys.unit_server_count() == 2);
  REQUIRE(sys.server_count() == 3);
  CHECK(sys.physical_servers(0) == std::pair<std::uint32_t, std::uint32_t>{0, 1});
  CHECK(sys.physical_servers(1) == std::pair<std::uint32_t, std::uint32_t>{1, 2});
  CHECK_FALSE(sys.server_powered_off(0));
  CHECK_FALSE(sys.server_powered_off(1));

  const workload::RequestSpec r{7, 1.0, 1000, 4, 0};
  REQUIRE(sys.admit(r) == std::optional<std::uint32_t>{0});
  const auto rid = sys.assign(r, 0);
  REQUIRE(rid == std::optional<std::uint32_t>{0});  // the prefill replica
  const serving::Job job = sys.job_on(*rid, r, 1.002);
  CHECK(job.output_tokens == 1);  // the prefill only
  CHECK(sys.job_on(1, r, 1.002).output_tokens == 4);  // a decode replica would get the whole request
  sys.replica(0).deliver(job, 1.002, serving::ServingSystem::prefix_of(r));
  run_replica(sys.replica(0), [&] { return !drv.kv.empty(); });
  REQUIRE(drv.kv.size() == 1);
  const model::StepModel& m = *setup.dcs[0].step_model;
  const double prefill_end = 1.002 + prefill_s(m, 1000);
  const Driver::Kv& kv = drv.kv[0];
  CHECK(kv.prefill == 0);
  CHECK(kv.decode == 1);
  CHECK(kv.t == Approx(prefill_end).epsilon(1e-12));
  CHECK(kv.bytes == Approx(1000 * 1e5));
  CHECK(kv.job.kv_ready);
  CHECK(kv.job.output_tokens == 4);  // restored for the decode
  CHECK(drv.first.empty());          // the prefill's own token is not the user's
  // The driver delivers the KV cache when its transfer ends; the decode replica runs four steps.
  const double arrive = prefill_end + 0.1;
  sys.replica(1).deliver(kv.job, arrive);
  run_replica(sys.replica(1), [&] { return !drv.done.empty(); });
  REQUIRE(drv.done.size() == 1);
  double t = arrive, first = 0;
  for (int k = 0; k < 4; ++k) {
    model::StepShape st;
    st.decode_seqs = 1;
    st.decode_context_tokens = 1001 + k;
    t += setup.dcs[0].decode->step_model->cost(st).time_s;
    if (k == 0) first = t;
  }
  REQUIRE(drv.first.size() == 1);
  CHECK(drv.first[0].second == Approx(first).epsilon(1e-12));
  const auto& [dj, dt] = drv.done[0];
  CHECK(dj.id == 7);
  CHECK(dt.done_s == Approx(t).epsilon(1e-12));
  CHECK(dt.admitted_s == Approx(1.002).epsilon(1e-12));  // admitted in the prefill pool, as the day engine records it
  CHECK(sink.done.empty());  // answers went to the driver
}

namespace {
// A failure of the datacenter's server (unit) `server` at start_s, repaired duration_s later.
operations::Outage failure(double start_s, double duration_s, std::uint32_t server) {
  operations::Outage o;
  o.start_s = start_s;
  o.duration_s = duration_s;
  o.dc = 0;
  o.server = server;
  return o;
}

// One request through `setup` for 100 s: its record and the epoch's report.
std::pair<serving::RequestRecord, serving::EpochReport> one_request(const serving::SystemSetup& setup, const workload::RequestSpec& req) {
  test::ListSource src;
  src.reqs.push_back(req);
  test::Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  sys.advance_to(100);
  serving::EpochReport rep = sys.close_epoch(0, 100);
  REQUIRE(sink.done.size() == 1);
  return {sink.done.at(req.id), std::move(rep)};
}
}  // namespace

TEST_CASE("disaggregation with failures by hand: a failed decode unit's sequences are prefilled again, their KV caches wait for a decode unit") {
  // One request (1,000 prompt tokens, 400 output tokens) decoding when the only decode unit fails at t = 3 s for 10 s.
  serving::SystemSetup setup = pd_setup(2, 1);
  setup.outages.push_back(failure(3, 10, 2));  // the decode unit: servers 0 and 1 prefill
  const auto [r, rep] = one_request(setup, {7, 1.0, 1000, 400, 0});
  CHECK(rep.dcs[0].failures == 1);
  CHECK(rep.dcs[0].retried == 1);
  // Prefilled twice (the KV cache was lost with the decode unit), sent twice; decoded after the repair.
  CHECK(rep.dcs[0].kv_transfers == 2);
  CHECK(rep.dcs[0].prefill_input_tokens == Approx(2000));
  CHECK(r.done_s > 13);
  CHECK(r.output_tokens == 400);
  CHECK(r.preemptions == 0);
  CHECK(rep.dcs[0].completions == 1);
  CHECK(rep.dcs[0].output_tokens == Approx(400));
  // The unit's 2 servers were failed from 3 s until the repair, then woke (no boot time in this setup) and served.
  CHECK(rep.dcs[0].failed_s == Approx(2 * 10).epsilon(1e-9));
}

TEST_CASE("disaggregation with failures by hand: a failed prefill unit's prompts go to the other prefill unit") {
  serving::SystemSetup setup = pd_setup(2, 1);
  const model::StepModel& m = *setup.dcs[0].step_model;
  const double prefill = prefill_s(m, 3000);
  const operations::Outage o = failure(1.002 + prefill / 2, 50, 0);  // during the first prefill (server 0 took it: both had nothing)
  setup.outages.push_back(o);
  const auto [r, rep] = one_request(setup, {7, 1.0, 3000, 4, 0});
  CHECK(rep.dcs[0].retried == 1);
  CHECK(rep.dcs[0].kv_transfers == 1);  // prefilled once to its end, on the other unit
  // Retried at the failure: a whole prefill on server 1, the transfer, then four decode steps.
  const double transfer_s = 0.001 + 3000 * 1e5 / 1e9;
  double decode = 0;
  for (int k = 0; k < 4; ++k) {
    model::StepShape st;
    st.decode_seqs = 1;
    st.decode_context_tokens = 3001 + k;
    decode += m.cost(st).time_s;
  }
  CHECK(r.done_s - 0.002 == Approx(o.start_s + prefill + transfer_s + decode).epsilon(1e-12));
  CHECK(r.replica == 2);  // decoded on the decode unit's replica
}

TEST_CASE("disaggregation: the prefill balancer counts input tokens outstanding, not requests") {
  // Two prefill servers; a long prompt, then two short ones, all at once. The first short one goes to the
  // idle replica 1; so does the second (100 tokens outstanding there against 3,000), admitted when the
  // first's prefill step ends, where a request balancer would have queued it behind the long prompt.
  test::ListSource src;
  src.reqs.push_back({0, 1.0, 3000, 2, 0});
  src.reqs.push_back({1, 1.0, 100, 2, 0});
  src.reqs.push_back({2, 1.0, 100, 2, 0});
  test::Sink sink;
  serving::NearestRouter router;
  const serving::SystemSetup setup = pd_setup(2, 2);
  serving::ServingSystem sys(setup, src, router, sink);
  sys.advance_to(100);
  REQUIRE(sink.done.size() == 3);
  const double p100 = prefill_s(*setup.dcs[0].step_model, 100);
  CHECK(sink.done.at(0).admitted_s == Approx(1.002).epsilon(1e-12));
  CHECK(sink.done.at(1).admitted_s == Approx(1.002).epsilon(1e-12));
  CHECK(sink.done.at(2).admitted_s == Approx(1.002 + p100).epsilon(1e-12));
  for (const auto& [id, r] : sink.done) CHECK(r.replica >= 2);  // answered by the decode pool
}

TEST_CASE("disaggregation: conservation, and windows give the answers of one global event order") {
  // With prefix caching of system prompts in the prefill pool (and prefix-aware balancing), chunked or not.
  const bool caching = GENERATE(false, true);
  const bool chunked = GENERATE(false, true);
  INFO("prefix caching " << caching << ", chunked prefill " << chunked);
  auto run = [&](bool windows, double until) {
    test::ListSource src;
    Rng rng(5);
    double t = 0;
    for (int i = 0; i < 3000; ++i) {
      t += rng.exponential(1 / 30.0);
      src.reqs.push_back({static_cast<std::uint64_t>(i), t, static_cast<std::uint32_t>(50 + rng.uniform() * 3000),
                          static_cast<std::uint32_t>(1 + rng.uniform() * 400), 0});
      if (caching && i % 4 != 0) {  // three in four start with one of three system prompts of 200 tokens
        auto& r = src.reqs.back();
        r.prompt_tokens += 200;
        r.system_prompt_tokens = 200;
        r.prefix = workload::prefix::synthetic(1 + i % 3, 0);
      }
    }
    test::Sink sink;
    serving::NearestRouter router;
    serving::SystemSetup setup = pd_setup(2, 1);
    setup.dcs[0].max_waiting_per_replica = 40;  // some are dropped
    setup.max_context_tokens = 3000;            // some are rejected
    setup.allow_windows = windows;
    setup.window_s = 1;
    setup.dcs[0].scheduler.chunked_prefill = chunked;
    setup.dcs[0].scheduler.max_tokens_per_step = 1024;  // long prompts take several chunks
    if (caching) {
      setup.dcs[0].scheduler.prefix_block_tokens = 16;
      setup.prefix_routing = true;
    }
    serving::ServingSystem sys(setup, src, router, sink);
    double completions = 0, kv_bytes = 0, hits = 0;
    for (int k = 1; k * 5.0 <= until; ++k) {
      sys.advance_to(k * 5.0);
      const auto rep = sys.close_epoch((k - 1) * 5.0, k * 5.0);
      completions += static_cast<double>(rep.dcs[0].completions);
      kv_bytes += rep.dcs[0].kv_transfer_bytes;
      hits += rep.dcs[0].prefix_hit_tokens;
      const serving::DcState st = sys.dc_state(0);
      // arrived = completed + unfinished (on the way, in a pool or between them) + rejected + dropped
      CHECK(sys.arrived() == sys.completed() + st.outstanding + st.inflight + sys.rejected() + sys.dropped());
    }
    CHECK(completions == static_cast<double>(sys.completed()));
    CHECK(sink.done.size() == sys.completed());
    CHECK(static_cast<std::uint64_t>(sink.rejected) == sys.rejected());
    if (until > 100) CHECK(sys.rejected() > 0);
    CHECK((hits > 0) == caching);
    CHECK(static_cast<std::uint64_t>(sink.dropped) == sys.dropped());
    std::vector<double> out{static_cast<double>(sys.completed()), kv_bytes, hits};
    for (const auto& [id, r] : sink.done) {
      CHECK(r.first_token_s > r.admitted_s);
      CHECK(r.done_s >= r.first_token_s);
      out.push_back(r.first_token_s);
      out.push_back(r.done_s);
    }
    return out;
  };
  const auto a = run(true, 400), b = run(false, 400);
  CHECK(a == b);
  CHECK(a == run(true, 400));  // deterministic
  CHECK(a[0] > 0);
  const auto mid = run(true, 60);  // stopped while requests arrive: conservation holds on the way
  CHECK(mid[0] > 0);
}

namespace {

// A schedule on pd_setup(2, 2): the prefill pool at half (one of its two servers) in hour 1, the decode
// pool by its own shares at half (one of its two units of two servers) in hours 1 and 2. Off power 20 W a
// server, wake power 500 W a server; a prefill server wakes in 100 s, a decode unit in 150 s.
serving::SystemSetup pd_schedule_setup() {
  serving::SystemSetup setup = pd_setup(2, 2);
  serving::PoolSetup& p = setup.dcs[0];
  p.ops.autoscaling.policy = operations::Policy::kSchedule;
  p.ops.autoscaling.schedule_fraction.fill(1.0);
  p.ops.autoscaling.schedule_fraction[1] = 0.5;
  p.ops.off_power_w = 20;
  p.ops.wake_power_w = 500;
  p.ops.boot_s = 100;
  auto d = std::make_shared<serving::PoolSetup>(*p.decode);
  d->ops = p.ops;
  d->ops.autoscaling.schedule_fraction[2] = 0.5;
  d->ops.off_power_w = 40;  // a unit of two servers
  d->ops.wake_power_w = 1000;
  d->ops.load_s = 50;
  p.decode = d;
  return setup;
}

}  // namespace

TEST_CASE("disaggregation from a scenario: each pool's schedule, standby and wake power and model load, and rent while on", "[config]") {
  const std::string file = std::string(CHATDC_SOURCE_DIR) + "/tests/fixtures/ds_pd.yaml";  // prefill 2 units of 2, decode 1 of 4
  const std::string ones = "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]";
  const std::string half = "[0.5,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]";
  const config::Scenario s = config::load_scenario(
      file, {"operations.autoscaling.policy=schedule", "operations.autoscaling.schedule=" + half,
             "operations.autoscaling.decode_schedule=" + ones, "operations.servers.off_power_w=40", "operations.servers.wake_power_w=900"});
  const config::Assembly a = config::assemble(s);
  const serving::PoolSetup& p = a.system.dcs[0];
  REQUIRE(p.decode);
  CHECK(p.ops.autoscaling.schedule_fraction[0] == 0.5);
  CHECK(p.decode->ops.autoscaling.schedule_fraction[0] == 1.0);  // its own shares
  CHECK(p.decode->ops.autoscaling.policy == operations::Policy::kSchedule);
  CHECK(p.decode->ops.autoscaling.min_servers == 1);  // one unit at least
  CHECK(p.ops.off_power_w == 2 * 40.0);               // a unit's servers
  CHECK(p.decode->ops.off_power_w == 4 * 40.0);
  CHECK(p.decode->ops.wake_power_w == 4 * 900.0);
  CHECK(p.decode->ops.boot_s == p.ops.boot_s);
  // Each server of a unit loads its own GPUs' weights: a decode unit of 4 servers (EP32) loads less per
  // server than a prefill unit of 2 (EP16).
  CHECK(p.decode->ops.load_s > 0);
  CHECK(p.decode->ops.load_s < p.ops.load_s);
  CHECK(a.accounting[0].rent_while_on);
  // Without decode_schedule the decode pool follows schedule.
  const config::Scenario same = config::load_scenario(file, {"operations.autoscaling.policy=schedule", "operations.autoscaling.schedule=" + half});
  CHECK(config::assemble(same).system.dcs[0].decode->ops.autoscaling.schedule_fraction[0] == 0.5);
  CHECK_FALSE(config::assemble(config::load_scenario(file, {})).accounting[0].rent_while_on);
}

TEST_CASE("disaggregation with a schedule: each pool by its own shares in whole units, server-hours and energy by state by hand") {
  test::ListSource src;  // no requests: every figure by hand
  test::Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(pd_schedule_setup(), src, router, sink);
  test::Driver drv{sys, {}};
  drv.run(4 * 3600);
  // Decisions at every 60 s, looking ahead by the pool's wake delay. Prefill server 1 (the pool's last):
  // drained at 3,600 s (hour 1: ceil(0.5 x 2) = 1 server), empty so off at once; woken at 7,140 s (7,140 + 100
  // reaches hour 2), serving from 7,240 s. Decode unit 1: off at 3,600 s, woken at 10,680 s (+150 s reaches
  // hour 3; 10,620 + 150 does not), serving from 10,830 s. The other server and unit serve all along.
  const serving::DcEpoch e = drv.total();
  const double p_on = 3600 + (14400 - 7240), p_off = 7140 - 3600, p_wake = 100;
  const double d_on = 3600 + (14400 - 10830), d_off = 10680 - 3600, d_wake = 150;
  CHECK(e.prefill_server_s == Approx(14400 + p_on).epsilon(1e-12));
  CHECK(e.decode_server_s == Approx(2 * 14400 + 2 * d_on).epsilon(1e-12));  // physical servers: a unit is two
  CHECK(e.serving_s == Approx(e.prefill_server_s + e.decode_server_s).epsilon(1e-12));
  CHECK(e.off_s == Approx(p_off + 2 * d_off).epsilon(1e-12));
  CHECK(e.waking_s == Approx(p_wake + 2 * d_wake).epsilon(1e-12));
  CHECK(e.wake_ups == 3);  // one prefill server and the decode unit's two
  CHECK(sys.wake_ups() == 2);  // a unit wakes once
  CHECK(e.energy_off_j == Approx(20 * p_off + 40 * d_off).epsilon(1e-12));
  CHECK(e.energy_waking_j == Approx(500 * p_wake + 1000 * d_wake).epsilon(1e-12));
  // Idle power: a prefill server 8 x 60 + 1000 = 1,480 W, a decode unit 16 x 60 + 2,000 = 2,960 W.
  CHECK(e.energy_serving_j == Approx(1480 * (14400 + p_on) + 2960 * (14400 + d_on)).epsilon(1e-12));
  CHECK(e.it_energy_j == Approx(e.energy_serving_j + e.energy_off_j + e.energy_waking_j).epsilon(1e-12));
  // Mid hour 2: the prefill pool whole again, the decode pool at one unit; the report counts physical servers.
  const serving::DcEpoch& mid = drv.reps[150].dcs[0];  // [9,000, 9,060) s
  {  // routers see the serving replicas: in hour 2, two prefill and one decode
    test::ListSource src2;
    serving::ServingSystem sys2(pd_schedule_setup(), src2, router, sink);
    test::Driver d2{sys2, {}};
    d2.run(9060);
    CHECK(sys2.dc_state(0).replicas == 3);
  }
  CHECK(mid.servers_serving == 2 + 2);
  CHECK(mid.servers_off == 2);
  REQUIRE(drv.reps[150].server_off.size() == 6);
  CHECK(drv.reps[150].server_off[4] == 1);  // the decode unit's two physical servers, off the whole period
  CHECK(drv.reps[150].server_off[5] == 1);
  CHECK(drv.reps[150].server_off[1] == 0);
  CHECK(sys.dc_state(0).replicas == 4);  // at the end (hour 3): both prefill replicas and both decode units serve
}

TEST_CASE("disaggregation with a schedule by hand: a draining prefill unit powers off at its last prefill's end, a decode unit at its last sequence's") {
  test::ListSource src;
  // Two long answers at 3,590 s: the decode balancer gives the first to decode replica 2, the second to
  // replica 3 (the unit with less KV), still decoding at 3,600 s when that unit drains. Two 4,000-token
  // prompts at 3,599.99 s: the prefill balancer gives them to prefill replicas 0 and 1; replica 1 drains at
  // 3,600 s holding its prefill.
  src.reqs.push_back({0, 3590, 100, 2000, 0});
  src.reqs.push_back({1, 3590, 100, 2000, 0});
  src.reqs.push_back({2, 3599.99, 4000, 10, 0});
  src.reqs.push_back({3, 3599.99, 4000, 10, 0});
  test::Sink sink;
  serving::NearestRouter router;
  const serving::SystemSetup setup = pd_schedule_setup();
  serving::ServingSystem sys(setup, src, router, sink);
  test::Driver drv{sys, {}};
  drv.run(4 * 3600);
  REQUIRE(sink.done.size() == 4);
  CHECK(sink.done.at(0).replica == 2);
  CHECK(sink.done.at(1).replica == 3);
  CHECK(sink.done.at(3).replica == 2);  // its KV arrived after 3,600 s: the draining decode unit took none
  CHECK(sink.done.at(2).replica == 2);
  const double back = 0.002;
  const double decode_end = sink.done.at(1).done_s - back;  // unit 1's last sequence
  const double prefill_end = 3599.99 + 0.002 + prefill_s(*setup.dcs[0].step_model, 4000);  // replica 1's last prefill
  REQUIRE(decode_end > 3600);
  REQUIRE(prefill_end > 3600);
  const serving::DcEpoch e = drv.total();
  CHECK(e.prefill_server_s == Approx(14400 + 3600 + (prefill_end - 3600) + (14400 - 7240)).epsilon(1e-12));
  CHECK(e.decode_server_s == Approx(2 * 14400 + 2 * (3600 + (decode_end - 3600) + (14400 - 10830))).epsilon(1e-12));
  CHECK(e.draining_s == Approx((prefill_end - 3600) + 2 * (decode_end - 3600)).epsilon(1e-9));
  CHECK(e.off_s == Approx((7140 - prefill_end) + 2 * (10680 - decode_end)).epsilon(1e-9));
  CHECK(sys.completed() == 4);
}

TEST_CASE("disaggregation with a schedule: drained units finish what they hold, nothing is lost, windows = one order") {
  auto run = [](bool windows) {
    test::ListSource src;
    Rng rng(11);
    double t = 0;
    for (std::uint64_t i = 0;; ++i) {
      t += rng.exponential(1 / 2.0);  // 2 requests/s for 3.9 h
      if (t > 3.9 * 3600) break;
      src.reqs.push_back({i, t, static_cast<std::uint32_t>(50 + rng.uniform() * 1500), static_cast<std::uint32_t>(1 + rng.uniform() * 200), 0});
    }
    test::Sink sink;
    serving::NearestRouter router;
    serving::SystemSetup setup = pd_schedule_setup();
    setup.allow_windows = windows;
    serving::ServingSystem sys(setup, src, router, sink);
    // Driven as the day engine does, checking conservation at every period's end.
    test::Driver d2{sys, {}};
    for (double t0 = 0; t0 < 4 * 3600; t0 += 60) {
      sys.advance_to(t0 + 60);
      d2.reps.push_back(sys.close_epoch(t0, t0 + 60));
      sys.operate(t0 + 60);
      const serving::DcState st = sys.dc_state(0);
      CHECK(sys.arrived() == sys.completed() + st.outstanding + st.inflight + sys.rejected() + sys.dropped());
    }
    CHECK(sys.arrived() == src.reqs.size());
    CHECK(sys.completed() == src.reqs.size());  // every request answered: none lost to a drain
    CHECK(sys.rejected() + sys.dropped() == 0);
    const serving::DcEpoch e = d2.total();
    // A drained unit finishes its prefills (handing their KV over) or its sequences, then powers off: a
    // little longer on than the idle schedule.
    const double p_idle = 14400 + 3600 + (14400 - 7240), d_idle = 2 * 14400 + 2 * (3600 + (14400 - 10830));
    CHECK(e.prefill_server_s >= p_idle - 1e-6);
    CHECK(e.prefill_server_s <= p_idle + 60);
    CHECK(e.decode_server_s >= d_idle - 1e-6);
    CHECK(e.decode_server_s <= d_idle + 2 * 60);
    CHECK(e.wake_ups == 3);
    // The drained decode unit (replica 3) answers no request whose KV reached it while it was off.
    for (const auto& [id, r] : sink.done)
      if (r.replica == 3) CHECK(!(r.first_token_s > 3600 + 30 && r.first_token_s < 10830));
    std::vector<double> out;
    for (const auto& [id, r] : sink.done) {
      out.push_back(r.first_token_s);
      out.push_back(r.done_s);
      out.push_back(r.replica);
    }
    return out;
  };
  const auto a = run(true);
  CHECK(a == run(false));
  CHECK(a.size() > 3 * 25000);
}

TEST_CASE("disaggregation from a scenario: the pools' units, and the KV transfer over one GPU's NIC share", "[config]") {
  const std::string file = std::string(CHATDC_SOURCE_DIR) + "/tests/fixtures/ds_pd.yaml";  // 8 x H800: 2 x 2 prefill, 1 x 4 decode
  const config::Scenario s = config::load_scenario(file, {});
  const config::Assembly a = config::assemble(s);
  REQUIRE(a.system.dcs.size() == 1);
  const serving::PoolSetup& p = a.system.dcs[0];
  CHECK(p.servers == 2);  // prefill units
  CHECK(p.servers_per_unit == 2);
  CHECK(p.gpus_per_server == 16);
  REQUIRE(p.decode);
  CHECK(p.decode->servers == 1);
  CHECK(p.decode->servers_per_unit == 4);
  CHECK(p.decode->gpus_per_server == 32);
  CHECK(p.decode->step_model->gpus() == 32);  // one replica over the unit's 32 GPUs
  // DeepSeek-V3's MLA latent: 61 layers x 576 elements x 2 bytes (BF16).
  CHECK(p.kv_bytes_per_token == 61 * 576 * 2);
  // One GPU's share of 3,200 Gb/s over 8 GPUs, at 86%: 43 GB/s; route NIC, uplink, spine, uplink, NIC.
  CHECK(p.kv_transfer_bytes_per_s == Approx(50e9 * 0.86).epsilon(1e-12));
  CHECK(p.kv_transfer_latency_s == Approx(10e-6).epsilon(1e-12));
  CHECK(a.accounting[0].servers == 8);
  CHECK(a.accounting[0].gpus == 64);
  CHECK(a.accounting[0].replicas == 3);
  CHECK(p.decode->scheduler.max_batch_size == 256);  // serving.max_batch_size unless the decode pool has its own
  const config::Scenario big = config::load_scenario(file, {"platform.regions[0].datacenters[0].decode.max_batch_size=12672"});
  CHECK(config::assemble(big).system.dcs[0].decode->scheduler.max_batch_size == 12672);
  CHECK(config::assemble(big).system.dcs[0].scheduler.max_batch_size == 256);
  // A share of the servers, rounded to whole decode units: 0.3 x 8 = 2.4 servers -> one unit of 4.
  const std::string key = "platform.regions[0].datacenters[0].decode";
  const config::Scenario shared = config::load_scenario(file, {key + "={server_share: 0.3, unit_servers: 4}"});
  CHECK(shared.regions[0].datacenters[0].decode->servers == 4);
  CHECK(shared.regions[0].datacenters[0].prefill_servers() == 4);
  // 0.1 x 8 rounds to no decode unit at all.
  CHECK_THROWS_WITH(config::load_scenario(file, {key + "={server_share: 0.1, unit_servers: 4}"}),
                    Catch::Contains("leaves no decode unit of 4 servers"));
}
