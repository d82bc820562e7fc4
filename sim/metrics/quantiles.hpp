// Pure core: mean and quantiles of a stream of non-negative values (latencies, s).
//
// Exact mode keeps every value (4 bytes each) and interpolates linearly between order statistics
// (numpy's default). Sketch mode keeps a fixed array of log-linear buckets (HDR-histogram style):
// each power of two is split into 128 equal sub-buckets, found from the value's IEEE exponent and
// mantissa bits (no logarithm), and a bucket answers with its midpoint, so any quantile is within
// kSketchRelativeError (1/256 < 0.4%) of an order statistic of rank floor(q (n-1)) or its neighbour,
// in a few tens of KiB whatever the count. Values below the range count as zero; values above are
// clamped (never reached by latencies). Sets of the same mode and range merge exactly: the sum behind
// the mean is kept in fixed point (units of 2^-32 s, 128 bits), so it does not depend on the order in
// which values were added or sets merged (a day split into shards merges to the same bytes).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace chatdc::metrics {

inline constexpr double kSketchRelativeError = 1.0 / 256;

class Quantiles {
 public:
  enum class Mode { kExact, kSketch };
  explicit Quantiles(Mode mode = Mode::kExact);
  /// A sketch over [min_value, max_value] (powers of two are a good choice).
  Quantiles(Mode mode, double min_value, double max_value);

  void add(double x) {
    if (!(x >= 0)) x = 0;  // negative only through rounding noise
    ++n_;
    sum_ += to_fixed(x);
    if (x > max_) max_ = x;
    if (mode_ == Mode::kExact)
      values_.push_back(static_cast<float>(x));
    else
      add_to_bucket(x);
  }
  /// Adds every value of `other` (same mode and range).
  void merge(const Quantiles& other);
  std::uint64_t count() const { return n_; }
  double mean() const;
  double max() const { return max_; }
  /// q in [0, 1]. Exact mode partially reorders the stored values (selection, O(n)).
  double quantile(double q);
  Mode mode() const { return mode_; }
  bool same_shape(const Quantiles& o) const { return mode_ == o.mode_ && min_value_ == o.min_value_ && max_value_ == o.max_value_; }

  /// Everything the set holds, for merging in another process (exact: every value, as float bits;
  /// sketch: the non-empty buckets). load() adds a saved set to this one (same mode and range).
  void save(std::vector<std::uint64_t>* words, std::vector<float>* values) const;
  /// Reads what save() wrote, starting at words[*pos] (advanced); adds it to this set. False when malformed.
  bool add_saved(const std::vector<std::uint64_t>& words, std::size_t* pos, const std::vector<float>& values,
                 std::size_t* value_pos);

 private:
  static constexpr int kSubBits = 7;  // 128 sub-buckets per power of two
  __extension__ using Fixed = unsigned __int128;
  static constexpr int kFixedBits = 32;  // the sum's unit: 2^-32 s (0.23 ns)
  static Fixed to_fixed(double x) {
    return static_cast<Fixed>(std::llround(std::ldexp(x < 0x1p30 ? x : 0x1p30, kFixedBits)));
  }
  void add_to_bucket(double x);
  double value_of(std::size_t bucket) const;

  Mode mode_;
  std::uint64_t n_ = 0;
  Fixed sum_ = 0;
  double max_ = 0;
  std::vector<float> values_;  // exact
  std::vector<std::uint64_t> buckets_;  // sketch
  std::uint64_t zeros_ = 0;
  int min_exp_ = 0, max_exp_ = 0;  // binary exponents of the range
  double min_value_ = 0, max_value_ = 0;
};

}  // namespace chatdc::metrics
