// Pure core: closed-form sums over a run of identical decode steps.
//
// In a run the batch holds B sequences; step j (j = 0, 1, ...) attends C_j = C0 + B*j tokens in
// total, and its time and energy are piecewise affine in C_j (model::DecodeProfile). Sums over
// whole runs and "how many steps fit before time t" are therefore exact in O(pieces), which is what
// keeps the number of events independent of the number of tokens.
#pragma once
#include <cstdint>

#include "model/step_model.hpp"

namespace chatdc::serving {

class RunMath {
 public:
  RunMath() = default;
  RunMath(const model::DecodeProfile* profile, double context0, double batch)
      : prof_(profile), c0_(context0), b_(batch) {}

  /// Time of the first n steps, s.
  double time_of(std::uint64_t n) const { return sum(n, /*energy=*/false); }
  /// Energy of the first n steps, J.
  double energy_of(std::uint64_t n) const { return sum(n, /*energy=*/true); }
  /// Time and energy of step j alone.
  double step_time(std::uint64_t j) const { return prof_->time_at(c0_ + b_ * static_cast<double>(j)); }
  double step_energy(std::uint64_t j) const { return prof_->energy_at(c0_ + b_ * static_cast<double>(j)); }
  /// The largest n with time_of(n) <= tau (tau >= 0).
  std::uint64_t steps_within(double tau) const;

 private:
  // Step-index range [lo, hi) covered by piece p; hi is "infinite" for the last piece.
  void piece_range(std::size_t p, double* lo, double* hi) const;
  double sum(std::uint64_t n, bool energy) const;

  const model::DecodeProfile* prof_ = nullptr;
  double c0_ = 0;
  double b_ = 1;
};

}  // namespace chatdc::serving
