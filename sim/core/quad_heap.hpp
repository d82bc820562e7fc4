// Pure core: a 4-ary min-heap of plain values (a priority queue whose smallest element is on top).
//
// Half the depth of a binary heap and a node's four children side by side, so a pop touches about
// half as many cache lines. The order of equal elements is unspecified: give elements unique keys
// where the order matters. at(i) exposes the layout (the root's children are 1..4) for callers that
// want to look at what comes soon after the top.
#pragma once
#include <cstddef>
#include <vector>

namespace chatdc {

template <class T, class Less>
class QuadHeap {
 public:
  bool empty() const { return v_.empty(); }
  std::size_t size() const { return v_.size(); }
  const T& top() const { return v_.front(); }
  const T& at(std::size_t i) const { return v_[i]; }

  void push(const T& x) {
    std::size_t i = v_.size();
    v_.push_back(x);
    while (i > 0) {
      const std::size_t parent = (i - 1) / 4;
      if (!less_(x, v_[parent])) break;
      v_[i] = v_[parent];
      i = parent;
    }
    v_[i] = x;
  }

  void pop() {
    const T x = v_.back();
    v_.pop_back();
    const std::size_t n = v_.size();
    if (n == 0) return;
    std::size_t i = 0;
    for (;;) {
      const std::size_t first = 4 * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      const std::size_t last = first + 4 < n ? first + 4 : n;
      for (std::size_t c = first + 1; c < last; ++c)
        if (less_(v_[c], v_[best])) best = c;
      if (!less_(v_[best], x)) break;
      v_[i] = v_[best];
      i = best;
    }
    v_[i] = x;
  }

 private:
  std::vector<T> v_;
  [[no_unique_address]] Less less_{};
};

}  // namespace chatdc
