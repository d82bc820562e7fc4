// App: a day split into shards (`chatdc run --shard I/N`) and merged (`chatdc merge`).
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "app/study_args.hpp"
#include "config/scenario.hpp"

namespace chatdc::app {

/// "I/N" -> (I, N). Throws chatdc::Error naming the option and value.
std::pair<std::uint32_t, std::uint32_t> parse_shard(const std::string& text);

/// Why the scenario's balancer cells cannot run apart ("" when they can): what couples them.
std::string cells_coupled(const config::Scenario& s);
/// The scenario's balancer cells (all datacenters).
std::uint32_t cell_count(const config::Scenario& s);
/// Throws chatdc::Error (naming `option`) unless the scenario can be split into `shards` shards.
void check_shardable(const config::Scenario& s, std::uint32_t shards, const std::string& option);

struct MergeArgs {
  std::vector<std::string> shard_dirs;
  std::string out;
  bool quiet = false;
};

CLI::App* add_merge_subcommand(CLI::App& app, MergeArgs& args);
int cmd_merge(const MergeArgs& args);

/// Merges shard folders into `out` (the outputs one process would have written). Returns the summary's
/// short report. Throws chatdc::Error for shards that do not fit together.
/// `resolved`: the scenario.resolved.yaml to write (default: shard 0's).
std::string merge_into(const std::vector<std::string>& shard_dirs, const std::string& out, double extra_wall_s = 0,
                       const std::string& resolved = "");

/// `chatdc run SCENARIO --shards N [--executor slurm ...]`: runs the N shards of the day (one Slurm array
/// task each, or local processes), then merges them into the output folder (shards in OUT/shards/I).
int cmd_run_sharded(const std::string& file, const std::vector<std::string>& sets, const std::string& out, int shards,
                    const StudyArgs& exec_args);

}  // namespace chatdc::app
