// Pure core: server power.
//
// A server's IT power is its GPUs' power plus everything else (CPUs, memory, NICs, fans, PSU losses):
//   P_server = P_gpus + P_ng_idle + (P_ng_max - P_ng_idle) * u,
//   u = (P_gpus - n * P_gpu_idle) / (n * (P_gpu_tdp - P_gpu_idle))  clamped to [0, 1]
// i.e. the non-GPU part follows the GPUs' dynamic power (fans and PSU losses track heat). The GPU
// power itself comes from the step model (phase by phase). Because this is affine in P_gpus, the
// energy over an interval follows from the GPUs' energy over it exactly.
#pragma once

namespace chatdc::model {

struct ServerPowerSpec {
  int gpus = 8;
  double gpu_idle_w = 0;
  double gpu_tdp_w = 0;
  double non_gpu_idle_w = 0;
  double non_gpu_max_w = 0;

  double idle_w() const { return gpus * gpu_idle_w + non_gpu_idle_w; }
  double max_w() const { return gpus * gpu_tdp_w + non_gpu_max_w; }
  /// IT energy (J) of one server over dt_s seconds in which its GPUs drew gpu_energy_j.
  double server_energy_j(double gpu_energy_j, double dt_s) const;
};

}  // namespace chatdc::model
