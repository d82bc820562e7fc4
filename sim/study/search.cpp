#include "study/search.hpp"

#include <algorithm>
#include <set>

namespace chatdc::study {

MonotoneSearch::MonotoneSearch(std::int64_t lo, std::int64_t hi, std::vector<std::int64_t> first, std::int64_t initial_step)
    : lo_(lo), hi_(std::max(lo, hi)), up_step_(std::max<std::int64_t>(1, initial_step)), down_step_(up_step_) {
  for (auto x : first) {
    x = std::clamp(x, lo_, hi_);
    if (std::find(first_.begin(), first_.end(), x) == first_.end()) first_.push_back(x);
  }
  if (first_.empty()) first_.push_back(lo_);
}

std::optional<std::int64_t> MonotoneSearch::good() const {
  for (const auto& [x, p] : seen_)
    if (p) return x;
  return std::nullopt;
}

std::optional<std::int64_t> MonotoneSearch::bad() const {
  const auto g = good();
  std::optional<std::int64_t> b;
  for (const auto& [x, p] : seen_)
    if (!p && (!g || x < *g)) b = x;
  return b;
}

bool MonotoneSearch::done() const {
  const auto g = good(), b = bad();
  if (g) return *g == lo_ || (b && *b == *g - 1);
  return b && *b == hi_;
}

std::optional<std::int64_t> MonotoneSearch::answer() const { return good(); }

std::vector<std::int64_t> MonotoneSearch::next(std::size_t max) const {
  std::vector<std::int64_t> out;
  if (done() || max == 0) return out;
  max = std::max<std::size_t>(1, max);
  auto add = [&](std::int64_t x) {
    if (x < lo_ || x > hi_ || seen_.count(x) || std::find(out.begin(), out.end(), x) != out.end()) return false;
    out.push_back(x);
    return true;
  };
  // The first probes come first.
  for (const auto x : first_)
    if (out.size() < max) add(x);
  if (!out.empty()) return out;
  const auto g = good(), b = bad();
  if (!g) {
    // Gallop up from the largest false (or from below lo).
    std::int64_t base = b ? *b : lo_ - 1, step = up_step_;
    while (out.size() < max && base < hi_) {
      const std::int64_t x = std::min(hi_, base + step);
      add(x);
      base = x;
      step *= 2;
    }
  } else if (!b) {
    // Gallop down from the smallest true.
    std::int64_t base = *g, step = down_step_;
    while (out.size() < max && base > lo_) {
      const std::int64_t x = std::max(lo_, base - step);
      add(x);
      base = x;
      step *= 2;
    }
  } else {
    // Bisect (bad, good) into max + 1 parts.
    const std::int64_t gap = *g - *b;
    const std::size_t k = static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(max), gap - 1));
    for (std::size_t j = 1; j <= k; ++j) add(*b + gap * static_cast<std::int64_t>(j) / static_cast<std::int64_t>(k + 1));
  }
  if (out.empty()) {  // every planned point seen (contradictory results): take any unseen point between
    const std::int64_t from = b ? *b + 1 : lo_, to = g ? *g - 1 : hi_;
    for (std::int64_t x = from; x <= to && out.empty(); ++x) add(x);
  }
  return out;
}

void MonotoneSearch::record(std::int64_t x, bool p) {
  const auto g = good(), b = bad();
  const bool first = std::find(first_.begin(), first_.end(), x) != first_.end();
  seen_[x] = p;
  if (first) return;
  if (p && g && x < *g && !b) down_step_ *= 2;  // a gallop down went on succeeding
  if (!p && !g && (!b || x > *b)) up_step_ *= 2;  // a gallop up went on failing
}

std::vector<std::pair<std::int64_t, std::int64_t>> MonotoneSearch::contradictions() const {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& [a, pa] : seen_)
    if (pa)
      for (auto it = seen_.upper_bound(a); it != seen_.end(); ++it)
        if (!it->second) out.emplace_back(a, it->first);
  return out;
}

}  // namespace chatdc::study
