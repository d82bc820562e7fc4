// Pure core: a first-in first-out queue on one vector that keeps its memory: no allocation per element
// once warm (std::deque allocates and frees a block every few hundred bytes of traffic).
#pragma once
#include <cstddef>
#include <vector>

namespace chatdc {

template <class T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  const T& front() const { return items_[head_]; }
  void push_back(const T& x) { items_.push_back(x); }
  /// Insert x behind every element not after it (by operator<): a queue kept sorted, cheap when
  /// elements come nearly in order.
  void push_sorted(const T& x) {
    items_.push_back(x);
    std::size_t i = items_.size() - 1;
    for (; i > head_ && x < items_[i - 1]; --i) items_[i] = items_[i - 1];
    items_[i] = x;
  }
  void pop_front() {
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 1024 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace chatdc
