// Study layer: how the runs of a study are carried out. A study (compare, sweep, plan) is a set of
// independent `chatdc run`s; an Executor runs them somewhere and reports each one's outcome. The
// local executor starts one process per run on this machine; a batch-system executor (a Slurm job
// array) fits the same interface: it receives the same jobs, may return before they finish (then
// their outcomes are kPending and a later collection reads the finished folders).
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace chatdc::study {

/// One `chatdc run` of a study point.
struct Job {
  std::string label;                  // for progress lines and error messages
  std::vector<std::string> run_args;  // arguments after `chatdc run`: SCENARIO --out DIR --set ... (no run.threads:
                                      // the executor decides how many cores a run gets)
  std::string out_dir;                // the run's output folder (exists before the job starts)
  std::string log;                    // the run's stdout and stderr go here (stderr.txt in out_dir)
};

struct Outcome {
  enum class State { kSucceeded, kFailed, kPending };
  State state = State::kPending;
  int exit_code = -1;                    // when the process exited
  std::string failure;                   // "exit status 2", "killed by signal 9 (Killed)", ...; empty on success
  std::vector<std::string> stderr_tail;  // the last lines of the log, for failures
  double wall_s = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::string name() const = 0;
  /// Runs independent jobs; done(i, outcome) is called once per job, from the calling thread, as each
  /// finishes. Returns when every job has finished (or, for an executor that does not wait, once every
  /// job is submitted: those are reported kPending).
  virtual void run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) = 0;
};

/// One `chatdc run` process per job on this machine, at most `jobs` at a time; the cores are shared out
/// among the runs of a batch as run.threads (results do not depend on it).
class LocalExecutor final : public Executor {
 public:
  LocalExecutor(std::string chatdc_exe, unsigned jobs, unsigned cores);
  std::string name() const override { return "local"; }
  void run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) override;
  unsigned jobs() const { return jobs_; }

 private:
  std::string exe_;
  unsigned jobs_, cores_;
};

/// Online CPUs of this machine (at least 1).
unsigned online_cores();
/// The running executable's path (to start `chatdc run` children).
std::string self_exe();
/// The last n non-blank lines of a text file.
std::vector<std::string> last_lines(const std::filesystem::path& file, std::size_t n);
/// Whole file as a string ("" when unreadable).
std::string slurp(const std::filesystem::path& file);
/// "exit status 2", "killed by signal 9 (Killed)".
std::string describe_status(int wait_status);
/// Runs argv (argv[0] a path) with stdin from /dev/null and stdout + stderr into log; waits for it (at most
/// timeout_s seconds when it is > 0: then it is killed). Returns the wait status, or -1 with *error set when
/// it could not start or did not end in time.
int run_and_wait(const std::vector<std::string>& argv, const std::string& log, std::string* error, double timeout_s = 0);

}  // namespace chatdc::study
