// Pure core: a hash map from nonzero 64-bit keys to 32-bit values in one array (open addressing, linear
// probing, backward-shift deletion; at most half full). No allocation per element, unlike
// std::unordered_map, whose node per entry made the prefix cache's index its most expensive part.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/rng.hpp"

namespace chatdc {

class FlatMap64 {
 public:
  static constexpr std::uint32_t kAbsent = 0xFFFFFFFFu;

  FlatMap64() : slots_(16) {}
  std::size_t size() const { return size_; }
  /// The value of `key` (nonzero), or kAbsent.
  std::uint32_t find(std::uint64_t key) const {
    for (std::size_t i = home(key);; i = (i + 1) & mask()) {
      if (slots_[i].key == key) return slots_[i].value;
      if (slots_[i].key == 0) return kAbsent;
    }
  }
  bool contains(std::uint64_t key) const { return find(key) != kAbsent; }
  void insert_or_assign(std::uint64_t key, std::uint32_t value) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    std::size_t i = home(key);
    for (; slots_[i].key != 0; i = (i + 1) & mask())
      if (slots_[i].key == key) {
        slots_[i].value = value;
        return;
      }
    slots_[i] = {key, value};
    ++size_;
  }
  void erase(std::uint64_t key) {
    std::size_t i = home(key);
    for (; slots_[i].key != key; i = (i + 1) & mask())
      if (slots_[i].key == 0) return;
    // Backward shift: pull later entries of the probe run into the hole when their home allows it.
    for (std::size_t j = (i + 1) & mask(); slots_[j].key != 0; j = (j + 1) & mask()) {
      const std::size_t h = home(slots_[j].key);
      // Entry j may move to i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = {};
    --size_;
  }
  template <class F>
  void for_each(F f) const {
    for (const Slot& s : slots_)
      if (s.key != 0) f(s.key, s.value);
  }

 private:
  struct Slot {
    std::uint64_t key = 0;
    std::uint32_t value = 0;
  };
  std::size_t mask() const { return slots_.size() - 1; }
  std::size_t home(std::uint64_t key) const { return static_cast<std::size_t>(Rng::splitmix(key)) & mask(); }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != 0) insert_or_assign(s.key, s.value);
  }

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace chatdc
