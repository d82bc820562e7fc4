#include "serving/run_math.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chatdc::serving {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// Sum over j in [lo, hi) of a + b*(c0 + B*j).
double affine_sum(const model::Affine& f, double c0, double B, double lo, double hi) {
  const double n = hi - lo;
  if (n <= 0) return 0.0;
  return n * (f.a + f.b * c0) + f.b * B * (lo + hi - 1.0) * n * 0.5;
}
}  // namespace

void RunMath::piece_range(std::size_t p, double* lo, double* hi) const {
  const auto& pieces = prof_->pieces;
  *lo = p == 0 ? 0.0 : std::max(0.0, std::ceil((pieces[p].context_from - c0_) / b_));
  *hi = p + 1 < pieces.size() ? std::max(0.0, std::ceil((pieces[p + 1].context_from - c0_) / b_)) : kInf;
}

double RunMath::sum(std::uint64_t n, bool energy) const {
  const double dn = static_cast<double>(n);
  double total = 0.0;
  for (std::size_t p = 0; p < prof_->pieces.size(); ++p) {
    double lo, hi;
    piece_range(p, &lo, &hi);
    hi = std::min(hi, dn);
    if (hi <= lo) continue;
    const auto& piece = prof_->pieces[p];
    total += affine_sum(energy ? piece.energy_j : piece.time_s, c0_, b_, lo, hi);
  }
  return total;
}

std::uint64_t RunMath::steps_within(double tau) const {
  if (tau <= 0) return 0;
  double cum = 0.0;
  double k = 0.0;
  for (std::size_t p = 0; p < prof_->pieces.size(); ++p) {
    double lo, hi;
    piece_range(p, &lo, &hi);
    if (hi <= lo) continue;
    const auto& f = prof_->pieces[p].time_s;
    if (hi != kInf) {
      const double whole = affine_sum(f, c0_, b_, lo, hi);
      if (cum + whole <= tau) {
        cum += whole;
        k = hi;
        continue;
      }
    }
    // Solve m*alpha + beta*m*(m-1)/2 <= rem for the largest whole m inside this piece.
    const double rem = tau - cum;
    const double alpha = f.a + f.b * (c0_ + b_ * lo);
    const double beta = f.b * b_;
    double m;
    if (std::fabs(beta) < 1e-300) {
      m = std::floor(rem / alpha);
    } else {
      const double h = alpha - 0.5 * beta;
      const double disc = std::max(0.0, h * h + 2.0 * beta * rem);
      m = std::floor((-h + std::sqrt(disc)) / beta);
    }
    if (!(m >= 0)) m = 0;
    if (hi != kInf) m = std::min(m, hi - lo);
    k = lo + m;
    break;
  }
  // Make the answer exactly consistent with time_of() despite rounding.
  auto n = static_cast<std::uint64_t>(k);
  while (time_of(n + 1) <= tau) ++n;
  while (n > 0 && time_of(n) > tau) --n;
  return n;
}

}  // namespace chatdc::serving
