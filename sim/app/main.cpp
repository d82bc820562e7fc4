// chatdc command line: parse, load and validate, run, report.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "app/compare_cmd.hpp"
#include "app/html_report.hpp"
#include "app/model_cmd.hpp"
#include "app/plan_cmd.hpp"
#include "app/platform_cmd.hpp"
#include "app/report.hpp"
#include "app/shard_cmd.hpp"
#include "app/study_args.hpp"
#include "app/sweep_cmd.hpp"
#include "app/workload_cmd.hpp"
#include "config/reader.hpp"
#include "config/scenario.hpp"
#include "study/slurm_executor.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/utf8.hpp"
#include "engine/day_engine.hpp"

namespace {

int cmd_run(const std::string& file, const std::vector<std::string>& sets, const std::string& out, bool progress, bool quiet,
            const std::string& shard, bool html) {
  const chatdc::config::Scenario s = chatdc::config::load_scenario(file, sets);
  chatdc::engine::RunOptions opt;
  opt.output_dir = out;
  opt.progress = progress;
  opt.quiet = quiet;
  if (!shard.empty()) {
    std::tie(opt.shard, opt.shards) = chatdc::app::parse_shard(shard);
    chatdc::app::check_shardable(s, opt.shards, fmt::format("--shard {}", shard));
  }
  const auto r = chatdc::engine::run_scenario(s, opt);
  if (opt.shards > 0) {
    if (!quiet)
      fmt::print("chatdc: {} — shard {}/{} (cells {}..{}) simulated in {:.2f} s wall ({} requests); outputs {}/{{shard.cbor, "
                 "scenario.resolved.yaml}}: merge all {} with `chatdc merge`\n",
                 s.name, opt.shard, opt.shards, r.first_cell, r.last_cell - 1, r.wall_s, chatdc::app::grouped(static_cast<double>(r.requests)),
                 r.output_dir, opt.shards);
    std::fflush(stdout);
    return 0;
  }
  if (!quiet) fmt::print("{}", chatdc::app::short_report(s.name, r));
  if (html) {
    const auto f = chatdc::app::write_html_report(r.output_dir);
    if (!quiet) fmt::print("  report    {}\n", f.string());
  }
  std::fflush(stdout);
  chatdc::app::warn_about(r);
  return 0;
}

/// Problems CLI11 does not report well: text that is not UTF-8, a missing or unknown command. Empty if none.
std::string check_command_line(int argc, char** argv, const CLI::App& app) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a(argv[i]);
    if (chatdc::invalid_utf8_at(a) != std::string_view::npos)
      return fmt::format("argument {} (\"{}\") is not valid UTF-8 text", i, chatdc::escaped(a));
  }
  std::vector<std::string> names;
  for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(sub->get_name());
  const std::string list = fmt::format("{}", fmt::join(names, ", "));
  if (argc < 2) return fmt::format("a command is required (commands: {}); see chatdc --help", list);
  if (argv[1][0] == '-') {  // only --help and --version come before the command
    const std::string_view a(argv[1]);
    if (a == "--help" || a == "-h" || a == "--version") return "";
    return fmt::format("unknown option \"{}\" before the command (commands: {})", chatdc::escaped(a), list);
  }
  const std::string cmd = argv[1];
  if (std::find(names.begin(), names.end(), cmd) != names.end()) return "";
  std::string hint;
  std::size_t best = 3;
  for (const auto& n : names)
    if (const std::size_t d = chatdc::config::edit_distance(cmd, n); d < best) best = d, hint = n;
  return fmt::format("unknown command \"{}\"{} (commands: {})", chatdc::escaped(cmd),
                     hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint), list);
}

/// An option given with an empty value ("--out ''") is an error, not "use the default".
void require_nonempty(const CLI::App* sub, const char* option, const std::string& value, const char* expected) {
  if (sub->count(option) > 0 && value.empty()) throw chatdc::Error(fmt::format("{}: expected {}, got \"\"", option, expected));
}

}  // namespace

int main(int argc, char** argv) {
  chatdc::install_interrupt_handlers();
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
  std::string shard;
  run->add_option("--shard", shard,
                  "Simulate shard I of N of the day (I from 0): a share of the balancer cells and their requests, written as "
                  "shard.cbor for `chatdc merge` (needs cells that run apart: README \"Sharded days\")");

  bool html = false;
  run->add_flag("--html", html, "Also write report.html: a self-contained report of the run (as `chatdc report`)");
  int shards = 0;
  auto* shards_opt = run->add_option("--shards", shards,
                  "Split the day into N shards run by --executor (slurm: one array task each; local: processes here), "
                  "then merge them into the output folder (README \"Sharded days\")");
  chatdc::app::StudyArgs run_exec;
  chatdc::app::add_executor_options(run, run_exec);
  run_exec.quiet = false;

  auto log = spdlog::stderr_color_st("chatdc");
  log->set_pattern("chatdc: %^%l%$: %v");
  spdlog::set_default_logger(log);
  auto* model = app.add_subcommand("model", "Step-time, throughput, power and energy of one GPU/LLM/tensor-parallel "
                                            "configuration, without a simulation (hold it against your own measurements).");
  chatdc::app::ModelArgs ma;
  model->add_option("--gpu", ma.gpu, "GPU id (platforms/gpus.yaml)")->required();
  model->add_option("--llm", ma.llm, "LLM id (platforms/llms.yaml)")->required();
  model->add_option("--tp", ma.tp, "tensor-parallel degree (GPUs per attention group)")->capture_default_str();
  model->add_option("--ep", ma.ep, "expert parallelism: routed experts spread over this many of the replica's GPUs")
      ->capture_default_str();
  model->add_option("--dp", ma.dp, "attention data-parallel groups (a replica has tp x dp GPUs)")->capture_default_str();
  model->add_option("--nodes", ma.nodes, "servers the replica spans (data and expert parallelism across them; tp stays inside one)")
      ->capture_default_str();
  model->add_option("--redundant-experts", ma.redundant_experts, "extra expert copies (expert-parallel balancer)")->capture_default_str();
  model->add_option("--network-gbps", ma.network_gbps_per_gpu, "with --nodes: each GPU's network share, Gb/s")->capture_default_str();
  model->add_option("--rdma-efficiency", ma.rdma_efficiency, "with --nodes: achieved share of --network-gbps")->capture_default_str();
  model->add_option("--batch", ma.batch, "sequences in the batch")->capture_default_str();
  model->add_option("--prompt", ma.prompt, "prompt tokens per sequence")->capture_default_str();
  model->add_option("--output", ma.output, "output tokens per sequence")->capture_default_str();
  model->add_option("--engine", ma.engine, "serving engine whose efficiency profile to use (default: vllm)");
  model->add_option("--weight-dtype", ma.weight_dtype, "fp32, fp16, bf16, fp8, int8, int4, fp4, mxfp4 (default: the LLM's)");
  model->add_option("--kv-dtype", ma.kv_dtype, "KV-cache dtype (default: the LLM's)");
  model->add_option("--headroom", ma.headroom, "GPU memory fraction kept free")->capture_default_str();
  model->add_flag("--max-batch", ma.max_batch, "use the largest batch whose KV cache fits (throughput)");
  model->add_option("--table", ma.table, "measured step-time table CSV (phase,batch,context_tokens,step_ms[,gpu_power_w])");
  model->add_option("--catalog", ma.catalog_dir, "catalog folder (default: the shipped platforms/)");
  model->add_flag("--json", ma.json, "machine-readable output");

  auto* calibrate = app.add_subcommand("calibrate", "Compare the step model with measurements: the 2023 table row by row, "
                                                    "and the calibration pack of today's engines per (engine, GPU, LLM) with "
                                                    "fit and test splits; --fit refits each (GPU, engine) profile.");
  chatdc::app::CalibrateArgs ca;
  calibrate->add_option("--file", ca.files,
                        "calibration CSV: the 2023 table's schema or the pack's (modern-engines.csv); repeatable "
                        "(default: <catalog>/calibration.csv and <catalog>/calibration/pack-subset.csv)");
  calibrate->add_option("--gpu", ca.gpu, "only this GPU");
  calibrate->add_option("--engine", ca.engine, "pack files: only this engine profile (vllm, sglang, trtllm)");
  calibrate->add_option("--catalog", ca.catalog_dir, "catalog folder (default: the shipped platforms/)");
  calibrate->add_flag("--fit", ca.fit, "fit each (GPU, engine) profile (pack files: on the fit split) and print it");
  calibrate->add_flag("--by-model", ca.by_model, "pack files: also one line per (engine, GPU, LLM)");
  calibrate->add_flag("--out-of-scope", ca.out_of_scope, "pack files: list every configuration out of scope, with its reason");
  calibrate->add_option("--threads", ca.threads, "threads (0 = all cores; results do not depend on it)")->capture_default_str();
  calibrate->add_option("--fit-evaluations", ca.replica_evaluations,
                        "--fit on pack files: refinement steps through the replica scheduler")->capture_default_str();
  calibrate->add_flag("--json", ca.json, "machine-readable output");

  auto* wl = app.add_subcommand("workload", "Show a workload without simulating it: requests per hour, peak/mean/"
                                           "trough, token statistics, totals (a scenario's, or a bare trace's).");
  chatdc::app::WorkloadArgs wa;
  wl->add_option("scenario", wa.scenario, "scenario YAML file");
  wl->add_option("--trace", wa.trace, "a bare trace file (a folder for servegen) instead of a scenario");
  wl->add_option("--format", wa.format, "trace format: azure, mooncake, servegen or csv");
  wl->add_option("--duration", wa.duration_s, "bare trace: seconds to read (default: the whole trace)");
  wl->add_option("--bucket", wa.bucket_s, "seconds per row of the table")->capture_default_str();
  wl->add_option("--set", wa.sets, "override a scenario key (as in `chatdc run`); repeatable")->allow_extra_args(false);
  wl->add_flag("--json", wa.json, "machine-readable output");
  wl->add_option("--png", wa.png, "also draw the requests per bucket into this PNG (python3-matplotlib)");

  chatdc::app::CompareArgs cmp;
  auto* compare = chatdc::app::add_compare_subcommand(app, cmp);
  chatdc::app::SweepArgs swp;
  auto* sweep = chatdc::app::add_sweep_subcommand(app, swp);
  chatdc::app::PlanArgs pln;
  auto* plan = chatdc::app::add_plan_subcommand(app, pln);
  chatdc::app::MergeArgs mg;
  auto* merge = chatdc::app::add_merge_subcommand(app, mg);
  chatdc::app::PlatformArgs pa;
  auto* platform = chatdc::app::add_platform_subcommand(app, pa);
  auto* collect = app.add_subcommand("collect", "Write the tables of a compare or sweep submitted with --executor slurm "
                                                "--no-wait, from the runs its Slurm tasks finished.");
  std::string collect_dir;
  collect->add_option("dir", collect_dir, "The study's output folder")->required();
  auto* report = app.add_subcommand("report", "Write one self-contained HTML report (inline SVG plots and styles, no "
                                              "network) of a run's or a study's output folder.");
  std::string report_dir, report_out;
  report->add_option("dir", report_dir, "A run's output folder (summary.json), or a compare, sweep or plan folder")->required();
  report->add_option("--out,-o", report_out, "The HTML file (default: DIR/report.html)");
  auto* slurm_task = app.add_subcommand("slurm-task", "(run by a Slurm array task of --executor slurm)");
  slurm_task->group("");
  std::string task_points, task_index;
  slurm_task->add_option("points", task_points)->required();
  slurm_task->add_option("index", task_index)->required();
  chatdc::app::set_invocation(argc, argv);

  if (const std::string problem = check_command_line(argc, argv, app); !problem.empty()) {
    fmt::print(stderr, "chatdc: error: {}\n", problem);
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes (104-109) would hide that this is bad input: every command-line error exits 2.
    std::string sub;
    for (const auto* c : app.get_subcommands()) sub = c->get_name();
    fmt::print(stderr, "chatdc: error: {}{}\n  (see chatdc {}--help)\n", sub.empty() ? "" : "chatdc " + sub + ": ", e.what(),
               sub.empty() ? "" : sub + " ");
    return 2;
  }
  try {
    require_nonempty(run, "--out", out, "an output folder");
    require_nonempty(compare, "--out", cmp.study.out, "an output folder");
    require_nonempty(sweep, "--out", swp.study.out, "an output folder");
    require_nonempty(plan, "--out", pln.study.out, "an output folder");
    require_nonempty(wl, "--png", wa.png, "a PNG file name");
    require_nonempty(wl, "--trace", wa.trace, "a trace file (or a ServeGen folder)");
    require_nonempty(platform, "--xml", pa.xml, "an XML file name");
    if (*run && (shards_opt->count() > 0 || run_exec.executor != "local")) {
      if (!shard.empty()) throw chatdc::Error("--shard I/N and --shards N: one shard of a day, or all of them, not both");
      if (shards_opt->count() == 0)
        throw chatdc::Error(fmt::format("--executor {}: `chatdc run` needs --shards N with it", run_exec.executor));
      run_exec.quiet = quiet;
      return chatdc::app::cmd_run_sharded(scenario, sets, out, shards, run_exec);
    }
    if (*run) return cmd_run(scenario, sets, out, !no_progress && !quiet && ::isatty(2), quiet, shard, html);
    if (*merge) return chatdc::app::cmd_merge(mg);
    if (*report) {
      const auto f = chatdc::app::write_html_report(report_dir, report_out);
      fmt::print("chatdc report: {}\n", f.string());
      return 0;
    }
    if (*collect) return chatdc::app::cmd_collect(collect_dir);
    if (*slurm_task) return chatdc::study::run_slurm_task(task_points, task_index);
    if (*model) return chatdc::app::cmd_model(ma);
    if (*calibrate) return chatdc::app::cmd_calibrate(ca);
    if (*wl) {
      wa.duration_given = wl->count("--duration") > 0;
      return chatdc::app::cmd_workload(wa);
    }
    if (*compare) return chatdc::app::cmd_compare(cmp);
    if (*sweep) return chatdc::app::cmd_sweep(swp);
    if (*plan) {
      std::string line = "chatdc";
      for (int i = 1; i < argc; ++i) line += std::string(" ") + argv[i];
      return chatdc::app::cmd_plan(pln, line);
    }
    if (*platform) return chatdc::app::cmd_platform(pa);
  } catch (const chatdc::Error& e) {
    fmt::print(stderr, "chatdc: error: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "chatdc: internal error: out of memory\n");
    return 3;
  } catch (const std::exception& e) {
    fmt::print(stderr, "chatdc: internal error: {}\n", e.what());
    return 3;
  }
  return 0;
}
