#include "app/html_report.hpp"
#include "app/sweep_cmd.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "study/study.hpp"

namespace chatdc::app {

namespace {

namespace fs = std::filesystem;
using study::Point;
using study::PointResult;

struct Sweep {
  std::vector<study::Axis> axes;  // grids, then zips
  std::vector<std::string> keys, names;
  std::vector<study::Assignment> assignments;
  std::vector<Point> points;
  std::size_t x = 0;              // index of the x key
  const study::Column* y = nullptr;
};

Sweep build(const SweepArgs& a) {
  Sweep w;
  std::vector<study::Axis> grids, zips;
  for (const auto& g : a.grids) grids.push_back(study::parse_axis("--grid", g));
  for (const auto& z : a.zips) zips.push_back(study::parse_axis("--zip", z));
  if (grids.empty() && zips.empty())
    throw Error("sweep needs at least one --grid KEY=V1,V2,... (or --zip): the keys to vary");
  w.assignments = study::expand(grids, zips);
  w.axes = grids;
  w.axes.insert(w.axes.end(), zips.begin(), zips.end());
  for (const auto& ax : w.axes) w.keys.push_back(ax.key);
  w.names = study::short_names(w.keys);
  // The plot's axes are checked before anything runs.
  if (a.x.empty()) {
    w.x = 0;
  } else {
    const auto it = std::find_if(w.keys.begin(), w.keys.end(), [&](const std::string& k) { return k == a.x; });
    const auto jt = std::find(w.names.begin(), w.names.end(), a.x);
    if (it == w.keys.end() && jt == w.names.end()) {
      std::string list;
      for (const auto& n : w.names) list += (list.empty() ? "" : ", ") + n;
      throw Error(fmt::format("--x \"{}\": not a varied key (varied: {})", a.x, list));
    }
    w.x = it != w.keys.end() ? static_cast<std::size_t>(it - w.keys.begin()) : static_cast<std::size_t>(jt - w.names.begin());
  }
  for (const auto& c : study::summary_columns())
    if (a.y == c.csv && std::string(c.csv) != "currency") w.y = &c;
  if (!w.y) {
    std::string list;
    for (const auto& c : study::summary_columns())
      if (std::string(c.csv) != "currency") list += (list.empty() ? "" : ", ") + std::string(c.csv);
    throw Error(fmt::format("--y \"{}\": not a figure of sweep.csv (figures: {})", a.y, list));
  }
  for (const auto& as : w.assignments) {
    Point p;
    p.scenario = a.scenario;
    for (std::size_t i = 0; i < as.size(); ++i) {
      p.overrides.push_back(as[i].first + "=" + as[i].second);
      p.label += (p.label.empty() ? "" : " ") + w.names[i] + "=" + as[i].second;
    }
    p.folder = study::folder_name(p.label);
    w.points.push_back(p);
  }
  return w;
}

std::string sweep_csv(const Sweep& w, const std::vector<PointResult>& res, double target) {
  std::string out = "label,folder";
  for (const auto& k : w.keys) out += "," + study::csv_field(k);
  out += "," + study::feasibility_csv_header();
  for (const auto& c : study::summary_columns()) out += std::string(",") + c.csv;
  out += '\n';
  for (std::size_t i = 0; i < w.points.size(); ++i) {
    out += study::csv_field(w.points[i].label) + "," + study::csv_field(w.points[i].folder);
    for (const auto& kv : w.assignments[i]) out += "," + study::csv_field(kv.second);
    out += "," + study::feasibility_csv_values(res[i], target);
    for (const auto& c : study::summary_columns()) {
      const auto& v = study::at(res[i].summary, c.path);
      out += "," + (v.is_string() ? study::csv_field(v.get<std::string>()) : study::csv_number(v));
    }
    out += '\n';
  }
  return out;
}

std::string sweep_md(const Sweep& w, const std::vector<PointResult>& res, const SweepArgs& a, const std::string& cur,
                     double target) {
  std::string md = fmt::format("# chatdc sweep: {}\n\n", study::scenario_name(a.scenario));
  md += fmt::format("Scenario `{}`, {} points:", a.scenario, w.points.size());
  for (const auto& ax : w.axes) md += fmt::format(" `{} {}`", ax.option, ax.text);
  for (const auto& s : a.study.sets) md += fmt::format(" `--set {}`", s);
  md += ".\n\n";
  const long best = study::cheapest_feasible(res);
  std::size_t infeasible = 0;
  for (const auto& r : res) infeasible += !r.feasibility.feasible;
  if (best >= 0) {
    const auto& b = res[static_cast<std::size_t>(best)].summary;
    md += fmt::format("**Cheapest feasible point: {}** — {} {} in total, {} {} per 1k requests, SLO {}, TTFT p99 {} s.\n\n",
                      study::md_cell(w.points[static_cast<std::size_t>(best)].label), cur,
                      study::sig(study::number(b, {"cost", "total"}), 4), cur,
                      study::sig(study::number(b, {"cost", "per_1k_requests"}), 4),
                      study::percent(study::number(b, {"slo", "attainment"})),
                      study::sig(study::number(b, {"latency_s", "ttft", "p99"}), 3));
  } else {
    md += "**No point is feasible.**\n\n";
  }
  md += fmt::format("{} of {} points are infeasible (marked ✗, never ranked). Feasible: SLO attainment ≥ {:g}%, nothing "
                    "dropped, rejections only those the model's context forces, no backlog at the end (README "
                    "\"Studies\").\n\n",
                    infeasible, w.points.size(), 100 * target);
  md += "|";
  for (const auto& n : w.names) md += " " + study::md_cell(n) + " |";
  md += fmt::format(" feasible | SLO | TTFT p99 (s) | TPOT p99 (s) | dropped | unfinished | total cost ({0}) | per 1k requests "
                    "({0}) | facility energy (kWh) |\n|",
                    cur);
  for (std::size_t i = 0; i < w.names.size() + 9; ++i) md += i < w.names.size() ? "---|" : "---:|";
  md += '\n';
  for (std::size_t i = 0; i < w.points.size(); ++i) {
    const auto& s = res[i].summary;
    md += "|";
    for (const auto& kv : w.assignments[i]) md += " " + study::md_cell(kv.second) + " |";
    md += res[i].feasibility.feasible ? (static_cast<long>(i) == best ? " **yes (cheapest)** |" : " yes |")
                                      : " ✗ " + study::md_cell(res[i].feasibility.why) + " |";
    md += fmt::format(" {} | {} | {} | {} | {} | {} | {} | {} |\n", study::percent(study::number(s, {"slo", "attainment"})),
                      study::sig(study::number(s, {"latency_s", "ttft", "p99"}), 3),
                      study::sig(study::number(s, {"latency_s", "tpot", "p99"}), 3),
                      study::grouped(study::number(s, {"requests", "dropped"})),
                      study::grouped(study::number(s, {"requests", "unfinished"})),
                      study::sig(study::number(s, {"cost", "total"}), 4), study::sig(study::number(s, {"cost", "per_1k_requests"}), 4),
                      study::sig(study::number(s, {"energy_kwh", "facility"}), 3));
  }
  md += "\nFull figures: `sweep.csv`; each point's outputs: its folder (column `folder`). Plot: `sweep.png` (" +
        std::string(w.y->csv) + " against " + w.names[w.x] + ").\n";
  std::vector<const nlohmann::json*> summaries;
  for (const auto& r : res) summaries.push_back(&r.summary);
  md += study::defaults_md(summaries, cur);
  return md;
}

void print_summary(const Sweep& w, const std::vector<PointResult>& res, const std::string& cur, const fs::path& out,
                   const study::Study& s) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = w.names;
  head.insert(head.end(), {"feasible", "SLO met", "TTFT p99", "dropped", "total cost"});
  rows.push_back(head);
  const long best = study::cheapest_feasible(res);
  for (std::size_t i = 0; i < w.points.size() && i < 60; ++i) {
    std::vector<std::string> row;
    for (const auto& kv : w.assignments[i]) row.push_back(kv.second);
    const auto& sm = res[i].summary;
    row.insert(row.end(), {res[i].feasibility.feasible ? (static_cast<long>(i) == best ? "yes, cheapest" : "yes") : "NO",
                           study::percent(study::number(sm, {"slo", "attainment"})),
                           fmt::format("{} s", study::sig(study::number(sm, {"latency_s", "ttft", "p99"}), 3)),
                           study::grouped(study::number(sm, {"requests", "dropped"})),
                           fmt::format("{} {}", cur, study::sig(study::number(sm, {"cost", "total"}), 4))});
    rows.push_back(row);
  }
  std::string text = fmt::format("chatdc sweep: {} points ({} run, {} done before), outputs in {}/{{sweep.csv, sweep.md, "
                                 "sweep.png}}\n",
                                 w.points.size(), s.started(), s.reused(), out.string());
  text += study::text_table(rows);
  if (w.points.size() > 60) text += fmt::format("  ... {} more rows in sweep.md\n", w.points.size() - 60);
  fmt::print("{}", text);
  std::fflush(stdout);
}

/// The option and value a point's validation error comes from (it names the override as --set key=value).
std::string origin_of(const Sweep& w, std::size_t i, const std::string& message) {
  for (std::size_t k = 0; k < w.assignments[i].size(); ++k) {
    const auto& [key, value] = w.assignments[i][k];
    if (message.find("--set " + key + "=" + value) != std::string::npos)
      return fmt::format("{} \"{}\" (value {})", w.axes[k].option, w.axes[k].text, value);
  }
  return fmt::format("point {}", w.points[i].label);
}

}  // namespace

CLI::App* add_sweep_subcommand(CLI::App& app, SweepArgs& a) {
  auto* c = app.add_subcommand("sweep", "Run one scenario over a grid of key values (one process per point) and write "
                                        "sweep.csv, sweep.md and sweep.png; a rerun carries on where it stopped.");
  c->add_option("scenario", a.scenario, "Scenario YAML file")->required();
  c->add_option("--grid", a.grids,
                "A key and its values: KEY=V1,V2,... or KEY=START:STOP[:STEP] (inclusive), any scenario key as in --set; "
                "the points are the cartesian product of the grids; repeatable")
      ->allow_extra_args(false);
  c->add_option("--zip", a.zips, "A key and its values that vary together with every other --zip (same length): one more "
                                 "axis of the product; repeatable")
      ->allow_extra_args(false);
  c->add_option("--x", a.x, "Plot: the varied key on the x axis (full key or its short name; default: the first)");
  c->add_option("--y", a.y, "Plot: a figure of sweep.csv on the y axis (default: cost_per_1k_requests)");
  add_study_options(c, a.study, "Output folder (default: results/sweep-<scenario name>); each point in a subfolder "
                                "named by its values");
  return c;
}

int cmd_sweep(const SweepArgs& a) {
  const StudySettings st = check_study_args(a.study);
  const Sweep w = build(a);
  const fs::path out = a.study.out.empty() ? fs::path("results") / ("sweep-" + study::folder_name(study::scenario_name(a.scenario)))
                                           : fs::path(a.study.out);
  const auto exec = make_executor(a.study, st, out, "sweep", true);
  study::Study s(study_options(a.study, st, out, "sweep"), *exec);

  // Every point is validated before anything runs or is written.
  const std::vector<std::string> resolved =
      study::validate_all(s, w.points, [&](std::size_t i, const std::string& message) { return origin_of(w, i, message); });
  const std::string currency = study::common_currency(w.points, resolved);

  create_output_folder(a.study, out);
  std::error_code ec;
  for (const char* f : {"sweep.csv", "sweep.md", "sweep.png"}) fs::remove(out / f, ec);

  const auto res = s.run(w.points, resolved);
  if (const int rc = pending_exit(a.study, s, w.points, res, out, "sweep"); rc >= 0) return rc;
  const std::string failed = study::failure_report(s, w.points, res);
  if (!failed.empty()) {
    fmt::print(stderr, "chatdc: error: {}; no sweep tables written (the finished points are kept: run the same command "
                       "again to carry on)\n",
               failed);
    return 2;
  }
  std::map<std::string, std::string> files = {{"sweep.csv", sweep_csv(w, res, st.slo_target)},
                                              {"sweep.md", sweep_md(w, res, a, currency, st.slo_target)}};
  std::map<std::string, fs::path> staged;
  if (!a.study.no_plot) {
    std::vector<std::string> plot_args = {"--x", w.keys[w.x], "--y", w.y->csv, "--title",
                                          fmt::format("chatdc sweep: {}", study::scenario_name(a.scenario))};
    for (std::size_t k = 0; k < w.keys.size(); ++k) plot_args.insert(plot_args.end(), {"--key", w.keys[k], w.names[k]});
    const fs::path png = study::draw_table_plot("plot_sweep.py", files["sweep.csv"], plot_args, out, "sweep.png");
    if (!png.empty()) staged["sweep.png"] = png;
  }
  study::commit_files(out, files, staged);
  if (a.study.html) write_html_report(out);

  if (!a.study.quiet) print_summary(w, res, currency, out, s);
  std::size_t infeasible = 0;
  for (const auto& r : res) infeasible += !r.feasibility.feasible;
  if (infeasible > 0)
    spdlog::warn("{} of {} points are infeasible (marked in sweep.csv, sweep.md and sweep.png, never ranked)", infeasible,
                 w.points.size());
  return 0;
}

}  // namespace chatdc::app
