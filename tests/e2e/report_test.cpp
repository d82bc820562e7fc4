// End to end: `chatdc report` and --html write one self-contained HTML file, and it loads in a real headless
// Chromium (Debian's chromium) without console errors, with the key figures in its DOM, and renders a
// screenshot. The Chromium case exits 77 (ctest: skipped) when /usr/bin/chromium is absent.
#include <fmt/format.h>

#include <cstdlib>
#include <regex>

#include "e2e/harness.hpp"

namespace fs = std::filesystem;
using chatdc::test::run;
using chatdc::test::scratch;
using chatdc::test::slurp;

namespace {

const std::string kSites = "tests/fixtures/two_sites.yaml --set routing.policy=nearest ";
const char* kChromium = "/usr/bin/chromium";

struct Browser {
  std::string dom, log;
  int code = -1;
};

/// Loads a file in headless Chromium (a fresh profile, no network features): its DOM after load and its log
/// (console messages appear as ":CONSOLE" lines); with `png`, a screenshot too.
Browser load(const fs::path& html, const fs::path& work, const fs::path& png = {}) {
  const std::string flags = fmt::format(
      "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --user-data-dir='{}' --enable-logging=stderr --v=0 --window-size=1000,2400",
      (work / fmt::format("profile-{}", html.stem().string())).string());
  const std::string what = png.empty() ? std::string("--dump-dom") : fmt::format("--screenshot='{}'", png.string());
  const auto p = run(flags + " " + what + " 'file://" + fs::absolute(html).string() + "'", std::string("timeout 120 ") + kChromium);
  return {p.out, p.err, p.code};
}

std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);)
    if (l.find(":CONSOLE") != std::string::npos) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("report: run --html and chatdc report write one self-contained page with the run's figures", "[e2e][report]") {
  const auto d = scratch("report-run");
  const auto p = run("run " + kSites + "--html -o " + (d / "run").string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const std::string html = slurp(d / "run" / "report.html");
  const auto s = chatdc::test::summary(d / "run");
  // The answer first, then the sections a planner reads.
  const auto answer = html.find("id=\"answer\"");
  REQUIRE(answer != std::string::npos);
  for (const char* section : {"Cost by component", "Energy and carbon", "Latency percentiles against the SLO", "Timelines",
                              "Datacenters", "User regions", "Warnings", "Sources of the assumptions", "The resolved scenario"}) {
    INFO(section);
    CHECK(html.find(section) > answer);
  }
  CHECK(html.find(fmt::format("{} {}", s["cost"]["currency"].get<std::string>(),
                              static_cast<long long>(std::llround(s["cost"]["total"].get<double>())))) != std::string::npos);
  CHECK(html.find("sh-1") != std::string::npos);
  CHECK(html.find("east-users") != std::string::npos);
  CHECK(html.find("dgx-a100-80gb") != std::string::npos);  // the catalog entry with its sources
  // Every default the scenario did not set, in its own table.
  REQUIRE(!s["defaults_to_review"].empty());
  CHECK(html.find("id=\"defaults-to-review\"") > answer);
  for (const auto& d : s["defaults_to_review"]) CHECK(html.find(d["key"].get<std::string>()) != std::string::npos);
  CHECK(html.find("<svg") != std::string::npos);
  // Self-contained: nothing fetched, no script.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(std::regex_search(html, std::regex("TTFT SLO")));
  // chatdc report on the same folder writes the same page.
  REQUIRE(run("report " + (d / "run").string() + " -o " + (d / "again.html").string()).code == 0);
  CHECK(slurp(d / "again.html") == html);
  // A study folder, and a folder that is neither.
  REQUIRE(run("sweep tests/fixtures/tiny.yaml --set run.duration_h=1 --grid run.seed=1,2 --no-plot -q --html --out " +
              (d / "sweep").string()).code == 0);
  const std::string study = slurp(d / "sweep" / "report.html");
  CHECK(study.find("seed=2") != std::string::npos);
  CHECK(study.find("id=\"answer\"") < study.find("id=\"points\""));  // the answer first, then every point
  CHECK(study.find("<svg") != std::string::npos);
  CHECK(study.find("<script") == std::string::npos);
  const auto bad = run("report " + d.string());
  CHECK(bad.code == 2);
  CHECK(bad.err.find("not a chatdc output folder") != std::string::npos);
}

TEST_CASE("report: the page loads in headless Chromium without console errors, with its key figures, and renders",
          "[e2e][report][browser]") {
  if (!fs::exists(kChromium)) {
    std::fprintf(stderr, "%s absent: skipped\n", kChromium);
    std::exit(77);
  }
  const auto d = scratch("report-browser");
  REQUIRE(run("run " + kSites + "-q --html -o " + (d / "run").string()).code == 0);
  const auto s = chatdc::test::summary(d / "run");
  // The console check can fail: a page that logs an error is caught.
  { std::ofstream(d / "noisy.html") << "<!DOCTYPE html><html><body><script>console.error('boom')</script></body></html>"; }
  const Browser noisy = load(d / "noisy.html", d);
  REQUIRE(noisy.code == 0);
  CHECK(console_lines(noisy.log).size() == 1);

  const Browser b = load(d / "run" / "report.html", d);
  INFO(b.log);
  REQUIRE(b.code == 0);
  CHECK(console_lines(b.log).empty());
  // Key figures in the DOM as Chromium parsed it.
  CHECK(b.dom.find("id=\"total-cost\"") != std::string::npos);
  CHECK(b.dom.find(fmt::format("{:.1f}%", 100 * s["slo"]["attainment"].get<double>())) != std::string::npos);
  CHECK(b.dom.find("<svg") != std::string::npos);
  CHECK(b.dom.find("zw-1") != std::string::npos);
  // A study's report: the answer first, warnings, the plots (cost and SLO attainment against the swept value,
  // with the target line) and the table of points, as Chromium parsed them.
  REQUIRE(run("sweep tests/fixtures/tiny.yaml --set run.duration_h=1 --grid run.seed=1,2,3 --no-plot -q --html --out " +
              (d / "sweep").string()).code == 0);
  const auto rows = chatdc::test::read_csv(d / "sweep" / "sweep.csv");
  const auto head = rows.front();
  const Browser sw = load(d / "sweep" / "report.html", d);
  INFO(sw.log);
  REQUIRE(sw.code == 0);
  CHECK(console_lines(sw.log).empty());
  const auto at = [&](const std::string& needle) { return sw.dom.find(needle); };
  REQUIRE(at("id=\"answer\"") != std::string::npos);
  CHECK(at("id=\"answer\"") < at("id=\"points\""));  // the answer before the table
  CHECK(at("Best feasible point") != std::string::npos);
  // The best point is the cheapest feasible one of sweep.csv, and its cost is shown.
  std::size_t best = 0;
  double best_cost = 1e300;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const double c = std::stod(rows[r][chatdc::test::column(head, "cost_total")]);
    if (rows[r][chatdc::test::column(head, "feasible")] == "1" && c < best_cost) best = r, best_cost = c;
  }
  REQUIRE(best > 0);
  CHECK(at("id=\"best\">" + rows[best][chatdc::test::column(head, "label")] + "<") != std::string::npos);
  std::size_t svgs = 0;
  for (auto k = sw.dom.find("<svg"); k != std::string::npos; k = sw.dom.find("<svg", k + 1)) ++svgs;
  CHECK(svgs >= 3);
  CHECK(at("Total cost of the run") != std::string::npos);
  CHECK(at("target 99.0%") != std::string::npos);  // the SLO target line on the attainment plot
  CHECK(at(">run.seed<") != std::string::npos);    // plotted against the swept key
  std::size_t trs = 0;
  for (auto k = sw.dom.find("<tr", at("id=\"points\"")); k != std::string::npos; k = sw.dom.find("<tr", k + 1)) ++trs;
  CHECK(trs == rows.size());  // a header and one row per point
  CHECK(at("id=\"warnings\"") != std::string::npos);

  const Browser shot = load(d / "run" / "report.html", d, d / "shot.png");
  REQUIRE(shot.code == 0);
  REQUIRE(fs::exists(d / "shot.png"));
  const std::string png = slurp(d / "shot.png");
  CHECK(png.rfind("\x89PNG", 0) == 0);
  CHECK(png.size() > 20000);  // a rendered page, not a blank one
}
