// App: `chatdc sweep`: one scenario over a grid of key values (a study, sim/study).
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "app/study_args.hpp"

namespace chatdc::app {

struct SweepArgs {
  std::string scenario;
  std::vector<std::string> grids;  // KEY=V1,V2,... or KEY=START:STOP[:STEP]
  std::vector<std::string> zips;   // KEY=V1,V2,...: vary together
  std::string x;                   // plot: the varied key on the x axis (default: the first)
  std::string y = "cost_per_1k_requests";  // plot: a sweep.csv figure
  StudyArgs study;                 // --set, --out (default results/sweep-<scenario name>), --jobs, ...
};

CLI::App* add_sweep_subcommand(CLI::App& app, SweepArgs& args);

/// Validates every point, runs those not already done, writes OUT/sweep.{csv,md,png}. Returns 2 when a
/// run failed; throws chatdc::Error for bad input before anything runs.
int cmd_sweep(const SweepArgs& args);

}  // namespace chatdc::app
