#include "study/slurm_executor.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "study/points.hpp"

namespace chatdc::study {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// Single-quoted for sh.
std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Writes text to path whole (temporary name, then rename). Throws chatdc::Error.
void write_whole(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw Error(fmt::format("cannot write {}", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("cannot write {}: {}", path.string(), ec.message()));
}

/// Runs a Slurm client command; its stdout and stderr together in *output. Returns its exit status
/// (-1 when it could not start).
int client(const std::vector<std::string>& argv, const fs::path& log, std::string* output, double timeout_s = 0) {
  std::string err;
  const int status = run_and_wait(argv, log.string(), &err, timeout_s);
  *output = status < 0 ? err : trim(slurp(log));
  std::error_code ec;
  fs::remove(log, ec);
  if (status < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

struct TaskResult {
  bool present = false;
  int exit_code = -1;
  std::string failure;
  double wall_s = 0;
};

/// A task's result file: "EXIT_CODE WALL_S DESCRIPTION".
TaskResult read_result(const fs::path& file) {
  TaskResult r;
  if (!fs::exists(file)) return r;
  std::istringstream in(slurp(file));
  std::string desc;
  if (!(in >> r.exit_code >> r.wall_s)) {
    r.present = true;
    r.exit_code = -1;
    r.failure = fmt::format("its result file {} is damaged", file.string());
    return r;
  }
  std::getline(in, desc);
  r.present = true;
  r.failure = r.exit_code == 0 ? "" : trim(desc);
  return r;
}

Outcome outcome_of(const Job& job, const TaskResult& t) {
  Outcome o;
  o.exit_code = t.exit_code;
  o.wall_s = t.wall_s;
  o.state = t.exit_code == 0 ? Outcome::State::kSucceeded : Outcome::State::kFailed;
  if (o.state == Outcome::State::kFailed) {
    o.failure = t.failure.empty() ? fmt::format("exit status {}", t.exit_code) : t.failure;
    o.failure += " (Slurm task)";
    o.stderr_tail = last_lines(job.log, 8);
  }
  return o;
}

}  // namespace

fs::path result_file(const Job& job) { return fs::path(job.out_dir) / "slurm.exit"; }

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream in(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(in, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / program;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

void check_slurm() {
  for (const char* program : {"sbatch", "squeue", "scontrol"})
    if (find_on_path(program).empty())
      throw Error(fmt::format("--executor slurm: {} not found on PATH: this machine needs Slurm's client commands (Debian: "
                              "apt-get install slurm-client) and a reachable cluster, or use the local executor",
                              program));
  // Slurm's clients wait up to a minute for a configuration file that is not there: say so at once.
  if (const char* conf = std::getenv("SLURM_CONF"); conf && *conf) {
    std::error_code ec;
    if (!fs::is_regular_file(conf, ec))
      throw Error(fmt::format("--executor slurm: SLURM_CONF names {}, which is not a file: nothing was submitted (set "
                              "SLURM_CONF to the cluster's slurm.conf, or unset it)",
                              conf));
  }
  std::string out;
  const fs::path log = fs::temp_directory_path() / fmt::format("chatdc-scontrol-{}.log", ::getpid());
  constexpr double kPingTimeoutS = 20;  // a controller that answers does so in well under a second
  const int rc = client({find_on_path("scontrol"), "ping"}, log, &out, kPingTimeoutS);
  if (rc != 0) {
    const auto nl = out.find('\n');
    throw Error(fmt::format("--executor slurm: the Slurm controller does not answer (scontrol ping: {}); nothing was "
                            "submitted: start it, or check SLURM_CONF",
                            out.empty() ? fmt::format("exit status {}", rc) : out.substr(0, nl)));
  }
}

SlurmExecutor::SlurmExecutor(SlurmOptions options) : opt_(std::move(options)) {}

void SlurmExecutor::run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) {
  if (jobs.empty()) return;
  const std::string sbatch = find_on_path("sbatch"), squeue = find_on_path("squeue");
  if (sbatch.empty() || squeue.empty())
    throw Error(fmt::format("--executor slurm: {} not found on PATH: this machine needs Slurm's client commands (Debian: "
                            "apt-get install slurm-client) and a reachable cluster, or use the local executor",
                            sbatch.empty() ? "sbatch" : "squeue"));
  const fs::path dir = fs::absolute(opt_.dir) / "slurm";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create {}: {}", dir.string(), ec.message()));

  // points.json: each task's command line, log and result file.
  json tasks = json::array();
  for (const Job& j : jobs) {
    fs::remove(result_file(j), ec);  // a result of an earlier submission is not this one's
    std::vector<std::string> argv = {opt_.chatdc_exe, "run"};
    argv.insert(argv.end(), j.run_args.begin(), j.run_args.end());
    argv.insert(argv.end(), {"--quiet", "--no-progress", "--set", fmt::format("run.threads={}", opt_.cpus_per_task)});
    tasks.push_back(json{{"label", j.label},
                         {"argv", argv},
                         {"log", fs::absolute(j.log).string()},
                         {"result", fs::absolute(result_file(j)).string()}});
  }
  const fs::path points = dir / "points.json";
  write_whole(points, json{{"schema_version", 1}, {"tasks", tasks}}.dump(1) + "\n");

  std::string script = "#!/bin/sh\n# chatdc: one `chatdc run` per array task (written by --executor slurm)\n";
  script += fmt::format("#SBATCH --job-name={}\n", opt_.job_name);
  script += fmt::format("#SBATCH --array=0-{}{}\n", jobs.size() - 1, opt_.array_max > 0 ? fmt::format("%{}", opt_.array_max) : "");
  script += fmt::format("#SBATCH --cpus-per-task={}\n#SBATCH --ntasks=1\n", opt_.cpus_per_task);
  script += fmt::format("#SBATCH --output={}\n", (dir / "task-%a.out").string());
  script += fmt::format("#SBATCH --chdir={}\n", fs::current_path().string());
  if (!opt_.partition.empty()) script += fmt::format("#SBATCH --partition={}\n", opt_.partition);
  if (!opt_.time.empty()) script += fmt::format("#SBATCH --time={}\n", opt_.time);
  script += fmt::format("exec {} slurm-task {} \"$SLURM_ARRAY_TASK_ID\"\n", sh_quote(opt_.chatdc_exe), sh_quote(points.string()));
  const fs::path job_sh = dir / "job.sh";
  write_whole(job_sh, script);

  std::vector<std::string> argv = {sbatch, "--parsable"};
  argv.insert(argv.end(), opt_.sbatch_options.begin(), opt_.sbatch_options.end());
  argv.push_back(job_sh.string());
  std::string out;
  const int rc = client(argv, dir / ".sbatch.log", &out);
  std::string id;
  {
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) {
      l = trim(l);
      const std::string head = l.substr(0, l.find(';'));
      if (!head.empty() && head.find_first_not_of("0123456789") == std::string::npos) id = head;
    }
  }
  if (rc != 0 || id.empty())
    throw Error(fmt::format("--executor slurm: sbatch {} ({}): nothing was submitted; check the cluster (sinfo) and the "
                            "--slurm-* and --sbatch options",
                            rc < 0 ? "could not start" : fmt::format("failed with exit status {}", rc),
                            out.empty() ? "no message" : out));
  job_id_ = id;
  if (!opt_.command_json.empty()) write_whole(dir / "command.json", opt_.command_json);
  write_whole(dir / "job.json", json{{"job_id", id}, {"tasks", jobs.size()}}.dump() + "\n");
  if (!opt_.wait) {
    for (std::size_t i = 0; i < jobs.size(); ++i) done(i, Outcome{});
    return;
  }

  std::vector<bool> reported(jobs.size(), false);
  std::size_t left = jobs.size();
  int unreachable = 0;
  bool gone = false;
  while (left > 0) {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (reported[i]) continue;
      const TaskResult t = read_result(result_file(jobs[i]));
      if (!t.present) continue;
      reported[i] = true;
      --left;
      done(i, outcome_of(jobs[i], t));
    }
    if (left == 0) break;
    if (gone) {  // the job left the queue and, a poll later, some tasks still have no result
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (reported[i]) continue;
        Outcome o;
        o.state = Outcome::State::kFailed;
        o.failure = fmt::format("Slurm task {}_{} ended without a result (cancelled, out of time, or killed): see {}", id, i,
                                (dir / fmt::format("task-{}.out", i)).string());
        o.stderr_tail = last_lines(dir / fmt::format("task-{}.out", i), 8);
        done(i, o);
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(opt_.poll_s));
    std::string q;
    const int qrc = client({squeue, "-h", "-j", id, "-o", "%i"}, dir / ".squeue.log", &q);
    if (qrc == 0) {
      unreachable = 0;
      gone = q.empty();
    } else if (q.find("Invalid job id") != std::string::npos) {
      gone = true;
    } else if (++unreachable * opt_.poll_s >= 60) {
      throw Error(fmt::format("--executor slurm: squeue cannot reach the cluster for a minute ({}); job {} may still run: "
                              "`chatdc collect {}` reads what it finished",
                              q, id, opt_.dir.string()));
    }
  }
}

void CollectExecutor::run(const std::vector<Job>& jobs, const std::function<void(std::size_t, const Outcome&)>& done) {
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const TaskResult t = read_result(result_file(jobs[i]));
    if (!t.present) {
      done(i, Outcome{});
      continue;
    }
    Outcome o = outcome_of(jobs[i], t);
    if (o.state == Outcome::State::kSucceeded) {
      // Succeeded, yet the study did not find its outputs for this point's scenario: not this study's run.
      o.state = Outcome::State::kFailed;
      o.failure = "its Slurm task succeeded, but its folder does not hold this point's outputs (was the study changed "
                  "since it was submitted? run it again)";
    }
    done(i, o);
  }
}

int run_slurm_task(const std::string& points_file, const std::string& index) {
  json tasks;
  try {
    tasks = json::parse(slurp(points_file)).at("tasks");
  } catch (const std::exception& e) {
    fmt::print(stderr, "chatdc slurm-task: cannot read {}: {}\n", points_file, e.what());
    return 3;
  }
  char* end = nullptr;
  const unsigned long k = std::strtoul(index.c_str(), &end, 10);
  if (index.empty() || *end != '\0' || k >= tasks.size()) {
    fmt::print(stderr, "chatdc slurm-task: task \"{}\" is not one of the {} in {}\n", index, tasks.size(), points_file);
    return 3;
  }
  const json& t = tasks[k];
  const auto argv = t.at("argv").get<std::vector<std::string>>();
  const std::string log = t.at("log").get<std::string>(), result = t.at("result").get<std::string>();
  const auto t0 = std::chrono::steady_clock::now();
  std::string err;
  const int status = run_and_wait(argv, log, &err);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int code = 3;
  std::string desc = err;
  if (status >= 0) {
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    desc = describe_status(status);
  } else {
    std::ofstream(log, std::ios::app) << "chatdc slurm-task: " << err << "\n";
  }
  try {
    write_whole(result, fmt::format("{} {} {}\n", code, wall, desc));
  } catch (const Error& e) {
    fmt::print(stderr, "chatdc slurm-task: {}\n", e.what());
    return 3;
  }
  fmt::print("chatdc slurm-task {}: {}: {} in {:.2f} s\n", k, t.at("label").get<std::string>(), desc, wall);
  return code;
}

}  // namespace chatdc::study
