// Config layer: workload.batch (deferrable batch work), read and checked against physics: placement at
// the cheapest candidate datacenter over each job's window, and deadlines no fleet could meet.
#pragma once
#include "config/reader.hpp"
#include "config/scenario.hpp"

namespace chatdc::config {

/// Reads workload.batch into s.workload.batch (platform, run, serving and model already read).
void read_batch(Reader r, Scenario& s);

/// Lower bounds on the time a batch job needs at datacenter spec `dc` (s, the roofline step model): one
/// request alone (its prefill, then its decode steps at batch 1), and the day's whole output volume
/// decoded by every replica at the largest batch its KV cache holds (prefills not counted).
struct BatchBounds {
  double one_request_s = 0, volume_s = 0;
  double prompt_step_s = 0;  // a step that prefills one batch prompt (or its first chunk) and nothing else
  std::uint32_t batch = 1;  // the batch of the volume bound
};
BatchBounds batch_bounds(const Scenario& s, const DatacenterSpec& dc, const BatchJobSpec& job);

}  // namespace chatdc::config
