#include "operations/power_cap.hpp"

#include <fmt/format.h>

#include "model/dvfs.hpp"

namespace chatdc::operations {

PowerCap resolve_power_cap(const model::GpuSpec& gpu, const model::ServerPowerSpec& server, std::uint32_t servers,
                           const PowerCapConfig& c) {
  using model::Dvfs;
  const auto fleet_kw = [&](double f) {
    const double gpu_w = Dvfs::at_clock(gpu, f).compute_bound_power_w;
    return servers * server.server_energy_j(server.gpus * gpu_w, 1.0) / 1000.0;
  };
  PowerCap p;
  if (c.gpu_clock_fraction > 0) p.clock_fraction = c.gpu_clock_fraction;
  if (c.gpu_power_cap_w > 0) p.clock_fraction = std::min(p.clock_fraction, Dvfs::clock_for_cap(gpu, c.gpu_power_cap_w));
  if (c.site_budget_kw > 0 && fleet_kw(p.clock_fraction) > c.site_budget_kw) {
    const double lowest = fleet_kw(Dvfs::kMinClockFraction);
    if (lowest > c.site_budget_kw) {
      p.error = fmt::format("{} servers draw {:.1f} kW at most even at the lowest clock ({:.0f}% of the maximum); the "
                            "budget must be at least that, or the datacenter smaller",
                            servers, lowest, 100 * Dvfs::kMinClockFraction);
    } else {
      double lo = Dvfs::kMinClockFraction, hi = p.clock_fraction;  // fleet_kw increases with the clock
      for (int i = 0; i < 100; ++i) {
        const double mid = 0.5 * (lo + hi);
        (fleet_kw(mid) <= c.site_budget_kw ? lo : hi) = mid;
      }
      p.clock_fraction = lo;
      p.budget_binding = true;
    }
  }
  p.gpu_power_cap_w = Dvfs::at_clock(gpu, p.clock_fraction).compute_bound_power_w;
  p.fleet_max_kw = fleet_kw(p.clock_fraction);
  return p;
}

}  // namespace chatdc::operations
