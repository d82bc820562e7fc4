// Engine (SimGrid): runs a scenario at day scale and writes its outputs.
//
// SimGrid carries the clock, the platform (its routes give every network delay) and the energy:
// one controller actor wakes once per sample period; at each wake-up the pure serving model
// (serving::ServingSystem) advances through every request event of the coming period, hands back
// each server's energy for it, and the controller sets each server host to the power level
// (pstate) whose wattage integrates to that energy (error diffusion carries the rounding into the
// next period). SimGrid's host energy plugin integrates power over time; the accounting reads it
// back per datacenter. SimGrid activities: one sleep per sample period, whatever the traffic.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "config/scenario.hpp"

namespace chatdc::engine {

struct RunOptions {
  std::string output_dir;  // overrides the scenario's run.output_dir when not empty
  bool progress = false;   // progress lines on stderr
  bool quiet = false;      // no summary on stdout
  // Shard `shard` of `shards` (shards > 0): simulate only that share of the balancer cells and write
  // shard.cbor (metrics/shard.hpp) instead of the run's outputs; `chatdc merge` combines the shards.
  std::uint32_t shard = 0, shards = 0;
};

struct RunResult {
  std::string output_dir;
  double wall_s = 0;
  double simulated_s = 0;
  std::uint64_t requests = 0;
  nlohmann::ordered_json summary;  // empty for a shard
  std::uint32_t first_cell = 0, last_cell = 0;  // a shard's cells
  std::vector<std::string> extra_files;          // written beside the four (requests.csv, timeline detail)
};

/// Simulates the scenario with its engine (run.engine: day or fine) and writes summary.json,
/// timeline.csv, hourly.csv and scenario.resolved.yaml. One SimGrid simulation per process: call once.
RunResult run_scenario(const config::Scenario& s, const RunOptions& options);

}  // namespace chatdc::engine
