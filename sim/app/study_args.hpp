// App: the options every study command (compare, sweep, plan) shares, and their checks.
#pragma once
#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
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
  bool html = false;                    // also write report.html (chatdc report)
  bool quiet = false;
  // Where the runs go: local (default) or slurm (one job array), and the Slurm job's settings.
  std::string executor = "local";
  std::string slurm_partition, slurm_time;
  int slurm_cpus_per_task = 1;
  int slurm_array_max = 0;
  std::vector<std::string> sbatch_options;
  bool no_wait = false;  // slurm: return once submitted; `chatdc collect DIR` later
  bool collect = false;  // (hidden, from `chatdc collect`): start nothing, read what the Slurm tasks finished
};

/// Adds --set, --out, --jobs, --slo-attainment, --rerun, --no-plot, --quiet and the executor's options
/// (--executor, --slurm-partition, --slurm-time, --slurm-cpus-per-task, --slurm-array-max, --sbatch, --no-wait).
void add_study_options(CLI::App* command, StudyArgs& args, const std::string& out_help);

/// Adds only the executor's options (as `chatdc run --shards N` uses them).
void add_executor_options(CLI::App* command, StudyArgs& args);

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

/// The executor the options ask for (checked: throws chatdc::Error naming the option). For slurm, the
/// command line is recorded (out/slurm/command.json, when it submits) for `chatdc collect`. `can_defer`: whether the
/// command can return before its runs finish (not plan: its search reads each round's results).
std::unique_ptr<study::Executor> make_executor(const StudyArgs& args, const StudySettings& settings,
                                               const std::filesystem::path& out, const std::string& command, bool can_defer);

/// Points still pending (submitted with --no-wait, or not finished when collected): prints where they are
/// and returns the command's exit status (0 when just submitted, 2 when collecting); -1 when none pending.
int pending_exit(const StudyArgs& args, const study::Study& study, const std::vector<study::Point>& points, const std::vector<study::PointResult>& results,
                 const std::filesystem::path& out, const std::string& command);

/// The process's command line (set by main), recorded for `chatdc collect`.
void set_invocation(int argc, char** argv);

/// `chatdc collect DIR`: runs the study recorded in DIR/slurm/command.json again, starting nothing: it reads
/// the points its Slurm tasks finished and writes the study's tables (or says what is pending or failed).
int cmd_collect(const std::string& dir);

/// Creates the study's output folder (out: --out, or the command's default) before anything runs; a path
/// that is a file, or a folder that cannot be made or written in, is an error naming --out (exit status 2).
void create_output_folder(const StudyArgs& args, const std::filesystem::path& out);

}  // namespace chatdc::app
