#include "model/specs.hpp"

#include <algorithm>

namespace chatdc::model {

double dtype_bytes(Dtype d) {
  switch (d) {
    case Dtype::kFp32: return 4.0;
    case Dtype::kFp16:
    case Dtype::kBf16: return 2.0;
    case Dtype::kFp8:
    case Dtype::kInt8: return 1.0;
    case Dtype::kInt4: return 0.5;
    case Dtype::kFp4: return 4.5 / 8;    // e2m1 + one FP8 scale per 16 values
    case Dtype::kMxfp4: return 4.25 / 8; // e2m1 + one E8M0 scale per 32 values
  }
  return 2.0;
}

const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::kFp32: return "fp32";
    case Dtype::kFp16: return "fp16";
    case Dtype::kBf16: return "bf16";
    case Dtype::kFp8: return "fp8";
    case Dtype::kInt8: return "int8";
    case Dtype::kInt4: return "int4";
    case Dtype::kFp4: return "fp4";
    case Dtype::kMxfp4: return "mxfp4";
  }
  return "fp16";
}

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"fp32", "fp16", "bf16", "fp8", "int8", "int4", "fp4", "mxfp4"};
  return names;
}

bool is_4bit(Dtype d) { return d == Dtype::kInt4 || d == Dtype::kFp4 || d == Dtype::kMxfp4; }

bool parse_dtype(const std::string& text, Dtype* out) {
  static const struct { const char* name; Dtype d; } kNames[] = {
      {"fp32", Dtype::kFp32}, {"fp16", Dtype::kFp16}, {"bf16", Dtype::kBf16},
      {"fp8", Dtype::kFp8},   {"int8", Dtype::kInt8}, {"int4", Dtype::kInt4},
      {"fp4", Dtype::kFp4},   {"mxfp4", Dtype::kMxfp4}};
  for (const auto& n : kNames)
    if (text == n.name) {
      *out = n.d;
      return true;
    }
  return false;
}

double LlmSpec::kv_bytes_per_token() const {
  const double per_layer = kv_elements_per_token_per_layer > 0 ? kv_elements_per_token_per_layer
                                                               : 2.0 * kv_heads * head_dim;  // K and V
  return layers * per_layer * dtype_bytes(kv_dtype);
}

double LlmSpec::attention_flops_per_pair() const {
  const double width = attention_dim > 0 ? attention_dim : static_cast<double>(attention_heads) * head_dim;
  return 4.0 * layers * width;  // 2 FLOPs per multiply-add, for Q.K and for the weighted sum of V
}

double LlmSpec::dense_params_b() const {
  const double embeddings = head_params_b() * (tied_embeddings ? 1 : 2);
  return std::max(0.0, total_params_b - expert_params_b - embeddings);
}

double LlmSpec::weight_bytes() const {
  if (!dense_weight_dtype) return total_params_b * 1e9 * dtype_bytes(weight_dtype);
  return (total_params_b - expert_params_b) * 1e9 * dtype_bytes(*dense_weight_dtype) + expert_params_b * 1e9 * dtype_bytes(weight_dtype);
}

}  // namespace chatdc::model
