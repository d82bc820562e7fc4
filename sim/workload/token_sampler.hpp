// Pure core: prompt and output token lengths.
//   fixed:      always `value`
//   lognormal:  exp(ln(median) + sigma * N(0,1)), rounded, clamped to [min, max]
//   empirical:  uniform draw from a list of observed lengths (e.g. a trace's column), clamped
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.hpp"

namespace chatdc::workload {

struct TokenDist {
  enum class Kind { kFixed, kLognormal, kEmpirical };
  Kind kind = Kind::kFixed;
  double value = 1;     // fixed
  double median = 1;    // lognormal
  double sigma = 0;     // lognormal, std-dev of ln(length)
  std::uint32_t min_tokens = 1;
  std::uint32_t max_tokens = 1u << 20;
  std::vector<std::uint32_t> samples;  // empirical
};

class TokenSampler {
 public:
  explicit TokenSampler(TokenDist dist) : d_(std::move(dist)) {}
  std::uint32_t sample(Rng& rng) const;
  /// The same distribution without rounding (for durations such as think times), clamped to [min, max].
  double sample_real(Rng& rng) const;
  /// Mean of the clamped distribution (exact for fixed/empirical, numerical for lognormal).
  double mean() const;
  const TokenDist& dist() const { return d_; }

 private:
  std::uint32_t clamp(double x) const;
  TokenDist d_;
};

}  // namespace chatdc::workload
