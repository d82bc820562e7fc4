// Study layer: run many scenarios and collect them into tables. `chatdc compare`, `sweep` and `plan`
// are studies: each validates every point before anything runs, hands the points to an Executor, and
// reads the finished points back (summary.json and timeline.csv of each point's folder).
//
// Resume: a point whose folder already holds a summary.json written for the same resolved scenario
// (scenario.resolved.yaml, with run.threads set aside: results do not depend on it) is not run again.
// A run writes its folder whole or not at all, so an interrupted study leaves every finished point
// usable, and the next run of the same study carries on from there.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "study/executor.hpp"
#include "study/feasibility.hpp"
#include "study/points.hpp"

namespace chatdc::study {

struct StudyOptions {
  std::filesystem::path out;      // the study's folder; each point in out/<point.folder>
  std::vector<std::string> sets;  // --set for every point, before the point's own overrides
  bool rerun = false;             // run every point even if its outputs exist
  bool progress = false;          // one line on stderr per finished point
  std::string command = "study";  // "compare", "sweep", "plan": for messages
  double slo_target = 0.99;       // SLO attainment a feasible point reaches
};

struct PointResult {
  Outcome outcome;
  bool reused = false;     // its outputs were already there
  nlohmann::json summary;  // when it succeeded
  RunFigures figures;
  Feasibility feasibility;
  bool ok() const { return outcome.state == Outcome::State::kSucceeded; }
};

class Study {
 public:
  Study(StudyOptions options, Executor& executor);
  const StudyOptions& options() const { return opt_; }

  /// Loads and validates a point's scenario (with the study's --set, then the point's overrides).
  /// Returns its resolved scenario, normalised for comparison; throws chatdc::Error with the loader's message.
  std::string validate(const Point& p) const;

  /// Runs the points (each validated, `resolved` from validate()), skipping those whose outputs exist
  /// for the same resolved scenario, and reads every finished point back. Results in point order.
  std::vector<PointResult> run(const std::vector<Point>& points, const std::vector<std::string>& resolved);

  std::size_t started() const { return started_; }  // runs started, over every call of run()
  std::size_t reused() const { return reused_; }    // points found finished
  std::filesystem::path folder(const Point& p) const { return opt_.out / p.folder; }

 private:
  StudyOptions opt_;
  Executor& exec_;
  std::size_t started_ = 0, reused_ = 0;
};

/// Validates every point before anything runs: their normalised resolved scenarios. Throws one
/// chatdc::Error listing each distinct problem once, introduced by origin(i, message) (e.g. "--grid
/// \"racks=0,8\" (value 0)"). Problems that differ only in the point's own values (a misspelt key on a
/// grid of ten values) are one problem, reported for its first point with the count of the others.
std::vector<std::string> validate_all(const Study& study, const std::vector<Point>& points,
                                      const std::function<std::string(std::size_t, const std::string&)>& origin);

/// The report currency shared by every resolved scenario; throws chatdc::Error naming the points when
/// they differ.
std::string common_currency(const std::vector<Point>& points, const std::vector<std::string>& resolved);

/// "2 of 5 runs failed" followed by each failed run, its error and the last lines of its stderr.txt;
/// "" when none failed.
std::string failure_report(const Study& study, const std::vector<Point>& points, const std::vector<PointResult>& results);

/// The scenario's top-level `name`, else the file stem (validation reports a bad file).
std::string scenario_name(const std::string& file);

/// Index of the cheapest feasible result (lowest total cost), or -1 when none is feasible.
long cheapest_feasible(const std::vector<PointResult>& results);

/// The resolved scenario text normalised for resume: run.threads set aside.
std::string normalised_resolved(const std::string& resolved_yaml);

/// Reads a finished run's folder: summary.json, and the arrival rate over its last hour from timeline.csv.
/// Throws chatdc::Error when unreadable.
void read_point(const std::filesystem::path& folder, nlohmann::json* summary, RunFigures* figures);

// ---- tables ----

enum class Kind { kCount, kLatency, kPercent, kAmount, kMoney };

/// A summary.json figure as a table column.
struct Column {
  const char* csv;
  const char* md;  // row or column name in markdown; "{}" stands for the currency; nullptr: CSV only
  std::vector<const char*> path;
  Kind kind;
};

/// The figures every study table carries, in order (requests, latency, SLO, load, energy, cost).
const std::vector<Column>& summary_columns();
/// The summary value at path (null when absent).
const nlohmann::json& at(const nlohmann::json& j, const std::vector<const char*>& path);
double number(const nlohmann::json& j, const std::vector<const char*>& path);
/// A summary number in its shortest exact form ("" when absent).
std::string csv_number(const nlohmann::json& v);
std::string csv_field(const std::string& s);
std::string md_cell(const std::string& s);
/// n significant digits, thousands separators from 10^(n-1) up: 0.0349, 12.3, 2,190.
std::string sig(double v, int n);
std::string human(double v, Kind k);
/// A markdown section listing the defaults the runs did not set (each summary's defaults_to_review): key, the
/// value (or the range of values across runs), unit, source, and in how many runs; "" when none.
std::string defaults_md(const std::vector<const nlohmann::json*>& summaries, const std::string& currency);
/// Fixed-width text table (first column left-aligned, others right-aligned; UTF-8 aware).
std::string text_table(const std::vector<std::vector<std::string>>& rows);

/// The feasibility columns of every study table: slo_target, slo_met, feasible, infeasible_reason,
/// backlog_limit (CSV header fragment and one row's values).
std::string feasibility_csv_header();
std::string feasibility_csv_values(const PointResult& r, double slo_target);

// ---- outputs written whole ----

/// Writes every file under temporary names in dir, then renames them into place: nothing is replaced
/// unless every file could be written. Throws chatdc::Error.
void commit_files(const std::filesystem::path& dir, const std::map<std::string, std::string>& files,
                  const std::map<std::string, std::filesystem::path>& staged = {});

/// Runs analysis/<script> with /usr/bin/python3 and `args` plus `--out TMP.png`; returns the PNG's temporary
/// path, or "" after a warning (spdlog) when Python, matplotlib or the script is missing or fails.
std::filesystem::path draw_plot(const std::string& script, const std::vector<std::string>& args,
                                const std::filesystem::path& dir, const std::string& png_name);
/// The same for a plot of a table not yet in place: the table is staged under a hidden name in dir and
/// passed as the script's first argument (removed afterwards).
std::filesystem::path draw_table_plot(const std::string& script, const std::string& table_csv, std::vector<std::string> args,
                                      const std::filesystem::path& dir, const std::string& png_name);

}  // namespace chatdc::study
