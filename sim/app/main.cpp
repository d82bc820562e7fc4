// chatdc command line: parse, load and validate, run, report.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "app/report.hpp"
#include "config/scenario.hpp"
#include "core/error.hpp"
#include "engine/day_engine.hpp"

namespace {

int cmd_run(const std::string& file, const std::vector<std::string>& sets, const std::string& out, bool progress, bool quiet) {
  const chatdc::config::Scenario s = chatdc::config::load_scenario(file, sets);
  chatdc::engine::RunOptions opt;
  opt.output_dir = out;
  opt.progress = progress;
  opt.quiet = quiet;
  const auto r = chatdc::engine::run_scenario(s, opt);
  if (!quiet) fmt::print("{}", chatdc::app::short_report(s, r));
  std::fflush(stdout);
  chatdc::app::warn_about(r);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chatdc: simulate datacenters serving LLM chat traffic for a whole day — latency, energy, "
               "carbon and cost. See README.md."};
  app.set_version_flag("--version", std::string("chatdc ") + CHATDC_VERSION);
  app.require_subcommand(1);

  auto* run = app.add_subcommand("run", "Simulate a scenario and write summary.json, timeline.csv and "
                                        "scenario.resolved.yaml into its output folder.");
  std::string scenario, out;
  std::vector<std::string> sets;
  bool no_progress = false, quiet = false;
  run->add_option("scenario", scenario, "Scenario YAML file (see scenarios/ and README \"Scenario reference\")")->required();
  run->add_option("--out,-o", out, "Output folder (default: the scenario's run.output_dir)");
  run->add_option("--set", sets,
                  "Override a scenario key, validated like the file: --set workload.requests_per_day=2e6, "
                  "--set platform.regions[0].datacenters[sh-1].racks=8 (lists by [index] or [name]); repeatable")
      ->allow_extra_args(false);
  run->add_flag("--no-progress", no_progress, "No progress line on stderr (the default when stderr is not a terminal)");
  run->add_flag("--quiet,-q", quiet, "Print nothing on success");

  auto log = spdlog::stderr_color_st("chatdc");
  log->set_pattern("chatdc: %^%l%$: %v");
  spdlog::set_default_logger(log);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*run) return cmd_run(scenario, sets, out, !no_progress && !quiet && ::isatty(2), quiet);
  } catch (const chatdc::Error& e) {
    fmt::print(stderr, "chatdc: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "chatdc: internal error: {}\n", e.what());
    return 3;
  }
  return 0;
}
