#include "serving/run_math.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chatdc::serving {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

void RunMath::reset(const model::DecodeProfile* prof, double c0, double b) {
  seg_.clear();
  const auto& pieces = prof->pieces;
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    const double lo = p == 0 ? 0.0 : std::max(0.0, std::ceil((pieces[p].context_from - c0) / b));
    const double hi = p + 1 < pieces.size() ? std::max(0.0, std::ceil((pieces[p + 1].context_from - c0) / b)) : kInf;
    if (hi <= lo) continue;
    const auto& f = pieces[p];
    seg_.push_back({lo, hi, f.time_s.a + f.time_s.b * c0, f.time_s.b * b, f.energy_j.a + f.energy_j.b * c0, f.energy_j.b * b});
  }
}

double RunMath::sum(double n, bool energy) const {
  double total = 0.0;
  for (const Segment& s : seg_) {
    if (n <= s.lo) break;
    const double hi = std::min(s.hi, n);
    total += energy ? part(s.e0, s.e1, s.lo, hi) : part(s.t0, s.t1, s.lo, hi);
  }
  return total;
}

const RunMath::Segment& RunMath::segment_of(double j) const {
  for (const Segment& s : seg_)
    if (j < s.hi) return s;
  return seg_.back();
}

double RunMath::step_time(std::uint64_t j) const {
  const Segment& s = segment_of(static_cast<double>(j));
  return s.t0 + s.t1 * static_cast<double>(j);
}

double RunMath::step_energy(std::uint64_t j) const {
  const Segment& s = segment_of(static_cast<double>(j));
  return s.e0 + s.e1 * static_cast<double>(j);
}

std::uint64_t RunMath::steps_within(double tau) const {
  if (tau <= 0) return 0;
  double cum = 0.0;
  for (const Segment& s : seg_) {
    const double whole = s.hi == kInf ? kInf : part(s.t0, s.t1, s.lo, s.hi);
    if (cum + whole <= tau) {
      cum += whole;
      continue;
    }
    // Largest m with part(lo, lo + m) <= rem: m * alpha + beta * m (m - 1) / 2 <= rem.
    const double rem = tau - cum;
    const double alpha = s.t0 + s.t1 * s.lo, beta = s.t1;
    double m;
    if (std::fabs(beta) < 1e-300) {
      m = std::floor(rem / alpha);
    } else {
      const double h = alpha - 0.5 * beta;
      m = std::floor((-h + std::sqrt(std::max(0.0, h * h + 2.0 * beta * rem))) / beta);
    }
    if (!(m >= 0)) m = 0;
    if (s.hi != kInf) m = std::min(m, s.hi - s.lo);
    // Settle rounding against the same partial sums time_of() uses (at most a step either way).
    auto t = [&](double mm) { return cum + part(s.t0, s.t1, s.lo, s.lo + mm); };
    while (m > 0 && t(m) > tau) m -= 1;
    while ((s.hi == kInf || m < s.hi - s.lo) && t(m + 1) <= tau) m += 1;
    return static_cast<std::uint64_t>(s.lo + m);
  }
  return static_cast<std::uint64_t>(seg_.empty() ? 0.0 : seg_.back().hi);
}

}  // namespace chatdc::serving
