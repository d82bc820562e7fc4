// App: the options every study command (compare, sweep, plan) shares, and their checks.
#pragma once
#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "study/study.hpp"

namespace chatdc::app {

struct StudyArgs {
  std::vector<std::string> sets;        // --set for every run
  std::string out;                      // output folder (each command has its default)
  int jobs = 0;                         // runs at a time; 0: online CPUs
  std::string slo_attainment = "0.99";  // SLO attainment a feasible run reaches
  bool rerun = false;                   // run again even if a run's outputs exist
  bool no_plot = false;                 // skip the PNG (it takes Python a few seconds)
  bool quiet = false;
};

/// Adds --set, --out, --jobs, --slo-attainment, --rerun, --no-plot and --quiet.
void add_study_options(CLI::App* command, StudyArgs& args, const std::string& out_help);

/// Checked study options. Throws chatdc::Error naming the option and value (exit status 2).
struct StudySettings {
  double slo_target = 0.99;
  unsigned jobs = 1;   // runs at a time
  unsigned cores = 1;  // shared out among the runs as run.threads
};
StudySettings check_study_args(const StudyArgs& args);

/// The study's options: out folder, --set, --rerun, progress on a terminal, the checked SLO target.
study::StudyOptions study_options(const StudyArgs& args, const StudySettings& settings, const std::filesystem::path& out,
                                  const std::string& command);

/// Creates the study's output folder (out: --out, or the command's default) before anything runs; a path
/// that is a file, or a folder that cannot be made or written in, is an error naming --out (exit status 2).
void create_output_folder(const StudyArgs& args, const std::filesystem::path& out);

}  // namespace chatdc::app
