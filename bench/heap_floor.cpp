// bench: the practical floor of a discrete-event simulation of this size, a bare binary-heap event
// loop (std::priority_queue) over the same number of events and sources, doing nothing but drawing
// the next event time of the source it pops. chatdc's rate is compared against this figure.
//
// Usage: heap_floor EVENTS SOURCES     prints events per wall-second
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <queue>
#include <vector>

#include "core/rng.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: heap_floor EVENTS SOURCES\n");
    return 2;
  }
  const auto events = static_cast<std::uint64_t>(std::atof(argv[1]));
  const auto sources = static_cast<std::uint32_t>(std::atof(argv[2]));
  using Item = std::pair<double, std::uint32_t>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
  chatdc::Rng rng(1);
  for (std::uint32_t s = 0; s < sources; ++s) heap.push({rng.exponential(1.0), s});
  const auto t0 = std::chrono::steady_clock::now();
  double check = 0;
  for (std::uint64_t e = 0; e < events; ++e) {
    const Item top = heap.top();
    heap.pop();
    check += top.first;
    heap.push({top.first + rng.exponential(1.0), top.second});
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.0f events in %.3f s: %.2f M events/s (checksum %.3g)\n", static_cast<double>(events), wall, events / wall / 1e6, check);
  return 0;
}
