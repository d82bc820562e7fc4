#include "app/study_args.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/csv.hpp"
#include "core/error.hpp"
#include "study/executor.hpp"
#include "study/slurm_executor.hpp"

namespace chatdc::app {

void add_study_options(CLI::App* c, StudyArgs& a, const std::string& out_help) {
  c->add_option("--set", a.sets, "Override a scenario key in every run (as in `chatdc run --set`); repeatable")
      ->allow_extra_args(false);
  c->add_option("--out,-o", a.out, out_help);
  c->add_option("--jobs,-j", a.jobs, "Runs at a time (default: the number of online CPUs; the cores are shared out "
                                     "among them as run.threads)");
  c->add_option("--slo-attainment", a.slo_attainment,
                "SLO attainment a feasible run reaches: a share of completed requests meeting both the TTFT and the "
                "TPOT target (default 0.99)");
  c->add_flag("--rerun", a.rerun, "Run every point again, even those whose outputs exist for the same resolved scenario");
  c->add_flag("--no-plot", a.no_plot, "Do not draw the PNG");
  c->add_flag("--html", a.html, "Also write report.html: a self-contained report of the study (as `chatdc report`)");
  c->add_flag("--quiet,-q", a.quiet, "Print nothing on success");
  add_executor_options(c, a);
}

void add_executor_options(CLI::App* c, StudyArgs& a) {
  c->add_option("--executor", a.executor, "Where the runs go: local (default: processes on this machine) or slurm (one "
                                          "Slurm job array; README \"Studies on a Slurm cluster\")");
  c->add_option("--slurm-partition", a.slurm_partition, "slurm: the partition (default: the cluster's default)");
  c->add_option("--slurm-time", a.slurm_time, "slurm: each task's time limit, as sbatch --time (minutes, HH:MM:SS, D-HH:MM)");
  c->add_option("--slurm-cpus-per-task", a.slurm_cpus_per_task, "slurm: cores per task, given to each run as run.threads (default 1)");
  c->add_option("--slurm-array-max", a.slurm_array_max, "slurm: at most this many tasks at once (sbatch --array=...%N; default: no limit)");
  c->add_option("--sbatch", a.sbatch_options, "slurm: one more sbatch option, passed as it is: --sbatch=--account=lab; repeatable")
      ->allow_extra_args(false);
  c->add_flag("--no-wait", a.no_wait, "slurm: return once the job is submitted; `chatdc collect DIR` writes the tables later");
  c->add_flag("--collect", a.collect, "(used by `chatdc collect`)")->group("");
}

StudySettings check_study_args(const StudyArgs& a) {
  StudySettings s;
  double v = 0;
  if (!parse_number(a.slo_attainment, &v) || !(v > 0 && v <= 1))
    throw Error(fmt::format("--slo-attainment \"{}\": expected a share in (0, 1], such as 0.99", a.slo_attainment));
  s.slo_target = v;
  if (a.jobs < 0 || a.jobs > 4096) throw Error(fmt::format("--jobs {}: expected 0 (all cores) to 4096 runs at a time", a.jobs));
  s.cores = study::online_cores();
  s.jobs = a.jobs > 0 ? static_cast<unsigned>(a.jobs) : s.cores;
  return s;
}

study::StudyOptions study_options(const StudyArgs& a, const StudySettings& st, const std::filesystem::path& out,
                                  const std::string& command) {
  study::StudyOptions so;
  so.out = out;
  so.sets = a.sets;
  so.rerun = a.rerun;
  so.progress = !a.quiet && ::isatty(2);
  so.command = command;
  so.slo_target = st.slo_target;
  return so;
}

namespace {

std::vector<std::string> g_invocation;

}  // namespace

void set_invocation(int argc, char** argv) { g_invocation.assign(argv, argv + argc); }

std::unique_ptr<study::Executor> make_executor(const StudyArgs& a, const StudySettings& st, const std::filesystem::path& out,
                                               const std::string& command, bool can_defer) {
  if (a.executor != "local" && a.executor != "slurm")
    throw Error(fmt::format("--executor \"{}\": expected local or slurm", a.executor));
  if (a.collect) return std::make_unique<study::CollectExecutor>();
  if (a.executor == "local") {
    if (a.no_wait) throw Error("--no-wait: only with --executor slurm (the local executor runs while you wait)");
    return std::make_unique<study::LocalExecutor>(study::self_exe(), st.jobs, st.cores);
  }
  if (a.no_wait && !can_defer)
    throw Error(fmt::format("--no-wait: chatdc {} reads each round's results to choose the next: it waits for its Slurm jobs",
                            command));
  if (a.slurm_cpus_per_task < 1 || a.slurm_cpus_per_task > 1024)
    throw Error(fmt::format("--slurm-cpus-per-task {}: expected 1 to 1024 cores", a.slurm_cpus_per_task));
  if (a.slurm_array_max < 0 || a.slurm_array_max > 100000)
    throw Error(fmt::format("--slurm-array-max {}: expected 0 (no limit) to 100,000 tasks at once", a.slurm_array_max));
  static const std::regex time_re(R"(^(\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2}|UNLIMITED|INFINITE)$)");
  if (!a.slurm_time.empty() && !std::regex_match(a.slurm_time, time_re))
    throw Error(fmt::format("--slurm-time \"{}\": expected a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
                            "D-HH:MM:SS",
                            a.slurm_time));
  static const std::regex name_re(R"(^[A-Za-z0-9_.,-]+$)");
  if (!a.slurm_partition.empty() && !std::regex_match(a.slurm_partition, name_re))
    throw Error(fmt::format("--slurm-partition \"{}\": expected a partition name (letters, digits, _ . -; several "
                            "separated by commas)",
                            a.slurm_partition));
  for (const auto& o : a.sbatch_options)
    if (o.size() < 2 || o[0] != '-')
      throw Error(fmt::format("--sbatch \"{}\": expected one sbatch option, such as --sbatch=--account=lab", o));
  study::check_slurm();  // before anything is written
  study::SlurmOptions so;
  so.dir = out;
  so.chatdc_exe = study::self_exe();
  so.job_name = "chatdc-" + command;
  so.partition = a.slurm_partition;
  so.time = a.slurm_time;
  so.cpus_per_task = static_cast<unsigned>(a.slurm_cpus_per_task);
  so.array_max = static_cast<unsigned>(a.slurm_array_max);
  so.sbatch_options = a.sbatch_options;
  so.wait = !a.no_wait;
  // `chatdc collect` runs this command line again (from this folder), starting nothing.
  so.command_json = nlohmann::json{{"argv", g_invocation}, {"cwd", std::filesystem::current_path().string()}}.dump(1) + "\n";
  return std::make_unique<study::SlurmExecutor>(so);
}

int pending_exit(const StudyArgs& a, const study::Study& study, const std::vector<study::Point>& points, const std::vector<study::PointResult>& results,
                 const std::filesystem::path& out, const std::string& command) {
  std::size_t pending = 0;
  for (const auto& r : results) pending += r.outcome.state == study::Outcome::State::kPending;
  if (pending == 0) return -1;
  std::string job;
  try {
    job = nlohmann::json::parse(study::slurp(out / "slurm" / "job.json")).at("job_id").get<std::string>();
  } catch (const std::exception&) {
  }
  if (a.collect) {
    std::string names;
    for (std::size_t i = 0; i < results.size(); ++i)
      if (results[i].outcome.state == study::Outcome::State::kPending) names += fmt::format("\n  {}", points[i].label);
    fmt::print(stderr,
               "chatdc: error: chatdc {}: {} of {} runs have not finished yet (Slurm job {}: see squeue); no tables written. "
               "Run `chatdc collect {}` again when it is done. Not finished:{}\n",
               command, pending, results.size(), job.empty() ? "?" : job, out.string(), names);
    const std::string failed = study::failure_report(study, points, results);
    if (!failed.empty()) fmt::print(stderr, "chatdc: error: {}\n", failed);
    return 2;
  }
  if (!a.quiet)
    fmt::print("chatdc {}: {} runs submitted to Slurm as job {} ({} done before); when it has finished (squeue -j {}), "
               "`chatdc collect {}` writes the tables\n",
               command, pending, job, results.size() - pending, job, out.string());
  return 0;
}

int cmd_collect(const std::string& dir) {
  const std::filesystem::path f = std::filesystem::path(dir) / "slurm" / "command.json";
  std::vector<std::string> argv;
  std::string cwd;
  try {
    const auto j = nlohmann::json::parse(study::slurp(f));
    argv = j.at("argv").get<std::vector<std::string>>();
    cwd = j.at("cwd").get<std::string>();
  } catch (const std::exception&) {
    throw Error(fmt::format("{}: not a study submitted with --executor slurm (no readable {})", dir, f.string()));
  }
  if (argv.size() < 2) throw Error(fmt::format("{}: no command recorded", f.string()));
  std::vector<std::string> args = {study::self_exe()};
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    if (s == "--no-wait" || s == "--collect") continue;
    if (s == "--executor") {
      ++i;
      continue;
    }
    if (s.rfind("--executor=", 0) == 0) continue;
    args.push_back(s);
  }
  args.push_back("--collect");
  if (::chdir(cwd.c_str()) != 0)
    throw Error(fmt::format("{}: the study was submitted from {}, which is gone: {}", dir, cwd, std::strerror(errno)));
  std::vector<char*> av;
  for (auto& s : args) av.push_back(s.data());
  av.push_back(nullptr);
  ::execv(av[0], av.data());
  throw Error(fmt::format("cannot start {}: {}", args[0], std::strerror(errno)));
}

void create_output_folder(const StudyArgs& a, const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  const std::string what = a.out.empty() ? fmt::format("the output folder {}", out.string()) : fmt::format("--out {}", a.out);
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw Error(fmt::format("{}: {} exists and is not a folder", what, out.string()));
  fs::create_directories(out, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder {}: {}", what, out.string(), ec.message()));
  if (::access(out.c_str(), W_OK | X_OK) != 0)
    throw Error(fmt::format("{}: cannot write in the folder {}: {}", what, out.string(), std::strerror(errno)));
}

}  // namespace chatdc::app
