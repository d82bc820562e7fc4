#include "app/html_report.hpp"
#include "app/compare_cmd.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "study/study.hpp"

namespace chatdc::app {

namespace {

namespace fs = std::filesystem;
using study::Point;
using study::PointResult;

/// The runs, labelled and with distinct folders; the origin of each for messages.
std::vector<Point> points_of(const CompareArgs& a, std::vector<std::string>* origin) {
  std::vector<Point> runs;
  for (const auto& f : a.scenarios) {
    Point p;
    p.scenario = f;
    p.label = study::scenario_name(f);
    runs.push_back(p);
    origin->push_back(fmt::format("scenario {}", f));
  }
  for (const auto& v : a.variants) {
    const auto colon = v.find(':');
    if (colon == std::string::npos || study::trim(v.substr(0, colon)).empty())
      throw Error(fmt::format("--variant \"{}\": expected \"LABEL: key.path=value [key.path=value ...]\"", v));
    if (a.scenarios.empty()) throw Error("--variant needs a scenario file to vary");
    Point p;
    p.scenario = a.scenarios.front();
    p.label = study::trim(v.substr(0, colon));
    p.overrides = study::split_overrides(v.substr(colon + 1), fmt::format("--variant \"{}\"", v));
    runs.push_back(p);
    origin->push_back(fmt::format("--variant \"{}\"", v));
  }
  if (runs.size() < 2)
    throw Error(fmt::format("compare needs at least two runs (scenario files, or one scenario and --variant \"LABEL: "
                            "key.path=value\"), got {}",
                            runs.size()));
  // Unique labels and folders: the second "x" becomes "x-2", and so on.
  std::set<std::string> labels, folders;
  for (auto& r : runs) {
    std::string label = r.label;
    for (int k = 2; labels.count(label) || folders.count(study::folder_name(label)); ++k) label = fmt::format("{}-{}", r.label, k);
    r.label = label;
    r.folder = study::folder_name(label);
    labels.insert(r.label);
    folders.insert(r.folder);
  }
  return runs;
}

std::string comparison_csv(const std::vector<Point>& runs, const std::vector<PointResult>& res, double target) {
  std::string out = "label,scenario_file," + study::feasibility_csv_header();
  for (const auto& c : study::summary_columns()) out += std::string(",") + c.csv;
  out += '\n';
  for (std::size_t i = 0; i < runs.size(); ++i) {
    out += study::csv_field(runs[i].label) + "," + study::csv_field(runs[i].scenario) + "," +
           study::feasibility_csv_values(res[i], target);
    for (const auto& c : study::summary_columns()) {
      const auto& v = study::at(res[i].summary, c.path);
      out += "," + (v.is_string() ? study::csv_field(v.get<std::string>()) : study::csv_number(v));
    }
    out += '\n';
  }
  return out;
}

std::string comparison_md(const std::vector<Point>& runs, const std::vector<PointResult>& res, const CompareArgs& a,
                          const fs::path& out_dir, const std::string& currency, double target) {
  std::string md = fmt::format("# chatdc compare: {}\n\n", out_dir.filename().string());
  const long best = study::cheapest_feasible(res);
  if (best >= 0)
    md += fmt::format("Cheapest feasible run: **{}** ({} {} in total).", study::md_cell(runs[static_cast<std::size_t>(best)].label),
                      currency, study::sig(study::number(res[static_cast<std::size_t>(best)].summary, {"cost", "total"}), 4));
  else
    md += "**No run is feasible**: none carries its demand within the SLO.";
  md += fmt::format(" Feasible: SLO attainment ≥ {:g}%, nothing dropped, rejections only those the model's context forces, "
                    "no backlog at the end (README \"Studies\").\n\n",
                    100 * target);
  md += "| metric |";
  for (const auto& r : runs) md += " " + study::md_cell(r.label) + " |";
  md += "\n|---|";
  for (std::size_t i = 0; i < runs.size(); ++i) md += "---:|";
  md += "\n| **feasible** |";
  for (const auto& r : res) md += r.feasibility.feasible ? " yes |" : " **no** |";
  md += "\n| why not |";
  for (const auto& r : res) md += " " + (r.feasibility.feasible ? std::string("–") : study::md_cell(r.feasibility.why)) + " |";
  md += '\n';
  for (const auto& c : study::summary_columns()) {
    if (!c.md) continue;
    md += "| " + fmt::format(fmt::runtime(c.md), currency) + " |";
    for (const auto& r : res) md += " " + study::human(study::number(r.summary, c.path), c.kind) + " |";
    md += '\n';
  }
  md += "\nRuns:\n\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    md += fmt::format("- **{}**: `{}`", study::md_cell(r.label), r.scenario);
    if (i >= a.scenarios.size()) {
      std::string o;
      for (const auto& s : r.overrides) o += (o.empty() ? "" : " ") + fmt::format("`{}`", s);
      md += o.empty() ? " (a variant without overrides)" : " with " + o;
    }
    md += fmt::format(" — outputs in `{}/`{}\n", r.folder, res[i].reused ? " (from an earlier run)" : "");
  }
  if (!a.study.sets.empty()) {
    std::string s;
    for (const auto& x : a.study.sets) s += (s.empty() ? "" : " ") + fmt::format("`{}`", x);
    md += "\nEvery run with " + s + ".\n";
  }
  std::vector<const nlohmann::json*> summaries;
  for (const auto& r : res) summaries.push_back(&r.summary);
  md += study::defaults_md(summaries, currency);
  return md;
}

void print_table(const std::vector<Point>& runs, const std::vector<PointResult>& res, const std::string& cur,
                 const fs::path& out) {
  const long best = study::cheapest_feasible(res);
  std::vector<std::vector<std::string>> rows = {
      {"run", "feasible", "total cost", "per 1k requests", "TTFT p99", "SLO met", "dropped", "facility energy"}};
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& s = res[i].summary;
    rows.push_back({runs[i].label + (static_cast<long>(i) == best ? " (cheapest)" : ""),
                    res[i].feasibility.feasible ? "yes" : "NO",
                    fmt::format("{} {}", cur, study::sig(study::number(s, {"cost", "total"}), 4)),
                    fmt::format("{} {}", cur, study::sig(study::number(s, {"cost", "per_1k_requests"}), 4)),
                    fmt::format("{} s", study::sig(study::number(s, {"latency_s", "ttft", "p99"}), 3)),
                    study::human(study::number(s, {"slo", "attainment"}), study::Kind::kPercent),
                    study::grouped(study::number(s, {"requests", "dropped"})),
                    fmt::format("{} kWh", study::sig(study::number(s, {"energy_kwh", "facility"}), 3))});
  }
  std::string text = fmt::format("chatdc compare: {} runs, outputs in {}/{{comparison.csv, comparison.md, comparison.png}}\n",
                                 runs.size(), out.string());
  text += study::text_table(rows);
  fmt::print("{}", text);
  std::fflush(stdout);
}

}  // namespace

CLI::App* add_compare_subcommand(CLI::App& app, CompareArgs& a) {
  auto* c = app.add_subcommand("compare", "Run several scenarios (and variants of the first one) side by side and write "
                                          "comparison.csv, comparison.md and comparison.png.");
  c->add_option("scenarios", a.scenarios, "Scenario YAML files: one run each, labelled by the scenario's name")->required();
  c->add_option("--variant", a.variants,
                "One more run of the first scenario with overrides: --variant \"LABEL: key.path=value "
                "[key.path=value ...]\"; repeatable")
      ->allow_extra_args(false);
  add_study_options(c, a.study, "Output folder (default: results/compare-<first scenario's name>); each run goes "
                                "into a subfolder named by its label");
  return c;
}

int cmd_compare(const CompareArgs& a) {
  const StudySettings st = check_study_args(a.study);
  std::vector<std::string> origin;
  const std::vector<Point> runs = points_of(a, &origin);
  const fs::path out = a.study.out.empty() ? fs::path("results") / ("compare-" + runs.front().folder) : fs::path(a.study.out);

  const auto exec = make_executor(a.study, st, out, "compare", true);
  study::Study s(study_options(a.study, st, out, "compare"), *exec);
  // Everything is checked before anything runs or is written.
  const auto resolved = study::validate_all(s, runs, [&](std::size_t i, const std::string&) { return fmt::format("run \"{}\" ({})", runs[i].label, origin[i]); });
  const std::string currency = study::common_currency(runs, resolved);

  create_output_folder(a.study, out);
  std::error_code ec;
  // An earlier comparison in this folder no longer matches the run folders about to be rewritten.
  for (const char* f : {"comparison.csv", "comparison.md", "comparison.png"}) fs::remove(out / f, ec);

  const auto res = s.run(runs, resolved);
  if (const int rc = pending_exit(a.study, s, runs, res, out, "compare"); rc >= 0) return rc;
  const std::string failed = study::failure_report(s, runs, res);
  if (!failed.empty()) {
    fmt::print(stderr, "chatdc: error: {}; no comparison written\n", failed);
    return 2;
  }
  std::map<std::string, std::string> files = {{"comparison.csv", comparison_csv(runs, res, st.slo_target)},
                                              {"comparison.md", comparison_md(runs, res, a, out, currency, st.slo_target)}};
  // The plot reads the table: it is staged first, then everything is put in place together.
  std::map<std::string, fs::path> staged;
  if (!a.study.no_plot) {
    const fs::path png = study::draw_table_plot("plot_compare.py", files["comparison.csv"], {"--dir", out.string()}, out,
                                                "comparison.png");
    if (!png.empty()) staged["comparison.png"] = png;
  }
  study::commit_files(out, files, staged);
  if (a.study.html) write_html_report(out);

  std::size_t infeasible = 0;
  for (const auto& r : res) infeasible += !r.feasibility.feasible;
  if (!a.study.quiet) print_table(runs, res, currency, out);
  if (infeasible > 0) {
    std::string names;
    for (std::size_t i = 0; i < runs.size(); ++i)
      if (!res[i].feasibility.feasible) names += fmt::format("\n  {}: {}", runs[i].label, res[i].feasibility.why);
    spdlog::warn("{} of {} runs are infeasible (not ranked; no cheaper claim is made for them):{}", infeasible, runs.size(), names);
  }
  return 0;
}

}  // namespace chatdc::app
