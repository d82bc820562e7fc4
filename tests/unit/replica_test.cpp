#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include "core/rng.hpp"
#include "model/step_model.hpp"
#include "model/step_work.hpp"
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

// Feeds jobs (sorted by delivery time, with what their prompts share if given) to one replica and runs
// it dry, checking its KV bookkeeping after every event and, inside every step or run, that live and
// cached KV together fit the capacity.
Drive drive(serving::Replica& r, const std::vector<Job>& jobs, const std::vector<serving::PromptPrefix>& prefixes = {},
            double capacity = 1e300) {
  std::size_t next = 0;
  std::string why;
  double last = 0;
  for (;;) {
    const double te = r.next_event_time();
    const double td = next < jobs.size() ? jobs[next].delivered_s : serving::Replica::kNever;
    if (te == serving::Replica::kNever && td == serving::Replica::kNever) break;
    if (te != serving::Replica::kNever) {
      for (double f : {0.3, 0.9}) {
        const double t = last + f * (std::min(te, td) - last);
        if (r.kv_tokens_at(t) + r.cached_tokens_at(t) > capacity) why = "live + cached KV over the capacity";
        if (r.kv_tokens_at(t) < 0 || r.cached_tokens_at(t) < 0) why = "negative KV";
      }
    }
    if (td < te) {
      r.deliver(jobs[next], td, next < prefixes.size() ? prefixes[next] : serving::PromptPrefix{});
      ++next;
      last = td;
    } else {
      r.on_event();
      last = te;
    }
    if (why.empty()) why = r.check_kv();
    if (!why.empty()) break;
  }
  INFO(why);
  CHECK(why.empty());
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
// With prefixes, prefix caching is on (16-token blocks) and its statistics must agree too, and a small
// cache (expect_eviction) must evict.
void compare_closed_form_with_every_iteration(serving::SchedulerConfig cfg, const std::vector<Job>& jobs,
                                              bool expect_preemption,
                                              const std::vector<serving::PromptPrefix>& prefixes = {},
                                              bool expect_eviction = false) {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 2);
  const model::StepWorkModel w(test::hand_llm());
  const serving::DecodeProfiles prof(m, cfg.max_batch_size, &w);
  const bool caching = !prefixes.empty();
  if (caching) cfg.prefix_block_tokens = 16;
  Log fast_log, slow_log;
  cfg.max_run_steps = 0;
  cfg.merge_steps = GENERATE(false, true);  // prefill steps merged into the runs after them, or not
  INFO("merge_steps " << cfg.merge_steps);
  serving::Replica fast(0, m, prof, cfg, &fast_log);
  cfg.max_run_steps = 1;
  cfg.merge_steps = false;
  serving::Replica slow(0, m, prof, cfg, &slow_log);
  const Drive a = drive(fast, jobs, prefixes, cfg.kv_capacity_tokens), b = drive(slow, jobs, prefixes, cfg.kv_capacity_tokens);
  REQUIRE(fast_log.done.size() == jobs.size());
  REQUIRE(slow_log.done.size() == jobs.size());
  for (const auto& [id, t] : slow_log.done) {
    const JobTimes& f = fast_log.done.at(id);
    REQUIRE(f.admitted_s == Approx(t.admitted_s).epsilon(1e-9));
    REQUIRE(f.first_token_s == Approx(t.first_token_s).epsilon(1e-9));
    REQUIRE(f.done_s == Approx(t.done_s).epsilon(1e-9));
    REQUIRE(f.preemptions == t.preemptions);
    REQUIRE(f.cached_tokens == t.cached_tokens);
  }
  CHECK(a.energy_j == Approx(b.energy_j).epsilon(1e-9));
  CHECK(a.busy_s == Approx(b.busy_s).epsilon(1e-9));
  CHECK(fast.steps_executed() == slow.steps_executed());
  CHECK((a.preemptions > 0) == expect_preemption);
  const auto fw = fast.take_work(), sw = slow.take_work();
  CHECK(fw.flops == Approx(sw.flops).epsilon(1e-9));
  CHECK(fw.hbm_bytes == Approx(sw.hbm_bytes).epsilon(1e-9));
  // The point of closed-form runs: far fewer events than iterations.
  INFO("iterations " << slow.steps_executed());
  if (!caching) return;
  const auto fs = fast.take_prefix_stats(), ss = slow.take_prefix_stats();
  CHECK(fs.hit_tokens == ss.hit_tokens);
  CHECK(fs.queried_tokens == ss.queried_tokens);
  CHECK(fs.evicted_tokens == ss.evicted_tokens);
  CHECK(fs.hit_tokens > 0.1 * fs.queried_tokens);     // system prompts and histories are found
  CHECK((fs.evicted_tokens > 0) == expect_eviction);  // a small cache evicts
  // Caching saves prefill work: the same requests without it take longer to first tokens.
  Log off_log;
  cfg.prefix_block_tokens = 0;
  cfg.max_run_steps = 0;
  serving::Replica off(0, m, prof, cfg, &off_log);
  drive(off, jobs);
  double ttft_on = 0, ttft_off = 0;
  for (const auto& [id, t] : fast_log.done) {
    ttft_on += t.first_token_s - jobs[id].sent_s;
    ttft_off += off_log.done.at(id).first_token_s - jobs[id].sent_s;
  }
  CHECK(ttft_on < ttft_off);
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

// ---- Prefix caching ---------------------------------------------------------------------------------

namespace {

serving::PromptPrefix system_prompt(std::uint32_t which, std::uint32_t tokens) {
  return {workload::prefix::synthetic(which, 0), tokens};
}

}  // namespace

TEST_CASE("prefix caching: a cached system prompt is not prefilled again (step time and TTFT by hand)") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 8);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 8;
  cfg.kv_capacity_tokens = 10000;
  cfg.prefix_block_tokens = 16;
  cfg.chunked_prefill = GENERATE(false, true);
  cfg.max_tokens_per_step = 2048;
  INFO("chunked prefill " << cfg.chunked_prefill);
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  // a: a 512-token system prompt and 88 tokens of its own; b, long after, the same system prompt and 188.
  Job a, b;
  a.id = 1;
  a.sent_s = a.delivered_s = 1.0;
  a.prompt_tokens = 600;
  a.output_tokens = 3;
  b.id = 2;
  b.sent_s = b.delivered_s = 100.0;
  b.prompt_tokens = 700;
  b.output_tokens = 2;
  drive(r, {a, b}, {system_prompt(1, 512), system_prompt(1, 512)}, cfg.kv_capacity_tokens);

  model::StepShape pa;  // a: nothing cached, the whole prompt
  pa.prefill_seqs = 1;
  pa.prefill_tokens = 600;
  pa.prefill_attention_pairs = 600 * 601 / 2.0;
  CHECK(log.first.at(1) == Approx(1.0 + m.cost(pa).time_s).epsilon(1e-14));
  CHECK(log.done.at(1).cached_tokens == 0);
  // b: the system prompt's 32 blocks are cached (the block ending at 528 holds a's own tokens), so its
  // prefill computes 188 tokens after 512 cached ones, attending them.
  model::StepShape pb;
  pb.prefill_seqs = 1;
  pb.prefill_tokens = 188;
  pb.prefill_attention_pairs = 188 * (512 + 189 / 2.0);
  pb.prefill_context_tokens = 512;
  CHECK(log.first.at(2) == Approx(100.0 + m.cost(pb).time_s).epsilon(1e-14));
  CHECK(log.done.at(2).cached_tokens == 512);
  CHECK(m.cost(pb).time_s < 0.5 * m.cost(pa).time_s);
  const serving::PrefixStats st = r.take_prefix_stats();
  CHECK(st.queried_tokens == 600 + 700);
  CHECK(st.hit_tokens == 512);
  // Both sequences' blocks stay cached: 512 system tokens, a's own 80 (to 592 of its 602), b's 176 (to 688 of 701).
  CHECK(r.cached_tokens_at(200.0) == 512 + 80 + 176);
  CHECK(r.kv_tokens_at(200.0) == 0);
}

namespace {

// Random requests of which 70% start with one of two system prompts (256 and 400 tokens), and every
// fifth continues a conversation of earlier ones (prompt = the last turn's prompt + answer + more).
std::pair<std::vector<Job>, std::vector<serving::PromptPrefix>> prefixed_jobs(std::uint64_t seed, int n, double rate,
                                                                              double prompt_median, double output_median) {
  auto jobs = random_jobs(seed, n, rate, prompt_median, output_median);
  std::vector<serving::PromptPrefix> prefixes(jobs.size());
  Rng rng(seed + 100);
  std::map<std::uint64_t, std::size_t> last_turn;  // conversation -> job
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const std::uint64_t conv = rng.below(8) + 1;
    if (i % 5 == 4 && last_turn.count(conv)) {
      const Job& prev = jobs[last_turn[conv]];
      jobs[i].prompt_tokens = prev.prompt_tokens + prev.output_tokens + 1 + static_cast<std::uint32_t>(rng.below(50));
      prefixes[i] = prefixes[last_turn[conv]];
      prefixes[i].prefix = workload::prefix::with_conversation(prefixes[i].prefix, conv);
    } else if (rng.uniform() < 0.7) {
      const std::uint32_t which = rng.uniform() < 0.5 ? 1 : 2, tokens = which == 1 ? 256 : 400;
      jobs[i].prompt_tokens += tokens;
      prefixes[i] = system_prompt(which, tokens);
      if (i % 5 == 3) prefixes[i].prefix = workload::prefix::with_conversation(prefixes[i].prefix, conv);
    }
    if (workload::prefix::conversation(prefixes[i].prefix) == conv) last_turn[conv] = i;
  }
  return {jobs, prefixes};
}

}  // namespace

TEST_CASE("prefix caching: closed-form runs reproduce every iteration exactly") {
  // Prefill-first, chunked prefill, a full KV cache (cached blocks evicted, decodes preempted), KV
  // reservation, decode-first.
  const int which = GENERATE(0, 1, 2, 3, 4);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = which == 2 || which == 3 ? 32 : 16;
  cfg.kv_capacity_tokens = which == 2 || which == 3 ? 8000 : 1e6;
  if (which == 0) cfg.max_tokens_per_step = 4096;
  if (which == 1) {
    cfg.chunked_prefill = true;
    cfg.max_tokens_per_step = 256;
  }
  if (which == 2) cfg.kv_watermark_fraction = 0;
  if (which == 3) cfg.kv_policy = serving::KvPolicy::kReserve;
  if (which == 4) {
    cfg.decode_first = true;
    cfg.decode_first_max_wait_steps = 10;
  }
  INFO("case " << which);
  const bool small = which == 2 || which == 3;
  const auto [jobs, prefixes] = small ? prefixed_jobs(11 + which, 300, 3.0, 400, 300) : prefixed_jobs(11 + which, 400, 2.0, 600, 120);
  compare_closed_form_with_every_iteration(cfg, jobs, /*expect_preemption=*/which == 2, prefixes, /*expect_eviction=*/small);
}

TEST_CASE("disaggregation: a request whose KV arrives with it decodes at once, first token after its first decode step") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 8);
  for (const bool chunked : {false, true}) {
    serving::SchedulerConfig cfg;
    cfg.max_batch_size = 8;
    cfg.kv_capacity_tokens = 10000;
    cfg.chunked_prefill = chunked;
    Log log;
    serving::Replica r(0, m, prof, cfg, &log);
    Job a, b;
    a.id = 1;
    a.sent_s = 0.5;
    a.delivered_s = 1.0;
    a.prompt_tokens = 100;
    a.output_tokens = 3;
    a.kv_ready = true;
    b = a;
    b.id = 2;
    b.prompt_tokens = 40;
    b.output_tokens = 2;
    auto dec = [&](double seqs, double context) {
      model::StepShape s;
      s.decode_seqs = static_cast<int>(seqs);
      s.decode_context_tokens = context;
      return m.cost(s).time_s;
    };
    // a alone: three decode steps attending 101, 102, 103 tokens (no prefill step).
    const double s1 = dec(1, 101);
    // b arrives during a's first step: it joins at the step's end, then both decode (b attends 41, 42).
    b.delivered_s = 1.0 + 0.5 * s1;
    const Drive d = drive(r, {a, b});
    const double s2 = dec(2, 102 + 41), s3 = dec(2, 103 + 42);
    INFO("chunked " << chunked);
    CHECK(log.done.at(1).admitted_s == 1.0);
    CHECK(log.first.at(1) == Approx(1.0 + s1).epsilon(1e-12));
    CHECK(log.done.at(1).first_token_s == log.first.at(1));
    CHECK(log.done.at(2).admitted_s == Approx(1.0 + s1).epsilon(1e-12));
    CHECK(log.first.at(2) == Approx(1.0 + s1 + s2).epsilon(1e-12));
    CHECK(log.done.at(2).done_s == Approx(1.0 + s1 + s2 + s3).epsilon(1e-12));
    CHECK(log.done.at(1).done_s == Approx(1.0 + s1 + s2 + s3).epsilon(1e-12));
    CHECK(r.steps_executed() == 3);
    CHECK(d.busy_s == Approx(s1 + s2 + s3).epsilon(1e-12));
  }
}

// ---- On-disk KV cache tier ------------------------------------------------------------------------------

TEST_CASE("on-disk KV tier: the prompt's share on disk is read, not computed, and the read lengthens the step") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 4);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 4;
  cfg.kv_capacity_tokens = 10000;
  cfg.disk_hit_share = 0.55;    // floor(0.55 x 1000) = 550 tokens on disk
  cfg.disk_s_per_token = 1e-5;  // 550 tokens: 5.5 ms
  cfg.disk_latency_s = 0.002;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  Job j;
  j.prompt_tokens = 1000;
  j.output_tokens = 1;  // done at the end of its prefill step
  drive(r, {j});
  // By hand: the step prefills the other 450 tokens, attending to the 550 read ones, plus the read.
  model::StepShape shape;
  shape.prefill_seqs = 1;
  shape.prefill_tokens = 450;
  shape.prefill_attention_pairs = 450 * (550 + 451 * 0.5);
  shape.prefill_context_tokens = 550;
  const double expected = m.cost(shape).time_s + 0.002 + 550 * 1e-5;
  CHECK(log.done.at(0).done_s == Approx(expected).epsilon(1e-12));
  CHECK(r.take_prefix_stats().disk_hit_tokens == 550);

  // A tier with nothing on disk changes nothing; batch work never reads from it.
  serving::SchedulerConfig off = cfg;
  off.disk_hit_share = 0;
  Log off_log;
  serving::Replica plain(1, m, prof, off, &off_log);
  drive(plain, {j});
  model::StepShape whole;
  whole.prefill_seqs = 1;
  whole.prefill_tokens = 1000;
  whole.prefill_attention_pairs = 1000 * 1001 * 0.5;
  CHECK(off_log.done.at(0).done_s == Approx(m.cost(whole).time_s).epsilon(1e-12));
}

TEST_CASE("on-disk KV tier: only what the in-memory prefix cache lacks is read") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const serving::DecodeProfiles prof(m, 4);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 4;
  cfg.kv_capacity_tokens = 100000;
  cfg.prefix_block_tokens = 16;
  cfg.disk_hit_share = 0.5;
  cfg.disk_s_per_token = 1e-5;
  Log log;
  serving::Replica r(0, m, prof, cfg, &log);
  // Two prompts of 1,000 tokens sharing a 640-token system prompt: the second finds 640 in memory, which
  // is more than its 500 on disk, so it reads nothing; the first reads its 500.
  std::vector<Job> jobs(2);
  std::vector<serving::PromptPrefix> prefixes(2);
  for (int i = 0; i < 2; ++i) {
    jobs[i].id = i;
    jobs[i].prompt_tokens = 1000;
    jobs[i].output_tokens = 2;
    jobs[i].delivered_s = jobs[i].sent_s = i * 10.0;
    prefixes[i].prefix = workload::prefix::synthetic(1, 0);  // system prompt 1, no conversation
    prefixes[i].system_prompt_tokens = 640;
  }
  drive(r, jobs, prefixes);
  const serving::PrefixStats st = r.take_prefix_stats();
  CHECK(st.hit_tokens == 640);
  CHECK(st.disk_hit_tokens == 500);
}
