#include "serving/benchmark.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <queue>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace chatdc::serving {

namespace {

class Clients final : public ReplicaListener {
 public:
  explicit Clients(const BenchmarkSpec& spec) : spec_(spec), rng_(Rng::stream(spec.seed, "benchmark-lengths")) {}
  void on_first_token(std::uint32_t, const Job&, double) override {}
  void on_complete(std::uint32_t, const Job& job, const JobTimes& t) override {
    const double sent = job.sent_s;
    ttft_sum_ += t.first_token_s - sent;
    if (job.output_tokens > 1) tpot_sum_ += (t.done_s - t.first_token_s) / (job.output_tokens - 1);
    e2e_sum_ += t.done_s - sent;
    last_done_ = std::max(last_done_, t.done_s);
    ++completed_;
    if (spec_.load == BenchmarkSpec::Load::kClosedLoop && sent_ < spec_.requests) send(t.done_s);
  }
  void send(double at) {
    Job j;
    j.id = sent_++;
    j.sent_s = at;
    j.delivered_s = at + spec_.request_overhead_s;
    j.prompt_tokens = length(spec_.prompt_tokens);
    j.output_tokens = length(spec_.output_tokens);
    arrivals_.push(j);
  }
  std::uint32_t length(std::uint32_t nominal) {
    if (spec_.length_spread >= 1.0) return nominal;
    const double lo = std::max(1.0, std::round(spec_.length_spread * nominal));
    return static_cast<std::uint32_t>(lo + std::floor(rng_.uniform() * (nominal - lo + 1)));
  }

  const BenchmarkSpec& spec_;
  struct Later {
    bool operator()(const Job& a, const Job& b) const { return a.delivered_s > b.delivered_s || (a.delivered_s == b.delivered_s && a.id > b.id); }
  };
  std::priority_queue<Job, std::vector<Job>, Later> arrivals_;
  Rng rng_;
  std::uint32_t sent_ = 0;
  std::uint64_t completed_ = 0;
  double ttft_sum_ = 0, tpot_sum_ = 0, e2e_sum_ = 0, last_done_ = 0;
};

}  // namespace

BenchmarkResult run_benchmark(const model::StepModel& model, const BenchmarkSpec& spec) {
  SchedulerConfig cfg = spec.scheduler;
  cfg.merge_steps = false;
  Clients clients(spec);
  const DecodeProfiles profiles(model, cfg.max_batch_size);
  Replica replica(0, model, profiles, cfg, &clients);
  if (!replica.can_ever_fit(spec.prompt_tokens, spec.output_tokens))
    throw Error(fmt::format("a request of {} + {} tokens does not fit the replica's KV cache ({:.0f} tokens)", spec.prompt_tokens,
                            spec.output_tokens, cfg.kv_capacity_tokens));
  const std::uint32_t first_wave =
      spec.load == BenchmarkSpec::Load::kClosedLoop ? std::min(spec.clients, spec.requests) : spec.requests;
  for (std::uint32_t i = 0; i < first_wave; ++i) clients.send(0.0);
  while (clients.completed_ < spec.requests) {
    const double t_rep = replica.next_event_time();
    const double t_arr = clients.arrivals_.empty() ? Replica::kNever : clients.arrivals_.top().delivered_s;
    if (t_arr == Replica::kNever && t_rep == Replica::kNever) break;  // nothing left to happen
    if (t_arr <= t_rep) {
      const Job j = clients.arrivals_.top();
      clients.arrivals_.pop();
      replica.deliver(j, j.delivered_s);
    } else {
      replica.on_event();
    }
  }
  BenchmarkResult r;
  r.completed = clients.completed_;
  if (r.completed == 0) return r;
  const double n = static_cast<double>(r.completed);
  r.ttft_s = clients.ttft_sum_ / n;
  r.tpot_s = clients.tpot_sum_ / n;
  r.e2e_s = clients.e2e_sum_ / n;
  r.makespan_s = clients.last_done_;
  if (spec.load == BenchmarkSpec::Load::kClosedLoop)
    r.output_tokens_per_s = spec.clients * static_cast<double>(spec.output_tokens) /
                            (r.ttft_s + (spec.output_tokens - 1.0) * r.tpot_s);
  else
    r.output_tokens_per_s = n * spec.output_tokens / r.makespan_s;
  return r;
}

}  // namespace chatdc::serving
