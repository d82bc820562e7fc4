// Pure core: an indexed binary min-heap of event sources keyed by (time, id).
//
// Each source (a replica, a network pipe, the workload) has at most one pending "next event" time.
// update() moves a source in O(log n); ties are broken by id, so the order of simultaneous events is
// fixed and runs are deterministic.
#pragma once
#include <cassert>
#include <cstdint>
#include <limits>
#include <vector>

namespace chatdc {

class IndexedHeap {
 public:
  static constexpr double kNever = std::numeric_limits<double>::infinity();

  explicit IndexedHeap(std::uint32_t n = 0) { resize(n); }

  void resize(std::uint32_t n) {
    key_.assign(n, kNever);
    pos_.resize(n);
    heap_.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      heap_[i] = i;
      pos_[i] = i;
    }
  }

  std::uint32_t size() const { return static_cast<std::uint32_t>(heap_.size()); }
  std::uint32_t top() const { return heap_[0]; }
  double top_time() const { return heap_.empty() ? kNever : key_[heap_[0]]; }
  double time_of(std::uint32_t id) const { return key_[id]; }

  void update(std::uint32_t id, double t) {
    const double old = key_[id];
    key_[id] = t;
    if (t < old)
      sift_up(pos_[id]);
    else if (t > old)
      sift_down(pos_[id]);
  }

 private:
  bool less(std::uint32_t a, std::uint32_t b) const {
    return key_[a] < key_[b] || (key_[a] == key_[b] && a < b);
  }
  void place(std::uint32_t i, std::uint32_t id) {
    heap_[i] = id;
    pos_[id] = i;
  }
  void sift_up(std::uint32_t i) {
    const std::uint32_t id = heap_[i];
    while (i > 0) {
      const std::uint32_t parent = (i - 1) / 2;
      if (!less(id, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, id);
  }
  void sift_down(std::uint32_t i) {
    const std::uint32_t n = size();
    const std::uint32_t id = heap_[i];
    for (;;) {
      std::uint32_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && less(heap_[child + 1], heap_[child])) ++child;
      if (!less(heap_[child], id)) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, id);
  }

  std::vector<double> key_;
  std::vector<std::uint32_t> pos_;
  std::vector<std::uint32_t> heap_;
};

}  // namespace chatdc
