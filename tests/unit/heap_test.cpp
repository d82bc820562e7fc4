#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <queue>

#include "core/fifo.hpp"
#include "core/flat_map.hpp"
#include "core/indexed_heap.hpp"
#include "core/quad_heap.hpp"
#include "core/tournament_tree.hpp"
#include "core/rng.hpp"
#include "serving/least_outstanding.hpp"

using namespace chatdc;

TEST_CASE("indexed heap pops in (time, id) order and moves keys both ways") {
  IndexedHeap h(5);
  h.update(3, 2.0);
  h.update(1, 2.0);
  h.update(4, 1.0);
  CHECK(h.top() == 4);
  h.update(4, 5.0);  // moved later
  CHECK(h.top() == 1);  // tie at 2.0 broken by id
  h.update(1, IndexedHeap::kNever);
  CHECK(h.top() == 3);
  h.update(0, 0.5);  // moved earlier
  CHECK(h.top() == 0);
  CHECK(h.top_time() == 0.5);
}

TEST_CASE("indexed heap agrees with a brute-force minimum under random updates") {
  Rng rng(7);
  IndexedHeap h(50);
  std::vector<double> key(50, IndexedHeap::kNever);
  for (int i = 0; i < 20000; ++i) {
    const auto id = static_cast<std::uint32_t>(rng.below(50));
    key[id] = rng.uniform() < 0.1 ? IndexedHeap::kNever : std::floor(rng.uniform() * 100);
    h.update(id, key[id]);
    std::uint32_t best = 0;
    for (std::uint32_t k = 1; k < 50; ++k)
      if (key[k] < key[best]) best = k;
    REQUIRE(h.top_time() == key[best]);
    if (key[best] != IndexedHeap::kNever) REQUIRE(h.top() == best);
  }
}

TEST_CASE("least-outstanding balancing rotates ties and follows counts") {
  serving::LeastOutstanding lo(3);
  std::vector<std::uint32_t> picks;
  for (int i = 0; i < 6; ++i) {
    const auto r = lo.pick();
    picks.push_back(r);
    lo.increment(r);
  }
  CHECK(picks == std::vector<std::uint32_t>{0, 1, 2, 0, 1, 2});  // round-robin among equals
  lo.decrement(1);
  lo.decrement(1);  // replica 1 now has 0 outstanding, the others 2
  CHECK(lo.pick() == 1);
  CHECK(lo.outstanding(0) == 2);
  CHECK(lo.outstanding(1) == 0);
}

TEST_CASE("named random streams are reproducible and independent") {
  Rng a = Rng::stream(42, "arrivals/0"), b = Rng::stream(42, "arrivals/0"), c = Rng::stream(42, "tokens");
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    REQUIRE(x == b.next_u64());
    REQUIRE(x != c.next_u64());
  }
}

TEST_CASE("tournament tree gives the indexed heap's (time, id) order under random updates") {
  for (const std::uint32_t n : {1u, 2u, 5u, 8u, 9u, 64u, 129u, 1000u}) {
    Rng rng(11 + n);
    IndexedHeap h(n);
    TournamentTree t(n);
    CHECK(t.top_time() == TournamentTree::kNever);
    for (int i = 0; i < 20000; ++i) {
      const auto id = static_cast<std::uint32_t>(rng.below(n));
      const double key = rng.uniform() < 0.1 ? IndexedHeap::kNever : std::floor(rng.uniform() * 20);  // many ties
      h.update(id, key);
      t.update(id, key);
      REQUIRE(t.top_time() == h.top_time());
      if (h.top_time() != IndexedHeap::kNever) REQUIRE(t.top() == h.top());
      REQUIRE(t.time_of(id) == key);
    }
  }
}

TEST_CASE("4-ary heap pops what a binary heap pops, under random pushes and pops") {
  Rng rng(5);
  QuadHeap<std::uint64_t, std::less<>> q;
  std::priority_queue<std::uint64_t, std::vector<std::uint64_t>, std::greater<>> ref;
  for (int i = 0; i < 50000; ++i) {
    if (ref.empty() || rng.uniform() < 0.55) {
      const std::uint64_t x = rng.below(1000);  // many equal values
      q.push(x);
      ref.push(x);
    } else {
      REQUIRE(q.top() == ref.top());
      q.pop();
      ref.pop();
    }
    REQUIRE(q.size() == ref.size());
    if (!ref.empty()) {
      REQUIRE(q.top() == ref.top());
      for (std::size_t k = 1; k <= 4 && k < q.size(); ++k) REQUIRE(q.at(k) >= q.top());
    }
  }
}

namespace {
struct Keyed {
  int key, seq;
  bool operator<(const Keyed& o) const { return key < o.key; }
};
}  // namespace

TEST_CASE("sorted FIFO pops in key order, equal keys first in first out") {
  Rng rng(9);
  Fifo<Keyed> q;
  std::multimap<int, int> ref;  // equal keys keep insertion order
  int clock = 0, seq = 0;
  for (int i = 0; i < 100000; ++i) {
    if (ref.empty() || rng.uniform() < 0.5) {
      // Nearly in order: mostly now, sometimes a little ahead (as a merged step's completions).
      const int key = clock + (rng.uniform() < 0.2 ? static_cast<int>(rng.below(50)) : 0);
      q.push_sorted({key, seq});
      ref.emplace(key, seq++);
    } else {
      REQUIRE(q.front().key == ref.begin()->first);
      REQUIRE(q.front().seq == ref.begin()->second);
      clock = q.front().key;
      q.pop_front();
      ref.erase(ref.begin());
    }
    REQUIRE(q.size() == ref.size());
  }
}

TEST_CASE("FlatMap64 agrees with std::map under random inserts, overwrites and erases") {
  FlatMap64 m;
  std::map<std::uint64_t, std::uint32_t> ref;
  Rng rng(7);
  for (int step = 0; step < 200000; ++step) {
    // Keys from a small range collide in the table; some are huge.
    const std::uint64_t key = rng.uniform() < 0.9 ? 1 + rng.below(3000) : rng.next_u64() | 1;
    const double op = rng.uniform();
    if (op < 0.5) {
      const auto v = static_cast<std::uint32_t>(rng.below(1000000));
      m.insert_or_assign(key, v);
      ref[key] = v;
    } else if (op < 0.8) {
      m.erase(key);
      ref.erase(key);
    } else {
      const auto it = ref.find(key);
      REQUIRE(m.find(key) == (it == ref.end() ? FlatMap64::kAbsent : it->second));
    }
    REQUIRE(m.size() == ref.size());
  }
  std::size_t seen = 0;
  m.for_each([&](std::uint64_t k, std::uint32_t v) {
    ++seen;
    CHECK(ref.at(k) == v);
  });
  CHECK(seen == ref.size());
}
