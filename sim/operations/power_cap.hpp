// Pure core: a datacenter's GPU power cap, locked clock and site power budget, resolved to one clock.
//
//   cap W:        the clock at which a compute-bound kernel draws W (model/dvfs.*)
//   clock f:      the GPUs' clocks locked at f of their maximum
//   budget B kW:  the datacenter's IT power, every server at its most (all GPUs compute-bound), must fit:
//                 servers x P_server(gpus x P_comp(f)) <= B; when the cap or clock above would exceed it,
//                 the clock is lowered until it fits (bisection), as a power-capping controller caps the
//                 GPUs of an oversubscribed site (POLCA, Patel et al. 2024). A budget that even the lowest
//                 clock cannot meet is an error.
// The result holds for the whole day (every server counted, on or off: the budget is provisioned).
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "model/power.hpp"
#include "model/specs.hpp"

namespace chatdc::operations {

struct PowerCapConfig {
  double gpu_power_cap_w = 0;     // 0: none
  double gpu_clock_fraction = 0;  // 0: none (the GPU's own clock management)
  double site_budget_kw = 0;      // 0: none
  // By the datacenter's local hour (gpu_power_cap_w_by_hour, gpu_clock_fraction_by_hour), each hour 0 = none;
  // given instead of the fixed key of the same kind.
  bool cap_by_hour = false, clock_by_hour = false;
  std::array<double, 24> gpu_power_cap_w_by_hour{}, gpu_clock_fraction_by_hour{};
  bool hourly() const { return cap_by_hour || clock_by_hour; }
  bool any() const {
    for (int h = 0; h < 24; ++h)
      if (at_hour(h).any_fixed()) return true;
    return false;
  }
  bool any_fixed() const { return gpu_power_cap_w > 0 || gpu_clock_fraction > 0 || site_budget_kw > 0; }
  /// The fixed configuration of local hour h (0..23): the hour's cap or clock, the budget.
  PowerCapConfig at_hour(int h) const {
    PowerCapConfig c;
    c.gpu_power_cap_w = cap_by_hour ? gpu_power_cap_w_by_hour[h] : gpu_power_cap_w;
    c.gpu_clock_fraction = clock_by_hour ? gpu_clock_fraction_by_hour[h] : gpu_clock_fraction;
    c.site_budget_kw = site_budget_kw;
    return c;
  }
};

struct PowerCap {
  double clock_fraction = 1;     // the GPUs' clock, a fraction of the maximum
  double gpu_power_cap_w = 0;    // what a GPU draws at most at that clock (compute-bound), W
  double fleet_max_kw = 0;       // every server at its most at that clock, kW
  bool budget_binding = false;   // the site budget lowered the clock
  std::string error;             // non-empty: the budget cannot be met
};

/// The clock of a datacenter's GPUs under `c` (servers of `server` power, `servers` of them).
PowerCap resolve_power_cap(const model::GpuSpec& gpu, const model::ServerPowerSpec& server, std::uint32_t servers,
                           const PowerCapConfig& c);

}  // namespace chatdc::operations
