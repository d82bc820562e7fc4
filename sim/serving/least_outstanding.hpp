// Pure core: least-outstanding-requests balancing inside one datacenter, O(1) per operation.
//
// Replicas sit in buckets by their number of outstanding requests. pick() returns the replica that
// entered the lowest non-empty bucket first, so ties rotate round-robin instead of piling onto one
// replica (as nginx least_conn and Envoy do).
#pragma once
#include <cassert>
#include <cstdint>
#include <vector>

namespace chatdc::serving {

class LeastOutstanding {
 public:
  explicit LeastOutstanding(std::uint32_t n) : count_(n, 0), prev_(n), next_(n), excluded_(n, 0) {
    head_.assign(1, kNone);
    tail_.assign(1, kNone);
    for (std::uint32_t i = 0; i < n; ++i) push_back(i, 0);
    min_ = 0;
  }

  std::uint32_t size() const { return static_cast<std::uint32_t>(count_.size()); }
  std::uint32_t outstanding(std::uint32_t i) const { return count_[i]; }
  /// The replica to send the next request to (does not change the counts); kNone when every replica
  /// is excluded.
  std::uint32_t pick() const { return head_[min_]; }
  bool excluded(std::uint32_t i) const { return excluded_[i] != 0; }
  /// An excluded replica (its server draining, off or waking) is never picked; its count still
  /// follows its requests. Included again, it queues behind the replicas of its count.
  void set_excluded(std::uint32_t i, bool ex) {
    if (excluded(i) == ex) return;
    excluded_[i] = ex ? 1 : 0;
    const std::uint32_t c = count_[i];
    if (ex) {
      unlink(i, c);
      if (c == min_ && head_[c] == kNone) {
        std::uint32_t m = c;
        while (m < head_.size() && head_[m] == kNone) ++m;
        min_ = m < head_.size() ? m : 0;
      }
    } else {
      const bool none = pick() == kNone;
      push_back(i, c);
      if (none || c < min_) min_ = c;
    }
  }

  void increment(std::uint32_t i) {
    const std::uint32_t c = count_[i];
    if (excluded_[i]) {
      ++count_[i];
      return;
    }
    unlink(i, c);
    push_back(i, c + 1);
    if (c == min_ && head_[c] == kNone) min_ = c + 1;
  }
  void decrement(std::uint32_t i) {
    const std::uint32_t c = count_[i];
    assert(c > 0);
    if (excluded_[i]) {
      --count_[i];
      return;
    }
    unlink(i, c);
    push_back(i, c - 1);
    if (c - 1 < min_) min_ = c - 1;
  }

  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

 private:
  void push_back(std::uint32_t i, std::uint32_t c) {
    if (c >= head_.size()) {
      head_.resize(c + 1, kNone);
      tail_.resize(c + 1, kNone);
    }
    count_[i] = c;
    prev_[i] = tail_[c];
    next_[i] = kNone;
    if (tail_[c] != kNone)
      next_[tail_[c]] = i;
    else
      head_[c] = i;
    tail_[c] = i;
  }
  void unlink(std::uint32_t i, std::uint32_t c) {
    if (prev_[i] != kNone)
      next_[prev_[i]] = next_[i];
    else
      head_[c] = next_[i];
    if (next_[i] != kNone)
      prev_[next_[i]] = prev_[i];
    else
      tail_[c] = prev_[i];
  }

  std::vector<std::uint32_t> count_, prev_, next_, head_, tail_;
  std::vector<std::uint8_t> excluded_;
  std::uint32_t min_ = 0;
};

}  // namespace chatdc::serving
