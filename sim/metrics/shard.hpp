// Pure core: one shard of a day, and merging shards into the outputs one process would have written.
//
// A day whose balancer cells run independently (routing that ignores live load, an open-loop workload:
// the day engine's windows) can be split over processes: shard I of N simulates a contiguous range of
// cells (serving::shard_cells) and only the requests bound for them. Everything a run's outputs are
// made of is then a sum over cells or over requests, and chatdc makes every such sum exact or ordered:
//   * per sample period, each cell's figures (serving::DcEpoch) and its servers' IT energy (SimGrid's
//     plugin, summed over the cell's servers in order); a datacenter's are the sum over its cells in
//     cell order, in one process as in a merge;
//   * request counts, token counts and WAN traffic are whole numbers;
//   * latency sets: counts, sketches' buckets and maxima are order-free, means are kept in fixed point,
//     and exact percentiles keep every value (so a shard of an exact run carries its values: 4 bytes
//     per latency per request, up to the 10 M requests of run.percentiles: auto).
// So the merged summary.json, timeline.csv, hourly.csv (and requests.csv, timeline detail) equal a
// single process's byte for byte, apart from wall times (tests check it).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metrics/accounting.hpp"
#include "metrics/outputs.hpp"
#include "metrics/recorder.hpp"
#include "serving/system.hpp"

namespace chatdc::metrics {

/// What the merge needs of the scenario, exactly as the shard used it (so merging needs no scenario).
struct ShardSetup {
  std::vector<DcAccountingSetup> accounting;
  WanAccountingSetup wan;
  std::vector<serving::CellInfo> cells;
  SloTargets slo;
  std::uint32_t user_regions = 1;
  std::string detail_level = "datacenter";  // run.timeline_detail
  std::vector<std::uint32_t> servers_per_rack, gpus_per_server;  // per datacenter
};

/// What one shard of a day produced (the contents of its shard.cbor).
struct ShardState {
  ShardSetup setup;
  std::uint32_t shard = 0, shards = 1;            // this is shard `shard` of `shards`
  std::uint32_t first_cell = 0, last_cell = 0;    // the cells it simulated: [first, last)
  std::uint32_t cells = 0;                        // cells of the whole fleet
  std::string resolved;                           // its scenario.resolved.yaml, run.threads set aside
  RunFacts facts;                                 // its own counts (wall_s: its wall time)
  std::uint32_t dcs = 0;
  // Per sample period: t0, t1 (as double bits), then per datacenter its rejections, then per cell of the
  // shard its 11 DcEpoch fields and its IT energy (J, double bits).
  std::vector<std::uint64_t> periods;
  std::size_t period_count = 0;
  std::vector<std::uint64_t> recorder_words;  // Recorder::save()
  std::vector<float> recorder_values;
  std::vector<std::vector<Accounting::Traffic>> traffic;  // [user region][dc], empty when no WAN path costs

  /// Appends one sample period (rep.cells for every cell; only the shard's are kept).
  void add_period(const serving::EpochReport& rep, const std::vector<double>& cell_it_j);
};

/// CBOR bytes of a shard (nlohmann-json's CBOR; numbers exact, arrays as binary).
std::string write_shard(const ShardState& s);
/// Reads shard bytes; throws chatdc::Error naming `file` when they are not a chatdc shard.
ShardState read_shard(const std::string& bytes, const std::string& file);

/// A merged day: what one process would have held at its end.
struct MergedRun {
  std::unique_ptr<Accounting> acc;  // finished
  std::unique_ptr<Recorder> rec;
  RunFacts facts;                   // wall_s: the longest shard's
  ShardSetup setup;
};

/// Merges every shard of a day (indices 0..N-1, each once, the same scenario). Throws chatdc::Error for
/// shards that do not fit together (naming the files).
MergedRun merge_shards(const std::vector<ShardState>& shards, const std::vector<std::string>& files);

/// Per-server figures of one sample period, in global server order, turned into timeline rows at the
/// level asked (rack: sums over each rack's servers in order; server: as they come). The same code
/// writes a single run's detail and merges shards' (whose servers arrive shard by shard, in order).
class DetailRows {
 public:
  struct Server {
    double busy_gpu_s = 0;
    std::uint64_t running = 0, queued = 0;
    double it_energy_j = 0;
  };
  struct DcLayout {
    std::string name;
    std::uint32_t first_server = 0, servers = 0, servers_per_rack = 1, gpus_per_server = 8;
  };
  DetailRows(std::string level, std::vector<DcLayout> dcs, double clock_start_h);
  /// The layout of a merged run's datacenters.
  static std::vector<DcLayout> layout_of(const ShardSetup& setup);
  std::string header() const;
  /// Starts a period.
  void begin(double t0, double t1);
  /// The next server's figures (global servers in order); appends finished rows to *out.
  void add(const Server& s, std::string* out);
  /// "busy_gpu_s,running,queued,it_energy_j": a server's figures as a shard writes them (exact).
  static std::string part_line(const Server& s);
  /// Parses a part line; false when malformed.
  static bool parse_part_line(const std::string& line, Server* s);
  const std::string& level() const { return level_; }

 private:
  void emit(std::string* out);
  std::string level_;
  std::vector<DcLayout> dcs_;
  double clock_start_h_ = 0, t0_ = 0, t1_ = 0;
  std::uint32_t next_server_ = 0, dc_ = 0;
  Server acc_;
  std::uint32_t acc_servers_ = 0, rack_ = 0, server_in_dc_ = 0;
};

}  // namespace chatdc::metrics
