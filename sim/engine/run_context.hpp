// Engine (SimGrid): what every engine of a run shares: the SimGrid Engine and platform, the pure
// serving system with its workload, router, recorder and accounting, and writing the outputs.
// One RunContext per process (SimGrid allows one simulation per process).
#pragma once
#include <simgrid/s4u.hpp>

#include <chrono>
#include <memory>

#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "engine/day_engine.hpp"
#include "engine/platform.hpp"
#include "metrics/accounting.hpp"
#include "metrics/outputs.hpp"
#include "metrics/recorder.hpp"
#include "metrics/shard.hpp"
#include "serving/router.hpp"
#include "serving/system.hpp"

namespace chatdc::engine {

struct RunContext {
  RunContext(const config::Scenario& scenario, const RunOptions& options, int power_levels);
  double wall_s() const;
  /// Reads every server's energy from SimGrid's plugin since the last call, summed per datacenter (J).
  std::vector<double> read_it_energy_j();
  /// A closed sample period: its energy read, accounted, and kept for the shard and timeline detail.
  void record_epoch(const serving::EpochReport& rep);
  /// Writes summary.json, timeline.csv, hourly.csv and scenario.resolved.yaml (whole or not at all).
  RunResult finish(std::uint64_t simgrid_activities);
  /// Progress line on stderr (every half second of wall time).
  void progress(double t_simulated);

  const config::Scenario& s;
  RunOptions opt;
  std::chrono::steady_clock::time_point wall0;
  std::unique_ptr<sg4::Engine> engine;
  config::Assembly a;
  Platform plat;
  config::Workload wl;
  std::unique_ptr<serving::Router> router;
  metrics::Quantiles::Mode mode;
  std::unique_ptr<metrics::Recorder> rec;
  std::unique_ptr<serving::ServingSystem> sys;
  std::unique_ptr<metrics::Accounting> acc;
  std::vector<std::vector<double>> read_j;  // last energy read per server
  std::vector<double> cell_it_j;            // the last read_it_energy_j(), per cell
  std::vector<double> server_it_j;          // the same per server (global index), when sized (timeline detail)
  std::unique_ptr<metrics::StagedOutputs> out;
  std::vector<std::string> region_names, dc_names;  // user regions, datacenters
  bool sharded = false;
  metrics::ShardState shard;                     // when sharded
  std::uint32_t shard_first_server = 0, shard_last_server = 0;
  std::unique_ptr<metrics::DetailRows> detail;   // run.timeline_detail rack or server
  std::ofstream* detail_out = nullptr;
  double last_report_ = 0;
};

/// Datacenters' servers, racks and GPUs for the timeline detail (global server order).
std::vector<metrics::DetailRows::DcLayout> detail_layout(const config::Scenario& s, const config::Assembly& a);
/// timeline_racks.csv or timeline_servers.csv.
std::string detail_file_name(const std::string& level);

/// The day-scale engine: one SimGrid wake-up per sample period (day_engine.cpp).
void run_day(RunContext& ctx, std::uint64_t* activities);
/// The fine-grained engine: SimGrid events per request, an actor per replica (fine_engine.cpp).
void run_fine(RunContext& ctx, std::uint64_t* activities);

}  // namespace chatdc::engine
