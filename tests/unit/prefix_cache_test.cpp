// The prefix cache by hand: block granularity, hits, sharing, LRU eviction order and memory accounting.
#include <catch2/catch.hpp>

#include "serving/prefix_cache.hpp"

using namespace chatdc;
using serving::Holding;
using serving::PrefixCache;

namespace {
constexpr std::uint32_t kOpen = PrefixCache::kOpen;
constexpr std::uint64_t kDone = PrefixCache::kCompletedTails;

// A system prompt `sys` of `sys_end` tokens, then the sequence's own tokens.
Holding with_system(std::uint64_t sys, std::uint32_t sys_end) {
  Holding h;
  h.path = {{sys, sys_end}, {0, kOpen}};
  return h;
}
Holding own(std::uint64_t key = 0) {
  Holding h;
  h.path = {{key, kOpen}};
  return h;
}
void admit(PrefixCache& c, Holding& h, std::uint32_t tokens) { c.acquire(h, c.match(h, tokens)); }
}  // namespace

TEST_CASE("prefix cache: whole blocks, owned by the segment holding their last token") {
  PrefixCache c(16);
  Holding a = with_system(1, 100);
  admit(c, a, 150);
  CHECK(a.shared == 0);
  c.publish(a, 150);  // the prompt computed: blocks ending at 16..96 are the system prompt's, 112..144 its own
  CHECK(a.shared == 96);  // its own blocks stay its private KV while it runs
  CHECK(c.referenced() == 96);
  CHECK(c.unreferenced() == 0);
  c.release(a, 170, false);  // 20 answer tokens: one more full block (160)
  CHECK(c.referenced() == 0);
  CHECK(c.unreferenced() == 160);
  CHECK(c.check().empty());
  CHECK(c.eviction_order() == std::vector<std::uint64_t>{kDone, 1});  // its own tail before the system prompt
  CHECK(c.nodes() == 2);
}

TEST_CASE("prefix cache: a hit stops at the first uncached block and leaves the last token to compute") {
  PrefixCache c(16);
  Holding a = with_system(1, 100);
  admit(c, a, 150);
  c.release(a, 150, false);
  Holding b = with_system(1, 100);
  const auto m = c.match(b, 300);
  CHECK(m.hit == 96);      // the block ending at 112 holds system tokens 96..99 and a's own tokens
  CHECK(m.pinned == 96);   // the system prompt's node, unreferenced until b takes it
  c.acquire(b, m);
  CHECK(c.referenced() == 96);
  CHECK(c.unreferenced() == 144 - 96);
  // Prompts entirely cached: at least the last token is computed, so the hit stops a block short.
  Holding d = with_system(1, 100);
  CHECK(c.match(d, 97).hit == 96);
  CHECK(c.match(d, 96).hit == 80);
  CHECK(c.match(d, 16).hit == 0);
  CHECK(c.check().empty());
}

TEST_CASE("prefix cache: sequences sharing blocks count them once; a duplicate is freed when published") {
  PrefixCache c(16);
  Holding a = with_system(1, 64), b = with_system(1, 64);
  admit(c, a, 100);  // both admitted before either is computed: no hit
  admit(c, b, 100);
  CHECK(a.shared == 0);
  CHECK(b.shared == 0);
  c.publish(a, 100);  // 64 system tokens (its own blocks ending at 80, 96 stay private)
  c.publish(b, 100);  // shares a's system blocks: its own copy is freed
  CHECK(a.shared == 64);
  CHECK(b.shared == 64);
  CHECK(c.referenced() == 64);
  c.release(a, 100, false);
  CHECK(c.referenced() == 64);  // b still holds the system prompt
  CHECK(c.unreferenced() == 32);
  c.release(b, 100, false);
  CHECK(c.unreferenced() == 128);
  CHECK(c.eviction_order() == std::vector<std::uint64_t>{kDone, 1});  // the two completed tails merged
  CHECK(c.check().empty());
}

TEST_CASE("prefix cache: least recently used first, a sequence's blocks from its end, parents after children") {
  PrefixCache c(16);
  Holding a = with_system(1, 64), b = with_system(2, 64), a2 = with_system(1, 64);
  admit(c, a, 128);
  c.publish(a, 128);
  admit(c, b, 128);
  c.publish(b, 128);
  c.release(a, 128, false);  // a first: its tail, then system prompt 1
  c.release(b, 128, false);  // then b: its tail, then system prompt 2
  CHECK(c.eviction_order() == std::vector<std::uint64_t>{kDone, 1, kDone, 2});
  admit(c, a2, 200);  // uses system prompt 1 again: no longer evictable
  CHECK(c.eviction_order() == std::vector<std::uint64_t>{kDone, kDone, 2});
  c.release(a2, 80, false);  // and releases it last: now the most recently used
  CHECK(c.eviction_order() == std::vector<std::uint64_t>{kDone, kDone, 2, kDone, 1});
  // 256 tokens unreferenced: 64 + 64 (tails of a, b), 64 (system 2), 16 (a2's tail), 64 (system 1).
  CHECK(c.unreferenced() == 272);
  c.evict_to(272 - 40);  // 40 tokens: 3 whole blocks from the front, a's tail
  CHECK(c.unreferenced() == 272 - 48);
  CHECK(c.eviction_order() == std::vector<std::uint64_t>{kDone, kDone, 2, kDone, 1});
  CHECK(c.unreferenced_after(100) == 96);  // what evict_to(100) would leave, without evicting
  c.evict_to(100);  // 124 tokens: 8 blocks: a's last, b's tail (4), then system 2 from its end (3 of 4)
  CHECK(c.unreferenced() == 96);
  CHECK(c.eviction_order() == std::vector<std::uint64_t>{2, kDone, 1});
  Holding b2 = with_system(2, 64);
  CHECK(c.match(b2, 200).hit == 16);  // what is left of system prompt 2: its first block
  Holding a3 = with_system(1, 64);
  CHECK(c.match(a3, 200).hit == 64);
  c.evict_to(0);
  CHECK(c.nodes() == 0);
  CHECK(c.check().empty());
}

TEST_CASE("prefix cache: a conversation's next turn hits the whole history, answer included") {
  PrefixCache c(16);
  Holding t1 = own(5);
  admit(c, t1, 800);
  c.publish(t1, 800);
  c.release(t1, 800 + 200, false);  // KV of the prompt and 200 answer tokens (the last is never fed back)
  Holding t2 = own(5);
  const auto m = c.match(t2, 1001 + 50);
  CHECK(m.hit == 992);  // blocks up to the last full one of turn 1
  c.acquire(t2, m);
  c.publish(t2, 1051);
  CHECK(t2.shared == 1040);
  CHECK(c.check().empty());
}

TEST_CASE("prefix cache: a preempted sequence finds its own blocks; a key elsewhere is not a match") {
  PrefixCache c(16);
  Holding x = own();
  admit(c, x, 200);
  c.publish(x, 200);
  c.release(x, 250, true);  // preempted holding 250 tokens: it will look for them
  CHECK(c.match(x, 251).hit == 240);
  Holding y = own();  // someone else's own tail: never found
  CHECK(c.match(y, 251).hit == 0);
  c.evict_to(0);
  CHECK(c.match(x, 251).hit == 0);  // evicted: the handle is stale
  // Key 9 cached at the start of a prompt, then met after another segment: a different prefix.
  Holding p = own(9);
  admit(c, p, 64);
  c.release(p, 64, false);
  Holding q;
  q.path = {{7, 40}, {9, kOpen}};
  const auto m = c.match(q, 200);  // nothing of key 7 (blocks ending at 16, 32), so nothing after it
  CHECK(m.hit == 0);
  c.acquire(q, m);
  c.publish(q, 200);  // key 7's blocks are published; key 9 is kept private
  CHECK(q.shared == 32);
  CHECK(c.check().empty());
}
