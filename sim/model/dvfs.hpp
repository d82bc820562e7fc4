// Pure core: a GPU under a power cap or a locked clock (DVFS).
//
// A GPU's SM clock f (a fraction of its maximum) sets its tensor-core peak (FLOP/s ∝ f); HBM bandwidth
// does not depend on it (the memory clock is separate). Dynamic power follows f·V², with the voltage
// falling linearly with the clock over the DVFS range:
//
//   V(f) / V(1) = 1 − k·(1 − f)                                      k = 0.31 (below)
//   P_comp(f)   = P_idle + (P_comp − P_idle) · f · (V(f)/V(1))²      tensor cores saturated (prefill)
//   P_mem(f)    = P_idle + (P_mem − P_idle)  · f · (V(f)/V(1))²      streaming HBM (decode)
//   peak(f)     = peak · f                                            every tensor-core format
//
// A power cap W is met by the highest clock at which a compute-bound kernel draws at most W:
// P_comp(f) = W (bisection); a cap at or above P_comp(1) changes nothing. The step model then runs at
// that clock: compute-bound kernels (prefill) take 1/f as long, memory-bound ones (decode) keep their
// HBM time until FLOPs/(peak·f) overtakes it, so decode is far less sensitive (Splitwise's H100 data:
// a 70% cap raises TTFT by ~30% and leaves TBT unchanged; Ma et al. 2026: H200 decode draws 137–300 W
// and a 700 W cap never triggers). k is fitted to that Splitwise point: a 490 W cap on a 700 W H100
// (idle 75 W) slowing prefill by 1.3 gives f = 0.77, f·V² = 0.664, V = 0.928.
// Fixed per-layer and collective latencies and the CPU's time are taken as independent of the clock.
#pragma once
#include "model/specs.hpp"

namespace chatdc::model {

struct Dvfs {
  static constexpr double kVoltageSlope = 0.31;      // k: V(f)/V(1) = 1 - k (1 - f)
  static constexpr double kMinClockFraction = 0.2;   // the lowest clock chatdc models, a fraction of the maximum
  static constexpr double kMinCapFractionOfTdp = 0.3;  // nvidia-smi's minimum power limit: A100 SXM 100 of 400 W, H100 SXM 200 of 700 W

  /// f · (V(f)/V(1))²: the dynamic power's factor at clock fraction f.
  static double dynamic_factor(double f);
  /// The highest clock fraction (>= kMinClockFraction, <= 1) at which a compute-bound kernel draws at most cap_w.
  static double clock_for_cap(const GpuSpec& gpu, double cap_w);
  /// The lowest cap chatdc accepts for this GPU, W.
  static double min_cap_w(const GpuSpec& gpu) { return kMinCapFractionOfTdp * gpu.tdp_w; }
  /// The GPU at clock fraction f: peaks scaled by f, compute- and memory-bound power by the dynamic factor.
  static GpuSpec at_clock(const GpuSpec& gpu, double f);
};

}  // namespace chatdc::model
