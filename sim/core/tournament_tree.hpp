// Pure core: the earliest of a fixed set of event sources, as a tournament (winner) tree.
//
// Sources 0..n-1 sit at the leaves of a complete binary tree; each inner node holds the earlier of
// its two children, ties to the left (the lower id), so the order of simultaneous events is the same
// as IndexedHeap's: by (time, id). update() replays the matches on the path to the root, at most
// log2(n) comparisons of siblings, without a position index, and stops where a match's result does
// not change. For the small,
// fixed sets of a balancer cell (about a hundred replicas) it is faster than a heap.
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
    leaves_ = 1;
    while (leaves_ < n) leaves_ *= 2;
    node_.assign(2 * static_cast<std::size_t>(leaves_), {kNever, 0});
    for (std::uint32_t i = 0; i < leaves_; ++i) node_[leaves_ + i].id = i;
    for (std::uint32_t i = leaves_ - 1; i >= 1; --i) node_[i] = node_[2 * i];
    if (leaves_ == 1) node_[1] = node_[0] = {kNever, 0};
  }

  std::uint32_t top() const { return node_[1].id; }
  double top_time() const { return node_[1].t; }
  double time_of(std::uint32_t id) const { return node_[leaves_ + id].t; }

  void update(std::uint32_t id, double t) {
    std::uint32_t i = leaves_ + id;
    node_[i].t = t;
    for (i >>= 1; i >= 1; i >>= 1) {
      // The winner's index without a branch; stop where the match result is unchanged.
      const std::uint32_t w = 2 * i + static_cast<std::uint32_t>(node_[2 * i + 1].t < node_[2 * i].t);
      if (node_[i].id == node_[w].id && node_[i].t == node_[w].t) return;
      node_[i] = node_[w];
    }
  }

 private:
  struct Node {
    double t;
    std::uint32_t id;
  };
  std::uint32_t leaves_ = 1;
  std::vector<Node> node_;
};

}  // namespace chatdc
