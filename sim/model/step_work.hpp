// Pure core: the work one serving step does on a replica, in FLOPs and HBM bytes. A property of the
// model and of the step's shape, not of the engine's efficiency: it is what MFU and MBU divide by the
// hardware's peaks (README, "Utilization: MFU and MBU").
//
// For a step of T new tokens (prompt tokens plus one per decoding sequence), decode context C and
// prefill query-key pairs A (StepShape):
//   flops     = 2 * N_active * T + 4 * L * d_attn * (C + A)
//   hbm_bytes = W(T) + b_kv * T + b_kv * (C + sum of c)
// the same terms as the roofline step model's compute and memory times, without its efficiencies or
// its GEMM half-performance length: dense linear layers (2 FLOPs per active weight and token),
// attention scores and weighted values, the weights read once per step (mixture-of-experts: only the
// experts the step's tokens are expected to touch), the new tokens' KV written and the earlier KV read.
// Activations and all-reduce traffic are left out, as in the usual definitions of MFU and MBU. Weights
// and KV are sharded over the tensor-parallel group, so the replica's total does not depend on it.
//
// For a decode-only batch of B sequences both are affine in C (DecodeWork), so the work of a run of
// decode steps, where step j attends C0 + B*j tokens, is a closed-form sum (sum_run()).
#pragma once
#include <cstdint>

#include "model/specs.hpp"
#include "model/step_model.hpp"

namespace chatdc::model {

struct StepWork {
  double flops = 0;      // FLOPs, all GPUs of the replica
  double hbm_bytes = 0;  // bytes read from and written to HBM, all GPUs of the replica
  StepWork& operator+=(const StepWork& o) {
    flops += o.flops;
    hbm_bytes += o.hbm_bytes;
    return *this;
  }
};

/// Decode-only work of a batch of fixed size, affine in the batch's total context C.
struct DecodeWork {
  Affine flops, hbm_bytes;
  StepWork at(double context) const { return {flops.at(context), hbm_bytes.at(context)}; }
  /// Steps 0..n-1 of a run whose step j attends context0 + batch * j tokens.
  StepWork sum_run(double context0, double batch, double n) const;
};

/// Bytes of weights read by a step over `tokens` tokens: all of them for a dense model; for a
/// mixture of experts, the shared weights plus each expert with probability 1 - (1 - k/E)^tokens.
double weights_read_bytes(const LlmSpec& llm, double tokens);

/// The work of one step (whole replica).
StepWork step_work(const LlmSpec& llm, const StepShape& shape);

/// The same, with the model's constants computed once (the replicas' hot path).
class StepWorkModel {
 public:
  explicit StepWorkModel(const LlmSpec& llm);
  StepWork work(const StepShape& shape) const;
  DecodeWork decode(std::uint32_t batch) const;

 private:
  LlmSpec llm_;
  double flops_per_token_, flops_per_pair_, kv_bytes_per_token_;
};

}  // namespace chatdc::model
