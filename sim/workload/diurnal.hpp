// Pure core: diurnal arrivals of one user region.
//
// Rate (requests/s) at run time t, with local time L = t + offset_s:
//   rate(t) = requests_per_day * day_of_week[weekday(L)] * w[hour(L)] / (sum(w) * 3600)
// so a day with factor 1 carries exactly requests_per_day in expectation.
// Arrivals come from a unit-rate renewal process mapped through the cumulative rate
// Lambda(t) (time rescaling): Poisson (exponential gaps), or Gamma / Weibull gaps with a given
// coefficient of variation for burstier or smoother traffic.
#pragma once
#include <array>
#include <cstdint>

#include "core/rng.hpp"

namespace chatdc::workload {

struct DemandCurve {
  double requests_per_day = 0;
  double offset_s = 0;                  // local time minus run time
  std::array<double, 24> hourly_weights{};  // by local hour; any positive scale
  std::array<double, 7> day_of_week{1, 1, 1, 1, 1, 1, 1};  // by local weekday, Monday first
  int start_weekday = 0;                // local weekday of local day 0 (0 = Monday)

  /// Requests per second at run time t.
  double rate_at(double t) const;
  /// Expected requests in [t0, t1).
  double expected(double t0, double t1) const;
};

struct Renewal {
  enum class Kind { kPoisson, kGamma, kWeibull };
  Kind kind = Kind::kPoisson;
  double cv = 1.0;  // coefficient of variation of the gaps (Gamma/Weibull)
};

/// Draws unit-mean gaps of a renewal process.
class GapSampler {
 public:
  explicit GapSampler(Renewal r);
  double sample(Rng& rng) const;

 private:
  Renewal r_;
  double shape_ = 1, scale_ = 1;
};

/// Weibull shape k whose coefficient of variation is cv (bisection on Gamma functions).
double weibull_shape_for_cv(double cv);

class ArrivalStream {
 public:
  ArrivalStream(const DemandCurve& curve, Renewal renewal, double duration_s, Rng rng);
  /// Next arrival time; +inf once past the run's end.
  double next();

 private:
  void enter_segment(double t0);
  DemandCurve curve_;
  GapSampler gaps_;
  double duration_s_;
  Rng rng_;
  double seg_t0_ = 0, seg_t1_ = 0, rate_ = 0, lam0_ = 0, tau_ = 0;
  bool done_ = false;
};

}  // namespace chatdc::workload
