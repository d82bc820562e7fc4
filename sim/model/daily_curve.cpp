#include "model/daily_curve.hpp"

#include <algorithm>
#include <cmath>

#include "core/units.hpp"

namespace chatdc::model {

DailyCurve::DailyCurve(std::vector<Segment> segments) : segments_(std::move(segments)) {
  if (segments_.empty()) segments_.push_back({0.0, 0.0});
}

DailyCurve DailyCurve::hourly(const std::vector<double>& values) {
  std::vector<Segment> s;
  for (std::size_t h = 0; h < values.size(); ++h) s.push_back({static_cast<double>(h), values[h]});
  return DailyCurve(std::move(s));
}

double DailyCurve::at_local_hour(double hour) const {
  hour -= 24.0 * std::floor(hour / 24.0);
  std::size_t i = segments_.size() - 1;
  while (i > 0 && segments_[i].from_h > hour) --i;
  return segments_[i].value;
}

double DailyCurve::at(double t, double offset_s) const { return at_local_hour((t + offset_s) / kSecondsPerHour); }

double DailyCurve::mean(double t0, double t1, double offset_s) const {
  if (t1 <= t0) return at(t0, offset_s);
  if (is_constant()) return segments_[0].value;
  double total = 0;
  double t = t0;
  while (t < t1) {
    // The segment holding local time t (a hair of tolerance so that a breakpoint reached by
    // rounding counts as the start of the next segment), and the run time where it ends.
    const double local_h = (t + offset_s) / kSecondsPerHour;
    const double day_h = 24.0 * std::floor(local_h / 24.0);
    const double h = local_h - day_h + 1e-9;
    std::size_t i = segments_.size() - 1;
    while (i > 0 && segments_[i].from_h > h) --i;
    const double next_h = i + 1 < segments_.size() ? segments_[i + 1].from_h : 24.0;
    const double end = std::min(t1, std::max((day_h + next_h) * kSecondsPerHour - offset_s, t + 1e-9));
    total += segments_[i].value * (end - t);
    t = end;
  }
  return total / (t1 - t0);
}

}  // namespace chatdc::model
