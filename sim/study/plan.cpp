#include "study/plan.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "config/assemble.hpp"
#include "config/reader.hpp"
#include "config/scenario.hpp"
#include "core/csv.hpp"
#include "core/error.hpp"

namespace chatdc::study {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr double kWarmupHours = 1;      // screening runs start this long before the busiest window
constexpr std::int64_t kHeadroomSteps = 20;  // the demand multiplier moves in steps of 1/20
constexpr std::int64_t kHeadroomMax = 20 * kHeadroomSteps;  // up to x20

std::string first_lines(const std::string& text, std::size_t n) {
  std::istringstream in(text);
  std::string out, line;
  for (std::size_t i = 0; i < n && std::getline(in, line); ++i) out += (out.empty() ? "" : " ") + trim(line);
  return out;
}

std::vector<std::string> split_list(const std::string& option, const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    bool balanced = true;
    for (const auto& item : split_top_level(v, ',', &balanced)) {
      const std::string t = trim(item);
      if (t.empty()) throw Error(fmt::format("{} \"{}\": an empty value", option, v));
      if (std::find(out.begin(), out.end(), t) != out.end())
        throw Error(fmt::format("{} \"{}\": {} is given twice", option, v, t));
      out.push_back(t);
    }
  }
  return out;
}

/// A figure of a run per simulated day.
double per_day(const json& summary, const std::vector<const char*>& path) {
  const double days = number(summary, {"simulated_s"}) / 86400.0;
  return days > 0 ? number(summary, path) / days : std::nan("");
}

double objective_of(const json& summary, Objective o) {
  switch (o) {
    case Objective::kCost: return per_day(summary, {"cost", "total"});
    case Objective::kEnergy: return per_day(summary, {"energy_kwh", "facility"});
    case Objective::kCarbon: return per_day(summary, {"carbon_kg"});
  }
  return std::nan("");
}

/// SLO attainment of the requests sent from hour `from` of the run on (hourly.csv): (met, completed).
std::pair<double, double> window_attainment(const fs::path& dir, double from_hour) {
  std::istringstream in(slurp(dir / "hourly.csv"));
  std::string line;
  std::vector<std::string> f;
  std::size_t c_hour = 0, c_done = 0, c_att = 0;
  bool header = true;
  double met = 0, done = 0;
  while (std::getline(in, line)) {
    if (!split_csv_line(line, &f)) continue;
    if (header) {
      header = false;
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "hour") c_hour = i;
        if (f[i] == "completed_sent") c_done = i;
        if (f[i] == "slo_attainment") c_att = i;
      }
      continue;
    }
    double h = 0, n = 0, a = 0;
    if (f.size() <= std::max({c_hour, c_done, c_att}) || !parse_number(f[c_hour], &h) || !parse_number(f[c_done], &n) ||
        !parse_number(f[c_att], &a))
      continue;
    if (h + 1e-9 < from_hour) continue;
    done += n;
    met += std::round(n * a);
  }
  return {met, done};
}

std::string counts_label(const std::vector<Planner::Site>& sites, const std::vector<std::int64_t>& counts) {
  std::string s;
  for (std::size_t i = 0; i < sites.size(); ++i)
    if (counts[i] > 0) s += fmt::format("{}{}={}", s.empty() ? "" : "+", sites[i].dc, counts[i]);
  return s;
}

}  // namespace

Objective parse_objective(const std::string& text) {
  if (text == "cost") return Objective::kCost;
  if (text == "energy") return Objective::kEnergy;
  if (text == "carbon") return Objective::kCarbon;
  throw Error(fmt::format("--objective \"{}\": expected cost, energy or carbon", text));
}

std::string objective_name(Objective o) {
  switch (o) {
    case Objective::kCost: return "cost";
    case Objective::kEnergy: return "energy";
    case Objective::kCarbon: return "carbon";
  }
  return "";
}

// ---- the planner's set-up: everything checked before anything runs ----

Planner::Planner(PlanRequest request, Study& study) : req_(std::move(request)), study_(study) {
  const auto& sets = study_.options().sets;
  const config::Scenario s = config::load_scenario(req_.scenario, sets);
  currency_ = s.economics.currency;
  routing_ = s.routing.policy;
  base_engine_ = s.engine;
  cny_per_usd_ = s.economics.cny_per_usd;
  base_multiplier_ = s.workload.demand_multiplier;
  start_weekday_ = s.run.start_weekday;
  for (const auto& [id, sv] : s.catalog.servers) server_capex_usd_[id] = sv.capex_usd;

  // The datacenters as given (after --set), to rebuild a region's list without some of them.
  config::Diagnostics diag;
  config::Document doc;
  config::load_document(req_.scenario, &doc, &diag);
  for (const auto& o : sets) config::apply_override(o, &doc, &diag);
  const YAML::Node& root = doc.root;
  for (std::size_t r = 0; r < s.regions.size(); ++r) {
    region_names_.push_back(s.regions[r].name);
    region_dc_yaml_.emplace_back();
    region_dc_names_.emplace_back();
    const YAML::Node dcs = root["platform"]["regions"][r]["datacenters"];
    for (std::size_t d = 0; d < s.regions[r].datacenters.size(); ++d) {
      YAML::Emitter e;
      e << YAML::Flow << (dcs.IsSequence() && d < dcs.size() ? dcs[d] : YAML::Node());
      region_dc_yaml_[r].push_back(e.c_str());
      region_dc_names_[r].push_back(s.regions[r].datacenters[d].name);
    }
  }
  auto site_of = [&](std::size_t r, std::size_t d) {
    Site x;
    const auto& dc = s.regions[r].datacenters[d];
    x.region = s.regions[r].name;
    x.dc = dc.name;
    x.server = dc.server_id;
    x.tp = dc.tensor_parallel;
    x.hint = dc.racks;
    const YAML::Node n = root["platform"]["regions"][r]["datacenters"][d];
    x.capex_usd = n.IsMap() && n["server_capex_usd"].IsDefined();
    x.capex_cny = n.IsMap() && n["server_capex_cny"].IsDefined();
    return x;
  };

  // Sites: --vary KEY=MIN:MAX, else every datacenter's racks.
  if (req_.vary.empty()) {
    for (std::size_t r = 0; r < s.regions.size(); ++r)
      for (std::size_t d = 0; d < s.regions[r].datacenters.size(); ++d) sites_.push_back(site_of(r, d));
  } else {
    for (const auto& v : req_.vary) {
      const std::string where = fmt::format("--vary \"{}\"", v);
      const auto eq = v.find('=');
      if (eq == std::string::npos) throw Error(where + ": expected KEY=MIN:MAX, e.g. platform.regions[0].datacenters[0].racks=1:64");
      const std::string key = trim(v.substr(0, eq)), range = trim(v.substr(eq + 1));
      // platform.regions[R].datacenters[D].racks or .servers_per_rack, R and D by index or name.
      const std::string pre = "platform.regions[";
      std::size_t r = 0, d = 0;
      std::string what;
      bool ok = key.rfind(pre, 0) == 0;
      std::string rsel, dsel;
      if (ok) {
        const auto e1 = key.find(']', pre.size());
        const std::string mid = ".datacenters[";
        ok = e1 != std::string::npos && key.compare(e1 + 1, mid.size(), mid) == 0;
        if (ok) {
          rsel = key.substr(pre.size(), e1 - pre.size());
          const auto e2 = key.find(']', e1 + 1 + mid.size());
          ok = e2 != std::string::npos && key.size() > e2 + 2 && key[e2 + 1] == '.';
          if (ok) {
            dsel = key.substr(e1 + 1 + mid.size(), e2 - e1 - 1 - mid.size());
            what = key.substr(e2 + 2);
          }
        }
      }
      if (!ok || (what != "racks" && what != "servers_per_rack"))
        throw Error(where + ": the key must be a datacenter's racks or servers_per_rack, e.g. "
                            "platform.regions[shanghai].datacenters[sh-1].racks");
      auto pick = [&](const std::string& sel, const std::vector<std::string>& names, const std::string& kind) {
        for (std::size_t i = 0; i < names.size(); ++i)
          if (names[i] == sel) return i;
        double idx = 0;
        if (parse_number(sel, &idx) && idx >= 0 && idx < static_cast<double>(names.size()) && idx == std::floor(idx))
          return static_cast<std::size_t>(idx);
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throw Error(fmt::format("{}: no {} \"{}\" (there are: {})", where, kind, sel, list));
      };
      r = pick(rsel, region_names_, "region");
      d = pick(dsel, region_dc_names_[r], "datacenter in " + region_names_[r]);
      Site x = site_of(r, d);
      x.key = what;
      bool balanced = true;
      const auto parts = split_top_level(range, ':', &balanced);
      double lo = 0, hi = 0;
      const double cap = what == "racks" ? 100000 : 1024;
      if (parts.size() != 2 || !parse_number(parts[0], &lo) || !parse_number(parts[1], &hi) || lo != std::floor(lo) ||
          hi != std::floor(hi))
        throw Error(where + ": expected whole numbers MIN:MAX, e.g. 1:64");
      if (lo < 1 || hi > cap || lo > hi)
        throw Error(fmt::format("{}: expected 1 <= MIN <= MAX <= {}, got {}:{}", where, grouped(cap), parts[0], parts[1]));
      x.lo = static_cast<std::int64_t>(lo);
      x.hi = static_cast<std::int64_t>(hi);
      x.hint = std::clamp<std::int64_t>(what == "racks" ? s.regions[r].datacenters[d].racks
                                                        : s.regions[r].datacenters[d].servers_per_rack,
                                        x.lo, x.hi);
      for (const auto& y : sites_)
        if (y.dc == x.dc) throw Error(fmt::format("{}: datacenter {} is varied twice", where, x.dc));
      sites_.push_back(x);
    }
  }
  if (sites_.size() > 1 && routing_ == "split")
    throw Error("plan: routing.policy split fixes each datacenter's share, so the placement cannot be searched; use "
                "nearest, least_loaded, slo_spillover, lowest_price or lowest_carbon, or --vary a single datacenter");
  std::int64_t total_hint = 0;
  for (const auto& x : sites_) total_hint += x.hint;
  for (auto& x : sites_) x.hint = std::clamp(total_hint, x.lo, x.hi);  // alone, a site serves everyone

  // Candidates: every combination of --servers, --tp and --engine.
  const auto servers = split_list("--servers", req_.servers);
  const auto tps = split_list("--tp", req_.tps);
  const auto engines = split_list("--engine", req_.engines);
  for (const auto& sv : servers)
    if (!s.catalog.servers.count(sv)) {
      std::string ids;
      for (const auto& [id, _] : s.catalog.servers) ids += (ids.empty() ? "" : ", ") + id;
      throw Error(fmt::format("--servers: unknown server \"{}\" (catalog has: {})", sv, ids));
    }
  std::vector<int> tp_values;
  for (const auto& t : tps) {
    double v = 0;
    if (!parse_number(t, &v) || v != std::floor(v) || v < 1 || v > 64)
      throw Error(fmt::format("--tp \"{}\": expected whole numbers from 1 to 64 (GPUs per replica)", t));
    tp_values.push_back(static_cast<int>(v));
  }
  std::set<std::string> known_engines;
  for (const auto& [gpu, by_engine] : s.catalog.gpu_engines)
    for (const auto& [e, _] : by_engine) known_engines.insert(e);
  for (const auto& e : engines)
    if (!known_engines.count(e)) {
      std::string list;
      for (const auto& k : known_engines) list += (list.empty() ? "" : ", ") + k;
      throw Error(fmt::format("--engine: unknown serving engine \"{}\" (catalog profiles: {})", e, list));
    }
  const std::vector<std::string> sv_list = servers.empty() ? std::vector<std::string>{""} : servers;
  const std::vector<int> tp_list = tp_values.empty() ? std::vector<int>{0} : tp_values;
  const std::vector<std::string> en_list = engines.empty() ? std::vector<std::string>{""} : engines;
  for (const auto& sv : sv_list)
    for (const int tp : tp_list)
      for (const auto& en : en_list) {
        Candidate c;
        c.server = sv;
        c.tp = tp;
        c.engine = en;
        std::string server_text = sv;
        if (sv.empty()) {
          std::set<std::string> own;
          for (const auto& x : sites_) own.insert(x.server);
          for (const auto& o : own) server_text += (server_text.empty() ? "" : "/") + o;
        }
        std::string tp_text = tp > 0 ? std::to_string(tp) : "";
        if (tp == 0) {
          std::set<int> own;
          for (const auto& x : sites_) own.insert(x.tp);
          for (const auto o : own) tp_text += (tp_text.empty() ? "" : "/") + std::to_string(o);
        }
        c.server_text = server_text;
        c.tp_text = tp_text;
        c.engine_text = en.empty() ? base_engine_ : en;
        c.label = fmt::format("{} tp{} {}", server_text, tp_text, c.engine_text);
        c.folder = folder_name(fmt::format("{}.tp{}.{}", server_text, tp_text, en.empty() ? base_engine_ : en));
        cands_.push_back(c);
      }

  // Screening needs a synthetic day longer than the window: find the busiest window of the first day.
  screening_ = req_.screen_hours > 0 && s.workload.source == "synthetic" &&
               s.run.duration_s >= (req_.screen_hours + kWarmupHours + 1) * 3600;
  if (screening_) {
    const config::Assembly a = config::assemble(s);
    double best = -1;
    for (int h = 0; h < 24; ++h) {
      double e = 0;
      for (const auto& c : a.workload.regions) e += c.expected(h * 3600.0, (h + req_.screen_hours) * 3600.0);
      if (e > best + 1e-9) {
        best = e;
        window_start_h_ = h;
      }
    }
    window_start_h_ = std::fmod(window_start_h_ + s.run.start_h, 24.0);
  }

  // A candidate that cannot serve the model anywhere (a replica that does not fit, an engine without a
  // profile for the GPU) is listed with the reason and not searched.
  std::size_t possible = 0;
  for (std::size_t c = 0; c < cands_.size(); ++c) {
    std::vector<std::int64_t> counts;
    for (const auto& x : sites_) counts.push_back(x.hint);
    Point p;
    p.scenario = req_.scenario;
    p.overrides = overrides(c, counts, false, 1);
    try {
      study_.validate(p);
      ++possible;
    } catch (const Error& e) {
      cands_[c].impossible = first_lines(e.what(), 3);
    }
  }
  if (possible == 0) {
    std::string list;
    for (const auto& c : cands_) list += fmt::format("\n  {}: {}", c.label, c.impossible);
    throw Error("plan: no candidate can serve the scenario:" + list);
  }
}

std::vector<std::string> Planner::overrides(std::size_t ci, const std::vector<std::int64_t>& counts, bool screen,
                                            double multiplier) const {
  const Candidate& c = cands_[ci];
  std::vector<std::string> o;
  // Sites left out of the placement: their region's datacenter list without them.
  std::set<std::string> removed;
  for (std::size_t i = 0; i < sites_.size(); ++i)
    if (counts[i] <= 0) removed.insert(sites_[i].dc);
  for (std::size_t r = 0; r < region_names_.size(); ++r) {
    bool touched = false;
    std::string list;
    for (std::size_t d = 0; d < region_dc_names_[r].size(); ++d) {
      if (removed.count(region_dc_names_[r][d])) {
        touched = true;
        continue;
      }
      list += (list.empty() ? "" : ", ") + region_dc_yaml_[r][d];
    }
    if (touched) o.push_back(fmt::format("platform.regions[{}].datacenters=[{}]", region_names_[r], list));
  }
  for (std::size_t i = 0; i < sites_.size(); ++i) {
    if (counts[i] <= 0) continue;
    const Site& x = sites_[i];
    const std::string dc = fmt::format("platform.regions[{}].datacenters[{}]", x.region, x.dc);
    o.push_back(fmt::format("{}.{}={}", dc, x.key, counts[i]));
    if (!c.server.empty() && c.server != x.server) {
      o.push_back(fmt::format("{}.server={}", dc, c.server));
      // A price the scenario gives for its own server does not apply to another one: the catalog's.
      const double usd = server_capex_usd_.at(c.server);
      if (x.capex_usd) o.push_back(fmt::format("{}.server_capex_usd={}", dc, usd));
      if (x.capex_cny) o.push_back(fmt::format("{}.server_capex_cny={}", dc, usd * cny_per_usd_));
    }
    if (c.tp > 0) o.push_back(fmt::format("{}.tensor_parallel={}", dc, c.tp));
  }
  if (!c.engine.empty()) o.push_back("serving.engine=" + c.engine);
  if (screen) {
    const double start = std::fmod(window_start_h_ - kWarmupHours + 24.0, 24.0);
    const int day_shift = window_start_h_ - kWarmupHours < 0 ? -1 : 0;
    o.push_back(fmt::format("run.start_h={}", start));
    o.push_back(fmt::format("run.duration_h={}", req_.screen_hours + kWarmupHours));
    if (day_shift != 0) {
      static const char* kDays[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
      o.push_back(fmt::format("run.start_weekday={}", kDays[(start_weekday_ + 7 + day_shift) % 7]));
    }
  }
  if (multiplier != 1) o.push_back(fmt::format("workload.demand_multiplier={}", base_multiplier_ * multiplier));
  return o;
}

// ---- the searches ----

namespace {

struct Task {
  enum class Kind { kSize, kHeadroom };
  Kind kind = Kind::kSize;
  std::size_t cand = 0;
  std::string placement;
  std::vector<std::int64_t> counts;  // the placement's counts; counts[var] is the searched value
  std::size_t var = 0;                // the searched site (kSize)
  std::int64_t lo = 1, hi = 1, hint = 1;
  int phase = 0;  // 0 screening, 1 full days, 2 done
  std::optional<MonotoneSearch> screen, day;
  std::map<std::int64_t, std::size_t> day_evals;  // x -> evaluation
  std::size_t option = static_cast<std::size_t>(-1);
  bool single = false;  // one site alone
  std::string split_of; // "A+B" for split samples
  std::string fixed;    // split samples: " with 2 racks at sh-1"
};

}  // namespace

bool Planner::run(PlanResult* out) {
  PlanResult& R = *out;
  std::vector<Task> tasks;
  const std::size_t n_sites = sites_.size();
  // Every site alone, for every candidate that can serve the model.
  for (std::size_t c = 0; c < cands_.size(); ++c) {
    if (!cands_[c].impossible.empty()) continue;
    for (std::size_t i = 0; i < n_sites; ++i) {
      Task t;
      t.cand = c;
      t.placement = n_sites == 1 ? fmt::format("at {}", sites_[i].dc) : fmt::format("all at {}", sites_[i].dc);
      t.counts.assign(n_sites, 0);
      t.var = i;
      t.lo = sites_[i].lo;
      t.hi = sites_[i].hi;
      t.hint = sites_[i].hint;
      t.single = true;
      tasks.push_back(std::move(t));
    }
  }
  auto start_search = [&](Task& t) {
    if (screening_) {
      t.screen.emplace(t.lo, t.hi, std::vector<std::int64_t>{t.hint}, std::max<std::int64_t>(1, t.hint / 4));
      t.phase = 0;
    } else {
      t.day.emplace(t.lo, t.hi, std::vector<std::int64_t>{t.hint}, std::max<std::int64_t>(1, t.hint / 4));
      t.phase = 1;
    }
  };
  for (auto& t : tasks) start_search(t);
  std::set<std::size_t> split_done;
  bool headroom_started = !req_.headroom;

  auto option_of = [&](const Task& t) -> PlanOption& { return R.options[t.option]; };
  auto finish_task = [&](Task& t, const std::string& failure) {
    t.phase = 2;
    PlanOption o;
    o.candidate = t.cand;
    o.placement = t.placement;
    o.failure = failure;
    const MonotoneSearch& s = *t.day;
    if (failure.empty() && s.answer()) {
      const auto x = *s.answer();
      o.eval = t.day_evals.at(x);
      o.counts = R.evals[*o.eval].counts;
      o.objective_per_day = objective_of(R.evals[*o.eval].result.summary, req_.objective);
      R.knew_answer_day_evals += x > t.lo ? 2 : 1;
      if (x == t.hi && t.single) o.notes.push_back("the answer is the top of the search range");
    } else if (failure.empty()) {
      o.failure = t.kind == Task::Kind::kSize ? fmt::format("no fleet of up to {} {} at {}{} meets the SLO over the full day",
                                                            t.hi, sites_[t.var].key, sites_[t.var].dc, t.fixed)
                                              : "";
    }
    for (const auto* s2 : {t.screen ? &*t.screen : nullptr, t.day ? &*t.day : nullptr}) {
      if (!s2) continue;
      for (const auto& [a, b] : s2->contradictions())
        o.notes.push_back(fmt::format("not monotone: {} {} meets the target, {} does not ({})", a,
                                      t.kind == Task::Kind::kSize ? sites_[t.var].key : "x 1/20",
                                      b, s2 == &*t.screen ? "screening" : "full day"));
    }
    if (t.kind == Task::Kind::kHeadroom) {
      if (s.answer()) {
        R.headroom = static_cast<double>(*s.answer() - 1) / kHeadroomSteps;
      } else {
        R.headroom = static_cast<double>(t.hi) / kHeadroomSteps;
        R.headroom_note = fmt::format("at least x{:g}: the search stops there", R.headroom.value());
      }
      for (const auto& n : o.notes) R.notes.push_back("headroom: " + n);
      return;
    }
    t.option = R.options.size();
    R.options.push_back(o);
  };

  for (int round = 0; round < 10000; ++round) {
    // Splits once a candidate's single sites are done; the headroom once every plan is.
    for (std::size_t c = 0; c < cands_.size(); ++c) {
      if (n_sites < 2 || split_done.count(c) || !cands_[c].impossible.empty()) continue;
      bool singles_done = true;
      for (const auto& t : tasks)
        if (t.cand == c && t.single && t.phase != 2) singles_done = false;
      if (!singles_done) continue;
      split_done.insert(c);
      // The best site alone by the objective, and the site of lowest latency alone.
      std::optional<std::size_t> best, nearest;
      for (const auto& t : tasks) {
        if (t.cand != c || !t.single || t.option == static_cast<std::size_t>(-1)) continue;
        const PlanOption& o = option_of(t);
        if (!o.eval) continue;
        const double ttft = number(R.evals[*o.eval].result.summary, {"latency_s", "ttft", "p50"});
        if (!best || o.objective_per_day < R.options[tasks[*best].option].objective_per_day) best = &t - tasks.data();
        if (!nearest || ttft < number(R.evals[*R.options[tasks[*nearest].option].eval].result.summary, {"latency_s", "ttft", "p50"}))
          nearest = &t - tasks.data();
      }
      if (!best || !nearest) continue;
      const std::size_t a = tasks[*best].var, b = tasks[*nearest].var;
      if (a == b) {
        R.notes.push_back(fmt::format("{}: no split searched: the best site alone ({}) is also the one of lowest latency",
                                      cands_[c].label, sites_[a].dc));
        continue;
      }
      const std::int64_t a_star = R.options[tasks[*best].option].counts[a];
      const std::int64_t b_star = R.options[tasks[*nearest].option].counts[b];
      std::set<std::int64_t> samples;
      for (std::size_t k = 1; k <= req_.split_samples; ++k) {
        const auto bk = static_cast<std::int64_t>(std::llround(static_cast<double>(k) * b_star / (req_.split_samples + 1)));
        if (bk >= sites_[b].lo && bk < b_star) samples.insert(bk);
      }
      for (const auto bk : samples) {
        Task t;
        t.cand = c;
        t.placement = fmt::format("split {} + {}", sites_[a].dc, sites_[b].dc);
        t.fixed = fmt::format(" with {} {} at {}", bk, sites_[b].key, sites_[b].dc);
        t.split_of = t.placement;
        t.counts.assign(n_sites, 0);
        t.counts[b] = bk;
        t.var = a;
        t.lo = sites_[a].lo;
        t.hi = a_star;
        t.hint = std::clamp<std::int64_t>(
            static_cast<std::int64_t>(std::llround(a_star * (1.0 - static_cast<double>(bk) / b_star))), t.lo, t.hi);
        start_search(t);
        tasks.push_back(std::move(t));
      }
    }
    bool all_done = std::all_of(tasks.begin(), tasks.end(), [](const Task& t) { return t.phase == 2; });
    if (all_done && !headroom_started) {
      headroom_started = true;
      std::optional<std::size_t> best;
      for (std::size_t i = 0; i < R.options.size(); ++i)
        if (R.options[i].eval && (!best || R.options[i].objective_per_day < R.options[*best].objective_per_day)) best = i;
      if (best && at(R.evals[*R.options[*best].eval].result.summary, {"workload", "source"}) == "trace") {
        R.headroom_note = "not searched: a trace sets the demand (scale it with workload.trace.rate_scale)";
      } else if (best) {
        Task t;
        t.kind = Task::Kind::kHeadroom;
        t.cand = R.options[*best].candidate;
        t.placement = R.options[*best].placement;
        t.counts = R.options[*best].counts;
        t.lo = kHeadroomSteps + 1;
        t.hi = kHeadroomMax;
        t.hint = kHeadroomSteps + 4;
        start_search(t);
        tasks.push_back(std::move(t));
        all_done = false;
      }
    }
    if (all_done) break;

    // One batch: each active search's next points.
    struct Want {
      std::size_t task;
      std::int64_t x;
      bool screen;
    };
    std::vector<Want> wants;
    for (std::size_t ti = 0; ti < tasks.size(); ++ti) {
      Task& t = tasks[ti];
      if (t.phase == 2) continue;
      MonotoneSearch& s = t.phase == 0 ? *t.screen : *t.day;
      const std::size_t n = (t.phase == 1 && s.evaluated().empty()) ? 2 : 1;
      for (const auto x : s.next(n)) wants.push_back({ti, x, t.phase == 0});
    }
    // Spare slots go to screening searches (a few more points each: cheap runs, fewer rounds).
    const std::size_t slots = std::max<std::size_t>(req_.parallel, 1);
    for (std::size_t extra = 2; wants.size() < slots && extra <= 4; ++extra) {
      const std::size_t before = wants.size();
      for (std::size_t ti = 0; ti < tasks.size() && wants.size() < slots; ++ti) {
        Task& t = tasks[ti];
        if (t.phase != 0) continue;
        for (const auto x : t.screen->next(extra)) {
          const bool have = std::any_of(wants.begin(), wants.end(), [&](const Want& w) { return w.task == ti && w.x == x; });
          if (!have && wants.size() < slots) wants.push_back({ti, x, true});
        }
      }
      if (wants.size() == before) break;
    }
    if (wants.empty()) break;

    std::vector<Point> points;
    std::vector<std::string> resolved;
    std::vector<std::size_t> eval_of;
    for (const auto& w : wants) {
      const Task& t = tasks[w.task];
      PlanEval e;
      e.candidate = t.cand;
      e.placement = t.placement;
      e.counts = t.counts;
      if (t.kind == Task::Kind::kSize) e.counts[t.var] = w.x;
      e.multiplier = t.kind == Task::Kind::kHeadroom ? static_cast<double>(w.x) / kHeadroomSteps : 1.0;
      e.phase = std::string(t.kind == Task::Kind::kHeadroom ? "headroom-" : "") + (w.screen ? "screen" : "day");
      e.point.scenario = req_.scenario;
      e.point.overrides = overrides(t.cand, e.counts, w.screen, e.multiplier);
      const std::string counts = counts_label(sites_, e.counts);
      e.point.label = fmt::format("{} {} {}{}", cands_[t.cand].label, e.phase, counts,
                                  e.multiplier != 1 ? fmt::format(" x{:.2f}", e.multiplier) : "");
      e.point.folder = (fs::path("points") / cands_[t.cand].folder /
                        folder_name(fmt::format("{}{}", e.phase, e.multiplier != 1 ? fmt::format("-x{:.2f}", e.multiplier) : "")) /
                        folder_name(counts))
                           .string();
      // The same point asked twice in a batch (two searches meeting) runs once.
      std::optional<std::size_t> same;
      for (std::size_t k = 0; k < points.size(); ++k)
        if (points[k].folder == e.point.folder) same = k;
      if (!same) {
        points.push_back(e.point);
        resolved.push_back(study_.validate(e.point));
      }
      eval_of.push_back(R.evals.size());
      R.evals.push_back(std::move(e));
    }
    const auto results = study_.run(points, resolved);
    const std::string failed = failure_report(study_, points, results);
    if (!failed.empty()) {
      fmt::print(stderr, "chatdc: error: {}; no plan written (finished points are kept: run the same command again to "
                         "carry on)\n",
                 failed);
      return false;
    }
    std::map<std::string, std::size_t> by_folder;
    for (std::size_t k = 0; k < points.size(); ++k) by_folder[points[k].folder] = k;
    for (std::size_t wi = 0; wi < wants.size(); ++wi) {
      PlanEval& e = R.evals[eval_of[wi]];
      const std::size_t k = by_folder.at(e.point.folder);
      e.result = results[k];
      const bool screen = wants[wi].screen;
      (screen ? R.screen_evals : R.day_evals) += 1;
      if (!e.result.reused) (screen ? R.screen_runs : R.day_runs) += 1;
      else ++R.reused;
      bool feasible = e.result.feasibility.feasible;
      e.why = e.result.feasibility.why;
      if (screen) {
        // The window alone: SLO attainment of the requests sent after the warm-up hour.
        const auto [met, done] = window_attainment(study_.folder(e.point), kWarmupHours);
        RunFigures f = e.result.figures;
        f.attainment = done > 0 ? met / done : 0;
        f.completed = done;
        e.window_attainment = f.attainment;
        const Feasibility w = judge(f, study_.options().slo_target);
        feasible = w.feasible;
        e.why = w.why.empty() ? "" : "busiest window: " + w.why;
      }
      Task& t = tasks[wants[wi].task];
      const bool p = t.kind == Task::Kind::kSize ? feasible : !feasible;
      e.meets = feasible;
      (screen ? *t.screen : *t.day).record(wants[wi].x, p);
      if (!screen) t.day_evals[wants[wi].x] = eval_of[wi];
    }
    // Phases move on.
    for (auto& t : tasks) {
      if (t.phase == 0 && t.screen->done()) {
        const auto u = t.screen->answer();
        if (!u && t.kind == Task::Kind::kSize) {
          t.day.emplace(t.lo, t.hi, std::vector<std::int64_t>{t.hi}, 1);  // keeps finish_task simple
          finish_task(t, fmt::format("no fleet of up to {} {} at {}{} meets the SLO in the busiest window", t.hi,
                                     sites_[t.var].key, sites_[t.var].dc, t.fixed));
          continue;
        }
        // The busiest window is the hardest part of the day: a fleet that carries it carries the day, and
        // the day, averaging calmer hours in, usually tolerates a little more. So the day's size is usually
        // the window's or just below (its answer and the neighbour below come first), and the day's
        // headroom the window's or just above (its answer and the neighbour above).
        const std::int64_t x = u ? *u : t.hi;
        t.day.emplace(t.lo, t.hi, std::vector<std::int64_t>{x, t.kind == Task::Kind::kSize ? x - 1 : x + 1}, 1);
        t.phase = 1;
      } else if (t.phase == 1 && t.day->done()) {
        finish_task(t, "");
      }
    }
  }

  // The best plan: the lowest objective among verified plans.
  for (std::size_t i = 0; i < R.options.size(); ++i)
    if (R.options[i].eval && (!R.best || R.options[i].objective_per_day < R.options[*R.best].objective_per_day)) R.best = i;
  return true;
}

}  // namespace chatdc::study
