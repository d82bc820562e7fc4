#include "operations/forecast.hpp"

#include <algorithm>

namespace chatdc::operations {

double CurveForecast::requests(double t0, double t1) {
  double n = 0;
  for (const auto& c : curves_) n += c.expected(t0, t1);
  return n * scale_;
}

double SourceForecast::requests(double t0, double t1) {
  while (twin_->peek_time() < t1) times_.push_back(twin_->pop().time_s);
  const auto lo = std::lower_bound(times_.begin(), times_.end(), t0);
  const auto hi = std::lower_bound(lo, times_.end(), t1);
  return static_cast<double>(hi - lo);
}

void SourceForecast::forget_before(double now) {
  while (!times_.empty() && times_.front() < now) times_.pop_front();
}

}  // namespace chatdc::operations
