// Pure core: the earliest of a fixed set of event sources, as an 8-way tournament (winner) tree.
//
// Sources 0..n-1 are the leaves; every group of 8 nodes of a level has one node on the level above
// holding the earliest of the 8, ties to the lowest id, so the order of simultaneous events is
// IndexedHeap's: by (time, id). update() replays the groups on the path to the root: ceil(log8 n)
// groups (3 for a cell of 128 replicas), each a branch-free minimum over one cache line of times.
// The levels do not depend on each other's comparisons, so the processor overlaps them, where a
// binary tree's log2 n dependent comparisons and its data-dependent early exit stall it. For the
// small, fixed sets of a balancer cell (about a hundred replicas) it is faster than a heap.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace chatdc {

class TournamentTree {
 public:
  static constexpr double kNever = std::numeric_limits<double>::infinity();

  explicit TournamentTree(std::uint32_t n = 0) { resize(n); }

  /// n sources, all at kNever.
  void resize(std::uint32_t n) {
    offset_.assign(1, 0);
    std::uint32_t count = n > 0 ? n : 1;
    for (;;) {  // level sizes rounded up to whole groups, padded with kNever
      const std::uint32_t padded = (count + kWay - 1) / kWay * kWay;
      offset_.push_back(offset_.back() + padded);
      if (count == 1) break;
      count = (count + kWay - 1) / kWay;
    }
    time_.assign(offset_.back(), kNever);
    id_.assign(offset_.back(), 0);
    for (std::uint32_t i = 0; i < offset_[1]; ++i) id_[i] = i;
    root_ = offset_[offset_.size() - 2];
  }

  std::uint32_t top() const { return id_[root_]; }
  double top_time() const { return time_[root_]; }
  double time_of(std::uint32_t id) const { return time_[id]; }

  void update(std::uint32_t id, double t) {
    time_[id] = t;
    std::uint32_t j = id;
    for (std::size_t level = 0; offset_[level] != root_; ++level) {
      const std::uint32_t group = j / kWay, base = offset_[level] + group * kWay;
      const double* x = &time_[base];
      const double m = min(min(min(x[0], x[1]), min(x[2], x[3])), min(min(x[4], x[5]), min(x[6], x[7])));
      unsigned mask = 0;
      for (unsigned k = 0; k < kWay; ++k) mask |= static_cast<unsigned>(x[k] == m) << k;
      const std::uint32_t up = offset_[level + 1] + group;
      time_[up] = m;
      id_[up] = id_[base + static_cast<std::uint32_t>(__builtin_ctz(mask))];  // the lowest id among equals
      j = group;
    }
  }

 private:
  static constexpr std::uint32_t kWay = 8;
  static double min(double a, double b) { return b < a ? b : a; }

  std::vector<double> time_;          // every level, leaves first
  std::vector<std::uint32_t> id_;     // the source each node holds
  std::vector<std::uint32_t> offset_;  // where each level starts; the last is the end
  std::uint32_t root_ = 0;
};

}  // namespace chatdc
