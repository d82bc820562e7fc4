// Sharded days, the pure parts: which cells a shard simulates (by hand), and latency sets saved in one
// process and added in another giving exactly the set one process would have held.
#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "metrics/quantiles.hpp"
#include "serving/system.hpp"

using namespace chatdc;

namespace {

std::vector<serving::CellInfo> cells_of(const std::vector<std::uint32_t>& replicas) {
  std::vector<serving::CellInfo> c;
  std::uint32_t r = 0;
  for (std::uint32_t k = 0; k < replicas.size(); ++k) {
    c.push_back({0, k, 1, r, replicas[k]});
    r += replicas[k];
  }
  return c;
}

}  // namespace

TEST_CASE("shard cells: contiguous, never empty, covering every cell, balanced by replicas", "[unit][shard]") {
  // Five equal cells of 4 replicas, two shards: boundary at the first cell whose middle lies beyond 10
  // of the 20 replicas: cell 0 ends at 4, cell 1 at 8, cell 2's middle is at 10 (not beyond): [0,2) [2,5).
  auto c = cells_of({4, 4, 4, 4, 4});
  CHECK(serving::shard_cells(c, 0, 2) == std::pair<std::uint32_t, std::uint32_t>{0, 2});
  CHECK(serving::shard_cells(c, 1, 2) == std::pair<std::uint32_t, std::uint32_t>{2, 5});
  // One big cell and four small: the big one alone is half the replicas and more.
  c = cells_of({8, 1, 1, 1, 1});
  CHECK(serving::shard_cells(c, 0, 2) == std::pair<std::uint32_t, std::uint32_t>{0, 1});
  CHECK(serving::shard_cells(c, 1, 2) == std::pair<std::uint32_t, std::uint32_t>{1, 5});
  // Every N from 1 to the number of cells tiles the cells with non-empty ranges.
  c = cells_of({3, 7, 2, 2, 9, 1, 4});
  for (std::uint32_t n = 1; n <= c.size(); ++n) {
    std::uint32_t next = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto [first, last] = serving::shard_cells(c, i, n);
      INFO("shard " << i << "/" << n);
      CHECK(first == next);
      CHECK(last > first);
      next = last;
    }
    CHECK(next == c.size());
  }
}

TEST_CASE("latency sets saved and added elsewhere equal one process's set, bit for bit", "[unit][shard]") {
  for (const auto mode : {metrics::Quantiles::Mode::kExact, metrics::Quantiles::Mode::kSketch}) {
    std::mt19937_64 rng(5);
    std::lognormal_distribution<double> d(-1.0, 1.2);
    std::vector<double> xs(20000);
    for (auto& x : xs) x = d(rng);
    metrics::Quantiles one(mode), a(mode), b(mode), merged(mode);
    for (const double x : xs) one.add(x);
    for (std::size_t i = 0; i < xs.size(); ++i) (i % 3 == 0 ? a : b).add(xs[i]);  // two shards' requests
    // Shard b's set crosses a process boundary; shard a's is added the same way after it (another order).
    for (const auto* q : {&b, &a}) {
      std::vector<std::uint64_t> words;
      std::vector<float> values;
      q->save(&words, &values);
      std::size_t pos = 0, vpos = 0;
      REQUIRE(merged.add_saved(words, &pos, values, &vpos));
      CHECK(pos == words.size());
      CHECK(vpos == values.size());
    }
    CHECK(merged.count() == one.count());
    CHECK(std::bit_cast<std::uint64_t>(merged.mean()) == std::bit_cast<std::uint64_t>(one.mean()));
    CHECK(merged.max() == one.max());
    for (const double q : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) CHECK(merged.quantile(q) == one.quantile(q));
    // A damaged record is refused, not read past its end.
    std::vector<std::uint64_t> words;
    std::vector<float> values;
    a.save(&words, &values);
    words.resize(words.size() / 2);
    std::size_t pos = 0, vpos = 0;
    metrics::Quantiles c(mode);
    CHECK_FALSE(c.add_saved(words, &pos, values, &vpos));
  }
}
