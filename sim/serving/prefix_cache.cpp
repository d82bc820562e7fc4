#include "serving/prefix_cache.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>

#include "core/rng.hpp"

namespace chatdc::serving {

// GCC 12 sees a memmove of size 0 into the small vector's inline buffer when push_back grows it
// (boost::container, -Wstringop-overflow): a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
void prompt_path(const PromptPrefix& pp, std::uint32_t prompt_tokens, const workload::HashChains* chains, Path& out) {
  namespace px = workload::prefix;
  // Keys by kind in the top bits, so that kinds never collide; 0 is a sequence's own tail.
  constexpr std::uint64_t kSystem = std::uint64_t{1} << 60, kConversation = std::uint64_t{2} << 60,
                          kHash = std::uint64_t{3} << 60, kLow = (std::uint64_t{1} << 60) - 1;
  out.clear();
  const std::uint64_t p = pp.prefix;
  switch (px::kind(p)) {
    case px::Kind::kSynthetic:
      if (const std::uint32_t sys = px::system_prompt(p)) out.push_back({kSystem | sys, pp.system_prompt_tokens});
      if (const std::uint64_t conv = px::conversation(p)) {
        out.push_back({kConversation | conv, PrefixCache::kOpen});  // the tail: the next turn extends it
        return;
      }
      break;
    case px::Kind::kChain:
      if (chains) {
        const std::uint64_t line = px::chain_index(p), block = chains->block_tokens();
        const std::uint64_t* ids = chains->data(line);
        for (std::size_t k = 0; k < chains->size(line); ++k) {
          const auto end = static_cast<std::uint32_t>(std::min<std::uint64_t>((k + 1) * block, prompt_tokens));
          out.push_back({kHash | (ids[k] & kLow), end});
          if (end >= prompt_tokens) break;
        }
      }
      break;
    case px::Kind::kNone:
      break;
  }
  out.push_back({0, PrefixCache::kOpen});  // the request's own tokens
}
#pragma GCC diagnostic pop

PrefixAffinity::PrefixAffinity(std::size_t entries) {
  std::size_t n = 1;
  while (n < entries) n *= 2;
  table_.resize(n);
}

std::size_t PrefixAffinity::slot(std::uint64_t key) const {
  return static_cast<std::size_t>(Rng::splitmix(key)) & (table_.size() - 1);
}

std::uint32_t PrefixAffinity::lookup(const Path& path, std::uint32_t* matched_end) const {
  for (std::size_t i = path.size(); i-- > 0;) {
    if (path[i].key == 0) continue;
    const Entry& e = table_[slot(path[i].key)];
    if (e.key == path[i].key) {
      *matched_end = path[i].end;
      return e.replica;
    }
  }
  *matched_end = 0;
  return kNone;
}

void PrefixAffinity::record(const Path& path, std::uint32_t replica) {
  for (const PathStep& st : path)
    if (st.key != 0) table_[slot(st.key)] = {st.key, replica};
}

PrefixCache::PrefixCache(std::uint32_t block_tokens) : b_(std::max<std::uint32_t>(1, block_tokens)) {}

std::uint32_t PrefixCache::find(const Holding& h, std::size_t i, std::uint32_t start) const {
  const PathStep& st = h.path[i];
  std::uint32_t n = kNone;
  if (st.key == 0) {
    if (h.tail_node < nodes_.size() && nodes_[h.tail_node].gen == h.tail_gen) n = h.tail_node;
  } else {
    n = index_.find(st.key);
  }
  // A node lives while it holds a block; the same key at another position is not this prefix.
  if (n != kNone && (nodes_[n].upto == nodes_[n].base || nodes_[n].base != down(start))) return kNone;
  return n;
}

PrefixCache::Match PrefixCache::match(const Holding& h, std::uint32_t tokens) {
  Match m;
  // A prompt that shares nothing, seen for the first time: nothing to look at.
  if (h.path.size() == 1 && h.path[0].key == 0 && h.tail_node == kNone) return m;
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

std::uint32_t PrefixCache::new_node() {
  if (!free_.empty()) {
    const std::uint32_t n = free_.back();
    free_.pop_back();
    return n;
  }
  nodes_.emplace_back();
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

std::uint32_t PrefixCache::create(Holding& h, std::size_t i, std::uint32_t start) {
  const std::uint32_t n = new_node();
  Node& x = nodes_[n];
  x.key = h.path[i].key;
  x.base = x.upto = down(start);
  x.refs = 0;
  x.prev = x.next = kNone;
  x.in_lru = false;
  if (x.key != 0) {
    index_.insert_or_assign(x.key, n);
  } else {
    h.tail_node = n;
    h.tail_gen = x.gen;
  }
  return n;
}

void PrefixCache::publish(Holding& h, std::uint32_t tokens) { publish(h, tokens, false); }

void PrefixCache::publish(Holding& h, std::uint32_t tokens, bool own_tail) {
  std::uint32_t start = 0, covered = 0;
  for (std::size_t i = 0; i < h.path.size(); ++i) {
    PathStep& st = h.path[i];
    const std::uint32_t want = down(std::min(st.end, tokens));
    if (want > start) {
      std::uint32_t n = i < h.refs ? st.node : kNone;
      if (n == kNone && st.key == 0 && !own_tail) break;  // its own tail stays private KV
      if (n == kNone) {
        n = find(h, i, start);
        if (n == kNone) {
          if (st.key != 0 && index_.contains(st.key)) break;  // cached at another position: keep the rest private
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

void PrefixCache::release(Holding& h, std::uint32_t tokens, bool returns) {
  publish(h, tokens, returns);
  // A completed sequence's own tail, if it holds a block and no node: merged into the completed tails
  // released just before, at the back of the LRU list.
  if (!returns && !h.path.empty() && h.path.back().key == 0 && h.path.back().node == kNone) {
    const std::uint32_t start = h.path.size() > 1 ? h.path[h.path.size() - 2].end : 0;
    const std::uint32_t from = down(std::min(start, tokens)), to = down(tokens);
    if (to > from && (h.refs + 1 >= h.path.size())) {  // the path up to the tail is published
      if (lru_tail_ == kNone || nodes_[lru_tail_].key != kCompletedTails) {
        const std::uint32_t n = new_node();
        Node& x = nodes_[n];
        x.key = kCompletedTails;
        x.base = x.upto = 0;
        x.refs = 0;
        lru_push_back(n);
      }
      nodes_[lru_tail_].upto += to - from;
      unreferenced_ += to - from;
    }
  }
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
  if (x.key != 0 && x.key != kCompletedTails) index_.erase(x.key);
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
    evicted_ += static_cast<double>(take) * b_;
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
    if (x.key != 0 && x.key != kCompletedTails && index_.find(x.key) != n)
      return fmt::format("node {} is missing from the key index", n);
  }
  std::size_t listed = 0;
  for (std::uint32_t n = lru_head_, prev = kNone; n != kNone; prev = n, n = nodes_[n].next) {
    if (nodes_[n].prev != prev) return "the LRU list's links disagree";
    if (++listed > nodes_.size()) return "the LRU list loops";
  }
  if (listed != unref_nodes) return fmt::format("{} nodes in the LRU list, {} unreferenced", listed, unref_nodes);
  bool index_ok = true;
  index_.for_each([&](std::uint64_t key, std::uint32_t n) {
    if (n >= nodes_.size() || is_free[n] || nodes_[n].key != key) index_ok = false;
  });
  if (!index_ok) return "the key index names a free node";
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
