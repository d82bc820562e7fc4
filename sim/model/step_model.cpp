#include "model/step_model.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

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
    : RooflineStepModel(gpu, llm, Parallelism{tensor_parallel, 1, 1}) {}

RooflineStepModel::RooflineStepModel(const GpuSpec& gpu, const LlmSpec& llm, const Parallelism& par)
    : gpu_(gpu), llm_(llm), par_(par), tp_(par.gpus()) {
  linear_peak_flops_ = pick_linear_peak_tflops(gpu, llm.weight_dtype) * 1e12;
  attn_peak_flops_ = gpu.bf16_dense_tflops * 1e12;
  hbm_bytes_per_s_ = tp_ * gpu.memory_bandwidth_gb_per_s * 1e9 * gpu.memory_efficiency;
  kv_bytes_per_token_ = llm.kv_bytes_per_token();
  attn_flops_per_pair_ = llm.attention_flops_per_pair();
  if (gpu.roofline == GpuSpec::Roofline::kKernel) init_kernels();
}

namespace {
// Peak and achieved efficiency of the GEMMs of weights in `d` (README "Step time"): FP8 and FP4
// tensor cores where the GPU has them, INT8 for int8, else 16-bit (4-bit formats without FP4 tensor
// cores are dequantised to 16-bit).
struct GemmRate {
  double peak_flops, efficiency;
};
GemmRate gemm_rate(const GpuSpec& g, Dtype d) {
  const double e16 = g.compute_efficiency;
  const double e8 = g.compute_efficiency_fp8 > 0 ? g.compute_efficiency_fp8 : e16;
  const double e4 = g.compute_efficiency_fp4 > 0 ? g.compute_efficiency_fp4 : e8;
  switch (d) {
    case Dtype::kFp8:
      return g.fp8_dense_tflops > 0 ? GemmRate{g.fp8_dense_tflops * 1e12, e8} : GemmRate{g.bf16_dense_tflops * 1e12, e16};
    case Dtype::kInt8:
      if (g.int8_dense_tops > 0) return {g.int8_dense_tops * 1e12, e8};
      return g.fp8_dense_tflops > 0 ? GemmRate{g.fp8_dense_tflops * 1e12, e8} : GemmRate{g.bf16_dense_tflops * 1e12, e16};
    case Dtype::kFp4:
    case Dtype::kMxfp4:
      return g.fp4_dense_tflops > 0 ? GemmRate{g.fp4_dense_tflops * 1e12, e4} : GemmRate{g.bf16_dense_tflops * 1e12, e16};
    default:
      return {g.bf16_dense_tflops * 1e12, e16};
  }
}
}  // namespace

void RooflineStepModel::init_kernels() {
  const double tp = par_.tp, ep = par_.ep, G = par_.gpus();
  const double h = llm_.hidden_size, L = llm_.layers;
  KernelConsts& k = k_;
  const GemmRate dense = gemm_rate(gpu_, llm_.dense_dtype());
  k.dense_peak = dense.peak_flops * dense.efficiency;
  k.dense_flops_per_token = 2.0 * llm_.dense_params_b() * 1e9 / tp;
  k.kv_bytes_per_token = llm_.kv_bytes_per_token() / std::min<double>(tp, llm_.kv_heads);
  // The linear layers' memory term also carries the KV written for the step's new tokens.
  k.dense_bytes = llm_.dense_params_b() * 1e9 * dtype_bytes(llm_.dense_dtype()) / tp;
  k.head_flops_per_token = 2.0 * llm_.head_params_b() * 1e9 / tp;
  k.head_bytes = llm_.head_params_b() * 1e9 * 2.0 / tp;  // the output head is kept at 16 bits
  if (llm_.is_moe()) {
    const GemmRate ex = gemm_rate(gpu_, llm_.weight_dtype);
    const double moe_eff = gpu_.moe_compute_efficiency > 0 ? gpu_.moe_compute_efficiency : 1.0;
    k.expert_peak = ex.peak_flops * ex.efficiency * moe_eff;
    const double per_expert_layer = llm_.expert_params_b * 1e9 / (llm_.moe_layer_count() * static_cast<double>(llm_.experts));
    const double moe_tp = G / ep;
    k.expert_slots = llm_.experts + par_.redundant_experts;
    k.experts_per_gpu = k.expert_slots / ep;
    k.expert_bytes_per_expert = per_expert_layer * llm_.moe_layer_count() * dtype_bytes(llm_.weight_dtype) / moe_tp;
    k.expert_flops_per_assignment = 2.0 * per_expert_layer * llm_.moe_layer_count() / moe_tp;
  }
  if (llm_.sliding_window_layers > 0 && llm_.sliding_window_tokens > 0) {
    k.swa_share = static_cast<double>(llm_.sliding_window_layers) / llm_.layers;
    k.swa_tokens = llm_.sliding_window_tokens;
  }
  k.attn_flops_per_pair = llm_.attention_flops_per_pair() / tp;
  k.bw = gpu_.memory_bandwidth_gb_per_s * 1e9 * gpu_.memory_efficiency;
  k.bw_kv = gpu_.memory_bandwidth_gb_per_s * 1e9 * gpu_.kv_memory_efficiency;
  const double link = gpu_.interconnect_gb_per_s * 1e9 * gpu_.interconnect_efficiency;
  if (par_.tp > 1) {
    // Two all-reduces per layer, each a fixed latency (one-shot kernels under CUDA graphs) plus a ring's
    // 2 (tp - 1) / tp of the activations over the link.
    k.allreduce_fixed_s = 2.0 * L * gpu_.allreduce_latency_us * 1e-6;
    k.allreduce_s_per_token = 2.0 * L * 2.0 * (tp - 1) * h * 2.0 / (tp * link);
  }
  if (par_.spans_servers() && llm_.is_moe()) {
    // A unit spanning servers: DeepEP-style dispatch (FP8: one byte per element and a 4-byte scale per
    // 128) and combine (BF16) over the network and NVLink (expert_parallel.hpp).
    a2a_.nodes = par_.nodes;
    a2a_.gpus = par_.gpus();
    a2a_.experts_per_token = llm_.experts_per_token;
    a2a_.hidden = h;
    a2a_.dispatch_bytes_per_elt = 1.0 + 4.0 / 128.0;
    a2a_.combine_bytes_per_elt = 2.0;
    a2a_.network_bytes_per_s = par_.network_gb_per_s * 1e9;
    a2a_.nvlink_bytes_per_s = link;
    a2a_.latency_s = gpu_.allreduce_latency_us * 1e-6 + par_.network_latency_us * 1e-6;
  } else if (par_.dp > 1 && par_.ep > 1 && llm_.is_moe()) {
    // Dispatch and combine per MoE layer; a GPU sends and receives its tokens' hidden states for the
    // (ep - 1) / ep of their experts that live elsewhere.
    const double Lm = llm_.moe_layer_count();
    k.alltoall_fixed_s = 2.0 * Lm * gpu_.allreduce_latency_us * 1e-6;
    k.alltoall_s_per_assignment = 2.0 * Lm * h * 2.0 * (ep - 1) / ep / ep / link;
  }
  k.layers_s = (L * gpu_.layer_overhead_us + llm_.moe_layer_count() * gpu_.moe_layer_overhead_us) * 1e-6;
}

RooflineStepModel::Kernels RooflineStepModel::kernels(const StepShape& s) const {
  Kernels out;
  if (gpu_.roofline != GpuSpec::Roofline::kKernel) return out;
  const KernelConsts& k = k_;
  const double dp = par_.dp;
  const double tokens = s.prefill_tokens + s.decode_seqs;
  const double group_tokens = tokens / dp;
  const double sampled = (s.prefill_seqs + s.decode_seqs) / dp;
  auto roof = [&](double compute, double memory) {
    if (compute >= memory) {
      out.compute_bound_s += compute;
    } else {
      out.memory_bound_s += memory;
      out.compute_part_s += compute;
    }
    return std::max(compute, memory);
  };
  out.dense_s = roof(k.dense_flops_per_token * (group_tokens + gpu_.gemm_half_tokens) / k.dense_peak,
                     (k.dense_bytes + group_tokens * k.kv_bytes_per_token) / k.bw);
  const GemmRate head = gemm_rate(gpu_, Dtype::kBf16);
  out.head_s = roof(k.head_flops_per_token * sampled / (head.peak_flops * head.efficiency), k.head_bytes / k.bw);
  if (llm_.is_moe() && tokens > 0) {
    const double kk = llm_.experts_per_token;
    // Each of the E + R expert slots is touched unless none of the step's T x k assignments lands on it.
    const double touched = k.experts_per_gpu * (1.0 - std::pow(1.0 - kk / k.expert_slots, tokens));
    // The busiest GPU sets the pace: expected maximum of ep counts of a multinomial (normal approximation).
    const double load = busiest_gpu_assignments(tokens, llm_.experts_per_token, par_.ep);
    // Grouped GEMMs ramp with the tokens each expert gets (Hockney n_1/2 per expert, from the kernel
    // tables): each expert touched on the GPU costs moe_half_tokens extra assignments of compute.
    out.experts_s = roof(k.expert_flops_per_assignment * (load + gpu_.moe_half_tokens * touched) / k.expert_peak,
                         touched * k.expert_bytes_per_expert / k.bw);
  }
  const double B = s.decode_seqs, C = s.decode_context_tokens;
  const double c_eff = (1.0 - k.swa_share) * C + k.swa_share * std::min(C, B * k.swa_tokens);
  const double attn_peak = attn_peak_flops_ * gpu_.attention_compute_efficiency;
  if (c_eff > 0) out.decode_attention_s = roof(k.attn_flops_per_pair * c_eff / dp / attn_peak, c_eff / dp * k.kv_bytes_per_token / k.bw_kv);
  if (s.prefill_tokens > 0) {
    // A prefill attention kernel over a prompt of L tokens runs at L / (L + n_half) of its efficiency
    // (the kernel tables): FLOPs x (1 + n_half / L) = 4 d (L^2 / 2 + n_half L / 2), i.e. n_half / 2 extra pairs per token.
    const double pairs = (1.0 - k.swa_share) * s.prefill_attention_pairs +
                         k.swa_share * std::min(s.prefill_attention_pairs, s.prefill_tokens * k.swa_tokens) +
                         0.5 * gpu_.attention_half_tokens * s.prefill_tokens;
    out.prefill_attention_s = roof(k.attn_flops_per_pair * pairs / dp / attn_peak,
                                   s.prefill_context_tokens / dp * k.kv_bytes_per_token / k.bw_kv);
  }
  out.allreduce_s = tokens > 0 ? k.allreduce_fixed_s + k.allreduce_s_per_token * group_tokens : 0.0;
  out.alltoall_s = tokens > 0 && k.alltoall_fixed_s > 0
                       ? k.alltoall_fixed_s + k.alltoall_s_per_assignment * tokens * llm_.experts_per_token
                       : 0.0;
  out.layers_s = tokens > 0 ? k.layers_s : 0.0;
  out.gpu_s = out.dense_s + out.head_s + out.experts_s + out.decode_attention_s + out.prefill_attention_s + out.allreduce_s +
              out.alltoall_s + out.layers_s;
  out.alltoall_total_s = out.alltoall_s;
  if (par_.spans_servers() && llm_.is_moe() && tokens > 0) {
    // Every MoE layer dispatches and combines; the busiest receiver sets the pace (its load over the mean).
    const double G = par_.gpus(), mean = tokens * llm_.experts_per_token / par_.ep;
    const double imbalance = mean > 0 ? busiest_gpu_assignments(tokens, llm_.experts_per_token, par_.ep) / mean : 1.0;
    out.alltoall_total_s = llm_.moe_layer_count() * all_to_all(a2a_, tokens / G, imbalance).time_s;
    // Overlapped with the other kernels (two micro-batches, or decode's pipeline): only what exceeds them shows.
    out.alltoall_s = std::max(0.0, out.alltoall_total_s - out.gpu_s);
    out.gpu_s += out.alltoall_s;
  }
  // A unit spanning servers runs one scheduler per attention data-parallel group (DeepSeek's and SGLang's
  // DP attention), in parallel: each handles its group's share of the sequences.
  const double cpu_groups = par_.spans_servers() ? dp : 1.0;
  out.cpu_s = gpu_.step_overhead_ms * 1e-3 + gpu_.per_sequence_overhead_us * 1e-6 * (s.prefill_seqs + s.decode_seqs) / cpu_groups;
  out.time_s = out.gpu_s + out.cpu_s - gpu_.cpu_overlap * std::min(out.gpu_s, out.cpu_s);
  return out;
}

double RooflineStepModel::kernel_energy(const Kernels& k) const {
  const double pc = gpu_.compute_bound_power_w, pm = gpu_.memory_bound_power_w, pi = gpu_.idle_power_w;
  const double busy = pc * k.compute_bound_s + pm * k.memory_bound_s + (pc - pm) * k.compute_part_s +
                      pm * (k.allreduce_s + k.alltoall_s + k.layers_s);
  return par_.gpus() * (busy + pi * (k.time_s - k.gpu_s));
}

StepCost RooflineStepModel::kernel_cost(const StepShape& s) const {
  const Kernels k = kernels(s);
  StepCost c;
  c.time_s = k.time_s;
  c.energy_j = kernel_energy(k);
  c.compute_s = k.compute_bound_s + k.compute_part_s;
  c.memory_s = k.memory_bound_s;
  c.comm_s = k.allreduce_s + k.alltoall_s;
  c.overhead_s = k.time_s - k.gpu_s;
  return c;
}

DecodeProfile RooflineStepModel::kernel_decode_profile(std::uint32_t batch) const {
  // For a fixed batch every kernel but decode attention is constant in the total context C; decode
  // attention is linear in the context it reads, which is C, or with sliding-window layers
  // (1 - f) C + f min(C, B W): a kink at C = B W. The CPU overlap adds a kink where the GPU time
  // meets the CPU time. Between kinks time and energy are affine; two evaluations fix each piece.
  auto shape = [&](double c) {
    StepShape s;
    s.decode_seqs = batch;
    s.decode_context_tokens = c;
    return s;
  };
  std::vector<double> kinks = {0.0};
  const double swa_kink = k_.swa_share > 0 ? batch * k_.swa_tokens : -1;
  if (swa_kink > 0) kinks.push_back(swa_kink);
  // Where f (increasing, affine between the kinks found so far) crosses `level`: a new kink.
  auto add_crossings = [&](auto f, double level) {
    std::vector<double> ends = kinks;
    ends.push_back(std::numeric_limits<double>::infinity());
    for (std::size_t i = 0; i + 1 < ends.size(); ++i) {
      const double a = ends[i];
      const double b = std::isfinite(ends[i + 1]) ? ends[i + 1] : a + std::max(1.0, a);
      const double fa = f(a), fb = f(b);
      if (fa >= level || fb <= fa) continue;
      const double c = a + (level - fa) * (b - a) / (fb - fa);
      if (c > a && c < ends[i + 1]) kinks.push_back(c);
    }
    std::sort(kinks.begin(), kinks.end());
  };
  if (par_.spans_servers() && llm_.is_moe()) {
    // The all-to-all (constant in C) hides behind the other kernels (affine in C on each piece) from
    // the context where they outlast it.
    add_crossings([&](double c) {
      const Kernels kc = kernels(shape(c));
      return kc.gpu_s - kc.alltoall_s;
    }, kernels(shape(0)).alltoall_total_s);
  }
  // gpu(C) is increasing and affine between the kinks: where it meets the CPU time, the overlap kinks.
  if (gpu_.cpu_overlap > 0) add_crossings([&](double c) { return kernels(shape(c)).gpu_s; }, kernels(shape(0)).cpu_s);
  std::sort(kinks.begin(), kinks.end());
  kinks.erase(std::unique(kinks.begin(), kinks.end()), kinks.end());
  DecodeProfile prof;
  for (std::size_t i = 0; i < kinks.size(); ++i) {
    const double a = kinks[i];
    const double b = i + 1 < kinks.size() ? kinks[i + 1] : a + std::max(1.0, a);
    const StepCost ca = kernel_cost(shape(a)), cb = kernel_cost(shape(b));
    DecodeProfile::Piece p;
    p.context_from = a;
    const double st = (cb.time_s - ca.time_s) / (b - a), se = (cb.energy_j - ca.energy_j) / (b - a);
    p.time_s = {ca.time_s - st * a, st};
    p.energy_j = {ca.energy_j - se * a, se};
    prof.pieces.push_back(p);
  }
  return prof;
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
  if (gpu_.roofline == GpuSpec::Roofline::kKernel) return kernel_cost(shape);
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
  if (gpu_.roofline == GpuSpec::Roofline::kKernel) return kernel_decode_profile(batch);
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

double kv_capacity_tokens(const GpuSpec& gpu, const LlmSpec& llm, const Parallelism& par, double memory_headroom_fraction) {
  if (par.dp == 1 && par.tp <= llm.kv_heads && par.redundant_experts == 0) return kv_capacity_tokens(gpu, llm, par.tp, memory_headroom_fraction);
  const double tp = par.tp;
  const double per_gpu_weights = weight_bytes_per_gpu(llm, par);
  const double free_bytes = gpu.memory_gb * 1e9 * (1.0 - memory_headroom_fraction) - per_gpu_weights;
  if (free_bytes <= 0) return -1.0;
  return par.dp * std::floor(free_bytes / (llm.kv_bytes_per_token() / std::min<double>(tp, llm.kv_heads)));
}

double weight_bytes_per_gpu(const LlmSpec& llm, const Parallelism& par) {
  const double expert_bytes = llm.expert_params_b * 1e9 * dtype_bytes(llm.weight_dtype);
  // Redundant experts are extra copies: E + R expert slots over the replica's GPUs.
  const double slots = llm.experts > 0 ? (llm.experts + par.redundant_experts) / static_cast<double>(llm.experts) : 1.0;
  return (llm.weight_bytes() - expert_bytes) / par.tp + expert_bytes * slots / par.gpus();
}

double kv_capacity_tokens(const GpuSpec& gpu, const LlmSpec& llm, int tensor_parallel, double memory_headroom_fraction) {
  const double usable = tensor_parallel * gpu.memory_gb * 1e9 * (1.0 - memory_headroom_fraction);
  const double free_bytes = usable - llm.weight_bytes();
  if (free_bytes <= 0) return -1.0;
  return std::floor(free_bytes / llm.kv_bytes_per_token());
}

}  // namespace chatdc::model
