// Pure core: the step model against the calibration pack of today's engines (README "Calibration").
//
// scope_pack() decides which configurations an aggregated single-replica model can predict and
// gives every other one its reason. predict_case() runs one configuration's benchmark through the
// real replica scheduler (serving/benchmark.hpp), fast enough (about 0.1 ms per configuration) to
// sit inside the optimiser too. fit_pack_profile() fits one (GPU, engine) profile on the fit split.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/task_pool.hpp"
#include "model/pack.hpp"
#include "model/specs.hpp"
#include "model/step_model.hpp"
#include "serving/benchmark.hpp"

namespace chatdc::serving {

/// Benchmark settings the pack does not publish (README "Calibration"): assumed the same for every engine.
struct PackAssumptions {
  double memory_headroom_fraction = 0.1;  // vLLM gpu_memory_utilization 0.9, SGLang mem_fraction_static: share of all memory
  // TensorRT-LLM's kv_cache_config.free_gpu_memory_fraction 0.9 is a share of the memory left after
  // the weights: the KV cache gets 90% of (memory - weights), so large models fit where vLLM's do not.
  double trtllm_free_memory_fraction = 0.9;
  std::uint32_t max_tokens_per_step = 8192;  // vLLM max_num_batched_tokens, SGLang chunked_prefill_size, TRT-LLM max_num_tokens
  std::uint32_t requests_per_client = 10;    // InferenceX sends 10 x concurrency prompts
  double inferencex_length_spread = 0.8;     // InferenceX: --random-range-ratio 0.8 (lengths uniform in [0.8 L, L])
  std::uint32_t offline_max_batch = 2048;    // trtllm-bench's batch cap is not published
  std::uint32_t offline_requests = 3000;
  std::uint32_t max_closed_loop_requests = 4000;  // caps 10 x concurrency at high concurrency (speed)
};

struct PackCase {
  const model::PackConfig* config = nullptr;
  std::string gpu_id, llm_id, profile;  // catalog GPU, LLM and engine profile
  model::LlmSpec llm;                   // with the row's weight and KV dtypes
  model::Parallelism par;
  bool test = false;                    // in the test split
  bool offline = false;
  double concurrency = 0;
  // Measured values (0 when not measured).
  double ttft_ms = 0, tpot_ms = 0, output_tok_s = 0;
};

struct OutOfScope {
  const model::PackConfig* config = nullptr;
  std::string reason;
  std::string detail;  // e.g. the configuration a duplicate repeats
};

struct PackScope {
  std::vector<PackCase> cases;
  std::vector<OutOfScope> out;
};

/// `gpu_engines`: catalog GPU id -> engine profile -> spec; `llms`: catalog LLM id -> spec.
PackScope scope_pack(const std::vector<model::PackConfig>& configs,
                     const std::map<std::string, std::map<std::string, model::GpuSpec>>& gpu_engines,
                     const std::map<std::string, model::LlmSpec>& llms);

struct Prediction {
  bool ok = false;      // false when the request does not fit the replica (the model's memory accounting)
  double ttft_ms = 0, tpot_ms = 0, output_tok_s = 0;
};

/// The benchmark of one case through the real replica scheduler, with the profile `gpu`.
Prediction predict_case(const PackCase& c, const model::GpuSpec& gpu, const PackAssumptions& a = {});

/// predict_case for every case, with the profile `profile_of(case)`, on the pool's threads (same results for any thread count).
std::vector<Prediction> predict_cases(const std::vector<const PackCase*>& cases,
                                      const std::function<const model::GpuSpec&(const PackCase&)>& profile_of,
                                      TaskPool& pool, const PackAssumptions& a = {});

/// The metrics of the acceptance (README "Calibration").
enum class PackMetric { kTpot, kTtftLow, kThroughputHigh, kTtftHigh, kThroughputLow };
const char* metric_name(PackMetric m);

/// Signed relative errors (predicted / measured - 1) of one case, by metric; a case that does not fit
/// counts as an error of +100% on each of its metrics.
std::vector<std::pair<PackMetric, double>> case_errors(const PackCase& c, const Prediction& p);

struct ErrorStats {
  std::size_t n = 0;
  double median = 0, p90 = 0;  // of |error|
};
ErrorStats error_stats(std::vector<double> abs_errors);

struct PackFit {
  model::GpuSpec gpu;
  double objective = 0;
  int evaluations = 0;
};
/// Fits a kernel-roofline profile to the training cases of one (GPU, engine): efficiencies and
/// overheads, each in a physical range (README), minimising the mean |ln(predicted / measured)| of
/// the acceptance metrics (others at weight 0.3), through the replica scheduler. Deterministic.
PackFit fit_pack_profile(const model::GpuSpec& start, const std::vector<const PackCase*>& train, TaskPool& pool,
                         const PackAssumptions& a = {}, int replica_evaluations = 150);

}  // namespace chatdc::serving
