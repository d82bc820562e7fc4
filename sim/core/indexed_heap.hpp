// Pure core: an indexed 4-ary min-heap of event sources keyed by (time, id).
//
// Each source (a replica, a network pipe, the workload) has at most one pending "next event" time.
// update() moves a source in O(log4 n); ties are broken by id, so the order of simultaneous events
// is fixed and runs are deterministic. Keys sit inline with their ids (no indirection on the hot
// path), and the 4-ary layout halves the depth of a binary heap.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace chatdc {

class IndexedHeap {
 public:
  static constexpr double kNever = std::numeric_limits<double>::infinity();

  explicit IndexedHeap(std::uint32_t n = 0) { resize(n); }

  void resize(std::uint32_t n) {
    heap_.resize(n);
    pos_.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      heap_[i] = {kNever, i};
      pos_[i] = i;
    }
  }

  std::uint32_t size() const { return static_cast<std::uint32_t>(heap_.size()); }
  std::uint32_t top() const { return heap_[0].id; }
  double top_time() const { return heap_.empty() ? kNever : heap_[0].t; }
  double time_of(std::uint32_t id) const { return heap_[pos_[id]].t; }

  void update(std::uint32_t id, double t) {
    const std::uint32_t i = pos_[id];
    const double old = heap_[i].t;
    if (t < old)
      sift_up(i, {t, id});
    else if (t > old)
      sift_down(i, {t, id});
  }

 private:
  struct Entry {
    double t;
    std::uint32_t id;
    bool operator<(const Entry& o) const { return t < o.t || (t == o.t && id < o.id); }
  };
  void place(std::uint32_t i, const Entry& e) {
    heap_[i] = e;
    pos_[e.id] = i;
  }
  void sift_up(std::uint32_t i, Entry e) {
    while (i > 0) {
      const std::uint32_t parent = (i - 1) / 4;
      if (!(e < heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void sift_down(std::uint32_t i, Entry e) {
    const std::uint32_t n = size();
    for (;;) {
      const std::uint32_t first = 4 * i + 1;
      if (first >= n) break;
      std::uint32_t best = first;
      const std::uint32_t last = first + 4 < n ? first + 4 : n;
      for (std::uint32_t c = first + 1; c < last; ++c)
        if (heap_[c] < heap_[best]) best = c;
      if (!(heap_[best] < e)) break;
      place(i, heap_[best]);
      i = best;
    }
    place(i, e);
  }

  std::vector<Entry> heap_;
  std::vector<std::uint32_t> pos_;
};

}  // namespace chatdc
