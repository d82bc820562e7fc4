#include "model/step_model.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace chatdc::model {

const DecodeProfile::Piece& DecodeProfile::piece_at(double context) const {
  assert(!pieces.empty());
  std::size_t i = pieces.size() - 1;
  while (i > 0 && pieces[i].context_from > context) --i;
  return pieces[i];
}

namespace {
double pick_linear_peak_tflops(const GpuSpec& gpu, Dtype weights) {
  switch (weights) {
    case Dtype::kFp8:
      return gpu.fp8_dense_tflops > 0 ? gpu.fp8_dense_tflops : gpu.bf16_dense_tflops;
    case Dtype::kInt8:
      if (gpu.int8_dense_tops > 0) return gpu.int8_dense_tops;
      return gpu.fp8_dense_tflops > 0 ? gpu.fp8_dense_tflops : gpu.bf16_dense_tflops;
    default:  // fp32/fp16/bf16 run on 16-bit tensor cores; int4 is weight-only (dequantised to 16-bit)
      return gpu.bf16_dense_tflops;
  }
}
}  // namespace

RooflineStepModel::RooflineStepModel(const GpuSpec& gpu, const LlmSpec& llm, int tensor_parallel)
    : gpu_(gpu), llm_(llm), tp_(tensor_parallel) {
  linear_peak_flops_ = pick_linear_peak_tflops(gpu, llm.weight_dtype) * 1e12;
  attn_peak_flops_ = gpu.bf16_dense_tflops * 1e12;
  hbm_bytes_per_s_ = tp_ * gpu.memory_bandwidth_gb_per_s * 1e9 * gpu.memory_efficiency;
  kv_bytes_per_token_ = llm.kv_bytes_per_token();
  attn_flops_per_pair_ = llm.attention_flops_per_pair();
}

double RooflineStepModel::weight_bytes_read(double tokens) const {
  const double wb = dtype_bytes(llm_.weight_dtype);
  if (!llm_.is_moe()) return llm_.total_params_b * 1e9 * wb;
  const double shared = (llm_.total_params_b - llm_.expert_params_b) * 1e9 * wb;
  // Each token picks k of E experts per layer; with T tokens the expected share of experts touched
  // is 1 - (1 - k/E)^T (tokens routed independently and uniformly).
  const double p_untouched = std::pow(1.0 - static_cast<double>(llm_.experts_per_token) / llm_.experts, tokens);
  return shared + llm_.expert_params_b * 1e9 * wb * (1.0 - p_untouched);
}

RooflineStepModel::Parts RooflineStepModel::parts(const StepShape& s) const {
  const double tokens = s.prefill_tokens + s.decode_seqs;
  const double seqs = s.prefill_seqs + s.decode_seqs;
  Parts p{};
  // Linear layers: a GEMM over T tokens runs at eff_c * T / (T + n_half) of peak, i.e. costs as if it
  // had T + n_half tokens at full efficiency (Hockney's half-performance length).
  const double linear_flops = 2.0 * llm_.active_params_b * 1e9 * (tokens + gpu_.gemm_half_tokens);
  const double attn_flops = attn_flops_per_pair_ * (s.decode_context_tokens + s.prefill_attention_pairs);
  p.compute_s = linear_flops / (tp_ * linear_peak_flops_ * gpu_.compute_efficiency) +
                attn_flops / (tp_ * attn_peak_flops_ * gpu_.attention_compute_efficiency);
  // Weights and the KV written stream at the GEMM bandwidth; the KV read by attention at the kernel's.
  const double kv_read = kv_bytes_per_token_ * (s.decode_context_tokens + s.prefill_context_tokens);
  p.memory_s = (weight_bytes_read(tokens) + kv_bytes_per_token_ * tokens) / hbm_bytes_per_s_ +
               kv_read / (hbm_bytes_per_s_ / gpu_.memory_efficiency * gpu_.kv_memory_efficiency);
  if (tp_ > 1) {
    const double msg_bytes = tokens * llm_.hidden_size * 2.0;  // fp16 activations
    const double hop_s = gpu_.allreduce_hop_latency_us * 1e-6 +
                         msg_bytes / (tp_ * gpu_.interconnect_gb_per_s * 1e9 * gpu_.interconnect_efficiency);
    p.comm_s = 2.0 * llm_.layers * 2.0 * (tp_ - 1) * hop_s;
  }
  p.overhead_s = gpu_.step_overhead_ms * 1e-3 + gpu_.per_sequence_overhead_us * 1e-6 * seqs;
  return p;
}

double RooflineStepModel::energy(const Parts& p) const {
  const double pc = gpu_.compute_bound_power_w, pm = gpu_.memory_bound_power_w;
  const double active = p.memory_s >= p.compute_s ? pm * p.memory_s + (pc - pm) * p.compute_s : pc * p.compute_s;
  return tp_ * (gpu_.idle_power_w * p.overhead_s + pm * p.comm_s + active);
}

StepCost RooflineStepModel::cost(const StepShape& shape) const {
  const Parts p = parts(shape);
  StepCost c;
  c.compute_s = p.compute_s;
  c.memory_s = p.memory_s;
  c.comm_s = p.comm_s;
  c.overhead_s = p.overhead_s;
  c.time_s = p.overhead_s + p.comm_s + std::max(p.compute_s, p.memory_s) +
             gpu_.serial_fraction * std::min(p.compute_s, p.memory_s);
  c.energy_j = energy(p);
  return c;
}

DecodeProfile RooflineStepModel::decode_profile(std::uint32_t batch) const {
  // Evaluate the parts at C = 0 and C = 1 to get the affine coefficients of compute and memory.
  StepShape s0;
  s0.decode_seqs = batch;
  StepShape s1 = s0;
  s1.decode_context_tokens = 1.0;
  const Parts p0 = parts(s0), p1 = parts(s1);
  const Affine comp{p0.compute_s, p1.compute_s - p0.compute_s};
  const Affine mem{p0.memory_s, p1.memory_s - p0.memory_s};
  const double fixed = p0.overhead_s + p0.comm_s;
  const double pc = gpu_.compute_bound_power_w, pm = gpu_.memory_bound_power_w;
  const double e_fixed = tp_ * (gpu_.idle_power_w * p0.overhead_s + pm * p0.comm_s);

  const double w = gpu_.serial_fraction;
  auto memory_piece = [&](double from) {
    DecodeProfile::Piece pc_{from, {fixed + mem.a + w * comp.a, mem.b + w * comp.b}, {}};
    pc_.energy_j = {e_fixed + tp_ * (pm * mem.a + (pc - pm) * comp.a), tp_ * (pm * mem.b + (pc - pm) * comp.b)};
    return pc_;
  };
  auto compute_piece = [&](double from) {
    DecodeProfile::Piece pc_{from, {fixed + comp.a + w * mem.a, comp.b + w * mem.b}, {}};
    pc_.energy_j = {e_fixed + tp_ * pc * comp.a, tp_ * pc * comp.b};
    return pc_;
  };

  DecodeProfile prof;
  const bool memory_first = mem.a >= comp.a;
  prof.pieces.push_back(memory_first ? memory_piece(0) : compute_piece(0));
  const double slope_gap = memory_first ? comp.b - mem.b : mem.b - comp.b;
  if (slope_gap > 0) {  // the other line overtakes at C*
    const double cross = std::fabs(mem.a - comp.a) / slope_gap;
    prof.pieces.push_back(memory_first ? compute_piece(cross) : memory_piece(cross));
  }
  return prof;
}

double kv_capacity_tokens(const GpuSpec& gpu, const LlmSpec& llm, int tensor_parallel, double memory_headroom_fraction) {
  const double usable = tensor_parallel * gpu.memory_gb * 1e9 * (1.0 - memory_headroom_fraction);
  const double free_bytes = usable - llm.weight_bytes();
  if (free_bytes <= 0) return -1.0;
  return std::floor(free_bytes / llm.kv_bytes_per_token());
}

}  // namespace chatdc::model
