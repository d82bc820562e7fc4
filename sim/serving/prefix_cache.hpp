// Pure core: a replica's prefix cache (vLLM automatic prefix caching, SGLang RadixAttention), as a radix
// tree of prompt segments whose KV is cached in whole blocks.
//
// A sequence's tokens are a path of segments (PathStep): a shared system prompt, a conversation's history,
// a trace's hashed blocks..., ending with a tail that runs on through the answer. A segment's key names
// its tokens *and everything before them*, so equal keys mean equal prefixes. KV is cached in blocks of
// `block_tokens` tokens; a block belongs to the segment holding its last token, so two sequences share a
// block exactly when they share every token up to its end. A node holds a segment's blocks from its
// first one up to `upto` (a prefix of them, as eviction takes blocks from the end).
//
// Memory, in tokens: cached blocks referenced by at least one live sequence (referenced(); each counted
// once however many share it) and unreferenced ones (unreferenced()), which keep what finished or
// preempted sequences computed for later hits and are evicted when memory is needed: least recently
// used first, and within a sequence from its end (a node's children go before it), as vLLM's free-block
// queue and SGLang's leaf eviction do. The owner (Replica) keeps its own live KV and asks for eviction
// with the room left (evict_to), so eviction can be lazy: done at the next cache operation for the peak
// memory in between, which removes exactly the blocks eager eviction would have.
//
// A sequence references (Holding) a prefix of its path: the segments it hit when admitted
// (match + acquire), then all its full blocks once its prompt is computed (publish: a block another
// sequence published meanwhile is shared, and the sequence's duplicate freed, as SGLang does), until
// it completes or is preempted (release: its full blocks, answer included, stay cached unreferenced).
// A sequence's own tail (key 0) can only ever be found by itself, after a preemption: while it runs
// its blocks are its private KV, and once it has completed they are only evictable memory, kept as a
// count merged with the completed tails released just before it (one node, so a workload without
// shared prefixes costs O(1) per request; which of those blocks go first cannot matter).
// Every operation costs O(path segments), never O(tokens). Memory is bounded: a node holds at least one
// block, so nodes <= cached blocks + live sequences.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "core/flat_map.hpp"
#include "workload/request_source.hpp"

namespace chatdc::serving {

struct PathStep {
  std::uint64_t key = 0;   // 0: the sequence's own tail (found only through its Holding)
  std::uint32_t end = 0;   // token where the segment ends (exclusive); kOpen for the tail
  std::uint32_t node = 0xFFFFFFFFu;  // while referenced: its node (else PrefixCache::kNone)
};

/// A path: a system prompt and a conversation, or a request's own tokens, fit without allocating.
using Path = boost::container::small_vector<PathStep, 2>;

/// What a request's prompt shares with others (workload::RequestSpec::prefix and the system prompt's length).
struct PromptPrefix {
  std::uint64_t prefix = 0;
  std::uint32_t system_prompt_tokens = 0;
};

/// The path of a prompt of `prompt_tokens` tokens: the segments it shares (a system prompt, then a
/// conversation's history as its tail; or a trace's hashed blocks), then its own tail (key 0).
void prompt_path(const PromptPrefix& p, std::uint32_t prompt_tokens, const workload::HashChains* chains, Path& out);

/// What one sequence holds in the cache.
struct Holding {
  Path path;
  std::uint32_t refs = 0;    // path steps processed by acquire/publish: those with a node are referenced
  std::uint32_t shared = 0;  // tokens of the sequence's KV that are cache blocks it references
  std::uint32_t tail_node = 0xFFFFFFFFu, tail_gen = 0;  // its own tail's node, if cached (any state)
};

class PrefixCache {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  static constexpr std::uint32_t kOpen = 0xFFFFFFFFu;
  static constexpr std::uint64_t kCompletedTails = ~std::uint64_t{0};  // key of merged completed tails

  explicit PrefixCache(std::uint32_t block_tokens);
  std::uint32_t block_tokens() const { return b_; }

  struct Match {
    std::uint32_t hit = 0;  // tokens of the sequence found cached (block-aligned, below its last token)
    double pinned = 0;      // tokens of the matched nodes now unreferenced (they become referenced)
    std::uint32_t steps = 0;
  };
  /// The cached prefix of a sequence of `tokens` tokens. At least its last token is left to compute.
  /// Changes nothing but scratch space that acquire() reads.
  Match match(const Holding& h, std::uint32_t tokens);
  /// References what match() found (no cache operation in between).
  void acquire(Holding& h, const Match& m);
  /// The sequence holds KV for its first `tokens` tokens: its full blocks become cache blocks it
  /// references (created, extended, or shared when already there).
  void publish(Holding& h, std::uint32_t tokens);
  /// The sequence ends holding KV for `tokens` tokens: publishes them, then drops every reference.
  /// `returns`: it was preempted and will look for its own tail again.
  void release(Holding& h, std::uint32_t tokens, bool returns);
  /// Evicts unreferenced blocks, least recently used first, until unreferenced() <= room.
  void evict_to(double room);
  /// unreferenced() after evict_to(room), without evicting.
  double unreferenced_after(double room) const;

  double referenced() const { return referenced_; }
  double unreferenced() const { return unreferenced_; }
  /// Tokens evicted so far.
  double evicted() const { return evicted_; }
  std::size_t nodes() const { return nodes_.size() - free_.size(); }
  /// Checks the bookkeeping (tests): tokens of referenced and unreferenced nodes, the LRU list and the
  /// key index. Returns an empty string when consistent, else what is wrong.
  std::string check() const;
  /// Keys of the unreferenced nodes in eviction order (tests).
  std::vector<std::uint64_t> eviction_order() const;

 private:
  struct Node {
    std::uint64_t key = 0;
    std::uint32_t base = 0;  // start of its first block: the segment's start rounded down to a block
    std::uint32_t upto = 0;  // its cached blocks end here (base < upto while it lives)
    std::uint32_t refs = 0;
    std::uint32_t prev = kNone, next = kNone;  // LRU list of unreferenced nodes
    std::uint32_t gen = 0;                     // bumped when the node is freed
    bool in_lru = false;
    double tokens() const { return static_cast<double>(upto - base); }
  };

  std::uint32_t down(std::uint32_t t) const { return t / b_ * b_; }
  /// The node of step i (starting at token `start`) if cached, else kNone.
  std::uint32_t find(const Holding& h, std::size_t i, std::uint32_t start) const;
  std::uint32_t create(Holding& h, std::size_t i, std::uint32_t start);
  std::uint32_t new_node();
  /// publish(); `own_tail`: also makes the sequence's own tail a node.
  void publish(Holding& h, std::uint32_t tokens, bool own_tail);
  void ref(std::uint32_t n);
  void unref(std::uint32_t n);
  void lru_push_back(std::uint32_t n);
  void lru_remove(std::uint32_t n);
  void free_node(std::uint32_t n);

  std::uint32_t b_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> free_;
  FlatMap64 index_;  // keyed nodes
  std::uint32_t lru_head_ = kNone, lru_tail_ = kNone;
  double referenced_ = 0, unreferenced_ = 0, evicted_ = 0;
  std::vector<std::uint32_t> found_;  // match() -> acquire(): node per path step
};

}  // namespace chatdc::serving

namespace chatdc::serving {

/// Prefix-aware routing inside a balancer cell: remembers which replica last took a request sharing
/// each key of a path (a bounded, direct-mapped table: an old entry is overwritten by a colliding new
/// one, as production routers keep only an approximate tree of recent prefixes).
class PrefixAffinity {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  explicit PrefixAffinity(std::size_t entries);
  /// The replica that last took a request sharing the deepest shared segment of `path` (kNone if
  /// none), and the token where that segment ends.
  std::uint32_t lookup(const Path& path, std::uint32_t* matched_end) const;
  /// The request with this path went to `replica`.
  void record(const Path& path, std::uint32_t replica);

 private:
  struct Entry {
    std::uint64_t key = 0;
    std::uint32_t replica = kNone;
  };
  std::size_t slot(std::uint64_t key) const;
  std::vector<Entry> table_;
};

}  // namespace chatdc::serving
