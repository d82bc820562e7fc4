// Study layer (pure): the search of `chatdc plan`. The fewest x in [lo, hi] for which a predicate
// holds (the fewest servers meeting the SLO; the smallest demand multiplier a fleet no longer carries),
// assuming the predicate is monotone: false ... false true ... true.
//
// The search probes its first points (an estimate and its neighbour below), then gallops (steps that
// double, upward from the largest false or downward from the smallest true) until it has a false below
// a true, then bisects. Points it is asked to evaluate at once are independent (they run in parallel);
// with more than one slot it gallops or splits the interval in several steps at a time.
//
// Guarantee: the answer x has P(x) true and, unless x = lo, P(x - 1) false, both evaluated. When the
// predicate is not monotone, evaluations contradict (a true below a false); they are kept and reported,
// and the answer is still verified against its neighbour below, but a smaller x further down may hold.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace chatdc::study {

class MonotoneSearch {
 public:
  /// first: the points probed first (e.g. an estimate and the point below it), clamped to [lo, hi].
  /// initial_step: the first galloping step (it doubles with every step).
  MonotoneSearch(std::int64_t lo, std::int64_t hi, std::vector<std::int64_t> first, std::int64_t initial_step = 1);

  /// The next points to evaluate (at most max, at least one unless done()); they are independent.
  std::vector<std::int64_t> next(std::size_t max) const;
  /// Records P(x).
  void record(std::int64_t x, bool p);
  bool done() const;
  /// The fewest x with P(x) true; nullopt when P(hi) is false (none in range).
  std::optional<std::int64_t> answer() const;
  /// Evaluated points and their P, in increasing x.
  const std::map<std::int64_t, bool>& evaluated() const { return seen_; }
  /// Pairs (a < b) with P(a) true and P(b) false: the predicate is not monotone there.
  std::vector<std::pair<std::int64_t, std::int64_t>> contradictions() const;
  std::int64_t lo() const { return lo_; }
  std::int64_t hi() const { return hi_; }

 private:
  std::optional<std::int64_t> good() const;  // smallest true
  std::optional<std::int64_t> bad() const;   // largest false below good (or overall when no true)
  std::int64_t lo_, hi_;
  std::vector<std::int64_t> first_;
  std::int64_t up_step_, down_step_;
  std::map<std::int64_t, bool> seen_;
};

}  // namespace chatdc::study
