// App: `chatdc report DIR` (and --html on run, compare, sweep, plan): one self-contained HTML file a
// planner can send on. It reads only the folder's output files (summary.json, timeline.csv, hourly.csv,
// scenario.resolved.yaml; for a study its table), draws the plots as inline SVG, and carries its styles
// inline: no script, no network access, nothing else needed to view it.
#pragma once
#include <filesystem>
#include <string>

namespace chatdc::app {

/// The report of a run's output folder, or of a study's (compare, sweep, plan). Throws chatdc::Error when
/// the folder holds neither.
std::string html_report(const std::filesystem::path& dir);

/// Writes DIR/report.html whole (or `out` when not empty); returns its path.
std::filesystem::path write_html_report(const std::filesystem::path& dir, const std::filesystem::path& out = {});

}  // namespace chatdc::app
