// Shared fixtures for unit tests: a small GPU and LLM whose step costs are easy to compute by hand.
#pragma once
#include "model/specs.hpp"

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

}  // namespace chatdc::test
