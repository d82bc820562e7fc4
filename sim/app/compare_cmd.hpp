// App: `chatdc compare`: several runs (scenario files, and variants of the first one) side by side.
// Each run is a child process (`chatdc run`), since SimGrid allows one simulation per process.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace chatdc::app {

struct CompareArgs {
  std::vector<std::string> scenarios;  // one run each, labelled by the scenario's name
  std::vector<std::string> variants;   // "LABEL: key.path=value ...": one more run of the first scenario
  std::vector<std::string> sets;       // --set for every run
  std::string out;                     // default: results/compare-<first scenario's name>
  int jobs = 0;                        // runs at a time; 0: online CPUs
  bool quiet = false;
};

/// Adds the "compare" subcommand with its options bound to args.
CLI::App* add_compare_subcommand(CLI::App& app, CompareArgs& args);

/// Runs every scenario and variant, then writes OUT/comparison.{csv,md,png}. Returns 2 (and writes no
/// comparison) when a run failed; throws chatdc::Error for bad input (fewer than two runs, a malformed
/// --variant, runs in different currencies).
int cmd_compare(const CompareArgs& args);

}  // namespace chatdc::app
