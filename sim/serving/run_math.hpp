// Pure core: closed-form sums over a run of identical decode steps.
//
// In a run the batch holds B sequences; step j (j = 0, 1, ...) attends C_j = C0 + B*j tokens in
// total, and its time and energy are piecewise affine in C_j (model::DecodeProfile). Within one
// piece step j costs t0 + t1*j, so sums over whole runs and "how many steps fit before time t" are
// exact closed forms in O(pieces), which keeps the number of events independent of the number of
// tokens. reset() precomputes the run's segments once, reusing its buffer (no allocation per run).
#pragma once
#include <cstdint>
#include <vector>

#include "model/step_model.hpp"

namespace chatdc::serving {

class RunMath {
 public:
  RunMath() = default;
  RunMath(const model::DecodeProfile* profile, double context0, double batch) { reset(profile, context0, batch); }
  void reset(const model::DecodeProfile* profile, double context0, double batch);

  /// Time of the first n steps, s.
  double time_of(std::uint64_t n) const { return sum(static_cast<double>(n), false); }
  /// Energy of the first n steps, J.
  double energy_of(std::uint64_t n) const { return sum(static_cast<double>(n), true); }
  /// Time and energy of step j alone.
  double step_time(std::uint64_t j) const;
  double step_energy(std::uint64_t j) const;
  /// The largest n with time_of(n) <= tau (tau >= 0).
  std::uint64_t steps_within(double tau) const;

 private:
  // Steps [lo, hi) of one piece: step j costs t0 + t1*j seconds and e0 + e1*j joules.
  struct Segment {
    double lo, hi, t0, t1, e0, e1;
  };
  static double part(double c0, double c1, double lo, double hi) {
    const double m = hi - lo;
    return m * c0 + c1 * (lo + hi - 1.0) * m * 0.5;
  }
  double sum(double n, bool energy) const;
  const Segment& segment_of(double j) const;

  std::vector<Segment> seg_;
};

}  // namespace chatdc::serving
