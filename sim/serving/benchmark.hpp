// Pure core: the benchmarks of the calibration pack, run through the real replica scheduler.
//
// A closed-loop benchmark (InferenceX, AIConfigurator, vLLM's benchmark_serving with
// --max-concurrency) starts N clients at once; each sends its next request, with fixed prompt and
// output lengths, as soon as its previous one completes, until `requests` have been sent. An offline
// benchmark (trtllm-bench throughput) queues every request at time 0. Times are measured at the
// client: a request reaches the scheduler `request_overhead_s` after it is sent (HTTP, tokenizer,
// admission), so TTFT = overhead + queueing + the steps up to its first token.
#pragma once
#include <cstdint>

#include "model/step_model.hpp"
#include "serving/replica.hpp"

namespace chatdc::serving {

struct BenchmarkSpec {
  enum class Load { kClosedLoop, kOffline };
  Load load = Load::kClosedLoop;
  std::uint32_t clients = 1;     // closed loop: requests in flight
  std::uint32_t requests = 10;   // sent in all
  std::uint32_t prompt_tokens = 1024;
  std::uint32_t output_tokens = 1024;
  double request_overhead_s = 0;
  // Lengths of each request drawn uniformly in [spread x nominal, nominal] (vLLM benchmark_serving's
  // --random-range-ratio, 0.8 in InferenceX), prompt and output independently; 1 = fixed lengths.
  double length_spread = 1.0;
  std::uint64_t seed = 1;
  SchedulerConfig scheduler;     // batch cap, token budget, chunked prefill, KV capacity
};

struct BenchmarkResult {
  double ttft_s = 0;   // mean over completed requests (the benchmark tools' mean TTFT)
  double tpot_s = 0;   // mean over completed requests of (last - first token) / (output - 1)
  double e2e_s = 0;    // mean
  double makespan_s = 0;
  std::uint64_t completed = 0;
  /// Output tokens per second of the replica. Closed loop: clients x output / (TTFT + (output - 1) x
  /// TPOT), the relation the pack's README gives for its closed-loop rows; offline: all output
  /// tokens / the time the last request completes.
  double output_tokens_per_s = 0;
};

/// Runs the benchmark on one replica. Deterministic. Throws chatdc::Error when a request can never
/// fit the replica's KV cache.
BenchmarkResult run_benchmark(const model::StepModel& model, const BenchmarkSpec& spec);

}  // namespace chatdc::serving
