#include "model/dvfs.hpp"

#include <algorithm>

namespace chatdc::model {

double Dvfs::dynamic_factor(double f) {
  const double v = 1 - kVoltageSlope * (1 - f);
  return f * v * v;
}

double Dvfs::clock_for_cap(const GpuSpec& gpu, double cap_w) {
  const double dyn = gpu.compute_bound_power_w - gpu.idle_power_w;
  if (dyn <= 0 || cap_w >= gpu.compute_bound_power_w) return 1.0;
  const double want = std::max(0.0, (cap_w - gpu.idle_power_w) / dyn);
  if (dynamic_factor(kMinClockFraction) >= want) return kMinClockFraction;
  double lo = kMinClockFraction, hi = 1.0;  // dynamic_factor is increasing on [0.2, 1]
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (dynamic_factor(mid) <= want ? lo : hi) = mid;
  }
  return lo;
}

GpuSpec Dvfs::at_clock(const GpuSpec& gpu, double f) {
  GpuSpec g = gpu;
  if (f >= 1) return g;
  g.bf16_dense_tflops *= f;
  g.fp8_dense_tflops *= f;
  g.int8_dense_tops *= f;
  g.fp4_dense_tflops *= f;
  const double s = dynamic_factor(f);
  g.compute_bound_power_w = g.idle_power_w + (gpu.compute_bound_power_w - gpu.idle_power_w) * s;
  g.memory_bound_power_w = g.idle_power_w + (gpu.memory_bound_power_w - gpu.idle_power_w) * s;
  return g;
}

}  // namespace chatdc::model
