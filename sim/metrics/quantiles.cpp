#include "metrics/quantiles.hpp"

#include <algorithm>
#include <cmath>

namespace chatdc::metrics {

Quantiles::Quantiles(Mode mode) : mode_(mode) {
  if (mode_ == Mode::kSketch) *this = Quantiles(kSketchRelativeError, 1e-7, 1e7);
}

Quantiles::Quantiles(double relative_error, double min_value, double max_value)
    : mode_(Mode::kSketch), min_value_(min_value), max_value_(max_value) {
  const double gamma = (1.0 + relative_error) / (1.0 - relative_error);
  log_gamma_ = std::log(gamma);
  offset_ = static_cast<int>(std::floor(std::log(min_value_) / log_gamma_));
  const int last = static_cast<int>(std::ceil(std::log(max_value_) / log_gamma_));
  buckets_.assign(static_cast<std::size_t>(last - offset_ + 1), 0);
}

int Quantiles::bucket_of(double x) const {
  const int i = static_cast<int>(std::ceil(std::log(std::min(x, max_value_)) / log_gamma_)) - offset_;
  return std::clamp(i, 0, static_cast<int>(buckets_.size()) - 1);
}

double Quantiles::value_of(int bucket) const {
  const double gamma = std::exp(log_gamma_);
  return 2.0 * std::exp((bucket + offset_) * log_gamma_) / (gamma + 1.0);
}

void Quantiles::add(double x) {
  if (!(x >= 0)) x = 0;  // negative only through rounding noise
  ++n_;
  sum_ += x;
  max_ = std::max(max_, x);
  if (mode_ == Mode::kExact) {
    values_.push_back(static_cast<float>(x));
    sorted_ = false;
  } else if (x < min_value_) {
    ++zeros_;
  } else {
    ++buckets_[bucket_of(x)];
  }
}

double Quantiles::quantile(double q) {
  if (n_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  if (mode_ == Mode::kExact) {
    if (!sorted_) {
      std::sort(values_.begin(), values_.end());
      sorted_ = true;
    }
    const double pos = q * static_cast<double>(n_ - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, values_.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return values_[lo] + frac * (static_cast<double>(values_[hi]) - values_[lo]);
  }
  const auto rank = static_cast<std::uint64_t>(std::floor(q * static_cast<double>(n_ - 1)));
  std::uint64_t seen = zeros_;
  if (rank < seen) return 0.0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (rank < seen) return std::min(value_of(static_cast<int>(i)), max_);
  }
  return max_;
}

}  // namespace chatdc::metrics
