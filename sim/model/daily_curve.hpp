// Pure core: a quantity that depends on the local time of day (electricity price, PUE, grid carbon
// intensity): piecewise constant over [0, 24) local hours, repeated every day.
#pragma once
#include <vector>

namespace chatdc::model {

class DailyCurve {
 public:
  struct Segment {
    double from_h;  // local hour where this value starts; segments are sorted, the first at 0
    double value;
  };
  DailyCurve() : segments_{{0.0, 0.0}} {}
  static DailyCurve constant(double value) { return DailyCurve({{0.0, value}}); }
  /// 24 values, one per local hour.
  static DailyCurve hourly(const std::vector<double>& values);
  explicit DailyCurve(std::vector<Segment> segments);

  double at_local_hour(double hour) const;
  /// Value at run time t for a place whose local time is t + offset_s.
  double at(double t, double offset_s) const;
  /// Time-weighted mean over run times [t0, t1).
  double mean(double t0, double t1, double offset_s) const;
  bool is_constant() const { return segments_.size() == 1; }
  const std::vector<Segment>& segments() const { return segments_; }

 private:
  std::vector<Segment> segments_;
};

}  // namespace chatdc::model
