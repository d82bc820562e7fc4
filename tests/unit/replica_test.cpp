#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "core/rng.hpp"
#include "model/step_model.hpp"
#include "serving/replica.hpp"
#include "test_specs.hpp"

using namespace chatdc;
using serving::Job;
using serving::JobTimes;

namespace {

struct Log final : serving::ReplicaListener {
  std::map<std::uint64_t, JobTimes> done;
  std::map<std::uint64_t, double> first;
  void on_first_token(std::uint32_t, const Job& j, double t) override { first[j.id] = t; }
  void on_complete(std::uint32_t, const Job& j, const JobTimes& t) override { done[j.id] = t; }
};

struct Drive {
  double busy_s = 0, energy_j = 0;
  std::uint64_t preemptions = 0;
};

// Feeds jobs (sorted by delivery time) to one replica and runs it dry.
Drive drive(serving::Replica& r, const std::vector<Job>& jobs) {
  std::size_t next = 0;
  for (;;) {
    const double te = r.next_event_time();
    const double td = next < jobs.size() ? jobs[next].delivered_s : serving::Replica::kNever;
    if (te == serving::Replica::kNever && td == serving::Replica::kNever) break;
    if (td < te) {
      r.deliver(jobs[next], td);
      ++next;
    } else {
      r.on_event();
    }
  }
  Drive d;
  d.busy_s = r.take_busy_s();
  d.energy_j = r.take_energy_j();
  d.preemptions = r.preemptions();
  return d;
}

std::vector<Job> random_jobs(std::uint64_t seed, int n, double rate, double prompt_median, double output_median) {
  Rng rng(seed);
  std::vector<Job> jobs;
  double t = 0;
  for (int i = 0; i < n; ++i) {
    t += rng.exponential(1.0 / rate);
    Job j;
    j.id = static_cast<std::uint64_t>(i);
    j.sent_s = j.delivered_s = t;
    j.prompt_tokens = static_cast<std::uint32_t>(std::clamp(prompt_median * std::exp(0.8 * rng.normal()), 1.0, 3000.0));
    j.output_tokens = static_cast<std::uint32_t>(std::clamp(output_median * std::exp(0.9 * rng.normal()), 1.0, 1000.0));
    jobs.push_back(j);
  }
  return jobs;
}

}  // namespace

TEST_CASE("one request alone: prefill step then one decode step per further token") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 8);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 8;
  cfg.kv_capacity_tokens = 10000;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  Job j;
  j.id = 7;
  j.sent_s = j.delivered_s = 1.0;
  j.prompt_tokens = 100;
  j.output_tokens = 5;
  const Drive d = drive(r, {j});

  model::StepShape pre;
  pre.prefill_seqs = 1;
  pre.prefill_tokens = 100;
  pre.prefill_attention_pairs = 100 * 101 / 2.0;
  const auto p = m.cost(pre);
  double t = 1.0 + p.time_s, e = p.energy_j;
  CHECK(log.first.at(7) == Approx(t).epsilon(1e-14));
  // Tokens 2..5: four decode steps attending 101, 102, 103, 104 tokens.
  for (int k = 0; k < 4; ++k) {
    model::StepShape dec;
    dec.decode_seqs = 1;
    dec.decode_context_tokens = 101 + k;
    t += m.cost(dec).time_s;
    e += m.cost(dec).energy_j;
  }
  const JobTimes& times = log.done.at(7);
  CHECK(times.admitted_s == 1.0);
  CHECK(times.first_token_s == log.first.at(7));
  CHECK(times.done_s == Approx(t).epsilon(1e-12));
  CHECK(d.busy_s == Approx(t - 1.0).epsilon(1e-12));
  CHECK(d.energy_j == Approx(e).epsilon(1e-12));
  CHECK(r.steps_executed() == 5);
}

TEST_CASE("KV tokens held: the prompt after prefill, plus one token per decode step done, inside a run") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 8);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 8;
  cfg.kv_capacity_tokens = 10000;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  CHECK(r.kv_tokens_at(0) == 0);
  Job j;
  j.id = 1;
  j.sent_s = j.delivered_s = 0.0;
  j.prompt_tokens = 100;
  j.output_tokens = 50;
  r.deliver(j, 0.0);
  CHECK(r.kv_tokens_at(0.0) == 100);  // admitted: its prompt is reserved while it prefills
  r.on_event();                        // end of the prefill step: the first token; a decode run starts
  const double t0 = log.first.at(1);
  // Decode step k attends 101 + k tokens and writes one more.
  double t = t0;
  for (int k = 0; k < 10; ++k) {
    model::StepShape dec;
    dec.decode_seqs = 1;
    dec.decode_context_tokens = 101 + k;
    const double dt = m.cost(dec).time_s;
    CHECK(r.kv_tokens_at(t + 0.5 * dt) == 100 + k);
    t += dt;
  }
  CHECK(r.kv_tokens_at(t + 1e-9) == 110);
  drive(r, {});
  CHECK(r.kv_tokens_at(r.next_event_time()) == 0);
}

TEST_CASE("a one-token answer completes at the end of its prefill step") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 4);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 4;
  cfg.kv_capacity_tokens = 1000;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  Job j;
  j.prompt_tokens = 10;
  j.output_tokens = 1;
  drive(r, {j});
  CHECK(log.done.at(0).done_s == log.done.at(0).first_token_s);
  CHECK(r.running() == 0);
}

namespace {
void compare_closed_form_with_every_iteration(serving::SchedulerConfig cfg, const std::vector<Job>& jobs,
                                              bool expect_preemption) {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 2);
  const serving::DecodeProfiles prof(m, cfg.max_batch_size);
  Log fast_log, slow_log;
  cfg.max_run_steps = 0;
  cfg.merge_steps = GENERATE(false, true);  // prefill steps merged into the runs after them, or not
  INFO("merge_steps " << cfg.merge_steps);
  serving::Replica fast(0, m, prof, cfg, &fast_log);
  cfg.max_run_steps = 1;
  cfg.merge_steps = false;
  serving::Replica slow(0, m, prof, cfg, &slow_log);
  const Drive a = drive(fast, jobs), b = drive(slow, jobs);
  REQUIRE(fast_log.done.size() == jobs.size());
  REQUIRE(slow_log.done.size() == jobs.size());
  for (const auto& [id, t] : slow_log.done) {
    const JobTimes& f = fast_log.done.at(id);
    REQUIRE(f.admitted_s == Approx(t.admitted_s).epsilon(1e-9));
    REQUIRE(f.first_token_s == Approx(t.first_token_s).epsilon(1e-9));
    REQUIRE(f.done_s == Approx(t.done_s).epsilon(1e-9));
    REQUIRE(f.preemptions == t.preemptions);
  }
  CHECK(a.energy_j == Approx(b.energy_j).epsilon(1e-9));
  CHECK(a.busy_s == Approx(b.busy_s).epsilon(1e-9));
  CHECK(fast.steps_executed() == slow.steps_executed());
  CHECK((a.preemptions > 0) == expect_preemption);
  // The point of closed-form runs: far fewer events than iterations.
  INFO("iterations " << slow.steps_executed());
}
}  // namespace

TEST_CASE("closed-form decode runs reproduce every iteration exactly: prefill-first") {
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 16;
  cfg.max_tokens_per_step = 4096;
  cfg.kv_capacity_tokens = 1e6;
  compare_closed_form_with_every_iteration(cfg, random_jobs(1, 400, 2.0, 600, 120), false);
}

TEST_CASE("closed-form decode runs reproduce every iteration exactly: chunked prefill") {
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 16;
  cfg.max_tokens_per_step = 256;
  cfg.chunked_prefill = true;
  cfg.kv_capacity_tokens = 1e6;
  compare_closed_form_with_every_iteration(cfg, random_jobs(2, 400, 2.0, 600, 120), false);
}

TEST_CASE("closed-form decode runs reproduce every iteration exactly: KV preemption and recompute") {
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 32;
  cfg.kv_capacity_tokens = 6000;  // a few sequences at a time: decodes overflow it and preempt
  cfg.kv_policy = serving::KvPolicy::kPreempt;
  compare_closed_form_with_every_iteration(cfg, random_jobs(3, 300, 3.0, 400, 300), true);
}

TEST_CASE("closed-form decode runs reproduce every iteration exactly: KV reservation") {
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 32;
  cfg.kv_capacity_tokens = 6000;
  cfg.kv_policy = serving::KvPolicy::kReserve;
  compare_closed_form_with_every_iteration(cfg, random_jobs(4, 300, 3.0, 400, 300), false);
}

TEST_CASE("closed-form decode runs reproduce every iteration exactly: decode-first") {
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 16;
  cfg.kv_capacity_tokens = 1e6;
  cfg.decode_first = true;
  cfg.decode_first_max_wait_steps = 10;
  compare_closed_form_with_every_iteration(cfg, random_jobs(5, 400, 2.0, 600, 120), false);
}

TEST_CASE("decode-first trades first-token latency for steadier decoding") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 2);
  const serving::DecodeProfiles prof(m, 32);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 32;
  cfg.kv_capacity_tokens = 1e6;
  const auto jobs = random_jobs(6, 600, 4.0, 600, 150);
  auto stats = [&](bool decode_first) {
    cfg.decode_first = decode_first;
    Log log;
    serving::Replica r(0, m, prof, cfg, &log);
    drive(r, jobs);
    double ttft = 0, tpot = 0;
    for (const auto& [id, t] : log.done) {
      const Job& j = jobs[id];
      ttft += t.first_token_s - j.sent_s;
      if (j.output_tokens > 1) tpot += (t.done_s - t.first_token_s) / (j.output_tokens - 1);
    }
    return std::make_pair(ttft, tpot);
  };
  const auto pf = stats(false), df = stats(true);
  CHECK(df.first > pf.first);   // prompts wait for a completion or 20 steps
  CHECK(df.second < pf.second);  // fewer prefill steps interrupt decoding
}

TEST_CASE("KV reservation: a request waits until prompt + output fit, and is never preempted") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 8);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 8;
  cfg.kv_capacity_tokens = 600;
  cfg.kv_policy = serving::KvPolicy::kReserve;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  std::vector<Job> jobs(2);
  for (int i = 0; i < 2; ++i) {
    jobs[i].id = i;
    jobs[i].prompt_tokens = 100;
    jobs[i].output_tokens = 300;  // 400 each: only one fits in 600
  }
  const Drive d = drive(r, jobs);
  CHECK(d.preemptions == 0);
  CHECK(log.done.at(1).admitted_s == log.done.at(0).done_s);  // admitted when the first one frees its KV
}

TEST_CASE("KV preemption: the newest sequence is evicted, recomputed and still finishes") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 8);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 8;
  cfg.kv_capacity_tokens = 600;
  cfg.kv_watermark_fraction = 0;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  std::vector<Job> jobs(3);
  for (int i = 0; i < 3; ++i) {
    jobs[i].id = i;
    jobs[i].prompt_tokens = 100;
    jobs[i].output_tokens = 300;
  }
  const Drive d = drive(r, jobs);
  REQUIRE(log.done.size() == 3);
  CHECK(d.preemptions >= 1);
  CHECK(log.done.at(2).preemptions >= 1);  // admitted last, evicted first
  CHECK(log.done.at(0).preemptions == 0);
  CHECK(log.done.at(2).done_s > log.done.at(0).done_s);
}

TEST_CASE("requests larger than the KV cache can never fit") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 8);
  serving::SchedulerConfig cfg;
  cfg.kv_capacity_tokens = 500;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  CHECK(r.can_ever_fit(400, 100));
  CHECK_FALSE(r.can_ever_fit(400, 101));
}

TEST_CASE("batching: concurrent requests share decode steps") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 64);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 64;
  cfg.kv_capacity_tokens = 1e6;
  Log one_log, many_log;
  serving::Replica one(0, m, prof, cfg, &one_log), many(1, m, prof, cfg, &many_log);
  std::vector<Job> jobs(32);
  for (int i = 0; i < 32; ++i) {
    jobs[i].id = i;
    jobs[i].prompt_tokens = 200;
    jobs[i].output_tokens = 100;
  }
  drive(one, {jobs[0]});
  drive(many, jobs);
  // 32 requests arriving together finish in far less than 32 times one request's time.
  CHECK(many_log.done.at(31).done_s < 4 * one_log.done.at(0).done_s);
  CHECK(many.steps_executed() < 32 * one.steps_executed() / 8);
}
