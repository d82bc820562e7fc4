#include "model/power.hpp"

#include <algorithm>

namespace chatdc::model {

double ServerPowerSpec::server_energy_j(double gpu_energy_j, double dt_s) const {
  if (dt_s <= 0) return 0.0;
  const double idle_j = gpus * gpu_idle_w * dt_s;
  const double span_j = gpus * (gpu_tdp_w - gpu_idle_w) * dt_s;
  const double u = span_j > 0 ? std::clamp((gpu_energy_j - idle_j) / span_j, 0.0, 1.0) : 0.0;
  return gpu_energy_j + (non_gpu_idle_w + (non_gpu_max_w - non_gpu_idle_w) * u) * dt_s;
}

}  // namespace chatdc::model
