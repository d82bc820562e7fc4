#include "study/study.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "config/catalog.hpp"
#include "config/scenario.hpp"
#include "core/csv.hpp"
#include "core/error.hpp"

namespace chatdc::study {

namespace fs = std::filesystem;
using json = nlohmann::json;

Study::Study(StudyOptions options, Executor& executor) : opt_(std::move(options)), exec_(executor) {}

std::string normalised_resolved(const std::string& text) {
  YAML::Node n = YAML::Load(text);
  if (n.IsMap() && n["run"].IsMap()) n["run"].remove("threads");
  YAML::Emitter e;
  e << n;
  return e.c_str();
}

std::string Study::validate(const Point& p) const {
  std::vector<std::string> sets = opt_.sets;
  sets.insert(sets.end(), p.overrides.begin(), p.overrides.end());
  const config::Scenario s = config::load_scenario(p.scenario, sets);
  return normalised_resolved(config::resolved_yaml(s));
}

std::string scenario_name(const std::string& file) {
  try {
    const YAML::Node doc = YAML::LoadFile(file);
    if (doc.IsMap() && doc["name"] && doc["name"].IsScalar() && !trim(doc["name"].Scalar()).empty())
      return trim(doc["name"].Scalar());
  } catch (const std::exception&) {
  }
  return fs::path(file).stem().string();
}

long cheapest_feasible(const std::vector<PointResult>& res) {
  long best = -1;
  for (std::size_t i = 0; i < res.size(); ++i) {
    if (!res[i].ok() || !res[i].feasibility.feasible) continue;
    const double c = number(res[i].summary, {"cost", "total"});
    if (best < 0 || c < number(res[static_cast<std::size_t>(best)].summary, {"cost", "total"})) best = static_cast<long>(i);
  }
  return best;
}

std::vector<std::string> validate_all(const Study& study, const std::vector<Point>& points,
                                      const std::function<std::string(std::size_t, const std::string&)>& origin) {
  std::vector<std::string> resolved(points.size());
  struct Problem {
    std::string text;
    std::size_t others = 0;
  };
  std::vector<Problem> problems;
  std::map<std::string, std::size_t> seen;  // the message without the point's values -> its problem
  for (std::size_t i = 0; i < points.size(); ++i) {
    try {
      resolved[i] = study.validate(points[i]);
    } catch (const Error& e) {
      std::string key = e.what();
      for (const auto& o : points[i].overrides) {  // "--set run.sead=3" and "--set run.sead=4": the same problem
        const auto eq = o.find('=');
        if (eq == std::string::npos) continue;
        for (std::size_t at = 0; (at = key.find(o, at)) != std::string::npos;) key.replace(at, o.size(), o.substr(0, eq + 1) + "*");
      }
      const auto [it, fresh] = seen.emplace(key, problems.size());
      if (fresh) problems.push_back({fmt::format("{}: {}", origin(i, e.what()), e.what())});
      else ++problems[it->second].others;
    }
  }
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems)
      text += (text.empty() ? "" : "\n") + p.text +
              (p.others ? fmt::format("\n(the same problem for {} more point{})", p.others, p.others == 1 ? "" : "s") : "");
    throw Error(text);
  }
  return resolved;
}

std::string common_currency(const std::vector<Point>& points, const std::vector<std::string>& resolved) {
  std::map<std::string, std::vector<std::string>> by;
  std::string first;
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::string cur = "?";
    try {
      const YAML::Node n = YAML::Load(resolved[i]);
      if (n["economics"]["currency"]) cur = n["economics"]["currency"].as<std::string>();
    } catch (const std::exception&) {
    }
    if (first.empty()) first = cur;
    by[cur].push_back(points[i].label);
  }
  if (by.size() > 1) {
    std::string list;
    for (const auto& [cur, labels] : by) {
      std::string l;
      for (const auto& x : labels) l += (l.empty() ? "" : ", ") + x;
      list += fmt::format("{}{}: {}", list.empty() ? "" : "; ", cur, l);
    }
    throw Error(fmt::format("the runs report costs in different currencies ({}); set the same economics.currency in "
                            "every run, e.g. --set economics.currency={}",
                            list, first));
  }
  return first;
}

std::string failure_report(const Study& study, const std::vector<Point>& points, const std::vector<PointResult>& results) {
  std::size_t failed = 0;
  for (const auto& r : results) failed += r.outcome.state == Outcome::State::kFailed;
  if (failed == 0) return "";
  std::string text = fmt::format("{} of {} runs failed", failed, results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].outcome.state != Outcome::State::kFailed) continue;
    const fs::path log = study.folder(points[i]) / "stderr.txt";
    std::string over;
    for (const auto& o : points[i].overrides) over += (over.empty() ? "" : " ") + o;
    text += fmt::format("\n  run \"{}\" ({}{}): {}; last lines of {}:", points[i].label, points[i].scenario,
                        over.empty() ? "" : " with " + over, results[i].outcome.failure, log.string());
    const auto& lines = results[i].outcome.stderr_tail;
    if (lines.empty()) text += "\n    (empty)";
    for (const auto& l : lines) text += "\n    " + l;
  }
  return text;
}

void read_point(const fs::path& dir, json* summary, RunFigures* f) {
  const fs::path sp = dir / "summary.json";
  try {
    *summary = json::parse(slurp(sp));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{} is unreadable: {}", sp.string(), e.what()));
  }
  const json& s = *summary;
  f->arrived = number(s, {"requests", "arrived"});
  f->completed = number(s, {"requests", "completed"});
  f->unfinished = number(s, {"requests", "unfinished"});
  f->rejected = number(s, {"requests", "rejected"});
  const double over = number(s, {"requests", "rejected_over_context"});
  f->rejected_over_context = std::isfinite(over) ? over : f->rejected;
  f->dropped = number(s, {"requests", "dropped"});
  f->attainment = number(s, {"slo", "attainment"});
  f->ttft_target_s = number(s, {"slo", "ttft_target_s"});
  f->tpot_target_s = number(s, {"slo", "tpot_target_s"});
  const double out_tokens = number(s, {"tokens", "output"});
  f->mean_output_tokens = f->completed > 0 ? out_tokens / f->completed : 1.0;
  // Arrivals per second over the last hour, from the timeline (one row per period and datacenter).
  const double end_s = number(s, {"simulated_s"});
  const double span = std::min(3600.0, end_s);
  std::ifstream in(dir / "timeline.csv");
  std::string line;
  std::vector<std::string> fields;
  double arrivals = 0;
  std::size_t c_time = 0, c_arr = 0;
  bool header = true;
  while (std::getline(in, line)) {
    if (!split_csv_line(line, &fields)) continue;
    if (header) {
      header = false;
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i] == "time_s") c_time = i;
        if (fields[i] == "arrivals") c_arr = i;
      }
      continue;
    }
    double t = 0, a = 0;
    if (fields.size() > std::max(c_time, c_arr) && parse_number(fields[c_time], &t) && parse_number(fields[c_arr], &a) &&
        t >= end_s - span - 1e-9)
      arrivals += a;
  }
  f->end_arrival_rate_per_s = span > 0 ? arrivals / span : 0.0;
}

std::vector<PointResult> Study::run(const std::vector<Point>& points, const std::vector<std::string>& resolved) {
  std::vector<PointResult> results(points.size());
  std::vector<Job> jobs;
  std::vector<std::size_t> job_point;
  auto read_back = [&](std::size_t i) {
    PointResult& r = results[i];
    try {
      read_point(folder(points[i]), &r.summary, &r.figures);
      r.feasibility = judge(r.figures, opt_.slo_target);
    } catch (const Error& e) {
      r.outcome.state = Outcome::State::kFailed;
      r.outcome.failure = fmt::format("succeeded, but its outputs are unreadable: {}", e.what());
    }
  };
  std::size_t finished = 0;
  auto say = [&](std::size_t i, const std::string& what) {
    ++finished;
    if (opt_.progress)
      fmt::print(stderr, "chatdc {}: [{}/{}] {}: {}\n", opt_.command, finished, points.size(), points[i].label, what);
  };
  for (std::size_t i = 0; i < points.size(); ++i) {
    const fs::path dir = folder(points[i]);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(fmt::format("cannot create the output folder {}: {}", dir.string(), ec.message()));
    if (!opt_.rerun && fs::exists(dir / "summary.json") && fs::exists(dir / "scenario.resolved.yaml")) {
      bool same = false;
      try {
        same = normalised_resolved(slurp(dir / "scenario.resolved.yaml")) == resolved[i];
      } catch (const std::exception&) {
      }
      if (same) {
        results[i].reused = true;
        results[i].outcome.state = Outcome::State::kSucceeded;
        read_back(i);
        if (results[i].ok()) {
          ++reused_;
          say(i, "done before (reused)");
          continue;
        }
        results[i] = PointResult();
      }
    }
    Job j;
    j.label = points[i].label;
    j.run_args = {points[i].scenario, "--out", dir.string()};
    for (const auto& s : opt_.sets) j.run_args.insert(j.run_args.end(), {"--set", s});
    for (const auto& s : points[i].overrides) j.run_args.insert(j.run_args.end(), {"--set", s});
    j.out_dir = dir.string();
    j.log = (dir / "stderr.txt").string();
    jobs.push_back(std::move(j));
    job_point.push_back(i);
  }
  started_ += jobs.size();
  exec_.run(jobs, [&](std::size_t k, const Outcome& o) {
    const std::size_t i = job_point[k];
    results[i].outcome = o;
    if (o.state == Outcome::State::kSucceeded) read_back(i);
    if (results[i].outcome.state == Outcome::State::kSucceeded)
      say(i, fmt::format("done in {:.1f} s{}", o.wall_s, results[i].feasibility.feasible ? "" : " (infeasible)"));
    else if (results[i].outcome.state == Outcome::State::kFailed)
      say(i, "FAILED: " + results[i].outcome.failure);
  });
  return results;
}

// ---- tables ----

const json& at(const json& j, const std::vector<const char*>& path) {
  static const json null;
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return null;
    cur = &(*cur)[k];
  }
  return *cur;
}

double number(const json& j, const std::vector<const char*>& path) {
  const json& v = at(j, path);
  return v.is_number() ? v.get<double>() : std::nan("");
}

std::string csv_number(const json& v) {
  if (v.is_number_unsigned()) return fmt::format("{}", v.get<std::uint64_t>());
  if (v.is_number_integer()) return fmt::format("{}", v.get<std::int64_t>());
  if (v.is_number()) return fmt::format("{}", v.get<double>());
  return "";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string md_cell(const std::string& s) {
  std::string o;
  for (const char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
  return o;
}

const std::vector<Column>& summary_columns() {
  static const std::vector<Column> c = {
      {"servers", "servers", {"fleet", "servers"}, Kind::kCount},
      {"gpus", "GPUs", {"fleet", "gpus"}, Kind::kCount},
      {"requests_arrived", "requests arrived", {"requests", "arrived"}, Kind::kCount},
      {"requests_completed", "requests completed", {"requests", "completed"}, Kind::kCount},
      {"requests_unfinished", "requests unfinished", {"requests", "unfinished"}, Kind::kCount},
      {"requests_rejected", "requests rejected", {"requests", "rejected"}, Kind::kCount},
      {"requests_rejected_over_context", "of which longer than the context", {"requests", "rejected_over_context"}, Kind::kCount},
      {"requests_dropped", "requests dropped", {"requests", "dropped"}, Kind::kCount},
      {"ttft_p50_s", "TTFT p50 (s)", {"latency_s", "ttft", "p50"}, Kind::kLatency},
      {"ttft_p90_s", "TTFT p90 (s)", {"latency_s", "ttft", "p90"}, Kind::kLatency},
      {"ttft_p99_s", "TTFT p99 (s)", {"latency_s", "ttft", "p99"}, Kind::kLatency},
      {"tpot_p50_s", "TPOT p50 (s)", {"latency_s", "tpot", "p50"}, Kind::kLatency},
      {"tpot_p99_s", "TPOT p99 (s)", {"latency_s", "tpot", "p99"}, Kind::kLatency},
      {"e2e_p99_s", "end-to-end p99 (s)", {"latency_s", "e2e", "p99"}, Kind::kLatency},
      {"slo_attainment", "SLO attainment (TTFT and TPOT)", {"slo", "attainment"}, Kind::kPercent},
      {"gpu_utilization_mean", "GPU utilization, mean", {"utilization", "gpu_mean"}, Kind::kPercent},
      {"gpu_utilization_peak", "GPU utilization, peak", {"utilization", "gpu_peak"}, Kind::kPercent},
      {"batch_occupancy_mean", "batch slots used, mean", {"utilization", "batch_occupancy_mean"}, Kind::kPercent},
      {"batch_occupancy_peak", "batch slots used, peak", {"utilization", "batch_occupancy_peak"}, Kind::kPercent},
      {"kv_cache_mean", "KV cache used, mean", {"utilization", "kv_cache_mean"}, Kind::kPercent},
      {"kv_cache_peak", "KV cache used, peak", {"utilization", "kv_cache_peak"}, Kind::kPercent},
      {"mfu_mean", "compute used (MFU), mean", {"utilization", "mfu_mean"}, Kind::kPercent},
      {"mbu_mean", "HBM bandwidth used (MBU), mean", {"utilization", "mbu_mean"}, Kind::kPercent},
      {"prefix_hit_rate", "prompt tokens found in the prefix cache", {"prefix_cache", "hit_rate"}, Kind::kPercent},
      {"it_energy_kwh", "IT energy (kWh)", {"energy_kwh", "it"}, Kind::kAmount},
      {"facility_energy_kwh", "facility energy (kWh)", {"energy_kwh", "facility"}, Kind::kAmount},
      {"wh_per_request", "facility energy per request (Wh)", {"wh_per_request"}, Kind::kAmount},
      {"carbon_kg", "carbon, location-based (kg CO₂)", {"carbon_kg"}, Kind::kAmount},
      {"carbon_kg_market", "carbon, market-based (kg CO₂)", {"carbon_kg_market"}, Kind::kAmount},
      {"server_hours_off", "server-hours off", {"power_states", "server_hours", "off"}, Kind::kAmount},
      {"wake_ups", "server wake-ups", {"power_states", "wake_ups"}, Kind::kCount},
      {"server_failures", "server failures", {"failures", "failures"}, Kind::kCount},
      {"requests_retried", "requests retried after a failure", {"failures", "retried_requests"}, Kind::kCount},
      {"server_hours_failed", "server-hours lost to failures", {"failures", "server_hours_failed"}, Kind::kAmount},
      {"server_hours_maintenance", "server-hours in maintenance", {"failures", "server_hours_maintenance"}, Kind::kAmount},
      {"batch_output_tokens_done", "batch output tokens done", {"batch", "output_tokens_done"}, Kind::kCount},
      {"batch_deadline_misses", "batch jobs past their deadline", {"batch", "deadline_misses"}, Kind::kCount},
      {"batch_facility_energy_kwh", "batch work's facility energy (kWh)", {"batch", "energy_kwh", "facility"}, Kind::kAmount},
      {"currency", nullptr, {"cost", "currency"}, Kind::kCount},
      {"cost_electricity", "electricity ({})", {"cost", "electricity"}, Kind::kMoney},
      {"cost_green_certificates", "green certificates ({})", {"cost", "green_certificates"}, Kind::kMoney},
      {"cost_demand_charge", "demand charge ({})", {"cost", "demand_charge"}, Kind::kMoney},
      {"cost_capex", "capex ({})", {"cost", "capex"}, Kind::kMoney},
      {"cost_capex_servers", "of which servers ({})", {"cost", "capex_servers"}, Kind::kMoney},
      {"cost_capex_network", "of which network gear ({})", {"cost", "capex_network"}, Kind::kMoney},
      {"cost_capex_facility", "of which facility ({})", {"cost", "capex_facility"}, Kind::kMoney},
      {"cost_maintenance", "maintenance ({})", {"cost", "maintenance"}, Kind::kMoney},
      {"cost_wan", "WAN ({})", {"cost", "wan"}, Kind::kMoney},
      {"cost_carbon", "carbon price ({})", {"cost", "carbon"}, Kind::kMoney},
      {"cost_rental", "GPU rental ({})", {"cost", "rental"}, Kind::kMoney},
      {"cost_total", "**total cost ({})**", {"cost", "total"}, Kind::kMoney},
      {"cost_per_1k_requests", "cost per 1k requests ({})", {"cost", "per_1k_requests"}, Kind::kMoney},
      {"simulated_s", nullptr, {"simulated_s"}, Kind::kAmount},
      {"wall_s", "wall time (s)", {"wall_s"}, Kind::kAmount},
  };
  return c;
}

std::string sig(double v, int n) {
  if (!std::isfinite(v)) return "–";
  if (v == 0) return "0";
  const int mag = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  if (mag >= n - 1) return grouped(v);
  return fmt::format("{:.{}f}", v, n - 1 - mag);
}

std::string human(double v, Kind k) {
  if (!std::isfinite(v)) return "–";
  switch (k) {
    case Kind::kCount: return grouped(v);
    case Kind::kLatency: return sig(v, 3);
    case Kind::kPercent: return percent(v);
    case Kind::kAmount: return sig(v, 3);
    case Kind::kMoney: return sig(v, 4);
  }
  return "";
}

std::string defaults_md(const std::vector<const nlohmann::json*>& summaries, const std::string& currency) {
  struct Seen {
    double lo = 0, hi = 0;
    std::string unit, source;
    std::size_t runs = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Seen> seen;
  std::size_t read = 0;
  for (const auto* s : summaries) {
    if (!s || !s->is_object() || !s->contains("defaults_to_review")) continue;
    ++read;
    for (const auto& d : (*s)["defaults_to_review"]) {
      const std::string key = d.value("key", "");
      const double v = d.contains("value") && d["value"].is_number() ? d["value"].get<double>() : NAN;
      auto [it, fresh] = seen.try_emplace(key);
      Seen& e = it->second;
      if (fresh) {
        order.push_back(key);
        e.lo = e.hi = v;
        e.unit = d.value("unit", "");
        e.source = d.value("source", "");
      }
      e.lo = std::min(e.lo, v);
      e.hi = std::max(e.hi, v);
      ++e.runs;
    }
  }
  if (order.empty()) return "";
  std::string md = fmt::format("\n## Defaults to review\n\nValues the scenarios did not set (money in {}); each run's "
                               "`summary.json` lists them under `defaults_to_review`.\n\n| key | value | unit | runs | source |\n"
                               "|---|---:|---|---:|---|\n", currency);
  for (const auto& key : order) {
    const Seen& e = seen[key];
    const std::string value = e.lo == e.hi ? sig(e.lo, 4) : sig(e.lo, 4) + " – " + sig(e.hi, 4);
    md += fmt::format("| `{}` | {} | {} | {} of {} | {} |\n", md_cell(key), value, md_cell(e.unit), e.runs, read,
                      md_cell(e.source));
  }
  return md;
}

std::string text_table(const std::vector<std::vector<std::string>>& rows) {
  auto width = [](const std::string& s) {  // display columns of UTF-8 text
    std::size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
  };
  std::vector<std::size_t> w;
  for (const auto& row : rows) {
    if (w.size() < row.size()) w.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) w[i] = std::max(w[i], width(row[i]));
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      const std::string pad(w[i] - width(row[i]), ' ');
      line += " " + (i == 0 ? row[i] + pad : pad + row[i]) + " ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + '\n';
  }
  return text;
}

std::string feasibility_csv_header() { return "slo_target,slo_met,feasible,infeasible_reason,backlog_limit"; }

std::string feasibility_csv_values(const PointResult& r, double target) {
  return fmt::format("{},{},{},{},{}", target, r.feasibility.slo_met ? 1 : 0, r.feasibility.feasible ? 1 : 0,
                     csv_field(r.feasibility.why), std::floor(r.feasibility.backlog_limit));
}

// ---- outputs ----

void commit_files(const fs::path& dir, const std::map<std::string, std::string>& files,
                  const std::map<std::string, fs::path>& staged) {
  const long id = static_cast<long>(::getpid());
  std::vector<std::pair<fs::path, fs::path>> moves;
  std::error_code ec;
  auto cleanup = [&]() {
    for (const auto& [tmp, _] : moves) fs::remove(tmp, ec);
    for (const auto& [_, tmp] : staged) fs::remove(tmp, ec);
  };
  for (const auto& [name, content] : files) {
    const fs::path tmp = dir / fmt::format(".{}.tmp-{}", name, id);
    moves.emplace_back(tmp, dir / name);
    std::ofstream o(tmp, std::ios::binary);
    o << content;
    o.close();
    if (!o) {
      cleanup();
      throw Error(fmt::format("cannot write {} (disk full or no permission?)", tmp.string()));
    }
  }
  for (const auto& [name, tmp] : staged) moves.emplace_back(tmp, dir / name);
  for (const auto& [tmp, dest] : moves) {
    fs::rename(tmp, dest, ec);
    if (ec) {
      cleanup();
      throw Error(fmt::format("cannot rename {} to {}: {}", tmp.string(), dest.string(), ec.message()));
    }
  }
}

fs::path draw_plot(const std::string& script_name, const std::vector<std::string>& args, const fs::path& dir,
                   const std::string& png_name) {
  const std::string python = "/usr/bin/python3";
  const std::string script = (fs::path(config::default_catalog_dir()).parent_path() / "analysis" / script_name).string();
  const std::string hint = "(needs /usr/bin/python3 with Debian's python3-pandas and python3-matplotlib)";
  if (::access(python.c_str(), X_OK) != 0) {
    spdlog::warn("{} not drawn: {} not found {}", png_name, python, hint);
    return {};
  }
  if (!fs::exists(script)) {
    spdlog::warn("{} not drawn: {} not found (set CHATDC_DATA_DIR to the chatdc source folder)", png_name, script);
    return {};
  }
  const long id = static_cast<long>(::getpid());
  const fs::path tmp = dir / fmt::format(".{}.tmp-{}.png", png_name, id), log = dir / fmt::format(".{}.log-{}", png_name, id);
  std::vector<std::string> argv = {python, script};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--out", tmp.string()});
  std::string err;
  const int status = run_and_wait(argv, log.string(), &err);
  std::error_code ec;
  if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(tmp)) {
    fs::remove(log, ec);
    return tmp;
  }
  if (status >= 0) {
    err = describe_status(status);
    for (const auto& l : last_lines(log, 3)) err += "\n    " + l;
  }
  fs::remove(tmp, ec);
  fs::remove(log, ec);
  spdlog::warn("{} not drawn: {} failed: {} {}", png_name, script, err, hint);
  return {};
}

fs::path draw_table_plot(const std::string& script, const std::string& table_csv, std::vector<std::string> args,
                         const fs::path& dir, const std::string& png_name) {
  const std::string name = fmt::format(".{}.table.csv", png_name);
  commit_files(dir, {{name, table_csv}});
  args.insert(args.begin(), (dir / name).string());
  const fs::path png = draw_plot(script, args, dir, png_name);
  std::error_code ec;
  fs::remove(dir / name, ec);
  return png;
}

}  // namespace chatdc::study
