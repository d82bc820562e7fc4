#include "config/wan_paths.hpp"

#include <algorithm>
#include <limits>

namespace chatdc::config {

std::vector<std::vector<std::optional<std::vector<WanHop>>>> wan_paths(std::size_t n, const std::vector<WanLinkSpec>& wan) {
  std::vector<std::vector<std::optional<std::vector<WanHop>>>> out(n, std::vector<std::optional<std::vector<WanHop>>>(n));
  for (std::size_t src = 0; src < n; ++src) {
    // Dijkstra on latency (few regions: the quadratic version is enough). Ties: fewer hops, then lower link index.
    std::vector<double> dist(n, std::numeric_limits<double>::infinity());
    std::vector<std::size_t> hops(n, 0);
    std::vector<std::optional<WanHop>> via(n);
    std::vector<std::size_t> prev(n, n);
    std::vector<bool> done(n, false);
    dist[src] = 0;
    for (std::size_t it = 0; it < n; ++it) {
      std::size_t u = n;
      for (std::size_t v = 0; v < n; ++v)
        if (!done[v] && (u == n || dist[v] < dist[u])) u = v;
      if (u == n || dist[u] == std::numeric_limits<double>::infinity()) break;
      done[u] = true;
      for (std::uint32_t l = 0; l < wan.size(); ++l) {
        const auto& w = wan[l];
        std::size_t v;
        bool fwd;
        if (w.from_index == u) {
          v = w.to_index;
          fwd = true;
        } else if (w.to_index == u) {
          v = w.from_index;
          fwd = false;
        } else {
          continue;
        }
        const double d = dist[u] + w.latency_ms;
        if (d < dist[v] || (d == dist[v] && hops[u] + 1 < hops[v])) {
          dist[v] = d;
          hops[v] = hops[u] + 1;
          via[v] = WanHop{l, fwd};
          prev[v] = u;
        }
      }
    }
    for (std::size_t dst = 0; dst < n; ++dst) {
      if (dist[dst] == std::numeric_limits<double>::infinity()) continue;
      std::vector<WanHop> path;
      for (std::size_t v = dst; v != src; v = prev[v]) path.push_back(*via[v]);
      std::reverse(path.begin(), path.end());
      out[src][dst] = path;
    }
  }
  return out;
}

}  // namespace chatdc::config
