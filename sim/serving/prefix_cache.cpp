#include "serving/prefix_cache.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>

namespace chatdc::serving {

PrefixCache::PrefixCache(std::uint32_t block_tokens) : b_(std::max<std::uint32_t>(1, block_tokens)) {}

std::uint32_t PrefixCache::find(const Holding& h, std::size_t i, std::uint32_t start) const {
  const PathStep& st = h.path[i];
  std::uint32_t n = kNone;
  if (st.key == 0) {
    if (h.tail_node < nodes_.size() && nodes_[h.tail_node].gen == h.tail_gen) n = h.tail_node;
  } else if (const auto it = index_.find(st.key); it != index_.end()) {
    n = it->second;
  }
  // A node lives while it holds a block; the same key at another position is not this prefix.
  if (n != kNone && (nodes_[n].upto == nodes_[n].base || nodes_[n].base != down(start))) return kNone;
  return n;
}

PrefixCache::Match PrefixCache::match(const Holding& h, std::uint32_t tokens) {
  Match m;
  found_.assign(h.path.size(), kNone);
  const std::uint32_t limit = tokens > 0 ? down(tokens - 1) : 0;  // the last token is always computed
  if (limit == 0) return m;
  std::uint32_t start = 0;
  for (std::size_t i = 0; i < h.path.size(); ++i) {
    const PathStep& st = h.path[i];
    const std::uint32_t want = down(std::min(st.end, limit));  // its blocks end in (start, want]
    if (want > start) {
      const std::uint32_t n = find(h, i, start);
      if (n == kNone) break;
      found_[i] = n;
      m.steps = static_cast<std::uint32_t>(i + 1);
      const Node& x = nodes_[n];
      if (x.refs == 0) m.pinned += x.tokens();
      m.hit = std::min(x.upto, want);
      if (m.hit < want) break;
    }
    if (st.end >= limit) break;
    start = st.end;
  }
  return m;
}

void PrefixCache::acquire(Holding& h, const Match& m) {
  assert(h.refs == 0);
  for (std::uint32_t i = 0; i < m.steps; ++i) {
    h.path[i].node = found_[i];
    if (found_[i] != kNone) ref(found_[i]);
  }
  h.refs = m.steps;
  h.shared = m.hit;
}

std::uint32_t PrefixCache::create(Holding& h, std::size_t i, std::uint32_t start) {
  std::uint32_t n;
  if (!free_.empty()) {
    n = free_.back();
    free_.pop_back();
  } else {
    n = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
  }
  Node& x = nodes_[n];
  x.key = h.path[i].key;
  x.base = x.upto = down(start);
  x.refs = 0;
  x.prev = x.next = kNone;
  x.in_lru = false;
  if (x.key != 0) {
    index_[x.key] = n;
  } else {
    h.tail_node = n;
    h.tail_gen = x.gen;
  }
  return n;
}

void PrefixCache::publish(Holding& h, std::uint32_t tokens) {
  std::uint32_t start = 0, covered = 0;
  for (std::size_t i = 0; i < h.path.size(); ++i) {
    PathStep& st = h.path[i];
    const std::uint32_t want = down(std::min(st.end, tokens));
    if (want > start) {
      std::uint32_t n = i < h.refs ? st.node : kNone;
      if (n == kNone) {
        n = find(h, i, start);
        if (n == kNone) {
          if (st.key != 0 && index_.count(st.key)) break;  // cached at another position: keep the rest private
          n = create(h, i, start);
        }
        ref(n);
        st.node = n;
      }
      Node& x = nodes_[n];
      if (x.upto < want) {
        referenced_ += want - x.upto;
        x.upto = want;
      }
      covered = want;
    } else if (i >= h.refs) {
      st.node = kNone;
    }
    h.refs = std::max(h.refs, static_cast<std::uint32_t>(i + 1));
    if (st.end >= tokens) break;
    start = st.end;
  }
  h.shared = covered;
}

void PrefixCache::release(Holding& h, std::uint32_t tokens) {
  publish(h, tokens);
  for (std::uint32_t i = h.refs; i-- > 0;) {  // deepest first: a node's children are evicted before it
    PathStep& st = h.path[i];
    if (st.node != kNone) unref(st.node);
    st.node = kNone;
  }
  h.refs = 0;
  h.shared = 0;
}

void PrefixCache::ref(std::uint32_t n) {
  Node& x = nodes_[n];
  if (x.refs++ > 0) return;
  if (x.in_lru) lru_remove(n);
  referenced_ += x.tokens();
  unreferenced_ -= x.tokens();
}

void PrefixCache::unref(std::uint32_t n) {
  Node& x = nodes_[n];
  assert(x.refs > 0);
  if (--x.refs > 0) return;
  referenced_ -= x.tokens();
  unreferenced_ += x.tokens();
  lru_push_back(n);
}

void PrefixCache::lru_push_back(std::uint32_t n) {
  Node& x = nodes_[n];
  x.prev = lru_tail_;
  x.next = kNone;
  if (lru_tail_ != kNone)
    nodes_[lru_tail_].next = n;
  else
    lru_head_ = n;
  lru_tail_ = n;
  x.in_lru = true;
}

void PrefixCache::lru_remove(std::uint32_t n) {
  Node& x = nodes_[n];
  if (x.prev != kNone)
    nodes_[x.prev].next = x.next;
  else
    lru_head_ = x.next;
  if (x.next != kNone)
    nodes_[x.next].prev = x.prev;
  else
    lru_tail_ = x.prev;
  x.prev = x.next = kNone;
  x.in_lru = false;
}

void PrefixCache::free_node(std::uint32_t n) {
  Node& x = nodes_[n];
  if (x.in_lru) lru_remove(n);
  if (x.key != 0) index_.erase(x.key);
  ++x.gen;
  x.refs = 0;
  x.upto = x.base;
  free_.push_back(n);
}

void PrefixCache::evict_to(double room) {
  room = std::max(0.0, room);
  while (unreferenced_ > room && lru_head_ != kNone) {
    const std::uint32_t n = lru_head_;
    Node& x = nodes_[n];
    const auto need = static_cast<std::uint32_t>(std::ceil((unreferenced_ - room) / b_));
    const std::uint32_t take = std::min(need, (x.upto - x.base) / b_);
    x.upto -= take * b_;
    unreferenced_ -= static_cast<double>(take) * b_;
    if (x.upto == x.base) free_node(n);
  }
}

double PrefixCache::unreferenced_after(double room) const {
  room = std::max(0.0, room);
  if (unreferenced_ <= room) return unreferenced_;
  const double blocks = std::min(std::ceil((unreferenced_ - room) / b_), unreferenced_ / b_);
  return unreferenced_ - blocks * b_;
}

std::string PrefixCache::check() const {
  double ref = 0, unref = 0;
  std::size_t unref_nodes = 0;
  std::vector<bool> is_free(nodes_.size(), false);
  for (const std::uint32_t n : free_) is_free[n] = true;
  for (std::uint32_t n = 0; n < nodes_.size(); ++n) {
    if (is_free[n]) continue;
    const Node& x = nodes_[n];
    if (x.upto <= x.base) return fmt::format("node {} holds no block", n);
    if (x.base % b_ != 0 || x.upto % b_ != 0) return fmt::format("node {} is not block-aligned", n);
    if (x.refs > 0) {
      ref += x.tokens();
      if (x.in_lru) return fmt::format("referenced node {} is in the LRU list", n);
    } else {
      unref += x.tokens();
      ++unref_nodes;
      if (!x.in_lru) return fmt::format("unreferenced node {} is not in the LRU list", n);
    }
    if (x.key != 0) {
      const auto it = index_.find(x.key);
      if (it == index_.end() || it->second != n) return fmt::format("node {} is missing from the key index", n);
    }
  }
  std::size_t listed = 0;
  for (std::uint32_t n = lru_head_, prev = kNone; n != kNone; prev = n, n = nodes_[n].next) {
    if (nodes_[n].prev != prev) return "the LRU list's links disagree";
    if (++listed > nodes_.size()) return "the LRU list loops";
  }
  if (listed != unref_nodes) return fmt::format("{} nodes in the LRU list, {} unreferenced", listed, unref_nodes);
  for (const auto& [key, n] : index_)
    if (n >= nodes_.size() || is_free[n] || nodes_[n].key != key) return "the key index names a free node";
  if (ref != referenced_) return fmt::format("referenced tokens {} counted as {}", ref, referenced_);
  if (unref != unreferenced_) return fmt::format("unreferenced tokens {} counted as {}", unref, unreferenced_);
  return {};
}

std::vector<std::uint64_t> PrefixCache::eviction_order() const {
  std::vector<std::uint64_t> keys;
  for (std::uint32_t n = lru_head_; n != kNone; n = nodes_[n].next) keys.push_back(nodes_[n].key);
  return keys;
}

}  // namespace chatdc::serving
