// Study layer: a study's runs as one Slurm job array (`--executor slurm`).
//
// SlurmExecutor writes, in the study's folder, slurm/points.json (each task's `chatdc run` command line,
// its log and its result file) and slurm/job.sh (#SBATCH lines; the task is `chatdc slurm-task
// points.json $SLURM_ARRAY_TASK_ID`), submits it with `sbatch --parsable` and, unless told not to wait,
// polls the result files (and squeue, to notice tasks that ended without one) until every task is done.
// A task writes its result file (slurm.exit in its point's folder: the run's exit status) after its
// `chatdc run` ends; a point's outputs are written whole by that run, as with the local executor, so the
// results do not depend on which executor ran them. CollectExecutor reads those result files for
// `chatdc collect DIR` (a study submitted with --no-wait): finished points are read back, failed ones
// reported with their stderr, the others are still pending.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "study/executor.hpp"

namespace chatdc::study {

struct SlurmOptions {
  std::filesystem::path dir;              // the study's folder (slurm/ goes there)
  std::string chatdc_exe;                 // the chatdc binary the tasks run (shared file system)
  std::string job_name = "chatdc";
  std::string partition;                  // --partition (empty: the cluster's default)
  std::string time;                       // --time (empty: the partition's default)
  unsigned cpus_per_task = 1;             // --cpus-per-task, and each run's run.threads
  unsigned array_max = 0;                 // --array=0-N%max (0: no limit)
  std::vector<std::string> sbatch_options;  // passed to sbatch as they are (e.g. --account=x)
  bool wait = true;                       // false: return once submitted (every job kPending)
  double poll_s = 1.0;                    // seconds between checks while waiting
  std::string command_json;               // written as slurm/command.json on submission (for `chatdc collect`)
};

/// The result file of a job (in its output folder).
std::filesystem::path result_file(const Job& job);

class SlurmExecutor final : public Executor {
 public:
  explicit SlurmExecutor(SlurmOptions options);
  std::string name() const override { return "slurm"; }
  /// Throws chatdc::Error when sbatch is missing or refuses the job (nothing submitted then).
  void run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) override;
  const std::string& job_id() const { return job_id_; }  // after run(): the array job's id

 private:
  SlurmOptions opt_;
  std::string job_id_;
};

/// Reads the result files of jobs a SlurmExecutor submitted earlier; never starts anything.
class CollectExecutor final : public Executor {
 public:
  std::string name() const override { return "collect"; }
  void run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) override;
};

/// `chatdc slurm-task POINTS INDEX`: runs task INDEX of a points.json and writes its result file.
/// Returns the run's exit status (3 when the points file is unreadable).
int run_slurm_task(const std::string& points_file, const std::string& index);

/// Throws chatdc::Error unless Slurm's client commands are on PATH and the controller answers (scontrol ping).
void check_slurm();

/// A program on PATH ("" when absent).
std::string find_on_path(const std::string& program);

}  // namespace chatdc::study
