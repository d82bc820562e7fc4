#include "metrics/quantiles.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace chatdc::metrics {

Quantiles::Quantiles(Mode mode) : Quantiles(mode, std::ldexp(1.0, -24), std::ldexp(1.0, 24)) {}

Quantiles::Quantiles(Mode mode, double min_value, double max_value)
    : mode_(mode), min_value_(min_value), max_value_(max_value) {
  if (mode_ != Mode::kSketch) return;
  std::frexp(min_value, &min_exp_);
  std::frexp(max_value, &max_exp_);
  buckets_.assign(static_cast<std::size_t>(max_exp_ - min_exp_ + 1) << kSubBits, 0);
}

void Quantiles::add_to_bucket(double x) {
  if (x < min_value_) {
    ++zeros_;
    return;
  }
  if (x > max_value_) x = max_value_;
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int exp = static_cast<int>((bits >> 52) & 0x7FF) - 1022;  // x = m * 2^exp, m in [0.5, 1)
  const auto sub = static_cast<std::size_t>((bits >> (52 - kSubBits)) & ((1u << kSubBits) - 1));
  ++buckets_[(static_cast<std::size_t>(exp - min_exp_) << kSubBits) | sub];
}

double Quantiles::value_of(std::size_t bucket) const {
  const int exp = static_cast<int>(bucket >> kSubBits) + min_exp_;
  const double sub = static_cast<double>(bucket & ((1u << kSubBits) - 1));
  // Bucket [0.5 + sub/256, 0.5 + (sub+1)/256) x 2^exp: answer its midpoint.
  return std::ldexp(0.5 + (sub + 0.5) / (2 << kSubBits), exp);
}

void Quantiles::merge(const Quantiles& o) {
  assert(o.mode_ == mode_);
  n_ += o.n_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
  if (mode_ == Mode::kExact) {
    values_.insert(values_.end(), o.values_.begin(), o.values_.end());
  } else {
    assert(o.buckets_.size() == buckets_.size());
    zeros_ += o.zeros_;
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  }
}

double Quantiles::quantile(double q) {
  if (n_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  if (mode_ == Mode::kExact) {
    // Selection, not sorting: O(n) per quantile asked.
    const double pos = q * static_cast<double>(n_ - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    std::nth_element(values_.begin(), values_.begin() + static_cast<std::ptrdiff_t>(lo), values_.end());
    const double v_lo = values_[lo];
    const double frac = pos - static_cast<double>(lo);
    if (frac == 0 || lo + 1 >= values_.size()) return v_lo;
    const double v_hi = *std::min_element(values_.begin() + static_cast<std::ptrdiff_t>(lo) + 1, values_.end());
    return v_lo + frac * (v_hi - v_lo);
  }
  const auto rank = static_cast<std::uint64_t>(std::floor(q * static_cast<double>(n_ - 1)));
  std::uint64_t seen = zeros_;
  if (rank < seen) return 0.0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (rank < seen) return std::min(value_of(i), max_);
  }
  return max_;
}

}  // namespace chatdc::metrics

namespace chatdc::metrics {

double Quantiles::mean() const {
  if (n_ == 0) return 0.0;
  return static_cast<double>(std::ldexp(static_cast<long double>(sum_), -kFixedBits) / static_cast<long double>(n_));
}

void Quantiles::save(std::vector<std::uint64_t>* w, std::vector<float>* values) const {
  std::uint64_t max_bits;
  std::memcpy(&max_bits, &max_, sizeof max_bits);
  w->insert(w->end(), {mode_ == Mode::kExact ? 0u : 1u, n_, static_cast<std::uint64_t>(sum_),
                       static_cast<std::uint64_t>(sum_ >> 64), max_bits, zeros_});
  if (mode_ == Mode::kExact) {
    values->insert(values->end(), values_.begin(), values_.end());
    return;
  }
  std::uint64_t nonzero = 0;
  for (const auto b : buckets_) nonzero += b != 0;
  w->push_back(nonzero);
  for (std::size_t i = 0; i < buckets_.size(); ++i)
    if (buckets_[i] != 0) w->insert(w->end(), {static_cast<std::uint64_t>(i), buckets_[i]});
}

bool Quantiles::add_saved(const std::vector<std::uint64_t>& w, std::size_t* pos, const std::vector<float>& values,
                          std::size_t* value_pos) {
  std::size_t p = *pos;
  if (p + 6 > w.size() || w[p] != (mode_ == Mode::kExact ? 0u : 1u)) return false;
  const std::uint64_t n = w[p + 1];
  const Fixed sum = static_cast<Fixed>(w[p + 2]) | (static_cast<Fixed>(w[p + 3]) << 64);
  double mx;
  std::memcpy(&mx, &w[p + 4], sizeof mx);
  const std::uint64_t zeros = w[p + 5];
  p += 6;
  if (mode_ == Mode::kExact) {
    if (*value_pos + n > values.size()) return false;
    values_.insert(values_.end(), values.begin() + static_cast<std::ptrdiff_t>(*value_pos),
                   values.begin() + static_cast<std::ptrdiff_t>(*value_pos + n));
    *value_pos += n;
  } else {
    if (p >= w.size()) return false;
    const std::uint64_t nonzero = w[p++];
    if (nonzero > buckets_.size() || p + 2 * nonzero > w.size()) return false;
    std::uint64_t counted = zeros;
    for (std::uint64_t k = 0; k < nonzero; ++k, p += 2) {
      if (w[p] >= buckets_.size()) return false;
      buckets_[w[p]] += w[p + 1];
      counted += w[p + 1];
    }
    if (counted != n) return false;
    zeros_ += zeros;
  }
  n_ += n;
  sum_ += sum;
  max_ = std::max(max_, mx);
  *pos = p;
  return true;
}

}  // namespace chatdc::metrics
