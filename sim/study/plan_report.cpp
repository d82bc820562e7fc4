// plan.csv, plan.md and the console summary of `chatdc plan`.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "study/plan.hpp"

namespace chatdc::study {

namespace {

using json = nlohmann::json;

double per_day(const json& s, const std::vector<const char*>& path) {
  const double days = number(s, {"simulated_s"}) / 86400.0;
  return days > 0 ? number(s, path) / days : std::nan("");
}

std::string fleet_text(const Planner& p, const PlanEval& e) {
  std::string out;
  const auto& sites = p.sites();
  const auto& cand = p.candidates()[e.candidate];
  const json& dcs = at(e.result.summary, {"datacenters"});
  for (std::size_t i = 0; i < sites.size(); ++i) {
    if (e.counts[i] <= 0) continue;
    double servers = std::nan("");
    if (dcs.is_array())
      for (const auto& d : dcs)
        if (d.contains("name") && d["name"] == sites[i].dc) servers = d["servers"].get<double>();
    out += fmt::format("{}{} {} at {}", out.empty() ? "" : " + ", grouped(servers), cand.server.empty() ? sites[i].server : cand.server,
                       sites[i].dc);
  }
  return out;
}

std::string money(const Planner& p, double v) { return fmt::format("{} {}", p.currency(), sig(v, 4)); }

std::string objective_text(const Planner& p, double v) {
  switch (p.request().objective) {
    case Objective::kCost: return money(p, v) + " a day";
    case Objective::kEnergy: return fmt::format("{} MWh a day", sig(v / 1000, 3));
    case Objective::kCarbon: return fmt::format("{} t CO₂ a day", sig(v / 1000, 3));
  }
  return "";
}

std::string ms(double s) { return std::isfinite(s) ? fmt::format("{} ms", sig(1000 * s, 3)) : "–"; }

/// Options in the order of plan.md: verified plans by objective, then the others.
std::vector<std::size_t> ranked(const PlanResult& r) {
  std::vector<std::size_t> idx(r.options.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    const auto &x = r.options[a], &y = r.options[b];
    if (x.eval.has_value() != y.eval.has_value()) return x.eval.has_value();
    return x.eval && x.objective_per_day < y.objective_per_day;
  });
  return idx;
}

std::string headroom_text(const PlanResult& r) {
  if (!r.headroom) return r.headroom_note.empty() ? "not searched" : r.headroom_note;
  if (!r.headroom_note.empty()) return r.headroom_note;
  return fmt::format("x{:.2f}", *r.headroom);
}

}  // namespace

std::string plan_csv(const Planner& p, const PlanResult& r) {
  std::string out = "candidate,server,tensor_parallel,engine,placement,phase";
  for (const auto& s : p.sites()) out += "," + csv_field(s.key + "_" + s.dc);
  out += ",demand_multiplier,window_start_h,meets_target,window_slo_attainment,reason,objective,objective_per_day,"
         "answer,chosen," +
         feasibility_csv_header();
  for (const auto& c : summary_columns()) out += std::string(",") + c.csv;
  out += ",folder\n";
  const std::size_t chosen = r.best && r.options[*r.best].eval ? *r.options[*r.best].eval : r.evals.size();
  std::set<std::size_t> answers;
  for (const auto& o : r.options)
    if (o.eval) answers.insert(*o.eval);
  for (std::size_t i = 0; i < r.evals.size(); ++i) {
    const PlanEval& e = r.evals[i];
    const auto& c = p.candidates()[e.candidate];
    const bool screen = e.phase.find("screen") != std::string::npos;
    out += fmt::format("{},{},{},{},{},{}", csv_field(c.label), csv_field(c.server_text), csv_field(c.tp_text),
                       csv_field(c.engine_text), csv_field(e.placement), e.phase);
    for (const auto n : e.counts) out += "," + (n > 0 ? std::to_string(n) : std::string());
    const double obj = screen ? std::nan("") : (p.request().objective == Objective::kCost     ? per_day(e.result.summary, {"cost", "total"})
                                                : p.request().objective == Objective::kEnergy ? per_day(e.result.summary, {"energy_kwh", "facility"})
                                                                                              : per_day(e.result.summary, {"carbon_kg"}));
    out += fmt::format(",{},{},{},{},{},{},{},{},{},{}", e.multiplier, screen ? fmt::format("{}", p.window_start_h()) : "",
                       e.meets ? 1 : 0, screen ? fmt::format("{}", e.window_attainment) : "", csv_field(e.why),
                       objective_name(p.request().objective), std::isfinite(obj) ? fmt::format("{}", obj) : "",
                       answers.count(i) ? 1 : 0, chosen == i ? 1 : 0, feasibility_csv_values(e.result, p.study_target()));
    for (const auto& col : summary_columns()) {
      const auto& v = at(e.result.summary, col.path);
      out += "," + (v.is_string() ? csv_field(v.get<std::string>()) : csv_number(v));
    }
    out += "," + csv_field(e.point.folder) + "\n";
  }
  return out;
}

std::string plan_md(const Planner& p, const PlanResult& r, const std::string& command) {
  const auto& req = p.request();
  std::string md = fmt::format("# chatdc plan: {}\n\n", scenario_name(req.scenario));
  const double target = p.study_target();
  if (r.best) {
    const PlanOption& o = r.options[*r.best];
    const PlanEval& e = r.evals[*o.eval];
    const json& s = e.result.summary;
    md += fmt::format("**{}** ({}, {}): **{} a day**; SLO {} (target {:g}%); TTFT p99 {} s; TPOT p99 {}; facility energy "
                      "{} MWh a day; carbon {} t CO₂ a day; headroom {}.\n\n",
                      fleet_text(p, e), p.candidates()[o.candidate].label, o.placement,
                      money(p, per_day(s, {"cost", "total"})), percent(number(s, {"slo", "attainment"})), 100 * target,
                      sig(number(s, {"latency_s", "ttft", "p99"}), 3), ms(number(s, {"latency_s", "tpot", "p99"})),
                      sig(per_day(s, {"energy_kwh", "facility"}) / 1000, 3), sig(per_day(s, {"carbon_kg"}) / 1000, 3),
                      headroom_text(r));
    md += fmt::format("The cheapest plan by {} among every candidate and placement that meets the SLO over the full day "
                      "(verified: one {} fewer does not). `chatdc run plan.resolved.yaml` reproduces it.\n\n",
                      objective_name(req.objective), p.sites()[0].key == "racks" ? "rack" : "server per rack");
  } else {
    md += "**No plan meets the SLO** within the search ranges: see the alternatives and `plan.csv`.\n\n";
  }

  md += fmt::format("## Alternatives\n\nEvery candidate and placement, lowest {} first. Capacity is counted in whole "
                    "racks of the scenario's servers per rack.\n\n",
                    objective_name(req.objective));
  md += "| candidate | placement | fleet | cost a day | SLO | TTFT p50 / p99 | TPOT p99 | energy a day | carbon a day | notes "
        "|\n|---|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto i : ranked(r)) {
    const PlanOption& o = r.options[i];
    const std::string cand = md_cell(p.candidates()[o.candidate].label);
    std::string notes;
    for (const auto& n : o.notes) notes += (notes.empty() ? "" : "; ") + n;
    if (!o.eval) {
      md += fmt::format("| {} | {} | – | – | – | – | – | – | – | {} |\n", cand, md_cell(o.placement),
                        md_cell(o.failure + (notes.empty() ? "" : "; " + notes)));
      continue;
    }
    const PlanEval& e = r.evals[*o.eval];
    const json& s = e.result.summary;
    md += fmt::format("| {} | {}{} | {} | {} | {} | {} / {} s | {} | {} MWh | {} t | {} |\n", cand, md_cell(o.placement),
                      r.best && *r.best == i ? " **(chosen)**" : "", md_cell(fleet_text(p, e)),
                      money(p, per_day(s, {"cost", "total"})),
                      percent(number(s, {"slo", "attainment"})), sig(number(s, {"latency_s", "ttft", "p50"}), 3),
                      sig(number(s, {"latency_s", "ttft", "p99"}), 3), ms(number(s, {"latency_s", "tpot", "p99"})),
                      sig(per_day(s, {"energy_kwh", "facility"}) / 1000, 3), sig(per_day(s, {"carbon_kg"}) / 1000, 3),
                      md_cell(notes));
  }
  for (const auto& c : p.candidates())
    if (!c.impossible.empty()) md += fmt::format("| {} | – | – | – | – | – | – | – | – | cannot serve the model: {} |\n",
                                                 md_cell(c.label), md_cell(c.impossible));

  md += "\n## How it was searched\n\n";
  md += fmt::format("- Command: `{}`.\n", command);
  md += fmt::format("- Feasible: SLO attainment ≥ {:g}% over the full day, no request dropped, rejections only those the "
                    "model's context forces, no backlog at the end (README \"Studies\"). Routing: {}.\n",
                    100 * target, p.routing());
  if (p.screening())
    md += fmt::format("- Screening on the day's busiest {:g}-hour window, from {:02d}:00 on the clock (after one warm-up hour), "
                      "then full days from the screening's answer and its neighbour below.\n",
                      req.screen_hours, static_cast<int>(p.window_start_h()));
  else
    md += "- No screening (a trace, a short run or --screen-hours 0): full days only.\n";
  md += fmt::format("- Evaluations: {} full days and {} screening runs ({} run now, {} found done from an earlier run). A "
                    "search that already knew every answer would need {} full days (each answer and its neighbour "
                    "below).\n",
                    r.day_evals, r.screen_evals, r.day_runs + r.screen_runs, r.reused, r.knew_answer_day_evals);
  md += fmt::format("- Headroom: the largest demand multiplier the chosen fleet carries within the SLO, in steps of 0.05: "
                    "{}.\n",
                    headroom_text(r));
  for (const auto& n : r.notes) md += "- " + n + "\n";
  md += "- Every evaluated point, feasible or not, and why: `plan.csv`; cost against latency: `plan.png`; each point's "
        "outputs: `points/`.\n";
  if (r.best) md += defaults_md({&r.evals[*r.options[*r.best].eval].result.summary}, p.currency());  // the chosen plan's
  return md;
}

std::string plan_text(const Planner& p, const PlanResult& r, const std::string& out_dir) {
  std::string t = fmt::format("chatdc plan: {}\n", scenario_name(p.request().scenario));
  if (r.best) {
    const PlanOption& o = r.options[*r.best];
    const PlanEval& e = r.evals[*o.eval];
    const json& s = e.result.summary;
    t += fmt::format("  plan      {} ({}, {})\n", fleet_text(p, e), p.candidates()[o.candidate].label, o.placement);
    t += fmt::format("  cost      {} a day; SLO {}; TTFT p99 {} s; TPOT p99 {}; headroom {}\n",
                     money(p, per_day(s, {"cost", "total"})), percent(number(s, {"slo", "attainment"})),
                     sig(number(s, {"latency_s", "ttft", "p99"}), 3), ms(number(s, {"latency_s", "tpot", "p99"})),
                     headroom_text(r));
  } else {
    t += "  no plan meets the SLO within the search ranges\n";
  }
  std::vector<std::vector<std::string>> rows = {{"candidate", "placement", "fleet", objective_name(p.request().objective), "SLO"}};
  for (const auto i : ranked(r)) {
    const PlanOption& o = r.options[i];
    if (!o.eval) {
      rows.push_back({p.candidates()[o.candidate].label, o.placement, o.failure, "–", "–"});
      continue;
    }
    const PlanEval& e = r.evals[*o.eval];
    rows.push_back({p.candidates()[o.candidate].label, o.placement + (r.best && *r.best == i ? " (chosen)" : ""),
                    fleet_text(p, e), objective_text(p, o.objective_per_day), percent(number(e.result.summary, {"slo", "attainment"}))});
  }
  t += text_table(rows);
  t += fmt::format("  searched  {} full days, {} screening runs ({} run now, {} done before); a search that knew every "
                   "answer: {} full days\n",
                   r.day_evals, r.screen_evals, r.day_runs + r.screen_runs, r.reused, r.knew_answer_day_evals);
  t += fmt::format("  outputs   {}/{{plan.md, plan.csv, plan.png, plan.resolved.yaml}}\n", out_dir);
  return t;
}

}  // namespace chatdc::study
