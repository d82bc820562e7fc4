// Pure core: the demand a predictive autoscaler knows ahead of time.
//
// A synthetic workload's demand curve is known: the expected requests in [t0, t1) are the integral of
// every user region's rate (workload/diurnal.*), times the mean turns of a conversation when the curve
// gives conversations' starts. A trace is known in advance too: a twin of the trace's source (the same
// options and seed, so the same requests) is read ahead and its requests counted. Either way the
// forecast is of the whole scenario's demand; the serving system gives each datacenter its share.
#pragma once
#include <deque>
#include <memory>
#include <vector>

#include "workload/diurnal.hpp"
#include "workload/request_source.hpp"

namespace chatdc::operations {

class DemandForecast {
 public:
  virtual ~DemandForecast() = default;
  /// Requests the users send in [t0, t1), every user region. A call's t0 is never below the `now` of an
  /// earlier forget_before(now).
  virtual double requests(double t0, double t1) = 0;
  /// No later call asks about times before `now`.
  virtual void forget_before(double /*now*/) {}
};

/// The expected requests of diurnal curves (synthetic workloads).
class CurveForecast final : public DemandForecast {
 public:
  /// `per_curve_request`: requests per event of the curves (a conversation's mean turns; else 1).
  CurveForecast(std::vector<workload::DemandCurve> curves, double per_curve_request = 1.0)
      : curves_(std::move(curves)), scale_(per_curve_request) {}
  double requests(double t0, double t1) override;

 private:
  std::vector<workload::DemandCurve> curves_;
  double scale_;
};

/// The requests of a source read ahead (a trace's twin): counted exactly, as the trace holds them.
class SourceForecast final : public DemandForecast {
 public:
  explicit SourceForecast(std::unique_ptr<workload::RequestSource> twin) : twin_(std::move(twin)) {}
  double requests(double t0, double t1) override;
  void forget_before(double now) override;

 private:
  std::unique_ptr<workload::RequestSource> twin_;
  std::deque<double> times_;  // send times read ahead, in order, none before the last forget_before()
};

}  // namespace chatdc::operations
