// App: `chatdc compare`: several runs (scenario files, and variants of the first one) side by side.
// A study (sim/study): every run is validated first, then runs as its own `chatdc run` process.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "app/study_args.hpp"

namespace chatdc::app {

struct CompareArgs {
  std::vector<std::string> scenarios;  // one run each, labelled by the scenario's name
  std::vector<std::string> variants;   // "LABEL: key.path=value ...": one more run of the first scenario
  StudyArgs study;                     // --set, --out (default results/compare-<first name>), --jobs, ...
};

/// Adds the "compare" subcommand with its options bound to args.
CLI::App* add_compare_subcommand(CLI::App& app, CompareArgs& args);

/// Runs every scenario and variant, then writes OUT/comparison.{csv,md,png}. Returns 2 (and writes no
/// comparison) when a run failed; throws chatdc::Error for bad input (fewer than two runs, a malformed
/// --variant, a scenario or variant that does not validate, runs in different currencies) before
/// anything runs.
int cmd_compare(const CompareArgs& args);

}  // namespace chatdc::app
