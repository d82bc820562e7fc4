#include "serving/replica.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace chatdc::serving {

DecodeProfiles::DecodeProfiles(const model::StepModel& model, std::uint32_t max_batch, const model::StepWorkModel* work)
    : profiles_(max_batch + 1), work_(max_batch + 1) {
  for (std::uint32_t b = 1; b <= max_batch; ++b) profiles_[b] = model.decode_profile(b);
  if (work) {
    work_model_ = *work;
    for (std::uint32_t b = 1; b <= max_batch; ++b) work_[b] = work->decode(b);
  }
}

Replica::Replica(std::uint32_t id, const model::StepModel& model, const DecodeProfiles& profiles,
                 const SchedulerConfig& config, ReplicaListener* listener)
    : id_(id), model_(&model), profiles_(&profiles), cfg_(config), listener_(listener) {
  if (cfg_.prefix_block_tokens > 0) cache_ = std::make_unique<PrefixCache>(cfg_.prefix_block_tokens);
}

bool Replica::can_ever_fit(std::uint32_t prompt_tokens, std::uint32_t output_tokens) const {
  return static_cast<double>(prompt_tokens) + output_tokens <= cfg_.kv_capacity_tokens;
}

std::uint32_t Replica::new_slot() {
  if (!free_slots_.empty()) {
    const std::uint32_t s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  slots_.emplace_back();
  if (cache_) prefixes_.resize(slots_.size());
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

std::uint32_t Replica::waiting_slot(const Job& job, const PromptPrefix& prefix) {
  const std::uint32_t slot = new_slot();
  Seq& s = slots_[slot];
  s = Seq{};
  s.job = job;
  s.state = State::kWaiting;
  s.target = job.prompt_tokens;
  if (cache_) prefixes_[slot] = prefix;
  return slot;
}

void Replica::deliver(const Job& job, double now, const PromptPrefix& prefix) {
  const std::uint32_t slot = waiting_slot(job, prefix);
  Seq& s = slots_[slot];
  waiting_.push_back(slot);

  switch (activity_) {
    case Activity::kIdle:
      s.deadline_step = step_counter_;
      schedule(now);
      break;
    case Activity::kStep:  // the scheduler looks at the queue when the step ends
      s.deadline_step = step_counter_ + (step_has_decodes_ ? 1 : 0) + cfg_.decode_first_max_wait_steps;
      break;
    case Activity::kRun: {
      // End the run at the first step boundary at or after `now` (decode-first: that many steps later).
      double end_s;
      std::uint64_t k = boundary_at_or_after(now, end_s);
      if (cfg_.decode_first) {
        k += cfg_.decode_first_max_wait_steps;
        end_s = act_start_ + run_.time_of(k);
      }
      s.deadline_step = step_counter_ + k;
      // Room: a free batch slot, or a batch-work sequence the request will preempt.
      const bool room = (running() < cfg_.max_batch_size || batch_decoding_ > 0) &&
                        (!cfg_.chunked_prefill || batch_ < cfg_.max_tokens_per_step);
      if (room && k < run_steps_) {
        run_steps_ = k;
        act_end_ = end_s;
      }
      break;
    }
  }
}

void Replica::poke(double now) {
  if (!batch_room() || (feed_ == nullptr && batch_waiting_.empty())) return;
  switch (activity_) {
    case Activity::kIdle: schedule(now); break;
    case Activity::kStep: break;  // the scheduler looks for batch work when the step ends
    case Activity::kRun: {
      double end_s;
      const std::uint64_t k = boundary_at_or_after(now, end_s);
      if (k < run_steps_) {
        run_steps_ = k;
        act_end_ = end_s;
      }
      break;
    }
  }
}

void Replica::set_step_model(const model::StepModel* model, const DecodeProfiles* profiles, double now) {
  if (model == model_ && profiles == profiles_ && !pending_model_) return;
  const auto apply = [&] {
    model_ = model;
    profiles_ = profiles;
    pending_model_ = nullptr;
    pending_profiles_ = nullptr;
  };
  switch (activity_) {
    case Activity::kIdle: apply(); return;
    case Activity::kStep:
      if (now <= act_start_ && !lead_) {  // a step beginning now: at the new clock
        apply();
        step_cost_ = step_cost_of(step_shape_);
        act_end_ = act_start_ + step_cost_.time_s;
        return;
      }
      // The step in progress finishes at the old clock; on_event() switches at its end.
      pending_model_ = model;
      pending_profiles_ = profiles;
      return;
    case Activity::kRun: {
      if (now <= act_start_) {
        // No step of the run has begun by now (a run starting now, or after a merged prefill step that ends
        // later): the whole run goes at the new clock. Its length in steps does not depend on the clock.
        apply();
        run_.reset(&profiles_->at(batch_), run_c0_, static_cast<double>(batch_));
        act_end_ = act_start_ + run_.time_of(run_steps_);
        return;
      }
      // Cut the run at its first step boundary at or after `now` (as poke() does); the steps after it run at
      // the new clock, from on_event().
      double end_s;
      const std::uint64_t k = boundary_at_or_after(now, end_s);
      if (k < run_steps_) {
        run_steps_ = k;
        act_end_ = end_s;
      }
      pending_model_ = model;
      pending_profiles_ = profiles;
      return;
    }
  }
}

std::uint32_t Replica::next_batch_slot() {
  if (batch_waiting_.empty()) {
    Job job;
    if (feed_ == nullptr || !feed_->take(job)) return kNoSlot;
    job.batch = true;
    batch_waiting_.push_back(waiting_slot(job, PromptPrefix{}));
  }
  return batch_waiting_.front();
}

bool Replica::batch_chunk_fits(const model::StepShape& shape, std::uint32_t slot, std::uint32_t chunk) const {
  if (cfg_.batch_step_limit_s <= 0) return true;
  const Seq& s = slots_[slot];
  model::StepShape trial = shape;
  trial.prefill_seqs += 1;
  trial.prefill_tokens += chunk;
  trial.prefill_attention_pairs += chunk * (s.prefilled + (chunk + 1.0) * 0.5);
  trial.prefill_context_tokens += s.prefilled;
  return model_->cost(trial).time_s <= cfg_.batch_step_limit_s;
}

double Replica::batch_share(const model::StepShape& shape) const {
  const double decodes = step_has_decodes_ ? static_cast<double>(batch_) : 0.0;
  const double tokens = static_cast<double>(shape.prefill_tokens) + decodes;
  if (tokens <= 0) return 0.0;
  return (batch_prefill_tokens_ + (step_has_decodes_ ? static_cast<double>(batch_decoding_) : 0.0)) / tokens;
}

std::uint64_t Replica::boundary_at_or_after(double now, double& at_s) const {
  const double tau = now - act_start_;
  std::uint64_t k = run_.steps_within(tau);
  double t = run_.time_of(k);
  if (t < tau) t = run_.time_of(++k);
  at_s = act_start_ + t;
  return k;
}

bool Replica::prefill_allowed() const {
  if (!cfg_.decode_first || batch_ == 0 || freed_ || waiting_.empty()) return true;
  return slots_[waiting_.front()].deadline_step <= step_counter_;
}

Holding& Replica::holding(std::uint32_t slot) {
  Seq& s = slots_[slot];
  if (s.held == kNoHolding) {
    if (!free_holdings_.empty()) {
      s.held = free_holdings_.back();
      free_holdings_.pop_back();
    } else {
      s.held = static_cast<std::uint32_t>(holdings_.size());
      holdings_.emplace_back();
    }
    Holding& h = holdings_[s.held];
    h = Holding{std::move(h.path)};  // keeps the path's buffer
    prompt_path(prefixes_[slot], s.job.prompt_tokens, cfg_.hash_chains, h.path);
  }
  return holdings_[s.held];
}

PrefixCache::Match Replica::lookup(std::uint32_t slot) {
  if (!cache_) return {};
  settle();
  return cache_->match(holding(slot), slots_[slot].target);
}

void Replica::release(std::uint32_t slot, double kv_tokens, bool preempted) {
  settle();
  Holding& h = holding(slot);
  shared_total_ -= h.shared;
  cache_->release(h, static_cast<std::uint32_t>(kv_tokens), preempted);
  if (!preempted) {  // done: its holding goes back (a preempted one keeps its own tail's handle)
    free_holdings_.push_back(slots_[slot].held);
    slots_[slot].held = kNoHolding;
  }
}

std::uint32_t Replica::disk_extra(std::uint32_t slot, const PrefixCache::Match& m) const {
  const Seq& s = slots_[slot];
  if (cfg_.disk_hit_share <= 0 || s.job.batch || s.job.kv_ready || s.target <= 1) return 0;
  const auto on_disk = std::min<std::uint32_t>(
      static_cast<std::uint32_t>(std::floor(cfg_.disk_hit_share * s.job.prompt_tokens)), s.target - 1);
  return on_disk > m.hit ? on_disk - m.hit : 0;
}

bool Replica::kv_admissible(const Seq& s, const PrefixCache::Match& m) const {
  const double cap = cfg_.kv_capacity_tokens;
  // The cached part is shared; the nodes it pins move from cached to live.
  const double extra = m.pinned - m.hit;
  if (cfg_.kv_policy == KvPolicy::kReserve)
    return live_kv() + s.job.prompt_tokens + s.job.output_tokens + extra <= cap;
  const double free_after = cap - live_kv() - s.target - extra;
  if (running() == 0) return free_after >= 0;  // never let the watermark starve an empty replica
  return free_after >= cfg_.kv_watermark_fraction * cap;
}

void Replica::admit(std::uint32_t slot, double now, const PrefixCache::Match& m) {
  Seq& s = slots_[slot];
  s.state = State::kPrefilling;
  if (cache_) {
    cache_->acquire(holding(slot), m);
    s.prefilled = m.hit;
    shared_total_ += m.hit;
    prefix_stats_.queried_tokens += s.target;
    prefix_stats_.hit_tokens += m.hit;
    if (s.times.admitted_s < 0) s.times.cached_tokens = m.hit;
  }
  if (const std::uint32_t disk = disk_extra(slot, m); disk > 0) {  // read from disk, not computed
    s.prefilled = m.hit + disk;
    step_disk_tokens_ += disk;
    prefix_stats_.disk_hit_tokens += disk;
  }
  if (s.times.admitted_s < 0) s.times.admitted_s = now;
  s.admit_order = ++admit_counter_;
  if (s.job.batch) ++batch_running_;
  prefill_reserved_ += s.target;
  if (cfg_.kv_policy == KvPolicy::kReserve) reserved_total_ += s.job.prompt_tokens + s.job.output_tokens;
  prefilling_.push_back(slot);
}

void Replica::admit_ready(std::uint32_t slot, double now, const PrefixCache::Match& m) {
  (void)m;
  assert(!cache_ && "kv_ready sequences go to replicas without prefix caching");
  Seq& s = slots_[slot];
  if (s.times.admitted_s < 0) s.times.admitted_s = now;
  s.admit_order = ++admit_counter_;
  if (cfg_.kv_policy == KvPolicy::kReserve) reserved_total_ += s.job.prompt_tokens + s.job.output_tokens;
  s.prefilled = s.target;
  join_decode(slot);
  first_pending_.push_back(slot);
}

void Replica::stamp_first_tokens(double now, bool run, std::uint64_t run_first) {
  std::erase_if(first_pending_, [&](std::uint32_t slot) {
    Seq& s = slots_[slot];
    if (s.state != State::kDecoding || s.times.first_token_s >= 0) return true;  // preempted, or done
    if (s.join_step >= step_counter_) return false;  // its first decode step has not run yet
    const double t = run ? act_start_ + run_.time_of(s.join_step + 1 - run_first) : now;
    s.times.first_token_s = t;
    listener_->on_first_token(id_, s.job, t);
    return true;
  });
}

void Replica::schedule(double now) {
  activity_ = Activity::kIdle;
  lead_ = false;
  if (cfg_.kv_policy == KvPolicy::kPreempt) {
    while (batch_ > 0 && live_kv() + batch_ > cfg_.kv_capacity_tokens) preempt_one();
  }
  // Chat first: a waiting chat request that finds no batch slot or no KV takes a batch sequence's.
  while (batch_decoding_ > 0 && !waiting_.empty() && prefill_allowed()) {
    const std::uint32_t slot = waiting_.front();
    if (running() < cfg_.max_batch_size && kv_admissible(slots_[slot], lookup(slot))) break;
    preempt_batch();
  }

  model::StepShape shape;
  step_prefills_.clear();
  batch_prefill_tokens_ = 0;
  step_disk_tokens_ = 0;
  auto add_chunk = [&](std::uint32_t slot, std::uint32_t chunk) {
    Seq& s = slots_[slot];
    s.chunk = chunk;
    shape.prefill_seqs += 1;
    shape.prefill_tokens += chunk;
    shape.prefill_attention_pairs += chunk * (s.prefilled + (chunk + 1.0) * 0.5);
    shape.prefill_context_tokens += s.prefilled;
    if (s.job.batch) batch_prefill_tokens_ += chunk;
    step_prefills_.push_back(slot);
  };

  const bool may_prefill = prefill_allowed();
  freed_ = false;
  if (!cfg_.chunked_prefill) {
    double tokens = 0;
    while (may_prefill && !waiting_.empty() && running() < cfg_.max_batch_size) {
      const std::uint32_t slot = waiting_.front();
      const Seq& s = slots_[slot];
      if (s.job.kv_ready) {  // its KV came with it: no prefill
        if (!kv_admissible(s, {})) break;
        waiting_.pop_front();
        admit_ready(slot, now, {});
        continue;
      }
      const PrefixCache::Match m = lookup(slot);
      const std::uint32_t todo = s.target - m.hit - disk_extra(slot, m);  // a cached prefix is not computed again
      if (!step_prefills_.empty() && tokens + todo > cfg_.max_tokens_per_step) break;
      if (!kv_admissible(s, m)) break;
      waiting_.pop_front();
      admit(slot, now, m);
      tokens += todo;
      add_chunk(slot, todo);
    }
    // Batch work fills the room chat leaves (none waits), with the same step.
    while (may_prefill && batch_room()) {
      const std::uint32_t slot = next_batch_slot();
      if (slot == kNoSlot) break;
      const Seq& s = slots_[slot];
      const PrefixCache::Match m = lookup(slot);
      const std::uint32_t todo = s.target - m.hit;
      if (!step_prefills_.empty() && tokens + todo > cfg_.max_tokens_per_step) break;
      if (!kv_admissible(s, m)) break;
      {  // the prefill step with this prompt (as a prefill-only step) within the batch step limit
        Seq& w = slots_[slot];
        const std::uint32_t before = w.prefilled;
        w.prefilled = m.hit;
        const bool fits = batch_chunk_fits(shape, slot, todo);
        w.prefilled = before;
        if (!fits) break;
      }
      batch_waiting_.pop_front();
      admit(slot, now, m);
      tokens += todo;
      add_chunk(slot, todo);
    }
    if (!step_prefills_.empty()) {
      step_has_decodes_ = false;  // prefill-first: decodes pause during a prefill step
      start_step(shape, now);
      if (cfg_.merge_steps) try_merge(now);
      return;
    }
  } else {
    std::uint32_t budget = cfg_.max_tokens_per_step > batch_ ? cfg_.max_tokens_per_step - batch_ : 0;
    for (const std::uint32_t slot : prefilling_) {
      if (budget == 0) break;
      const Seq& s = slots_[slot];
      const std::uint32_t chunk = std::min(s.target - s.prefilled, budget);
      budget -= chunk;
      add_chunk(slot, chunk);
    }
    while (budget > 0 && !waiting_.empty() && running() < cfg_.max_batch_size) {
      const std::uint32_t slot = waiting_.front();
      if (slots_[slot].job.kv_ready) {  // its KV came with it: it takes one token of the step, as a decode
        if (!kv_admissible(slots_[slot], {})) break;
        waiting_.pop_front();
        admit_ready(slot, now, {});
        --budget;
        continue;
      }
      const PrefixCache::Match m = lookup(slot);
      if (!kv_admissible(slots_[slot], m)) break;
      waiting_.pop_front();
      admit(slot, now, m);
      const std::uint32_t chunk = std::min(slots_[slot].target - slots_[slot].prefilled, budget);
      budget -= chunk;
      add_chunk(slot, chunk);
    }
    while (budget > 0 && batch_room()) {  // batch work fills the rest of the budget
      const std::uint32_t slot = next_batch_slot();
      if (slot == kNoSlot) break;
      const PrefixCache::Match m = lookup(slot);
      if (!kv_admissible(slots_[slot], m)) break;
      model::StepShape with_decodes = shape;
      with_decodes.decode_seqs = batch_;
      with_decodes.decode_context_tokens = batch_ > 0 ? decode_context() : 0.0;
      {
        Seq& w = slots_[slot];
        const std::uint32_t before = w.prefilled;
        w.prefilled = m.hit;
        const bool fits = batch_chunk_fits(with_decodes, slot, std::min(w.target - m.hit, budget));
        w.prefilled = before;
        if (!fits) break;
      }
      batch_waiting_.pop_front();
      admit(slot, now, m);
      const std::uint32_t chunk = std::min(slots_[slot].target - slots_[slot].prefilled, budget);
      budget -= chunk;
      add_chunk(slot, chunk);
    }
    if (!step_prefills_.empty()) {
      shape.decode_seqs = batch_;
      shape.decode_context_tokens = batch_ > 0 ? decode_context() : 0.0;
      step_has_decodes_ = batch_ > 0;
      start_step(shape, now);
      if (cfg_.merge_steps) try_merge(now);
      return;
    }
  }
  if (batch_ > 0) start_run(now);
}

model::StepCost Replica::step_cost_of(const model::StepShape& shape) const {
  model::StepCost c = model_->cost(shape);
  if (step_disk_tokens_ > 0 && c.time_s > 0) {  // the on-disk tier's read, before the step can attend to it
    const double read_s = cfg_.disk_latency_s + step_disk_tokens_ * cfg_.disk_s_per_token;
    c.energy_j *= (c.time_s + read_s) / c.time_s;  // at the step's mean power (upper bound)
    c.time_s += read_s;
  }
  return c;
}

void Replica::start_step(const model::StepShape& shape, double now) {
  step_shape_ = shape;
  step_cost_ = step_cost_of(shape);
  step_work_ = profiles_->work(shape);
  act_batch_share_ = batch_share(shape);
  activity_ = Activity::kStep;
  act_start_ = now;
  act_end_ = now + step_cost_.time_s;
  acc_t_ = now;
  acc_e_ = 0;
  acc_w_ = {};
  ++steps_;
}

const Replica::HeapEntry& Replica::top_valid() {
  while (!finish_heap_.empty()) {
    const HeapEntry& e = finish_heap_.top();
    // Without preemptions every entry is live: no need to touch the sequence (a cache miss at scale).
    if (stale_entries_ == 0) return e;
    const Seq& s = slots_[e.slot];
    if (s.state == State::kDecoding && s.admit_order == e.admit_order) return e;
    finish_heap_.pop();
    --stale_entries_;
  }
  assert(false && "decode batch without a finishing sequence");
  std::abort();
}

void Replica::start_run(double now) {
  run_c0_ = decode_context();
  run_.reset(&profiles_->at(batch_), run_c0_, static_cast<double>(batch_));
  const HeapEntry& first = top_valid();
  std::uint64_t n = first.finish_step - step_counter_;
  // The run's end completes this sequence, and maybe others of the same finish step (unless a new
  // arrival ends the run first): fetch them now, while the cell runs other replicas, rather than
  // stall on them then. The top's children are the next candidates.
  prefetch_slot(first.slot);
  for (std::size_t i = 1; i <= 4 && i < finish_heap_.size(); ++i)
    if (finish_heap_.at(i).finish_step == first.finish_step) prefetch_slot(finish_heap_.at(i).slot);
  if (cfg_.kv_policy == KvPolicy::kPreempt) {
    const double room = cfg_.kv_capacity_tokens - live_kv();
    n = std::min<std::uint64_t>(n, static_cast<std::uint64_t>(std::floor(room / batch_)));
  }
  if (cfg_.max_run_steps > 0) n = std::min(n, cfg_.max_run_steps);
  if (cfg_.decode_first && !waiting_.empty()) {  // stop where the oldest waiting prompt's patience ends
    const std::uint64_t deadline = slots_[waiting_.front()].deadline_step;
    if (deadline > step_counter_) n = std::min(n, deadline - step_counter_);
  }
  assert(n >= 1);
  run_steps_ = n;
  act_batch_share_ = static_cast<double>(batch_decoding_) / static_cast<double>(batch_);
  activity_ = Activity::kRun;
  act_start_ = now;
  act_end_ = now + run_.time_of(n);
  acc_t_ = now;
  acc_e_ = 0;
  acc_w_ = {};
}

void Replica::try_merge(double now) {
  if (cfg_.max_run_steps != 0 || cfg_.decode_first || cfg_.batch_max_seqs > 0 || !waiting_.empty() || prefilling_.size() != step_prefills_.size())
    return;
  std::uint32_t joins = 0;  // prompts that go on decoding after the step
  for (const std::uint32_t slot : step_prefills_) {
    const Seq& s = slots_[slot];
    if (s.prefilled + s.chunk != s.target) return;  // the prompt goes on in a later step
    if (s.generated + 1 < s.job.output_tokens) ++joins;
  }
  if (joins == 0) return;  // the batch might empty at the step's end: no run follows for sure
  if (cfg_.kv_policy == KvPolicy::kPreempt) {
    // Would the step's end preempt? schedule()'s check on the state after the step, counting no
    // completion (a stricter test: sequences completing then only free KV).
    const double after = live_kv() + (step_has_decodes_ ? batch_ : 0);
    if (after + batch_ + joins > cfg_.kv_capacity_tokens) return;
  }
  const double start = act_start_, end = act_end_, energy = step_cost_.energy_j, kv = kv_tokens_at(now);
  const double cached = cached_tokens_at(now);
  const model::StepWork work = step_work_;
  const std::uint32_t running_before = running();
  finish_step(end);
  freed_ = false;
  start_run(end);  // what schedule(end) does with nothing waiting or prefilling
  lead_ = true;
  lead_start_ = start;
  lead_energy_j_ = energy;
  lead_work_ = work;
  lead_kv_ = kv;
  lead_cached_ = cached;
  lead_running_ = running_before;
  acc_t_ = start;
}

void Replica::on_event() {
  const double now = act_end_;
  accrue(now);
  if (activity_ == Activity::kStep)
    finish_step(now);
  else
    finish_run(now);
  if (pending_model_) {  // a clock change waiting for this step boundary
    model_ = pending_model_;
    profiles_ = pending_profiles_;
    pending_model_ = nullptr;
    pending_profiles_ = nullptr;
  }
  schedule(now);
}

void Replica::finish_step(double now) {
  if (step_has_decodes_) ++step_counter_;
  if (step_has_decodes_ && !first_pending_.empty()) stamp_first_tokens(now, false, 0);
  for (const std::uint32_t slot : step_prefills_) {
    Seq& s = slots_[slot];
    s.prefilled += s.chunk;
    s.chunk = 0;
    if (s.prefilled == s.target) end_prefill(slot, now);
  }
  std::erase_if(prefilling_, [&](std::uint32_t slot) { return slots_[slot].state != State::kPrefilling; });
  if (step_has_decodes_) complete_due(now);
}

void Replica::finish_run(double now) {
  const std::uint64_t first = step_counter_;
  step_counter_ += run_steps_;
  if (!first_pending_.empty()) stamp_first_tokens(now, true, first);
  steps_ += run_steps_;
  complete_due(now);
}

void Replica::end_prefill(std::uint32_t slot, double now) {
  Seq& s = slots_[slot];
  if (cache_) {  // the prompt's full blocks become cache blocks (shared with an equal copy if one is there)
    settle();
    Holding& h = holding(slot);
    shared_total_ -= h.shared;
    cache_->publish(h, s.target);
    shared_total_ += h.shared;
  }
  s.generated += 1;
  prefill_reserved_ -= s.target;
  if (s.times.first_token_s < 0) {
    s.times.first_token_s = now;
    listener_->on_first_token(id_, s.job, now);
  }
  if (s.generated >= s.job.output_tokens) {
    complete(slot, now);  // still kPrefilling: complete() leaves the decode aggregates alone
  } else {
    join_decode(slot);
  }
}

void Replica::join_decode(std::uint32_t slot) {
  Seq& s = slots_[slot];
  s.state = State::kDecoding;
  s.join_step = step_counter_;
  s.finish_step = step_counter_ + (s.job.output_tokens - s.generated);
  ++batch_;
  dec_base_ += static_cast<double>(s.target) - static_cast<double>(s.join_step);
  finish_heap_.push({s.finish_step, s.admit_order, slot});
  std::vector<Joined>& stack = s.job.batch ? batch_stack_ : admit_stack_;
  if (s.job.batch) ++batch_decoding_;
  stack.push_back({s.finish_step, slot});
  if (stack.size() > 2 * static_cast<std::size_t>(batch_) + 64)
    std::erase_if(stack, [&](const Joined& e) { return e.finish_step <= step_counter_; });
}

void Replica::complete(std::uint32_t slot, double now) {
  Seq& s = slots_[slot];
  if (cache_)  // its KV: the prompt (recomputed) and every answer token fed back
    release(slot, s.state == State::kDecoding ? s.target + static_cast<double>(step_counter_ - s.join_step) : s.target,
            false);
  s.times.done_s = now;
  if (s.job.batch) {  // before the listener, which may power a drained server off when it holds nothing
    --batch_running_;
    if (s.state == State::kDecoding) --batch_decoding_;
  }
  listener_->on_complete(id_, s.job, s.times);
  freed_ = true;
  if (cfg_.kv_policy == KvPolicy::kReserve) reserved_total_ -= s.job.prompt_tokens + s.job.output_tokens;
  if (s.state == State::kDecoding) {
    --batch_;
    dec_base_ -= static_cast<double>(s.target) - static_cast<double>(s.join_step);
  }
  s.state = State::kFree;
  free_slots_.push_back(slot);
}

void Replica::complete_due(double now) {
  while (!finish_heap_.empty()) {
    const HeapEntry e = finish_heap_.top();
    if (e.finish_step > step_counter_) break;  // nothing due yet (live or stale, the top waits)
    finish_heap_.pop();
    if (stale_entries_ > 0) {
      const Seq& s = slots_[e.slot];
      if (s.state != State::kDecoding || s.admit_order != e.admit_order) {
        --stale_entries_;
        continue;
      }
    }
    assert(e.finish_step == step_counter_);
    complete(e.slot, now);
  }
}

bool Replica::preempt_batch() {
  while (!batch_stack_.empty()) {
    const Joined e = batch_stack_.back();
    batch_stack_.pop_back();
    if (e.finish_step <= step_counter_) continue;  // completed
    preempt_slot(e);
    return true;
  }
  return false;
}

void Replica::preempt_one() {
  if (preempt_batch()) return;  // batch work first
  while (!admit_stack_.empty()) {
    const Joined e = admit_stack_.back();
    admit_stack_.pop_back();
    if (e.finish_step <= step_counter_) continue;  // completed
    preempt_slot(e);
    return;
  }
  assert(false && "no sequence to preempt");
}

void Replica::preempt_slot(const Joined& e) {
  {
    Seq& s = slots_[e.slot];
    assert(s.state == State::kDecoding && s.finish_step == e.finish_step);
    if (cache_) release(e.slot, s.target + static_cast<double>(step_counter_ - s.join_step), true);
    --batch_;
    dec_base_ -= static_cast<double>(s.target) - static_cast<double>(s.join_step);
    s.generated += static_cast<std::uint32_t>(step_counter_ - s.join_step);
    s.target = s.job.prompt_tokens + s.generated;  // recompute the prompt and every token so far
    s.prefilled = 0;
    s.job.kv_ready = false;  // its KV is gone: recomputed here
    s.state = State::kWaiting;
    ++stale_entries_;  // its finish_heap_ entry stays behind until popped
    s.times.preemptions += 1;
    s.deadline_step = 0;  // a preempted sequence is readmitted as soon as it fits
    ++preemptions_;
    if (s.job.batch) {
      --batch_running_;
      --batch_decoding_;
      batch_waiting_.push_front(e.slot);
    } else {
      waiting_.push_front(e.slot);
    }
  }
}

double Replica::kv_tokens_at(double t) const {
  if (cfg_.kv_policy == KvPolicy::kReserve) return live_kv();
  if (lead_ && t < act_start_) return lead_kv_;  // during a merged step: as before it
  double kv = live_kv();
  if (activity_ == Activity::kRun && t > act_start_) {
    const std::uint64_t done = std::min(run_steps_, run_.steps_within(t - act_start_));
    kv += static_cast<double>(batch_) * static_cast<double>(done);
  }
  return kv;
}

namespace {
model::StepWork scaled(const model::StepWork& w, double f) { return {w.flops * f, w.hbm_bytes * f}; }
}  // namespace

void Replica::progress_at(double t, double& energy, model::StepWork& work) const {
  if (lead_) {  // a merged step, then the run
    if (t >= act_start_) {
      run_progress_at(t, energy, work);
      energy += lead_energy_j_;
      work += lead_work_;
      return;
    }
    const double span = act_start_ - lead_start_;
    energy = span > 0 ? lead_energy_j_ * (t - lead_start_) / span : lead_energy_j_;
    work = scaled(lead_work_, span > 0 ? (t - lead_start_) / span : 1.0);
    return;
  }
  if (activity_ == Activity::kStep) {
    const double span = act_end_ - act_start_;
    const bool whole = t >= act_end_ || span <= 0;
    energy = whole ? step_cost_.energy_j : step_cost_.energy_j * (t - act_start_) / span;
    work = scaled(step_work_, whole ? 1.0 : (t - act_start_) / span);
    return;
  }
  run_progress_at(t, energy, work);
}

void Replica::run_progress_at(double t, double& energy, model::StepWork& work) const {
  const model::DecodeWork& dw = profiles_->work_at(batch_);
  const double b = static_cast<double>(batch_);
  if (t >= act_end_) {
    energy = run_.energy_of(run_steps_);
    work = dw.sum_run(run_c0_, b, static_cast<double>(run_steps_));
    return;
  }
  const double tau = t - act_start_;
  const std::uint64_t k = std::min(run_.steps_within(tau), run_steps_);
  const double f = (tau - run_.time_of(k)) / run_.step_time(k);
  energy = run_.energy_of(k) + f * run_.step_energy(k);
  work = dw.sum_run(run_c0_, b, static_cast<double>(k));
  work += scaled(dw.at(run_c0_ + b * static_cast<double>(k)), f);
}

double Replica::current_power_w(double idle_w) const {
  if (activity_ == Activity::kIdle) return idle_w;
  const double start = lead_ ? lead_start_ : act_start_, span = act_end_ - start;
  if (span <= 0) return idle_w;
  const double lead = lead_ ? lead_energy_j_ : 0.0;
  return (activity_ == Activity::kStep ? step_cost_.energy_j : lead + run_.energy_of(run_steps_)) / span;
}

void Replica::accrue(double t) {
  if (activity_ == Activity::kIdle || t <= acc_t_) return;
  double e;
  model::StepWork w;
  progress_at(t, e, w);
  energy_j_ += e - acc_e_;
  batch_energy_j_ += (e - acc_e_) * act_batch_share_;
  work_.flops += w.flops - acc_w_.flops;
  work_.hbm_bytes += w.hbm_bytes - acc_w_.hbm_bytes;
  busy_s_ += std::min(t, act_end_) - acc_t_;
  acc_e_ = e;
  acc_w_ = w;
  acc_t_ = t;
}

double Replica::take_busy_s() {
  const double b = busy_s_;
  busy_s_ = 0;
  return b;
}

double Replica::take_energy_j() {
  const double e = energy_j_;
  energy_j_ = 0;
  return e;
}

double Replica::cached_tokens_at(double t) const {
  if (!cache_) return 0;
  if (lead_ && t < act_start_) return lead_cached_;
  return cache_->unreferenced_after(cfg_.kv_capacity_tokens - kv_tokens_at(t));
}

PrefixStats Replica::take_prefix_stats() {
  PrefixStats p = prefix_stats_;
  prefix_stats_ = {};
  if (cache_) {
    p.evicted_tokens += cache_->evicted() - evicted_taken_;
    evicted_taken_ = cache_->evicted();
  }
  return p;
}

std::string Replica::check_kv() const {
  if (!cache_) return {};
  if (std::string why = cache_->check(); !why.empty()) return why;
  double shared = 0;
  for (std::uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Seq& s = slots_[slot];
    if (s.held == kNoHolding) {
      if (s.state == State::kPrefilling || s.state == State::kDecoding) return fmt::format("slot {} has no holding", slot);
      continue;
    }
    const Holding& h = holdings_[s.held];
    if (s.state == State::kFree || s.state == State::kWaiting) {
      if (h.refs != 0 || h.shared != 0) return fmt::format("slot {} holds cache blocks", slot);
      continue;
    }
    if (s.state == State::kDecoding && h.shared > s.target + static_cast<double>(step_counter_ - s.join_step))
      return fmt::format("slot {} shares more tokens than it holds", slot);
    shared += h.shared;
  }
  if (shared != shared_total_) return fmt::format("shared tokens {} counted as {}", shared, shared_total_);
  if (live_kv() > cfg_.kv_capacity_tokens) return fmt::format("live KV {} over the capacity", live_kv());
  return {};
}

std::vector<Job> Replica::fail(double now) {
  accrue(std::min(now, next_event_time()));
  std::vector<Job> held;
  for (const Seq& s : slots_)
    if (s.state != State::kFree) held.push_back(s.job);
  std::sort(held.begin(), held.end(), [](const Job& a, const Job& b) {
    return a.delivered_s < b.delivered_s || (a.delivered_s == b.delivered_s && a.id < b.id);
  });
  slots_.clear();
  free_slots_.clear();
  waiting_.clear();
  prefilling_.clear();
  step_prefills_.clear();
  first_pending_.clear();
  finish_heap_ = {};
  admit_stack_.clear();
  batch_ = 0;
  dec_base_ = 0;
  step_counter_ = 0;
  prefill_reserved_ = reserved_total_ = 0;
  stale_entries_ = 0;
  freed_ = false;
  activity_ = Activity::kIdle;
  act_start_ = act_end_ = now;
  step_cost_ = {};
  step_work_ = {};
  step_has_decodes_ = false;
  run_ = RunMath{};
  run_steps_ = 0;
  run_c0_ = 0;
  acc_t_ = now;
  acc_e_ = 0;
  acc_w_ = {};
  lead_ = false;
  lead_start_ = lead_energy_j_ = lead_kv_ = 0;
  lead_work_ = {};
  lead_running_ = 0;
  if (cache_) {  // GPU memory is lost: a new, empty cache (evictions counted so far stay in the statistics)
    prefix_stats_.evicted_tokens += cache_->evicted() - evicted_taken_;
    cache_ = std::make_unique<PrefixCache>(cfg_.prefix_block_tokens);
    evicted_taken_ = 0;
  }
  prefixes_.clear();
  holdings_.clear();
  free_holdings_.clear();
  shared_total_ = lead_cached_ = 0;
  batch_waiting_.clear();
  batch_stack_.clear();
  batch_running_ = batch_decoding_ = 0;
  batch_prefill_tokens_ = act_batch_share_ = 0;
  step_disk_tokens_ = 0;
  if (pending_model_) {  // idle now: a clock change takes effect at once
    model_ = pending_model_;
    profiles_ = pending_profiles_;
    pending_model_ = nullptr;
    pending_profiles_ = nullptr;
  }
  return held;
}

model::StepWork Replica::take_work() {
  const model::StepWork w = work_;
  work_ = {};
  return w;
}

}  // namespace chatdc::serving
