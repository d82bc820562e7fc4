// Shared fixtures for unit tests: a small GPU and LLM whose step costs are easy to compute by hand.
#pragma once
#include "model/specs.hpp"
#include "model/step_model.hpp"

namespace chatdc::test {

inline model::GpuSpec hand_gpu() {
  model::GpuSpec g;
  g.id = "hand";
  g.memory_gb = 80;
  g.memory_bandwidth_gb_per_s = 2000;
  g.bf16_dense_tflops = 300;
  g.interconnect_gb_per_s = 300;
  g.idle_power_w = 60;
  g.tdp_w = 400;
  g.compute_bound_power_w = 400;
  g.memory_bound_power_w = 250;
  g.compute_efficiency = 0.5;
  g.memory_efficiency = 0.8;
  g.attention_compute_efficiency = 0.5;
  g.kv_memory_efficiency = 0.8;
  g.gemm_half_tokens = 0;
  g.allreduce_hop_latency_us = 10;
  g.step_overhead_ms = 1;
  g.per_sequence_overhead_us = 0;
  return g;
}

inline model::LlmSpec hand_llm() {
  model::LlmSpec m;
  m.id = "hand-10b";
  m.total_params_b = 10;
  m.active_params_b = 10;
  m.layers = 40;
  m.hidden_size = 5120;
  m.attention_heads = 40;
  m.kv_heads = 40;
  m.head_dim = 128;
  m.vocab_size = 32000;
  m.max_context_tokens = 4096;
  return m;
}

/// hand_gpu() under the kernel roofline, with FP8 tensor cores (600 TFLOP/s at 40%) and 5 us per layer.
inline model::GpuSpec kernel_gpu() {
  auto g = hand_gpu();  // 300 TFLOP/s bf16, 2 TB/s, 300 GB/s links; efficiencies 0.5 compute, 0.8 memory
  g.roofline = model::GpuSpec::Roofline::kKernel;
  g.fp8_dense_tflops = 600;
  g.compute_efficiency_fp8 = 0.4;
  g.layer_overhead_us = 5;
  return g;
}

/// A decode step of b sequences attending `context` tokens in all.
inline model::StepShape decode_shape(std::uint32_t b, double context) {
  model::StepShape s;
  s.decode_seqs = b;
  s.decode_context_tokens = context;
  return s;
}

/// One prompt of `tokens` new tokens prefilled in one step.
inline model::StepShape prefill_shape(double tokens) {
  model::StepShape s;
  s.prefill_seqs = 1;
  s.prefill_tokens = tokens;
  s.prefill_attention_pairs = tokens * (tokens + 1) / 2;
  return s;
}

}  // namespace chatdc::test
