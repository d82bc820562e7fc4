// Power capping and DVFS by hand: the clock a cap allows, a capped step's time and energy, and a site
// budget lowering the clock until the datacenter's servers fit.
#include <catch2/catch.hpp>

#include <map>
#include <vector>

#include "model/dvfs.hpp"
#include "model/step_model.hpp"
#include "operations/power_cap.hpp"
#include "serving/replica.hpp"
#include "test_specs.hpp"

using namespace chatdc;
using model::Dvfs;

TEST_CASE("dvfs: dynamic power f V^2 with V falling linearly with the clock, the clock a power cap allows") {
  CHECK(Dvfs::dynamic_factor(1.0) == Approx(1.0));
  CHECK(Dvfs::dynamic_factor(0.5) == Approx(0.5 * 0.845 * 0.845));  // V = 1 - 0.31 x 0.5
  // An H100 (idle 75 W, compute-bound 700 W) capped at 490 W (70%): f V^2 = 415 / 625 = 0.664, f = 0.77
  // (Splitwise's H100 power-capped prefill: ~1.3x slower).
  model::GpuSpec h100;
  h100.idle_power_w = 75;
  h100.tdp_w = 700;
  h100.compute_bound_power_w = 700;
  h100.memory_bound_power_w = 380;
  const double f = Dvfs::clock_for_cap(h100, 490);
  CHECK(Dvfs::dynamic_factor(f) == Approx(415.0 / 625.0).epsilon(1e-9));
  CHECK(f == Approx(0.77).margin(0.002));
  CHECK(Dvfs::clock_for_cap(h100, 700) == 1.0);  // at or above the compute-bound power: no effect
  CHECK(Dvfs::clock_for_cap(h100, 80) == Dvfs::kMinClockFraction);
  const model::GpuSpec g = Dvfs::at_clock(h100, f);
  CHECK(g.compute_bound_power_w == Approx(490));
  CHECK(g.memory_bound_power_w == Approx(75 + 305 * 0.664).epsilon(1e-6));  // decode draws 277.5 W, not 380
  CHECK(Dvfs::min_cap_w(h100) == Approx(210));
}

TEST_CASE("a clock of one half doubles compute-bound time, leaves HBM time alone, and scales power by hand") {
  const model::GpuSpec full = test::hand_gpu();  // 300 TFLOP/s x 0.5, 2 TB/s x 0.8, idle 60, P_mem 250, P_comp 400 W
  const double f = 0.5, s = 0.5 * 0.845 * 0.845;
  const model::RooflineStepModel base(full, test::hand_llm(), 1), capped(Dvfs::at_clock(full, f), test::hand_llm(), 1);
  const double p_comp = 60 + 340 * s, p_mem = 60 + 190 * s;  // 181.4 W and 127.8 W

  // A 2,000-token prompt: compute-bound. FLOPs = 2 x 10e9 x 2000 + 4 x 40 x 5120 x 2000 x 1000.5 (pairs).
  model::StepShape prefill;
  prefill.prefill_seqs = 1;
  prefill.prefill_tokens = 2000;
  prefill.prefill_attention_pairs = 2000 * 1000.5;
  const double flops = 2 * 10e9 * 2000 + 4.0 * 40 * 5120 * 2000 * 1000.5;
  const model::StepCost a = base.cost(prefill), b = capped.cost(prefill);
  CHECK(a.compute_s == Approx(flops / (300e12 * 0.5)).epsilon(1e-12));
  CHECK(b.compute_s == Approx(flops / (150e12 * 0.5)).epsilon(1e-12));  // 1/f as long
  CHECK(b.memory_s == Approx(a.memory_s).epsilon(1e-12));
  CHECK(b.compute_s > b.memory_s);
  CHECK(b.time_s == Approx(1e-3 + b.compute_s).epsilon(1e-12));  // overhead + compute (tp 1: no all-reduce)
  CHECK(b.energy_j == Approx(60 * 1e-3 + p_comp * b.compute_s).epsilon(1e-12));
  CHECK(a.energy_j == Approx(60 * 1e-3 + 400 * a.compute_s).epsilon(1e-12));
  CHECK(b.energy_j < a.energy_j);  // 1.36x less energy for 2x the time at this clock

  // 8 sequences decoding 1,000 tokens each: memory-bound at either clock, so the same time.
  model::StepShape decode;
  decode.decode_seqs = 8;
  decode.decode_context_tokens = 8000;
  const model::StepCost c = base.cost(decode), d = capped.cost(decode);
  CHECK(d.compute_s == Approx(2 * c.compute_s).epsilon(1e-12));
  CHECK(d.memory_s > d.compute_s);
  CHECK(d.time_s == Approx(c.time_s).epsilon(1e-12));
  CHECK(d.energy_j == Approx(60 * 1e-3 + p_mem * d.memory_s + (p_comp - p_mem) * d.compute_s).epsilon(1e-12));
  CHECK(d.energy_j / c.energy_j == Approx((60e-3 + p_mem * d.memory_s + (p_comp - p_mem) * d.compute_s) /
                                          (60e-3 + 250 * c.memory_s + 150 * c.compute_s)));
}

TEST_CASE("site budget: the clock falls until every server at its most fits the budget, an impossible budget is named") {
  const model::GpuSpec gpu = test::hand_gpu();
  const model::ServerPowerSpec server{8, 60, 400, 1000, 3000};  // at most 8 x 400 + 3000 = 6.2 kW
  operations::PowerCapConfig c;
  operations::PowerCap p = operations::resolve_power_cap(gpu, server, 10, c);
  CHECK(p.clock_fraction == 1.0);
  CHECK(p.fleet_max_kw == Approx(62.0));
  c.site_budget_kw = 70;  // fits: nothing changes
  p = operations::resolve_power_cap(gpu, server, 10, c);
  CHECK(p.clock_fraction == 1.0);
  CHECK_FALSE(p.budget_binding);
  c.site_budget_kw = 40;  // 4 kW a server: 8 g + 1000 + 2000 (g - 60)/340 = 4000 -> g = 174.8 W a GPU
  p = operations::resolve_power_cap(gpu, server, 10, c);
  CHECK(p.budget_binding);
  CHECK(p.fleet_max_kw == Approx(40.0).epsilon(1e-9));
  const double g = (4000 - 1000 + 2000.0 * 60 / 340) / (8 + 2000.0 / 340);
  CHECK(p.gpu_power_cap_w == Approx(g).epsilon(1e-9));
  CHECK(Dvfs::dynamic_factor(p.clock_fraction) == Approx((g - 60) / 340).epsilon(1e-9));
  c.gpu_power_cap_w = 150;  // a tighter GPU cap wins over the budget
  p = operations::resolve_power_cap(gpu, server, 10, c);
  CHECK_FALSE(p.budget_binding);
  CHECK(p.gpu_power_cap_w == Approx(150).epsilon(1e-9));
  c.gpu_power_cap_w = 0;
  c.site_budget_kw = 15;  // below 10 servers' idle-ish floor at the lowest clock
  p = operations::resolve_power_cap(gpu, server, 10, c);
  CHECK_THAT(p.error, Catch::Contains("even at the lowest clock"));
}

namespace {
struct Times final : serving::ReplicaListener {
  std::map<std::uint64_t, double> first, done;
  void on_first_token(std::uint32_t, const serving::Job& j, double t) override { first[j.id] = t; }
  void on_complete(std::uint32_t, const serving::Job& j, const serving::JobTimes& t) override { done[j.id] = t.done_s; }
};
}  // namespace

TEST_CASE("a clock change mid-run: the decode run is cut at its next step boundary, each part timed at its own clock") {
  // 32 sequences of 10-token prompts and 200-token answers, all delivered at 0: the first is prefilled alone
  // (the replica was idle), the other 31 in the next step, then 199 decode steps of 32 sequences, step k
  // attending 32 x (11 + k) tokens. At clock 0.2 these steps are compute-bound (32 x 2e10 FLOPs at 30 TFLOP/s
  // = 21 ms, above the 12.5 ms of weights), at full clock not.
  const model::GpuSpec gpu = test::hand_gpu();
  const model::RooflineStepModel fast(gpu, test::hand_llm(), 1), slow(Dvfs::at_clock(gpu, 0.2), test::hand_llm(), 1);
  const serving::DecodeProfiles pf(fast, 32), ps(slow, 32);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 32;
  cfg.kv_capacity_tokens = 1e6;
  std::vector<model::StepShape> steps(2);
  steps[0].prefill_seqs = 1;
  steps[0].prefill_tokens = 10;
  steps[0].prefill_attention_pairs = 55;
  steps[1].prefill_seqs = 31;
  steps[1].prefill_tokens = 310;
  steps[1].prefill_attention_pairs = 31 * 55;
  for (std::uint32_t k = 0; k < 199; ++k) steps.push_back(test::decode_shape(32, 32.0 * (11 + k)));
  CHECK(slow.cost(steps[2]).time_s > 1.2 * fast.cost(steps[2]).time_s);

  for (const double when : {0.2, 1.5, 1e-9, 0.05}) {  // mid-run (twice); during the first prefill step; the second
    Times log;
    serving::Replica r(0, fast, pf, cfg, &log);
    for (std::uint64_t i = 0; i < 32; ++i) {
      serving::Job j;
      j.id = i;
      j.prompt_tokens = 10;
      j.output_tokens = 200;
      r.deliver(j, 0.0);
    }
    while (r.next_event_time() <= when) r.on_event();
    r.accrue(when);
    r.set_step_model(&slow, &ps, when);
    while (r.next_event_time() != serving::Replica::kNever) r.on_event();

    // By hand: every step that starts before `when` at full clock (the one in progress then finishes at
    // it), every later one at clock 0.2.
    double t = 0, e = 0, second = 0;
    std::uint32_t fast_decodes = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const bool before = t < when;
      const model::StepCost c = (before ? fast : slow).cost(steps[i]);
      if (before && i >= 2) ++fast_decodes;
      t += c.time_s;
      e += c.energy_j;
      if (i == 1) second = t;
    }
    INFO("switch at " << when << " s, after " << fast_decodes << " decode steps at full clock");
    if (when > 0.1) CHECK(fast_decodes > 10);
    CHECK(fast_decodes < 199);
    CHECK(log.first.at(0) == Approx(fast.cost(steps[0]).time_s).epsilon(1e-12));
    CHECK(log.first.at(31) == Approx(second).epsilon(1e-12));
    CHECK(log.done.at(31) == Approx(t).epsilon(1e-12));
    CHECK(r.take_energy_j() == Approx(e).epsilon(1e-12));
    CHECK(r.take_busy_s() == Approx(t).epsilon(1e-12));
  }

  // Idle: at once. Switched back before a run ends, the rest of the run goes at full clock again.
  Times log;
  serving::Replica r(0, fast, pf, cfg, &log);
  r.set_step_model(&slow, &ps, 0.0);
  serving::Job j;
  j.id = 1;
  j.prompt_tokens = 10;
  j.output_tokens = 3;
  r.deliver(j, 0.0);
  while (r.next_event_time() != serving::Replica::kNever) r.on_event();
  model::StepShape one;
  one.prefill_seqs = 1;
  one.prefill_tokens = 10;
  one.prefill_attention_pairs = 55;
  const double want = slow.cost(one).time_s + slow.cost(test::decode_shape(1, 11)).time_s + slow.cost(test::decode_shape(1, 12)).time_s;
  CHECK(log.done.at(1) == Approx(want).epsilon(1e-12));
  // A step beginning at the instant of the change runs at the new clock.
  Times at_once;
  serving::Replica r2(0, fast, pf, cfg, &at_once);
  r2.deliver(j, 0.0);
  r2.set_step_model(&slow, &ps, 0.0);
  while (r2.next_event_time() != serving::Replica::kNever) r2.on_event();
  CHECK(at_once.first.at(1) == Approx(slow.cost(one).time_s).epsilon(1e-12));
  CHECK(at_once.done.at(1) == Approx(want).epsilon(1e-12));

  // Merged steps (a prefill step and the run after it started together): a change during the prefill step
  // leaves the step at its clock and retimes the whole run at the new one.
  cfg.merge_steps = true;
  Times merged;
  serving::Replica m(0, fast, pf, cfg, &merged);
  m.deliver(j, 0.0);
  m.set_step_model(&slow, &ps, 1e-9);
  while (m.next_event_time() != serving::Replica::kNever) m.on_event();
  const double want_merged = fast.cost(one).time_s + slow.cost(test::decode_shape(1, 11)).time_s + slow.cost(test::decode_shape(1, 12)).time_s;
  CHECK(merged.done.at(1) == Approx(want_merged).epsilon(1e-12));
  CHECK(m.take_energy_j() == Approx(fast.cost(one).energy_j + slow.cost(test::decode_shape(1, 11)).energy_j +
                                    slow.cost(test::decode_shape(1, 12)).energy_j).epsilon(1e-12));
}
