// Pure core: the run's output files. Nothing is written at the destination until commit(): every file,
// streamed ones included, is written in a staging folder beside it, which then replaces the folder in
// one step (core/output_stage.hpp), so a failed or interrupted run leaves the output folder as it was.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/output_stage.hpp"
#include "metrics/accounting.hpp"
#include "metrics/recorder.hpp"

namespace chatdc::metrics {

/// A planner-facing default the scenario did not set (summary.json defaults_to_review).
struct DefaultReviewed {
  std::string key;
  double value = 0;
  std::string unit, source;
};

struct RunFacts {
  std::string scenario_name;
  std::string scenario_file;
  std::uint64_t seed = 0;
  double simulated_s = 0;
  double wall_s = 0;
  std::uint64_t arrived = 0, completed = 0, rejected = 0, dropped = 0;
  std::vector<std::uint64_t> routed_per_dc;
  std::string currency = "USD";
  double clock_utc_offset_h = 0;
  double clock_start_h = 0;  // hour of the clock's day at which the run starts (run.start_h)
  std::string engine = "day";
  std::uint64_t events = 0, steps = 0, preemptions = 0, simgrid_activities = 0;
  std::uint64_t cells = 0;  // balancer cells over all datacenters
  bool windows = false;     // the day engine ran cells independently, window by window
  std::string percentiles = "exact";
  std::string workload_source = "synthetic";
  double expected_requests = 0;
  std::uint64_t follow_ups = 0;
  std::uint64_t trace_skipped_malformed = 0, trace_dropped_sampling = 0, trace_loops = 0;
  std::vector<std::string> user_regions;  // names, in scenario order
  // Deferrable batch work: its instances (a job per day) and what became of each.
  std::vector<operations::BatchInstance> batch;
  std::vector<operations::BatchOutcome> batch_outcomes;
  std::vector<DefaultReviewed> defaults_to_review;
};

nlohmann::ordered_json build_summary(const RunFacts& facts, Recorder& rec, const Accounting& acc);
/// One row per sample period per datacenter; clock_hour is the hour of the run's clock zone (the run
/// starts at clock_start_h).
std::string timeline_csv(const Accounting& acc, double clock_start_h = 0);
/// One row per hour of the run per datacenter (user_region "all"): traffic, latency percentiles of the
/// requests sent in that hour (sketches, ±0.39%), SLO attainment, utilization, energy, electricity cost
/// and carbon; then one row per hour per user region (datacenter "all"): the latency of its users'
/// requests wherever they were served (the energy columns empty).
std::string hourly_csv(const Accounting& acc, Recorder& rec, double clock_start_h = 0,
                       const std::vector<std::string>& user_regions = {});

/// requests.csv: one row per completed request (times at the user, s), regions and datacenters by name.
inline constexpr const char* kRequestLogHeader =
    "id,user_region,datacenter,replica,sent_s,delivered_s,admitted_s,first_token_s,done_s,prompt_tokens,output_tokens,"
    "preemptions,queue_s,ttft_s,tpot_s,e2e_s,cached_tokens\n";
std::string request_log_row(const serving::RequestRecord& r, const std::vector<std::string>& user_regions,
                            const std::vector<std::string>& datacenters);
/// Whether request `id` is in a sample of `fraction` (a hash of the id: the same requests for every run).
bool logged(std::uint64_t id, double fraction);

/// The files a run folder may hold: a rerun's outputs replace them whole (one it does not write again,
/// such as an earlier requests.csv or a timeline.png drawn from an earlier timeline, is removed).
inline const std::vector<std::string> kRunOutputNames = {
    "summary.json",         "timeline.csv",         "hourly.csv", "scenario.resolved.yaml", "requests.csv",
    "timeline.png",         "timeline_racks.csv",   "timeline_servers.csv", "shard.cbor", "requests.part.csv",
    "report.html"};

/// A run's output folder, written whole or not at all (core/output_stage.hpp): created, checked and
/// staged beside the destination when constructed (before the simulation), put in place by commit().
class StagedOutputs {
 public:
  /// `what` names the folder in messages ("--out DIR" or "run.output_dir"). Throws chatdc::Error when the
  /// folder cannot be written.
  StagedOutputs(std::string dir, std::string what, std::vector<std::string> stale = kRunOutputNames);
  ~StagedOutputs();
  /// Stages a whole file (written at commit).
  void add(const std::string& name, std::string content);
  /// A file streamed during the run (e.g. requests.csv), written inside the staging folder.
  std::ofstream& stream(const std::string& name);
  /// Writes the staged files and puts the folder in place. Throws chatdc::Error on failure.
  void commit();
  /// The destination folder (as given).
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<OutputStage> stage_;
  std::vector<std::pair<std::string, std::string>> files_;
  std::vector<std::pair<std::string, std::unique_ptr<std::ofstream>>> streams_;
};

}  // namespace chatdc::metrics
