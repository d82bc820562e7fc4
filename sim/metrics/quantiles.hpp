// Pure core: mean and quantiles of a stream of non-negative values (latencies, s).
//
// Exact mode keeps every value (4 bytes each) and interpolates linearly between order statistics
// (numpy's default). Sketch mode keeps a fixed array of logarithmic buckets (DDSketch,
// Masson et al. 2019): any quantile is returned within a relative error of kSketchRelativeError of
// the order statistic of rank floor(q*(n-1)) or its neighbour, in ~26 KiB whatever the count.
// Values below 1e-7 count as zero; values above 1e7 are clamped (never reached by latencies).
#pragma once
#include <cstdint>
#include <vector>

namespace chatdc::metrics {

inline constexpr double kSketchRelativeError = 0.005;

class Quantiles {
 public:
  enum class Mode { kExact, kSketch };
  explicit Quantiles(Mode mode = Mode::kExact);
  /// A sketch with its own accuracy and range (values outside are clamped).
  Quantiles(double relative_error, double min_value, double max_value);

  void add(double x);
  std::uint64_t count() const { return n_; }
  double mean() const { return n_ ? sum_ / static_cast<double>(n_) : 0.0; }
  double max() const { return max_; }
  /// q in [0, 1]. Exact mode sorts the stored values on first call after an add.
  double quantile(double q);
  Mode mode() const { return mode_; }

 private:
  int bucket_of(double x) const;
  double value_of(int bucket) const;

  Mode mode_;
  std::uint64_t n_ = 0;
  double sum_ = 0, max_ = 0;
  std::vector<float> values_;  // exact
  bool sorted_ = true;
  std::vector<std::uint64_t> buckets_;  // sketch
  std::uint64_t zeros_ = 0;
  double log_gamma_ = 0;
  int offset_ = 0;
  double min_value_ = 1e-7, max_value_ = 1e7;
};

}  // namespace chatdc::metrics
