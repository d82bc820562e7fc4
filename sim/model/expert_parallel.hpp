// Pure core: expert parallelism across servers (deployment units of several nodes, as DeepSeek serves
// DeepSeek-V3/R1): the all-to-all dispatch and combine of one mixture-of-experts layer over the
// servers' network and NVLink, and the expert load left after an expert-parallel balancer.
// Equations, units and sources: README, "Deployment units spanning servers".
#pragma once

namespace chatdc::model {

/// The shape of a unit's all-to-all (per MoE layer, per GPU).
struct AllToAllSpec {
  int nodes = 1;                      // servers in the unit
  int gpus = 1;                       // GPUs in the unit (every one holds experts: expert_parallel = gpus)
  int experts_per_token = 1;          // k
  double hidden = 0;                  // h, elements per token
  double dispatch_bytes_per_elt = 1;  // FP8 dispatch: 1 byte + one 4-byte scale per 128 elements
  double combine_bytes_per_elt = 2;   // BF16 combine
  double network_bytes_per_s = 0;     // per GPU and direction, achieved (NIC share x efficiency)
  double nvlink_bytes_per_s = 0;      // per GPU and direction, achieved
  double latency_s = 0;               // fixed time of one dispatch or combine (kernel + network route)
};

/// Expected distinct other servers one token's k experts land on, the experts spread evenly over
/// `nodes` servers: (n - 1) (1 - (1 - 1/n)^k). A token goes once to each server it needs (then over
/// NVLink to the GPUs there), as DeepEP's normal kernels forward.
double remote_nodes_per_token(int nodes, int experts_per_token);

struct AllToAllTime {
  double network_bytes = 0;  // per GPU, dispatch + combine, one direction
  double nvlink_bytes = 0;   // per GPU, dispatch + combine, one direction
  double time_s = 0;         // dispatch + combine of one layer
};

/// One MoE layer's dispatch and combine for `tokens_per_gpu` tokens held by each GPU, when the busiest
/// GPU receives `imbalance` (>= 1) times the mean: each of network and NVLink carries its bytes at its
/// rate, the two overlap (DeepEP drives both at once), and each of dispatch and combine pays latency_s.
///   network = t * R * h * (b_dispatch + b_combine) * imbalance,   R = remote_nodes_per_token
///   nvlink  = t * k * (1 - 1/g) * h * (b_dispatch + b_combine) * imbalance,   g = GPUs per server
///   time    = 2 * latency + max(network / BW_net, nvlink / BW_nvl)
AllToAllTime all_to_all(const AllToAllSpec& s, double tokens_per_gpu, double imbalance);

/// Expected assignments on the busiest of `ep` GPUs when `tokens` tokens each pick k experts spread
/// evenly over them (after the expert-parallel balancer has equalised the experts' expected loads): the
/// multinomial's expected maximum, normal approximation, m + sqrt(m (1 - 1/ep) 2 ln ep), m = T k / ep.
double busiest_gpu_assignments(double tokens, int experts_per_token, int ep);

}  // namespace chatdc::model
