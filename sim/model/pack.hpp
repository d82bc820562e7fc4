// Pure core: the calibration pack of modern engines (its CSV schema, the rows in scope of a
// single-replica aggregated model, and the fixed test split).
//
// Schema (../shared/data/calibration/README.md; platforms/calibration/README.md for the in-repo
// subset): one row per (configuration, metric, statistic), grouped by `config_id`. Required columns:
//   config_id, engine, gpu, tp, serving_mode, model, weight_dtype, input_tokens, output_tokens,
//   load_type, concurrency_or_rate, metric, value
// Optional: source_id, engine_version, gpus_per_replica, pp, ep, dp_attention, model_arch, kv_dtype,
//   max_batch, spec_decoding, statistic, and any other column (ignored).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace chatdc::model {

struct PackConfig {
  std::string file;
  int line = 0;  // first row of the configuration
  std::string config_id, source_id, engine, engine_version, gpu, serving_mode, model, model_arch;
  std::string weight_dtype, kv_dtype, load_type, spec_decoding;
  int tp = 1, pp = 1, ep = 1, dp = 1;
  std::optional<double> gpus_per_replica;
  std::optional<double> input_tokens, output_tokens, max_batch;
  double concurrency = 0;      // closed loop: clients; 0 when the row gives a rate or nothing
  std::string concurrency_text;
  std::map<std::string, double> metrics;  // metric -> value (statistic mean, unspecified or median)
  // The benchmark client, from the source's notes: "inferencex" for the InferenceX sweeps of the
  // AIConfigurator sample (tags db-dump/..., 2026-03-25.csv, 2026-04-06.csv: vLLM benchmark_serving
  // with --random-range-ratio 0.8 and 10 x concurrency prompts), else "fixed" (fixed lengths).
  std::string harness = "fixed";
};

/// Reads a CSV in the pack's schema; throws chatdc::Error naming file:line, the column and the value.
std::vector<PackConfig> load_pack(const std::string& file);

/// The test split, fixed before any fitting: FNV-1a 64 of config_id, mod 5 == 0 (20% of configurations).
std::uint64_t fnv1a64(const std::string& text);
bool in_test_split(const std::string& config_id);

/// The serving-engine profile a pack engine and version belong to ("vllm", "sglang", "trtllm"), or
/// the reason the version is not pooled with today's engines.
struct EnginePool {
  std::string profile;  // empty when out of scope
  std::string reason;
};
EnginePool engine_pool(const std::string& engine, const std::string& version);

}  // namespace chatdc::model
