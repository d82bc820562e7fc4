// Pure core: the run's output files. Nothing is written until commit(): every file is first written
// beside its final name and renamed into place only when all of them are complete, so a failed
// run leaves the output folder as it was.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "metrics/accounting.hpp"
#include "metrics/recorder.hpp"

namespace chatdc::metrics {

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

class StagedOutputs {
 public:
  explicit StagedOutputs(std::string dir);
  ~StagedOutputs();
  /// Stages a whole file (written at commit).
  void add(const std::string& name, std::string content);
  /// A file streamed during the run (e.g. requests.csv): written to a temporary name now.
  std::ofstream& stream(const std::string& name);
  /// Writes the staged files and renames everything into place. Throws chatdc::Error on failure.
  void commit();
  const std::string& dir() const { return dir_; }

 private:
  std::string tmp_name(const std::string& name) const;
  std::string dir_;
  std::vector<std::pair<std::string, std::string>> files_;
  std::vector<std::pair<std::string, std::unique_ptr<std::ofstream>>> streams_;
  bool committed_ = false;
};

}  // namespace chatdc::metrics
