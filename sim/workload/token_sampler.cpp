#include "workload/token_sampler.hpp"

#include <algorithm>
#include <cmath>

namespace chatdc::workload {

std::uint32_t TokenSampler::clamp(double x) const {
  const double r = std::nearbyint(x);
  if (!(r >= d_.min_tokens)) return d_.min_tokens;
  if (r >= d_.max_tokens) return d_.max_tokens;
  return static_cast<std::uint32_t>(r);
}

std::uint32_t TokenSampler::sample(Rng& rng) const {
  switch (d_.kind) {
    case TokenDist::Kind::kFixed:
      return clamp(d_.value);
    case TokenDist::Kind::kLognormal:
      return clamp(d_.median * std::exp(d_.sigma * rng.normal()));
    case TokenDist::Kind::kEmpirical:
      return clamp(d_.samples[rng.below(d_.samples.size())]);
  }
  return d_.min_tokens;
}

double TokenSampler::sample_real(Rng& rng) const {
  double x = d_.value;
  if (d_.kind == TokenDist::Kind::kLognormal) x = d_.median * std::exp(d_.sigma * rng.normal());
  if (d_.kind == TokenDist::Kind::kEmpirical) x = d_.samples[rng.below(d_.samples.size())];
  return std::clamp(x, static_cast<double>(d_.min_tokens), static_cast<double>(d_.max_tokens));
}

double TokenSampler::mean() const {
  switch (d_.kind) {
    case TokenDist::Kind::kFixed:
      return clamp(d_.value);
    case TokenDist::Kind::kEmpirical: {
      double s = 0;
      for (auto v : d_.samples) s += clamp(v);
      return d_.samples.empty() ? 0.0 : s / d_.samples.size();
    }
    case TokenDist::Kind::kLognormal: {
      // Integrate the clamped, rounded lognormal over a fine grid of the standard normal.
      const int n = 4001;
      double s = 0, w = 0;
      for (int i = 0; i < n; ++i) {
        const double z = -8.0 + 16.0 * i / (n - 1);
        const double pdf = std::exp(-0.5 * z * z);
        s += pdf * clamp(d_.median * std::exp(d_.sigma * z));
        w += pdf;
      }
      return s / w;
    }
  }
  return 0;
}

}  // namespace chatdc::workload
