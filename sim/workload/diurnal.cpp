#include "workload/diurnal.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/units.hpp"

namespace chatdc::workload {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// Local hour index (0..23) and weekday of local time L (seconds since local midnight of day 0).
void local_calendar(double local_s, int start_weekday, int* hour, int* weekday) {
  const double day = std::floor(local_s / kSecondsPerDay);
  const double in_day = local_s - day * kSecondsPerDay;
  *hour = std::clamp(static_cast<int>(in_day / kSecondsPerHour), 0, 23);
  const long long wd = (static_cast<long long>(day) + start_weekday) % 7;
  *weekday = static_cast<int>(wd < 0 ? wd + 7 : wd);
}

double next_hour_boundary(double t, double offset_s) {
  const double local = t + offset_s;
  return (std::floor(local / kSecondsPerHour) + 1.0) * kSecondsPerHour - offset_s;
}
}  // namespace

double DemandCurve::rate_at(double t) const {
  double sum = 0;
  for (double w : hourly_weights) sum += w;
  if (sum <= 0) return 0;
  int hour, weekday;
  local_calendar(t + offset_s, start_weekday, &hour, &weekday);
  return requests_per_day * day_of_week[weekday] * hourly_weights[hour] / (sum * kSecondsPerHour);
}

double DemandCurve::expected(double t0, double t1) const {
  double total = 0;
  for (double t = t0; t < t1;) {
    const double end = std::min(t1, next_hour_boundary(t, offset_s));
    total += rate_at(t) * (end - t);
    t = end;
  }
  return total;
}

double weibull_shape_for_cv(double cv) {
  auto cv_of = [](double k) {
    const double g1 = std::tgamma(1.0 + 1.0 / k), g2 = std::tgamma(1.0 + 2.0 / k);
    return std::sqrt(std::max(0.0, g2 / (g1 * g1) - 1.0));
  };
  double lo = 0.08, hi = 60.0;  // cv(0.08) ~ 1e4, cv(60) ~ 0.02; cv decreases with k
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (cv_of(mid) > cv ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

GapSampler::GapSampler(Renewal r) : r_(r) {
  if (r.kind == Renewal::Kind::kGamma) {
    shape_ = 1.0 / (r.cv * r.cv);
    scale_ = r.cv * r.cv;
  } else if (r.kind == Renewal::Kind::kWeibull) {
    shape_ = weibull_shape_for_cv(r.cv);
    scale_ = 1.0 / std::tgamma(1.0 + 1.0 / shape_);
  }
}

double GapSampler::sample(Rng& rng) const {
  switch (r_.kind) {
    case Renewal::Kind::kPoisson: return rng.exponential(1.0);
    case Renewal::Kind::kGamma: return rng.gamma(shape_) * scale_;
    case Renewal::Kind::kWeibull: return rng.weibull(shape_, scale_);
  }
  return 1.0;
}

ArrivalStream::ArrivalStream(const DemandCurve& curve, Renewal renewal, double duration_s, Rng rng)
    : curve_(curve), gaps_(renewal), duration_s_(duration_s), rng_(rng) {
  enter_segment(0.0);
}

void ArrivalStream::enter_segment(double t0) {
  seg_t0_ = t0;
  seg_t1_ = std::min(duration_s_, next_hour_boundary(t0, curve_.offset_s));
  rate_ = curve_.rate_at(t0);
}

double ArrivalStream::next() {
  if (done_) return kInf;
  tau_ += gaps_.sample(rng_);
  for (;;) {
    const double seg_lambda = rate_ * (seg_t1_ - seg_t0_);
    if (rate_ > 0 && tau_ <= lam0_ + seg_lambda) {
      const double t = seg_t0_ + (tau_ - lam0_) / rate_;
      if (t < duration_s_) return t;
    }
    lam0_ += seg_lambda;
    if (seg_t1_ >= duration_s_) {
      done_ = true;
      return kInf;
    }
    enter_segment(seg_t1_);
  }
}

}  // namespace chatdc::workload
