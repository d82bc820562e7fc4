// Pure core: how long one serving step takes on one replica, and how much energy its GPUs draw.
//
// A "step" is one forward pass of the replica's batch: some sequences decode one token each, some
// prompts (or prompt chunks) are prefilled. Implementations: RooflineStepModel (here) and, behind the
// same interface, measured step-time tables.
//
// For a decode-only batch of fixed size B the cost must be piecewise affine in the batch's total
// context C (sum of attended tokens): that is what lets the replica scheduler skip over runs of
// identical decode steps in closed form while staying exact to the iteration.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/expert_parallel.hpp"
#include "model/specs.hpp"

namespace chatdc::model {

/// The shape of one step. Context counts are sums over sequences.
struct StepShape {
  std::uint32_t decode_seqs = 0;
  double decode_context_tokens = 0;   // sum over decoding sequences of tokens attended (incl. the new one)
  std::uint32_t prefill_seqs = 0;
  double prefill_tokens = 0;          // new prompt tokens computed in this step
  double prefill_attention_pairs = 0; // sum over chunks of n*(c + (n+1)/2): query-key pairs
  double prefill_context_tokens = 0;  // sum over chunks of c: earlier KV the chunk reads
};

/// Cost of one step, with its breakdown. Energy is for all GPUs of the replica.
struct StepCost {
  double time_s = 0;
  double energy_j = 0;
  double compute_s = 0;
  double memory_s = 0;
  double comm_s = 0;
  double overhead_s = 0;
};

struct Affine {
  double a = 0, b = 0;
  double at(double x) const { return a + b * x; }
};

/// Decode-only cost for one batch size: pieces sorted by the context where they start
/// (the first starts at 0); each is affine in the total context C.
struct DecodeProfile {
  struct Piece {
    double context_from = 0;
    Affine time_s;
    Affine energy_j;
  };
  std::vector<Piece> pieces;
  /// The piece covering context C.
  const Piece& piece_at(double context) const;
  double time_at(double context) const { return piece_at(context).time_s.at(context); }
  double energy_at(double context) const { return piece_at(context).energy_j.at(context); }
};

class StepModel {
 public:
  virtual ~StepModel() = default;
  virtual StepCost cost(const StepShape& shape) const = 0;
  virtual DecodeProfile decode_profile(std::uint32_t batch) const = 0;
  /// GPUs in one replica (tensor-parallel degree).
  virtual int gpus() const = 0;
  /// Power of one idle GPU, W.
  virtual double idle_power_w() const = 0;
};

/// How a replica's GPUs split the work: tensor parallelism `tp` inside each attention group,
/// `dp` attention data-parallel groups (each holds its own sequences and their KV cache), and the
/// routed experts spread over `ep` of the replica's tp * dp GPUs (each expert sliced over the
/// remaining tp * dp / ep). A replica has tp * dp GPUs.
///
/// A replica may span `nodes` servers (a deployment unit): attention data parallelism and expert
/// parallelism across them (tensor parallelism stays inside a server), `redundant_experts` extra
/// copies of the most loaded experts (E + R expert slots spread over the ep GPUs), the dispatch and
/// combine over the servers' network (`network_gb_per_s` per GPU and direction, achieved) and NVLink,
/// overlapped with the rest of the step's kernels (two micro-batches in prefill, a pipeline in
/// decode: README "Deployment units spanning servers").
struct Parallelism {
  int tp = 1;
  int ep = 1;
  int dp = 1;
  int nodes = 1;
  int redundant_experts = 0;
  double network_gb_per_s = 0;   // per GPU, achieved (units spanning servers)
  double network_latency_us = 0; // one dispatch or combine over the network: the route's latency
  int gpus() const { return tp * dp; }
  bool spans_servers() const { return nodes > 1; }
};

/// Roofline step model. Two formulas, chosen by the efficiency profile (GpuSpec::roofline):
///
/// kStep (the 2023 profiles): step = overhead + all-reduce + max(compute, memory) + w * min(compute, memory), with
///   compute = 2 * active_params * (T + n_half) / (tp * peak * eff_c) + 4 * L * d_q * pairs / (tp * peak_bf16 * eff_attn)
///   memory  = (weights_read(T) + kv_bytes * T) / (tp * hbm_bw * eff_m) + kv_bytes * context_read / (tp * hbm_bw * eff_kv)
///   allreduce = 2 * L * 2 (tp-1) * (hop_latency + T * hidden * 2 B / (tp * link_bw * eff_link))
/// and energy = tp * [P_idle * overhead + P_mem * comm + active], where active is
///   P_mem * memory + (P_comp - P_mem) * compute when memory-bound, P_comp * compute otherwise.
///
/// kKernel (today's engines): every class of kernel is its own roofline max(FLOPs / achieved peak,
/// bytes / achieved bandwidth) and they run one after the other: dense linear layers, the output
/// head, grouped expert GEMMs (expected distinct experts read, expected busiest GPU's tokens
/// computed), decode attention (KV read), prefill attention (FLOPs), tensor-parallel all-reduces,
/// expert-parallel all-to-alls (each a fixed latency plus bytes over the link) and a fixed time per layer. The CPU's scheduling time overlaps the
/// GPU's by cpu_overlap: step = gpu + cpu - overlap * min(gpu, cpu).
/// Equations, units and sources: README, "Step time".
class RooflineStepModel final : public StepModel {
 public:
  RooflineStepModel(const GpuSpec& gpu, const LlmSpec& llm, int tensor_parallel);
  RooflineStepModel(const GpuSpec& gpu, const LlmSpec& llm, const Parallelism& par);
  StepCost cost(const StepShape& shape) const override;
  DecodeProfile decode_profile(std::uint32_t batch) const override;
  int gpus() const override { return par_.gpus(); }
  double idle_power_w() const override { return gpu_.idle_power_w; }

  /// Bytes of weights read in a step touching `tokens` tokens (MoE: expected distinct experts), whole replica.
  double weight_bytes_read(double tokens) const;
  /// Peak dense FLOP/s per GPU for the linear layers, given the weight dtype.
  double linear_peak_flops() const { return linear_peak_flops_; }
  const Parallelism& parallelism() const { return par_; }

  /// The kernel-level step's parts, per GPU of the replica (s): for tests and `chatdc model`.
  struct Kernels {
    double dense_s = 0, head_s = 0, experts_s = 0, decode_attention_s = 0, prefill_attention_s = 0;
    double allreduce_s = 0, alltoall_s = 0, layers_s = 0;  // alltoall_s: the part not hidden behind the others
    double alltoall_total_s = 0;                          // the whole dispatch + combine (units spanning servers)
    double gpu_s = 0, cpu_s = 0, time_s = 0;
    double compute_bound_s = 0, memory_bound_s = 0;  // of the roofline kernels, by what bounds them
    double compute_part_s = 0;                       // compute time hidden inside memory-bound kernels
  };
  Kernels kernels(const StepShape& s) const;

 private:
  struct Parts {
    double compute_s, memory_s, comm_s, overhead_s;
  };
  Parts parts(const StepShape& s) const;
  double energy(const Parts& p) const;
  double kernel_energy(const Kernels& k) const;
  StepCost kernel_cost(const StepShape& s) const;
  void init_kernels();
  DecodeProfile kernel_decode_profile(std::uint32_t batch) const;

  GpuSpec gpu_;
  LlmSpec llm_;
  Parallelism par_;
  int tp_;
  double linear_peak_flops_;   // FLOP/s per GPU
  double attn_peak_flops_;     // FLOP/s per GPU
  double hbm_bytes_per_s_;     // achieved, whole replica
  double kv_bytes_per_token_;
  double attn_flops_per_pair_; // 4 * L * d_q
  // Kernel roofline constants (per GPU).
  struct KernelConsts {
    double dense_flops_per_token = 0, dense_bytes = 0, dense_peak = 0;
    double head_flops_per_token = 0, head_bytes = 0;
    double expert_flops_per_assignment = 0, expert_bytes_per_expert = 0, expert_peak = 0, experts_per_gpu = 0;
    double kv_bytes_per_token = 0;   // per GPU: KV of one token of its group's sequences
    double swa_share = 0, swa_tokens = 0;
    double attn_flops_per_pair = 0;  // per GPU
    double bw = 0, bw_kv = 0;        // achieved bytes/s per GPU (weights, KV reads)
    double allreduce_fixed_s = 0, allreduce_s_per_token = 0;
    double alltoall_fixed_s = 0, alltoall_s_per_assignment = 0;
    double expert_slots = 0;         // E + redundant experts
    double layers_s = 0;
  } k_;
  AllToAllSpec a2a_;  // units spanning servers
};

/// Tokens of KV cache a replica can hold: (tp * memory * (1 - headroom) - weights) / kv_bytes_per_token.
/// Returns a negative number when the weights alone do not fit.
double kv_capacity_tokens(const GpuSpec& gpu, const LlmSpec& llm, int tensor_parallel, double memory_headroom_fraction);
/// The same with expert and attention data parallelism, and with the KV cache replicated where the
/// model has fewer KV heads than tp (multi-head latent attention has one): per GPU, memory * (1 -
/// headroom) minus its share of the weights (dense layers split by tp, experts by tp * dp) holds
/// tokens of kv_bytes_per_token / min(tp, kv_heads) each; the replica holds dp groups of them.
/// With tp <= kv_heads and ep = dp = 1 it equals the function above.
double kv_capacity_tokens(const GpuSpec& gpu, const LlmSpec& llm, const Parallelism& par, double memory_headroom_fraction);
/// Weight bytes one GPU of the replica holds: the non-expert weights over tp, the E + R expert slots over all GPUs.
double weight_bytes_per_gpu(const LlmSpec& llm, const Parallelism& par);

}  // namespace chatdc::model
