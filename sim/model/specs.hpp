// Pure core: hardware and model descriptions. Plain data filled from the YAML catalogs in platforms/;
// no behaviour lives here.
#pragma once
#include <cstdint>
#include <string>

namespace chatdc::model {

enum class Dtype { kFp32, kFp16, kBf16, kFp8, kInt8, kInt4 };

double dtype_bytes(Dtype d);
const char* dtype_name(Dtype d);
/// Parses "fp16", "bf16", "fp8", "int8", "int4", "fp32"; returns false on an unknown name.
bool parse_dtype(const std::string& text, Dtype* out);

/// One accelerator. Peak rates are dense (no 2:4 sparsity). Efficiencies belong to a GPU *and* a
/// serving engine: they are fitted per (GPU, engine) against published measurements
/// (README, "Serving model"); `engine` names the profile applied.
struct GpuSpec {
  std::string id;
  std::string name;
  std::string engine;
  double memory_gb = 0;                  // HBM capacity, decimal GB
  double memory_bandwidth_gb_per_s = 0;  // HBM peak
  double bf16_dense_tflops = 0;
  double fp8_dense_tflops = 0;   // 0 when the GPU has no FP8 tensor cores
  double int8_dense_tops = 0;    // 0 when the GPU has no INT8 tensor cores
  double interconnect_gb_per_s = 0;  // GPU-to-GPU inside a server, per GPU and direction (NVLink, HCCS)
  double idle_power_w = 0;
  double tdp_w = 0;
  double compute_bound_power_w = 0;  // drawn while tensor cores are saturated (prefill)
  double memory_bound_power_w = 0;   // drawn while streaming HBM (decode)
  // Fitted efficiencies and overheads (the same for every model and batch on this GPU).
  double compute_efficiency = 0.6;       // achieved / peak FLOP/s on large GEMMs
  double memory_efficiency = 0.75;       // achieved / peak HBM bandwidth streaming weights
  double attention_compute_efficiency = 0.6;  // achieved / peak FLOP/s of attention kernels (prefill)
  double kv_memory_efficiency = 0.75;    // achieved / peak HBM bandwidth reading the KV cache (decode attention)
  double gemm_half_tokens = 0;           // tokens at which GEMM efficiency is half of its peak (Hockney n_1/2)
  double allreduce_hop_latency_us = 5;   // per ring hop of a tensor-parallel all-reduce
  double step_overhead_ms = 1;           // scheduler, sampling and launch overhead per step
  double request_overhead_ms = 0;        // once per request before it can be scheduled (API, tokenizer, admission)
  double per_sequence_overhead_us = 0;   // extra per sequence in the step (sampling, bookkeeping)
  double serial_fraction = 0;            // share of the shorter of compute/memory time not hidden behind the longer
  double interconnect_efficiency = 1;    // achieved / peak GPU-to-GPU bandwidth in all-reduces
};

/// One server: a number of identical GPUs plus everything else in the box.
struct ServerSpec {
  std::string id;
  std::string name;
  std::string gpu;  // GpuSpec id
  int gpus_per_server = 8;
  double non_gpu_idle_power_w = 0;  // CPUs, memory, NICs, fans, PSU losses with GPUs idle
  double non_gpu_max_power_w = 0;   // the same at full GPU load
  double max_power_w = 0;           // nameplate maximum, for information and checks
  double capex_usd = 0;
  double nic_gbps = 200;
};

/// One LLM. Parameter counts are exact from the architecture where known.
struct LlmSpec {
  std::string id;
  std::string name;
  double total_params_b = 0;   // every weight that must sit in memory, billions
  double active_params_b = 0;  // weights touched per token (== total for dense models)
  int layers = 0;
  int hidden_size = 0;
  int attention_heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int experts = 0;            // 0 for dense models
  int experts_per_token = 0;  // routed experts chosen per token
  double expert_params_b = 0; // all routed-expert weights (MoE), billions
  int max_context_tokens = 4096;
  // Attention shape overrides (0 = derive): KV elements cached per token and layer (default
  // 2 * kv_heads * head_dim; multi-head latent attention caches fewer), and the width such that a
  // query-key pair costs 4 * attention_dim FLOPs per layer (default attention_heads * head_dim).
  double kv_elements_per_token_per_layer = 0;
  double attention_dim = 0;
  Dtype weight_dtype = Dtype::kFp16;
  Dtype kv_dtype = Dtype::kFp16;

  bool is_moe() const { return experts > 0; }
  /// Bytes of KV cache one token occupies across all layers.
  double kv_bytes_per_token() const;
  /// FLOPs of one query-key pair across all layers (scores and weighted values).
  double attention_flops_per_pair() const;
  double weight_bytes() const;
};

}  // namespace chatdc::model
