#include "app/html_report.hpp"
#include "app/plan_cmd.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/error.hpp"
#include "study/plan.hpp"

namespace chatdc::app {

namespace fs = std::filesystem;

CLI::App* add_plan_subcommand(CLI::App& app, PlanArgs& a) {
  auto* c = app.add_subcommand("plan", "Find the cheapest fleet (server, tensor parallel, engine, size and placement) that "
                                       "meets the scenario's SLO over its whole day; write plan.md, plan.csv, plan.png and "
                                       "plan.resolved.yaml.");
  c->add_option("scenario", a.scenario, "Scenario YAML file: its datacenters are the candidate sites")->required();
  c->add_option("--objective", a.objective, "What the plan minimises: cost (default), energy or carbon (per day)");
  c->add_option("--servers", a.servers, "Candidate servers (catalog ids, comma-separated; default: each site's own)")
      ->allow_extra_args(false);
  c->add_option("--tp", a.tps, "Candidate tensor-parallel degrees (comma-separated; default: each site's own)")
      ->allow_extra_args(false);
  c->add_option("--engine", a.engines, "Candidate serving engines (comma-separated; default: the scenario's)")
      ->allow_extra_args(false);
  c->add_option("--vary", a.vary,
                "A site and its size range: platform.regions[R].datacenters[D].racks=MIN:MAX (or servers_per_rack); "
                "repeatable (default: every datacenter's racks, 1 to 100,000)")
      ->allow_extra_args(false);
  c->add_option("--screen-hours", a.screen_hours, "Length of the busiest window that screens fleets before full days "
                                                  "(hours; 0: full days only; default 1)");
  c->add_flag("--no-headroom", a.no_headroom, "Do not search the chosen fleet's headroom");
  add_study_options(c, a.study, "Output folder (default: results/plan-<scenario name>); every evaluated run in points/");
  return c;
}

int cmd_plan(const PlanArgs& a, const std::string& command_line) {
  const StudySettings st = check_study_args(a.study);
  study::PlanRequest req;
  req.scenario = a.scenario;
  req.objective = study::parse_objective(a.objective);
  req.servers = a.servers;
  req.tps = a.tps;
  req.engines = a.engines;
  req.vary = a.vary;
  if (!(a.screen_hours >= 0 && a.screen_hours <= 12))
    throw Error(fmt::format("--screen-hours {}: expected 0 (no screening) to 12 hours", a.screen_hours));
  req.screen_hours = a.screen_hours;
  req.headroom = !a.no_headroom;
  req.parallel = st.jobs;
  const fs::path out = a.study.out.empty()
                           ? fs::path("results") / ("plan-" + study::folder_name(study::scenario_name(a.scenario)))
                           : fs::path(a.study.out);
  if (a.study.collect) throw Error("chatdc collect: a plan waits for its Slurm jobs round by round; run the same `chatdc plan` again");
  const auto exec = make_executor(a.study, st, out, "plan", false);
  study::Study s(study_options(a.study, st, out, "plan"), *exec);
  study::Planner planner(req, s);  // checks everything before anything runs

  create_output_folder(a.study, out);
  std::error_code ec;
  for (const char* f : {"plan.md", "plan.csv", "plan.png", "plan.resolved.yaml"}) fs::remove(out / f, ec);

  study::PlanResult r;
  if (!planner.run(&r)) return 2;
  std::map<std::string, std::string> files = {{"plan.csv", study::plan_csv(planner, r)},
                                              {"plan.md", study::plan_md(planner, r, command_line)}};
  if (r.best) {
    const auto& e = r.evals[*r.options[*r.best].eval];
    files["plan.resolved.yaml"] =
        fmt::format("# chatdc plan: the chosen fleet ({}). `chatdc run` on this file reproduces its figures.\n",
                    e.point.label) +
        study::slurp(s.folder(e.point) / "scenario.resolved.yaml");
  }
  std::map<std::string, fs::path> staged;
  if (!a.study.no_plot) {
    const fs::path png = study::draw_table_plot("plot_plan.py", files["plan.csv"],
                                                {"--title", fmt::format("chatdc plan: {}", study::scenario_name(a.scenario))},
                                                out, "plan.png");
    if (!png.empty()) staged["plan.png"] = png;
  }
  study::commit_files(out, files, staged);
  if (a.study.html) write_html_report(out);
  if (!a.study.quiet) {
    fmt::print("{}", study::plan_text(planner, r, out.string()));
    std::fflush(stdout);
  }
  if (!r.best) spdlog::warn("no plan meets the SLO within the search ranges (see {}/plan.md)", out.string());
  return 0;
}

}  // namespace chatdc::app
