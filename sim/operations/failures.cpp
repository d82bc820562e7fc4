#include "operations/failures.hpp"

#include <algorithm>

#include "core/rng.hpp"

namespace chatdc::operations {

std::vector<Outage> draw_failures(std::uint32_t dc, const std::string& dc_name, std::uint32_t servers, double mtbf_s,
                                  double mttr_s, double horizon_s, std::uint64_t seed) {
  std::vector<Outage> out;
  if (!(mtbf_s > 0) || servers == 0) return out;
  Rng rng = Rng::stream(seed, "failures/" + dc_name);
  for (std::uint32_t s = 0; s < servers; ++s) {
    // Server by server, in order, from one stream: the seed fixes every draw.
    double t = rng.exponential(mtbf_s);
    while (t < horizon_s) {
      const double repair = rng.exponential(mttr_s);
      out.push_back({t, repair, dc, s, false});
      t += repair + rng.exponential(mtbf_s);
    }
  }
  std::sort(out.begin(), out.end(), [](const Outage& a, const Outage& b) {
    return a.start_s < b.start_s || (a.start_s == b.start_s && a.server < b.server);
  });
  return out;
}

std::vector<Outage> maintenance_window(std::uint32_t dc, std::uint32_t servers, std::uint32_t count, double start_s,
                                       double duration_s) {
  std::vector<Outage> out;
  count = std::min(count, servers);
  for (std::uint32_t k = 0; k < count; ++k)
    out.push_back({start_s, duration_s, dc, static_cast<std::uint32_t>(static_cast<std::uint64_t>(k) * servers / count), true});
  return out;
}

}  // namespace chatdc::operations
