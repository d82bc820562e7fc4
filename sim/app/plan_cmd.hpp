// App: `chatdc plan`: the cheapest fleet that meets the scenario's SLO (a study, sim/study/plan.*).
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "app/study_args.hpp"

namespace chatdc::app {

struct PlanArgs {
  std::string scenario;
  std::string objective = "cost";
  std::vector<std::string> servers, tps, engines, vary;
  double screen_hours = 1;
  bool no_headroom = false;
  StudyArgs study;  // --set, --out (default results/plan-<scenario name>), --jobs, --slo-attainment, ...
};

CLI::App* add_plan_subcommand(CLI::App& app, PlanArgs& args);

/// Searches, then writes OUT/plan.{md,csv,png} and plan.resolved.yaml. Returns 2 when a run failed;
/// throws chatdc::Error for bad input before anything runs.
int cmd_plan(const PlanArgs& args, const std::string& command_line);

}  // namespace chatdc::app
