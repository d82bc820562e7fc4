// Pure core: hardware and model descriptions. Plain data filled from the YAML catalogs in platforms/;
// no behaviour lives here.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace chatdc::model {

/// Number formats of weights and KV cache. kFp4 is NVIDIA's NVFP4 (4-bit e2m1 values with one FP8
/// scale per 16: 4.5 bits per value); kMxfp4 is OCP MXFP4 (one 8-bit power-of-two scale per 32:
/// 4.25 bits); kInt4 is counted at 4 bits (group scales ignored, as before).
enum class Dtype { kFp32, kFp16, kBf16, kFp8, kInt8, kInt4, kFp4, kMxfp4 };

double dtype_bytes(Dtype d);
const char* dtype_name(Dtype d);
/// Parses "fp32", "fp16", "bf16", "fp8", "int8", "int4", "fp4", "mxfp4"; returns false on an unknown name.
bool parse_dtype(const std::string& text, Dtype* out);
/// Every name parse_dtype accepts, in that order.
const std::vector<std::string>& dtype_names();
/// True for the 4-bit formats (int4, fp4, mxfp4).
bool is_4bit(Dtype d);

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
  double fp4_dense_tflops = 0;   // 0 when the GPU has no FP4 tensor cores (4-bit weights then run dequantised)
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
  // Kernel-level roofline (StepRoofline::kKernel): each class of kernel is its own roofline and the
  // step is their sum. The 2023 profiles keep the whole-step roofline (kStep), whose formula is
  // unchanged. README "Step time".
  enum class Roofline { kStep, kKernel };
  Roofline roofline = Roofline::kStep;
  double compute_efficiency_fp8 = 0;     // achieved / FP8 peak on large FP8 GEMMs (0 = compute_efficiency)
  double compute_efficiency_fp4 = 0;     // achieved / FP4 peak on large FP4 GEMMs (0 = compute_efficiency_fp8)
  double moe_compute_efficiency = 0;     // grouped expert GEMMs, relative to the dense GEMM efficiency (0 = 1)
  double layer_overhead_us = 0;          // GPU time per layer per step that no roofline covers (kernel latencies)
  double moe_layer_overhead_us = 0;      // extra per mixture-of-experts layer (router, top-k, permutes: more kernels)
  double moe_half_tokens = 0;            // grouped GEMMs reach half their efficiency at this many tokens per expert
  double attention_half_tokens = 0;      // prefill attention runs at half its efficiency for prompts this long (Hockney n_1/2)
  double allreduce_latency_us = 5;       // fixed time of one tensor-parallel all-reduce or all-to-all (kernel roofline)
  double cpu_overlap = 0;                // share of the shorter of CPU and GPU time hidden behind the longer (async scheduling)
  bool chunked_prefill = false;          // the engine's own scheduling (serving.chunked_prefill default)
  std::string basis = "fitted";          // "fitted" to measurements of this (GPU, engine), or "ruled" (README rule)
  std::string pack_name;                 // the GPU's name in the calibration pack's `gpu` column ("" = none)
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
  // Precision of the non-expert linear layers (attention projections, dense MLPs, shared experts) when
  // it differs from weight_dtype (4-bit MoE checkpoints keep them at 8 or 16 bits); unset = weight_dtype.
  std::optional<Dtype> dense_weight_dtype;
  bool tied_embeddings = false;  // the output head shares the input embedding's weights
  std::vector<std::string> hf_ids;  // Hugging Face ids this entry stands for (calibration pack `model` column)
  int moe_layers = 0;            // layers with routed experts (0 = all layers, for a MoE model)
  // Sliding-window attention: this many layers attend only the last `sliding_window_tokens` tokens.
  int sliding_window_layers = 0;
  int sliding_window_tokens = 0;

  bool is_moe() const { return experts > 0; }
  Dtype dense_dtype() const { return dense_weight_dtype.value_or(weight_dtype); }
  int moe_layer_count() const { return experts > 0 ? (moe_layers > 0 ? moe_layers : layers) : 0; }
  /// Parameters of the output head (vocab x hidden), billions.
  double head_params_b() const { return static_cast<double>(vocab_size) * hidden_size * 1e-9; }
  /// Parameters of everything but routed experts, the input embedding and the output head, billions.
  double dense_params_b() const;
  /// Bytes of KV cache one token occupies across all layers.
  double kv_bytes_per_token() const;
  /// FLOPs of one query-key pair across all layers (scores and weighted values).
  double attention_flops_per_pair() const;
  double weight_bytes() const;
};

}  // namespace chatdc::model
