#include "app/html_report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "app/report.hpp"
#include "core/csv.hpp"
#include "core/error.hpp"
#include "study/study.hpp"

namespace chatdc::app {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string esc(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                          "#7f7f7f", "#bcbd22"};
std::string colour(std::size_t i) { return kColours[i % (sizeof kColours / sizeof kColours[0])]; }

struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::size_t col(const std::string& name) const {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? SIZE_MAX : static_cast<std::size_t>(it - header.begin());
  }
  double num(std::size_t r, std::size_t c) const {
    double v = std::nan("");
    if (c < rows[r].size()) parse_number(rows[r][c], &v);
    return v;
  }
};

Csv read_csv(const fs::path& p) {
  Csv c;
  std::istringstream in(study::slurp(p));
  std::string line;
  std::vector<std::string> f;
  while (std::getline(in, line)) {
    if (!split_csv_line(line, &f)) continue;
    if (c.header.empty())
      c.header = f;
    else
      c.rows.push_back(f);
  }
  return c;
}

struct Series {
  std::string name, colour;
  std::vector<double> x, y;
};

/// A line chart as inline SVG: one polyline per series, a dashed horizontal line at `limit` (when finite).
std::string svg_chart(const std::string& title, const std::string& y_label, const std::vector<Series>& series,
                      double limit = std::nan(""), const std::string& limit_label = "",
                      const std::string& x_label = "hour of the run", bool markers = false) {
  const double w = 760, h = 230, left = 64, right = 150, top = 26, bottom = 34;
  double x0 = INFINITY, x1 = -INFINITY, y1 = std::isfinite(limit) ? limit : 0;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y1 = std::max(y1, s.y[i]);
    }
  if (!(x1 > x0)) {
    x0 = 0;
    x1 = std::max(1.0, x1);
  }
  if (!(y1 > 0)) y1 = 1;
  y1 *= 1.08;
  const double pw = w - left - right, ph = h - top - bottom;
  auto X = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return top + ph - y / y1 * ph; };
  std::string o = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">)",
                              w, h, w, h, esc(title));
  o += fmt::format(R"(<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>)", left, esc(title));
  o += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>)", left, top, pw, ph);
  for (int k = 0; k <= 4; ++k) {
    const double v = y1 * k / 4;
    o += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#eee"/><text x="{:.1f}" y="{:.1f}" font-size="10" text-anchor="end">{}</text>)",
                     left, Y(v), left + pw, Y(v), left - 4, Y(v) + 3, esc(study::sig(v, 3)));
  }
  for (int k = 0; k <= 6; ++k) {
    const double v = x0 + (x1 - x0) * k / 6;
    o += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="10" text-anchor="middle">{}</text>)", X(v), top + ph + 14,
                     esc(study::sig(v, 3)));
  }
  o += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="10" text-anchor="middle">{}</text>)", left + pw / 2, h - 4,
                   esc(x_label));
  o += fmt::format(R"~(<text x="12" y="{:.1f}" font-size="10" transform="rotate(-90 12 {:.1f})" text-anchor="middle">{}</text>)~",
                   top + ph / 2, top + ph / 2, esc(y_label));
  if (std::isfinite(limit)) {
    o += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#000" stroke-dasharray="5,4"/>)", left,
                     Y(limit), left + pw, Y(limit));
    o += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="10">{}</text>)", left + pw + 6, Y(limit) + 3, esc(limit_label));
  }
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    std::string pts;
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i])) pts += fmt::format("{:.1f},{:.1f} ", X(s.x[i]), Y(s.y[i]));
    o += fmt::format(R"(<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>)", s.colour, pts);
    if (markers)
      for (std::size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.y[i]))
          o += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>)", X(s.x[i]), Y(s.y[i]), s.colour);
    o += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="10" height="10" fill="{}"/><text x="{:.1f}" y="{:.1f}" font-size="11">{}</text>)",
                     left + pw + 8, top + 8 + 16 * k, s.colour, left + pw + 22, top + 17 + 16 * k, esc(s.name));
  }
  return o + "</svg>\n";
}

/// Horizontal bars (label, value), with the values printed.
std::string svg_bars(const std::string& title, const std::vector<std::pair<std::string, double>>& bars, const std::string& unit) {
  double mx = 0;
  for (const auto& b : bars) mx = std::max(mx, b.second);
  if (!(mx > 0)) mx = 1;
  const double w = 760, row = 22, left = 170, top = 26;
  const double h = top + row * static_cast<double>(bars.size()) + 8;
  std::string o = fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">)",
                              w, h, w, h, esc(title));
  o += fmt::format(R"(<text x="4" y="16" font-size="13" font-weight="bold">{}</text>)", esc(title));
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const double y = top + row * static_cast<double>(i);
    const double bw = std::max(0.0, bars[i].second) / mx * (w - left - 160);
    o += fmt::format(R"(<text x="{}" y="{:.1f}" font-size="11" text-anchor="end">{}</text><rect x="{}" y="{:.1f}" width="{:.1f}" height="15" fill="{}"/><text x="{:.1f}" y="{:.1f}" font-size="11">{} {}</text>)",
                     left - 6, y + 12, esc(bars[i].first), left, y, bw, colour(i), left + bw + 6, y + 12,
                     esc(grouped(bars[i].second)), esc(unit));
  }
  return o + "</svg>\n";
}

double num(const json& j, std::initializer_list<const char*> path) {
  const json* c = &j;
  for (const char* k : path) {
    if (!c->is_object() || !c->contains(k)) return std::nan("");
    c = &(*c)[k];
  }
  return c->is_number() ? c->get<double>() : std::nan("");
}

std::string fmt_s(double v) {
  if (!std::isfinite(v)) return "–";
  return v < 1 ? fmt::format("{:.1f} ms", v * 1e3) : fmt::format("{:.3g} s", v);
}

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:.1f}%", 100 * v) : "–"; }

const char* kStyle = R"(<style>
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:24px auto;padding:0 16px;color:#222;line-height:1.4}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.answer{background:#f3f7fb;border:1px solid #b8cde0;border-radius:6px;padding:12px 16px}
.answer .big{font-size:22px;font-weight:bold}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f6f6f6}
.ok{color:#176b1c;font-weight:bold}.bad{color:#a40000;font-weight:bold}
.warn{background:#fff6e0;border:1px solid #e0c070;border-radius:6px;padding:8px 14px}
pre{background:#f8f8f8;border:1px solid #ddd;padding:8px;font-size:11px;overflow-x:auto;max-height:480px}
.muted{color:#666;font-size:12px}svg.chart{display:block;margin:10px 0}tr.best td{background:#eaf5ea}
</style>)";

std::string page(const std::string& title, const std::string& body) {
  return fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n{}\n</head><body>\n{}"
                     "<p class=\"muted\">Written by chatdc {} (<code>chatdc report</code>): a self-contained file, no network "
                     "access needed.</p>\n</body></html>\n",
                     esc(title), kStyle, body, CHATDC_VERSION);
}

/// The catalog entries a run used, each with its source comments (the catalog files' own text).
std::string sources_of(const YAML::Node& resolved) {
  std::string out;
  const std::string dir = resolved["catalog_dir"] ? resolved["catalog_dir"].as<std::string>() : "";
  const YAML::Node cat = resolved["catalog"];
  if (!cat || dir.empty()) return "";
  for (const char* section : {"gpus", "servers", "llms", "regions"}) {
    if (!cat[section]) continue;
    const fs::path file = fs::path(dir) / (std::string(section) + ".yaml");
    std::istringstream in(study::slurp(file));
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    for (const auto& kv : cat[section]) {
      const std::string key = kv.first.as<std::string>();
      std::string block;
      for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind("  " + key + ":", 0) != 0) continue;
        block = lines[i] + "\n";
        for (std::size_t k = i + 1; k < lines.size(); ++k) {
          const auto& l = lines[k];
          const auto ind = l.find_first_not_of(' ');
          if (ind != std::string::npos && ind <= 2 && l[ind] != '#') break;
          block += l + "\n";
        }
        break;
      }
      if (block.empty()) continue;
      out += fmt::format("<h3>{} <code>{}</code> <span class=\"muted\">({})</span></h3><pre>{}</pre>\n", section, esc(key),
                         esc(file.string()), esc(block));
    }
  }
  return out;
}

std::string run_report(const fs::path& dir) {
  json s;
  try {
    s = json::parse(study::slurp(dir / "summary.json"));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: summary.json is unreadable: {}", dir.string(), e.what()));
  }
  const std::string name = s["scenario"].value("name", std::string("?"));
  const std::string cur = s["cost"].value("currency", std::string(""));
  const double ttft_t = num(s, {"slo", "ttft_target_s"}), tpot_t = num(s, {"slo", "tpot_target_s"});
  std::string b;
  b += fmt::format("<h1>chatdc: {}</h1>\n<p class=\"muted\">{:.1f} h simulated; outputs in <code>{}</code></p>\n", esc(name),
                   num(s, {"simulated_s"}) / 3600, esc(fs::absolute(dir).string()));

  // The answer first.
  const double att = num(s, {"slo", "attainment"});
  const double arrived = num(s, {"requests", "arrived"}), dropped = num(s, {"requests", "dropped"}),
               rejected = num(s, {"requests", "rejected"}), unfinished = num(s, {"requests", "unfinished"});
  b += "<h2>The answer</h2>\n<div class=\"answer\" id=\"answer\">\n";
  b += fmt::format("<p><span class=\"big\" id=\"total-cost\">{} {}</span> for the run: {} {:.4f} per 1,000 requests, "
                   "{} servers ({} GPUs) in {} datacenter{}.</p>\n",
                   esc(cur), esc(grouped(num(s, {"cost", "total"}))), esc(cur), num(s, {"cost", "per_1k_requests"}),
                   esc(grouped(num(s, {"fleet", "servers"}))), esc(grouped(num(s, {"fleet", "gpus"}))),
                   s["datacenters"].size(), s["datacenters"].size() == 1 ? "" : "s");
  b += fmt::format("<p>SLO (TTFT ≤ {}, TPOT ≤ {}) met by <span id=\"slo-attainment\" class=\"{}\">{}</span> of completed "
                   "requests; {} requests arrived, {} completed.</p>\n",
                   esc(fmt_s(ttft_t)), esc(fmt_s(tpot_t)), att >= 0.99 ? "ok" : "bad", pct(att), esc(grouped(arrived)),
                   esc(grouped(num(s, {"requests", "completed"}))));
  b += fmt::format("<p>Facility energy <span id=\"energy\">{} kWh</span>, carbon {} kg CO₂, {:.2f} Wh per request.</p>\n</div>\n",
                   esc(grouped(num(s, {"energy_kwh", "facility"}))), esc(grouped(num(s, {"carbon_kg"}))),
                   num(s, {"wh_per_request"}));

  // Warnings.
  std::vector<std::string> warns;
  if (arrived > 0 && dropped > 0)
    warns.push_back(fmt::format("{} requests ({:.2f}%) were dropped: the fleet is overloaded (serving.max_waiting_per_replica).",
                                grouped(dropped), 100 * dropped / arrived));
  if (arrived > 0 && rejected > 0)
    warns.push_back(fmt::format("{} requests ({:.2f}%) were rejected: longer than the model's context or a replica's KV cache.",
                                grouped(rejected), 100 * rejected / arrived));
  if (arrived > 0 && unfinished > 0.01 * arrived)
    warns.push_back(fmt::format("{} requests ({:.1f}%) were unfinished at the end: latency covers only finished requests.",
                                grouped(unfinished), 100 * unfinished / arrived));
  if (std::isfinite(att) && att < 0.99)
    warns.push_back(fmt::format("SLO attainment {} is below 99%: this fleet does not meet the SLO.", pct(att)));
  if (s["engine"].value("percentiles", std::string("")) == "sketch")
    warns.push_back("Percentiles come from a sketch (within 0.39% of an order statistic next to the exact one).");
  if (s["workload"].value("source", std::string("")) == "synthetic")
    warns.push_back("The workload is synthetic (workload.* distributions), not a trace: review its token lengths and daily curve.");
  b += "<h2>Warnings</h2>\n";
  if (warns.empty())
    b += "<p id=\"warnings\">None: no request dropped or rejected, the fleet kept up.</p>\n";
  else {
    b += "<div class=\"warn\" id=\"warnings\"><ul>\n";
    for (const auto& w : warns) b += "<li>" + esc(w) + "</li>\n";
    b += "</ul></div>\n";
  }

  // Cost by component.
  std::vector<std::pair<std::string, double>> cost;
  for (const char* k : {"electricity", "demand_charge", "capex_servers", "capex_network", "capex_facility", "maintenance", "wan",
                        "carbon", "rental"}) {
    const double v = num(s, {"cost", k});
    if (std::isfinite(v) && v != 0) cost.emplace_back(k, v);
  }
  b += "<h2>Cost by component</h2>\n" + svg_bars(fmt::format("Cost of the run ({})", cur), cost, cur);
  b += "<table id=\"cost\"><tr><th>component</th><th>" + esc(cur) + "</th><th>share</th></tr>\n";
  const double total = num(s, {"cost", "total"});
  for (const auto& [k, v] : cost)
    b += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(k), esc(grouped(v)), pct(total > 0 ? v / total : NAN));
  b += fmt::format("<tr><th>total</th><th>{}</th><th></th></tr></table>\n", esc(grouped(total)));

  // Energy and carbon.
  b += "<h2>Energy and carbon</h2>\n<table id=\"energy-table\"><tr><th>figure</th><th>value</th></tr>\n";
  b += fmt::format("<tr><td>IT energy (SimGrid energy plugin)</td><td>{} kWh</td></tr>\n", esc(grouped(num(s, {"energy_kwh", "it"}))));
  b += fmt::format("<tr><td>facility energy (IT × PUE)</td><td>{} kWh</td></tr>\n", esc(grouped(num(s, {"energy_kwh", "facility"}))));
  b += fmt::format("<tr><td>IT power mean / peak</td><td>{} / {} kW</td></tr>\n", esc(grouped(num(s, {"power_kw", "it_mean"}))),
                   esc(grouped(num(s, {"power_kw", "it_peak"}))));
  b += fmt::format("<tr><td>facility power mean / peak</td><td>{} / {} kW</td></tr>\n",
                   esc(grouped(num(s, {"power_kw", "facility_mean"}))), esc(grouped(num(s, {"power_kw", "facility_peak"}))));
  b += fmt::format("<tr><td>carbon</td><td>{} kg CO₂</td></tr>\n", esc(grouped(num(s, {"carbon_kg"}))));
  b += fmt::format("<tr><td>traffic between regions</td><td>{} GB</td></tr></table>\n", esc(grouped(num(s, {"wan_gb"}))));

  // Latency against the SLO.
  b += "<h2>Latency percentiles against the SLO</h2>\n<table id=\"latency\"><tr><th>latency</th><th>p50</th><th>p90</th><th>p99</th>"
       "<th>max</th><th>SLO target</th><th>p99 within target</th></tr>\n";
  for (const auto& [k, label, target] : std::vector<std::tuple<const char*, const char*, double>>{
           {"ttft", "time to first token", ttft_t}, {"tpot", "time per output token", tpot_t}, {"e2e", "end to end", NAN}, {"queue", "queue", NAN}}) {
    const double p99 = num(s, {"latency_s", k, "p99"});
    b += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", label,
                     esc(fmt_s(num(s, {"latency_s", k, "p50"}))), esc(fmt_s(num(s, {"latency_s", k, "p90"}))), esc(fmt_s(p99)),
                     esc(fmt_s(num(s, {"latency_s", k, "max"}))), std::isfinite(target) ? esc(fmt_s(target)) : "",
                     std::isfinite(target) ? (p99 <= target ? "<span class=\"ok\">yes</span>" : "<span class=\"bad\">no</span>") : "");
  }
  b += "</table>\n";

  // Timelines: one colour per datacenter across panels.
  const Csv tl = read_csv(dir / "timeline.csv");
  std::vector<std::string> dcs;
  for (const auto& d : s["datacenters"]) dcs.push_back(d.value("name", std::string("?")));
  auto by_dc = [&](const Csv& c, const std::string& column, double scale, const std::string& x_col, double x_scale) {
    std::vector<Series> out;
    const std::size_t cc = c.col(column), cd = c.col("datacenter"), cx = c.col(x_col);
    for (std::size_t d = 0; d < dcs.size(); ++d) out.push_back({dcs[d], colour(d), {}, {}});
    if (cc == SIZE_MAX || cd == SIZE_MAX || cx == SIZE_MAX) return out;
    for (std::size_t r = 0; r < c.rows.size(); ++r) {
      const auto it = std::find(dcs.begin(), dcs.end(), c.rows[r][cd]);
      if (it == dcs.end()) continue;
      Series& sr = out[static_cast<std::size_t>(it - dcs.begin())];
      sr.x.push_back(c.num(r, cx) * x_scale);
      sr.y.push_back(c.num(r, cc) * scale);
    }
    return out;
  };
  b += "<h2>Timelines</h2>\n<p class=\"muted\">One colour per datacenter in every panel.</p>\n";
  b += svg_chart("Arrivals per sample period", "requests", by_dc(tl, "arrivals", 1, "time_s", 1.0 / 3600));
  b += svg_chart("Load: GPU utilization", "share of GPUs busy", by_dc(tl, "utilization", 1, "time_s", 1.0 / 3600));
  b += svg_chart("Requests in batches and waiting", "requests", [&] {
    auto run = by_dc(tl, "running", 1, "time_s", 1.0 / 3600);
    auto q = by_dc(tl, "queued", 1, "time_s", 1.0 / 3600);
    for (std::size_t d = 0; d < run.size(); ++d)
      for (std::size_t i = 0; i < run[d].y.size() && i < q[d].y.size(); ++i) run[d].y[i] += q[d].y[i];
    return run;
  }());
  b += svg_chart("Facility power", "kW", by_dc(tl, "facility_power_kw", 1, "time_s", 1.0 / 3600));
  const Csv hr = read_csv(dir / "hourly.csv");
  b += svg_chart("Latency: TTFT p99 by hour sent", "s", by_dc(hr, "ttft_p99_s", 1, "hour", 1), ttft_t, "TTFT SLO");
  b += svg_chart("Latency: TPOT p99 by hour sent", "s", by_dc(hr, "tpot_p99_s", 1, "hour", 1), tpot_t, "TPOT SLO");
  {
    std::vector<Series> on;
    const std::size_t cc = tl.col("busy_gpus"), cd = tl.col("datacenter"), cx = tl.col("time_s");
    for (std::size_t d = 0; d < dcs.size(); ++d) on.push_back({dcs[d], colour(d), {}, {}});
    if (cc != SIZE_MAX)
      for (std::size_t r = 0; r < tl.rows.size(); ++r) {
        const auto it = std::find(dcs.begin(), dcs.end(), tl.rows[r][cd]);
        if (it == dcs.end()) continue;
        on[static_cast<std::size_t>(it - dcs.begin())].x.push_back(tl.num(r, cx) / 3600);
        on[static_cast<std::size_t>(it - dcs.begin())].y.push_back(tl.num(r, cc));
      }
    b += svg_chart("GPUs busy (mean per period)", "GPUs", on);
  }

  // Per-datacenter and per-region tables.
  b += "<h2>Datacenters</h2>\n<table id=\"datacenters\"><tr><th>datacenter</th><th>region</th><th>servers</th><th>GPUs</th>"
       "<th>requests completed</th><th>TTFT p99</th><th>SLO met</th><th>GPU utilization</th><th>facility kWh</th><th>cost "
       + esc(cur) + "</th></tr>\n";
  for (const auto& d : s["datacenters"])
    b += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     esc(d.value("name", std::string())), esc(d.value("region", std::string())), esc(grouped(num(d, {"servers"}))),
                     esc(grouped(num(d, {"gpus"}))), esc(grouped(num(d, {"requests", "completed"}))),
                     esc(fmt_s(num(d, {"latency_s", "ttft", "p99"}))), pct(num(d, {"slo", "attainment"})),
                     pct(num(d, {"utilization", "gpu_mean"})), esc(grouped(num(d, {"energy_kwh", "facility"}))),
                     esc(grouped(num(d, {"cost", "total"}))));
  b += "</table>\n";
  if (s.contains("user_regions")) {
    b += "<h2>User regions</h2>\n<table id=\"user-regions\"><tr><th>user region</th><th>requests completed</th><th>TTFT p50</th>"
         "<th>TTFT p99</th><th>TPOT p99</th><th>end-to-end p99</th><th>SLO met</th></tr>\n";
    for (const auto& u : s["user_regions"])
      b += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                       esc(u.value("name", std::string())), esc(grouped(num(u, {"requests", "completed"}))),
                       esc(fmt_s(num(u, {"latency_s", "ttft", "p50"}))), esc(fmt_s(num(u, {"latency_s", "ttft", "p99"}))),
                       esc(fmt_s(num(u, {"latency_s", "tpot", "p99"}))), esc(fmt_s(num(u, {"latency_s", "e2e", "p99"}))),
                       pct(num(u, {"slo", "attainment"})));
    b += "</table>\n";
  }

  // The defaults the scenario did not set, then the scenario and the sources of its assumptions.
  if (s.contains("defaults_to_review") && !s["defaults_to_review"].empty()) {
    b += "<h2>Defaults to review</h2>\n<p class=\"muted\">Values the scenario did not set (summary.json "
         "<code>defaults_to_review</code>): replace them with your quotes and sites' figures.</p>\n"
         "<table id=\"defaults-to-review\"><tr><th>key</th><th>value</th><th>unit</th><th>source</th></tr>\n";
    for (const auto& d : s["defaults_to_review"])
      b += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(d.value("key", std::string())),
                       esc(d.contains("value") && d["value"].is_number() ? study::sig(d["value"].get<double>(), 4) : "–"),
                       esc(d.value("unit", std::string())), esc(d.value("source", std::string())));
    b += "</table>\n";
  }
  const std::string resolved = study::slurp(dir / "scenario.resolved.yaml");
  b += "<h2>Sources of the assumptions</h2>\n<p class=\"muted\">The catalog entries this run used, as the catalog files give "
       "them with their sources (ASSUMPTION marks a value no public source gave).</p>\n";
  try {
    b += sources_of(YAML::Load(resolved));
  } catch (const std::exception&) {
  }
  const std::string file = s["scenario"].value("file", std::string());
  if (!file.empty() && fs::exists(file))
    b += fmt::format("<h3>The scenario file <code>{}</code></h3><pre id=\"scenario-file\">{}</pre>\n", esc(file),
                     esc(study::slurp(file)));
  b += "<h2>The resolved scenario</h2>\n<details><summary>scenario.resolved.yaml (every default filled in)</summary><pre>" +
       esc(resolved) + "</pre></details>\n";
  return page("chatdc: " + name, b);
}

/// One study's table (sweep.csv, comparison.csv or plan.csv) read by column name.
struct StudyTable {
  Csv c;
  std::string kind;
  std::string text(std::size_t r, const std::string& col) const {
    const std::size_t k = c.col(col);
    return k < c.rows[r].size() ? c.rows[r][k] : "";
  }
  double num(std::size_t r, const std::string& col) const { return c.num(r, c.col(col)); }
  bool feasible(std::size_t r) const { return text(r, "feasible") == "1"; }
  bool failed(std::size_t r) const { return text(r, "cost_total").empty(); }  // no summary: the run did not finish
  std::string label(std::size_t r) const {
    if (kind != "plan") return text(r, "label");
    std::string l = text(r, "candidate") + " " + text(r, "placement");
    return l + (text(r, "demand_multiplier") != "1" ? " ×" + text(r, "demand_multiplier") : "") + " (" + text(r, "phase") + ")";
  }
};

/// A figure for a table: grouped digits from 1,000, three significant digits below, "–" when absent.
std::string figure(double v) {
  if (!std::isfinite(v)) return "–";
  return std::abs(v) >= 1000 ? grouped(v) : study::sig(v, 3);
}

std::string money(double v, const std::string& cur) { return std::isfinite(v) ? figure(v) + " " + cur : "–"; }

std::string study_report(const fs::path& dir, const std::string& kind) {
  const fs::path md = dir / (kind + ".md"), csv = dir / (kind + ".csv");
  StudyTable t{read_csv(csv), kind};
  const std::size_t n = t.c.rows.size();
  std::string cur;
  for (std::size_t r = 0; r < n && cur.empty(); ++r) cur = t.text(r, "currency");
  const double target = n > 0 ? t.num(0, "slo_target") : std::nan("");
  const char* noun = kind == "plan" ? "evaluations" : kind == "sweep" ? "points" : "runs";
  std::string b = fmt::format("<h1>chatdc {}: <code>{}</code></h1>\n", esc(kind), esc(fs::absolute(dir).string()));

  // The answer first: the plan's chosen fleet, or the cheapest feasible point or run.
  long best = -1;
  if (kind == "plan") {
    for (std::size_t r = 0; r < n; ++r)
      if (t.text(r, "chosen") == "1") best = static_cast<long>(r);
  } else {
    for (std::size_t r = 0; r < n; ++r)
      if (t.feasible(r) && !t.failed(r) && (best < 0 || t.num(r, "cost_total") < t.num(static_cast<std::size_t>(best), "cost_total")))
        best = static_cast<long>(r);
  }
  b += "<h2>The answer</h2>\n<div class=\"answer\" id=\"answer\">";
  if (best >= 0) {
    const auto r = static_cast<std::size_t>(best);
    const char* what = kind == "plan" ? "Chosen fleet" : kind == "sweep" ? "Best feasible point" : "Cheapest feasible run";
    b += fmt::format("<div>{}:</div><div class=\"big\" id=\"best\">{}</div>", what, esc(t.label(r)));
    std::string sites;
    if (kind == "plan")  // the servers per site: the columns between "phase" and "demand_multiplier"
      for (std::size_t k = t.c.col("phase") + 1; k < t.c.col("demand_multiplier") && k < t.c.header.size(); ++k)
        if (!t.c.rows[r][k].empty()) sites += fmt::format("{}{} {}", sites.empty() ? "" : ", ", t.c.rows[r][k], t.c.header[k]);
    if (!sites.empty()) b += fmt::format("<div>servers: <b id=\"best-servers\">{}</b></div>", esc(sites));
    b += fmt::format(
        "<div>Why: it meets the SLO (attainment <b id=\"best-slo\">{}</b> ≥ target {}, nothing dropped or left unfinished) "
        "and has the lowest {} of the {} that do: <b id=\"best-cost\">{}</b> for the run ({} per 1k requests), facility "
        "energy {} kWh, carbon {} kg CO₂.</div>",
        pct(t.num(r, "slo_attainment")), pct(target),
        kind == "plan" && !t.text(r, "objective").empty() ? t.text(r, "objective") : std::string("cost"),
        kind == "plan" ? "fleets evaluated" : noun,
        esc(money(t.num(r, "cost_total"), cur)), esc(money(t.num(r, "cost_per_1k_requests"), cur)),
        esc(figure(t.num(r, "facility_energy_kwh"))), esc(figure(t.num(r, "carbon_kg"))));
  } else {
    b += fmt::format("<div class=\"big bad\" id=\"best\">No feasible {}</div><div>None of the {} {} meets the SLO "
                     "(attainment ≥ {}) without dropping requests: see the table and the warnings below.</div>",
                     kind == "plan" ? "fleet" : kind == "sweep" ? "point" : "run", n, noun, pct(target));
  }
  b += "</div>\n";

  // Warnings: failed, infeasible, dropped.
  std::vector<std::string> warnings;
  std::size_t infeasible = 0, failed = 0;
  for (std::size_t r = 0; r < n; ++r) {
    if (t.failed(r)) {
      ++failed;
      continue;
    }
    if (!t.feasible(r)) ++infeasible;
  }
  if (failed) warnings.push_back(fmt::format("{} of the {} {} did not finish (no results): see their folders' run.log", failed, n, noun));
  if (infeasible) {
    std::string first;  // the first infeasible one, as an example; every reason is in the table
    for (std::size_t r = 0; r < n && first.empty(); ++r)
      if (!t.failed(r) && !t.feasible(r)) first = fmt::format("{}: {}", t.label(r), t.text(r, "infeasible_reason"));
    warnings.push_back(fmt::format("{} of the {} {} are infeasible, never ranked (each one's reason is in the table; the "
                                   "first: {})",
                                   infeasible, n, noun, first));
  }
  double dropped = 0;
  for (std::size_t r = 0; r < n; ++r)
    if (std::isfinite(t.num(r, "requests_dropped"))) dropped += t.num(r, "requests_dropped");
  if (dropped > 0) warnings.push_back(fmt::format("{} requests dropped in total over the {} (overload)", figure(dropped), noun));
  warnings.push_back("prices, carbon factors and time-of-use windows come from the catalog's region presets, several of them "
                     "assumptions (marked in platforms/regions.yaml): review them for your sites");
  b += "<h2>Warnings</h2>\n<div class=\"warn\" id=\"warnings\"><ul>";
  for (const auto& w : warnings) b += "<li>" + esc(w) + "</li>";
  b += "</ul></div>\n";

  // Plots: cost and SLO attainment against the varied value (sweep), per run (compare), along the search (plan).
  std::vector<double> x;
  std::string x_label;
  if (kind == "sweep") {
    const std::size_t k0 = t.c.col("folder") + 1;  // the first varied key
    x_label = k0 < t.c.col("slo_target") ? t.c.header[k0] : "point";
    for (std::size_t r = 0; r < n; ++r) x.push_back(t.c.num(r, k0));
    if (std::any_of(x.begin(), x.end(), [](double v) { return !std::isfinite(v); })) {  // not numbers: point by point
      x_label = "point (in the table's order)";
      for (std::size_t r = 0; r < n; ++r) x[r] = static_cast<double>(r + 1);
    }
  } else {
    x_label = kind == "plan" ? "evaluation (in the search's order)" : "run (in the table's order)";
    for (std::size_t r = 0; r < n; ++r) x.push_back(static_cast<double>(r + 1));
  }
  auto series = [&](const std::string& col, double scale) {
    Series all{"all", "#1f77b4", {}, {}}, ok{"feasible", "#2ca02c", {}, {}};
    for (std::size_t r = 0; r < n; ++r) {
      all.x.push_back(x[r]);
      all.y.push_back(scale * t.num(r, col));
      ok.x.push_back(x[r]);
      ok.y.push_back(t.feasible(r) ? scale * t.num(r, col) : std::nan(""));
    }
    return std::vector<Series>{all, ok};
  };
  b += "<h2>Cost and SLO attainment</h2>\n";
  b += svg_chart(fmt::format("Total cost of the run ({})", cur), cur, series("cost_total", 1), std::nan(""), "", x_label, true);
  b += svg_chart("SLO attainment (TTFT and TPOT)", "%", series("slo_attainment", 100), 100 * target,
                 fmt::format("target {}", pct(target)), x_label, true);
  b += svg_chart("Facility energy", "kWh", series("facility_energy_kwh", 1), std::nan(""), "", x_label, true);

  // Every point.
  b += fmt::format("<h2>Every {}</h2>\n<table id=\"points\"><tr><th>{}</th><th>feasible</th><th>SLO attainment</th>"
                   "<th>TTFT p99</th><th>dropped</th><th>total cost ({})</th><th>per 1k requests</th><th>facility energy (kWh)</th>"
                   "<th>carbon (kg CO₂)</th></tr>\n",
                   kind == "plan" ? "evaluation" : kind == "sweep" ? "point" : "run", kind == "plan" ? "fleet (phase)" : "label",
                   esc(cur));
  for (std::size_t r = 0; r < n; ++r) {
    const bool f = t.feasible(r);
    b += fmt::format("<tr{}><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     static_cast<long>(r) == best ? " class=\"best\"" : "", esc(t.label(r)), f ? "ok" : "bad",
                     t.failed(r) ? "failed" : f ? (static_cast<long>(r) == best ? "yes (the answer)" : "yes") : "no: " + esc(t.text(r, "infeasible_reason")),
                     pct(t.num(r, "slo_attainment")), fmt_s(t.num(r, "ttft_p99_s")), esc(figure(t.num(r, "requests_dropped"))),
                     esc(figure(t.num(r, "cost_total"))), esc(figure(t.num(r, "cost_per_1k_requests"))),
                     esc(figure(t.num(r, "facility_energy_kwh"))), esc(figure(t.num(r, "carbon_kg"))));
  }
  b += "</table>\n";
  b += fmt::format("<h2>The study's own summary</h2>\n<details><summary>{}</summary><pre id=\"summary-md\">{}</pre></details>\n",
                   esc(md.filename().string()), esc(study::slurp(md)));
  b += fmt::format("<p class=\"muted\">Every figure of every {} is in <code>{}</code>; each {}'s outputs are in its own folder.</p>\n",
                   kind == "plan" ? "evaluation" : "point", esc(csv.filename().string()), kind == "plan" ? "evaluation" : "point");
  return page(fmt::format("chatdc {}", kind), b);
}

}  // namespace

std::string html_report(const fs::path& dir) {
  if (fs::exists(dir / "summary.json")) return run_report(dir);
  for (const char* kind : {"plan", "comparison", "sweep"})
    if (fs::exists(dir / (std::string(kind) + ".csv")) && fs::exists(dir / (std::string(kind) + ".md")))
      return study_report(dir, kind);
  throw Error(fmt::format("{}: not a chatdc output folder (no summary.json, comparison.csv, sweep.csv or plan.csv)", dir.string()));
}

fs::path write_html_report(const fs::path& dir, const fs::path& out) {
  const std::string html = html_report(dir);
  const fs::path target = out.empty() ? dir / "report.html" : out;
  study::commit_files(target.parent_path().empty() ? fs::path(".") : target.parent_path(), {{target.filename().string(), html}});
  return target;
}

}  // namespace chatdc::app
