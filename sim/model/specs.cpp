#include "model/specs.hpp"

namespace chatdc::model {

double dtype_bytes(Dtype d) {
  switch (d) {
    case Dtype::kFp32: return 4.0;
    case Dtype::kFp16:
    case Dtype::kBf16: return 2.0;
    case Dtype::kFp8:
    case Dtype::kInt8: return 1.0;
    case Dtype::kInt4: return 0.5;
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
  }
  return "fp16";
}

bool parse_dtype(const std::string& text, Dtype* out) {
  static const struct { const char* name; Dtype d; } kNames[] = {
      {"fp32", Dtype::kFp32}, {"fp16", Dtype::kFp16}, {"bf16", Dtype::kBf16},
      {"fp8", Dtype::kFp8},   {"int8", Dtype::kInt8}, {"int4", Dtype::kInt4}};
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

double LlmSpec::weight_bytes() const { return total_params_b * 1e9 * dtype_bytes(weight_dtype); }

}  // namespace chatdc::model
