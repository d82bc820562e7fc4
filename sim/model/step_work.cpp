#include "model/step_work.hpp"

#include <cmath>

namespace chatdc::model {

StepWork DecodeWork::sum_run(double c0, double b, double n) const {
  // sum_{j<n} (a + s * (c0 + b*j)) = n * (a + s*c0) + s * b * n(n-1)/2
  const double pairs = b * n * (n - 1.0) * 0.5;
  return {n * flops.at(c0) + flops.b * pairs, n * hbm_bytes.at(c0) + hbm_bytes.b * pairs};
}

double weights_read_bytes(const LlmSpec& llm, double tokens) {
  const double wb = dtype_bytes(llm.weight_dtype);
  if (!llm.is_moe()) return llm.total_params_b * 1e9 * wb;
  const double shared = (llm.total_params_b - llm.expert_params_b) * 1e9 * wb;
  const double untouched = std::pow(1.0 - static_cast<double>(llm.experts_per_token) / llm.experts, tokens);
  return shared + llm.expert_params_b * 1e9 * wb * (1.0 - untouched);
}

StepWorkModel::StepWorkModel(const LlmSpec& llm)
    : llm_(llm),
      flops_per_token_(2.0 * llm.active_params_b * 1e9),
      flops_per_pair_(llm.attention_flops_per_pair()),
      kv_bytes_per_token_(llm.kv_bytes_per_token()) {}

StepWork StepWorkModel::work(const StepShape& s) const {
  const double tokens = s.prefill_tokens + s.decode_seqs;
  StepWork w;
  w.flops = flops_per_token_ * tokens + flops_per_pair_ * (s.decode_context_tokens + s.prefill_attention_pairs);
  w.hbm_bytes = weights_read_bytes(llm_, tokens) +
                kv_bytes_per_token_ * (tokens + s.decode_context_tokens + s.prefill_context_tokens);
  return w;
}

DecodeWork StepWorkModel::decode(std::uint32_t batch) const {
  const double b = batch;
  DecodeWork d;
  d.flops = {flops_per_token_ * b, flops_per_pair_};
  d.hbm_bytes = {weights_read_bytes(llm_, b) + kv_bytes_per_token_ * b, kv_bytes_per_token_};
  return d;
}

StepWork step_work(const LlmSpec& llm, const StepShape& shape) { return StepWorkModel(llm).work(shape); }

}  // namespace chatdc::model
