#include "model/expert_parallel.hpp"

#include <algorithm>
#include <cmath>

namespace chatdc::model {

double remote_nodes_per_token(int nodes, int experts_per_token) {
  if (nodes <= 1) return 0.0;
  const double n = nodes;
  return (n - 1.0) * (1.0 - std::pow(1.0 - 1.0 / n, experts_per_token));
}

AllToAllTime all_to_all(const AllToAllSpec& s, double tokens_per_gpu, double imbalance) {
  AllToAllTime out;
  if (tokens_per_gpu <= 0) return out;
  const double bytes_per_token = s.hidden * (s.dispatch_bytes_per_elt + s.combine_bytes_per_elt) * std::max(1.0, imbalance);
  out.network_bytes = tokens_per_gpu * remote_nodes_per_token(s.nodes, s.experts_per_token) * bytes_per_token;
  // A copy reaches its expert's GPU over NVLink unless that GPU is where it landed (its own GPU for a
  // local expert, the same-index GPU of a remote server): 1 - 1/g of the k copies, g GPUs per server.
  const double g = static_cast<double>(s.gpus) / std::max(1, s.nodes);
  out.nvlink_bytes = tokens_per_gpu * s.experts_per_token * (1.0 - 1.0 / g) * bytes_per_token;
  const double net_s = s.network_bytes_per_s > 0 ? out.network_bytes / s.network_bytes_per_s : 0.0;
  const double nvl_s = s.nvlink_bytes_per_s > 0 ? out.nvlink_bytes / s.nvlink_bytes_per_s : 0.0;
  out.time_s = 2.0 * s.latency_s + std::max(net_s, nvl_s);
  return out;
}

double busiest_gpu_assignments(double tokens, int experts_per_token, int ep) {
  const double m = tokens * experts_per_token / ep;
  if (ep <= 1 || m <= 0) return m;
  return m + std::sqrt(m * (1.0 - 1.0 / ep) * 2.0 * std::log(static_cast<double>(ep)));
}

}  // namespace chatdc::model
