#include "config/scenario.hpp"

#include "model/dvfs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "core/units.hpp"
#include "core/utf8.hpp"
#include "config/batch_config.hpp"
#include "config/wan_paths.hpp"
#include "workload/trace.hpp"
#include "model/step_model.hpp"

namespace chatdc::config {

namespace fs = std::filesystem;

std::size_t Scenario::datacenter_count() const {
  std::size_t n = 0;
  for (const auto& r : regions) n += r.datacenters.size();
  return n;
}

namespace {

const std::vector<std::string> kWeekdays = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

std::string relative_to(const std::string& scenario_file, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(scenario_file).parent_path() / path).lexically_normal().string();
}

bool has_control_chars(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// A file or folder name: not empty, no control characters (a NUL would cut it short).
std::string path_text(Reader& r, const std::string& key, const std::string& value) {
  if (r.has(key) && (value.empty() || has_control_chars(value))) {
    r.error(key, fmt::format("expected a file or folder name without control characters, got \"{}\"", escaped(value)));
    return "";
  }
  return value;
}

/// A money amount given as <prefix>_usd<suffix> or <prefix>_cny<suffix>, converted to the report currency.
std::optional<double> read_money(Reader& r, const std::string& prefix, const std::string& suffix,
                                 const EconomicsSpec& econ, Range range) {
  const std::string usd = prefix + "_usd" + suffix, cny = prefix + "_cny" + suffix;
  const auto v_usd = r.optional_number(usd, range);
  const auto v_cny = r.optional_number(cny, range);
  if (r.has(usd) && r.has(cny)) {
    r.error(cny, fmt::format("give either {} or {}, not both", usd, cny));
    return std::nullopt;
  }
  if (v_usd) return econ.currency == "USD" ? *v_usd : *v_usd * econ.cny_per_usd;
  if (v_cny) return econ.currency == "CNY" ? *v_cny : *v_cny / econ.cny_per_usd;
  return std::nullopt;
}

/// A number, or a list of 24 numbers (one per local hour).
std::optional<model::DailyCurve> read_daily(Reader& r, const std::string& key, Range range, bool required) {
  if (!r.has(key)) {
    r.accept(key);
    if (required) r.error(key, fmt::format("missing required key (a number {}, or a list of 24 hourly values)", range.describe()));
    return std::nullopt;
  }
  if (r.is_list(key)) {
    auto v = r.numbers(key, 24, range);
    if (!v) return std::nullopt;
    return model::DailyCurve::hourly(*v);
  }
  auto v = r.optional_number(key, range);
  if (!v) return std::nullopt;
  return model::DailyCurve::constant(*v);
}

// Region presets: keys of platforms/regions.yaml entries fill in what a scenario region leaves out.
// Merged into the document before reading, so preset values are validated like the file's; their
// problems are located in regions.yaml. Nothing here assumes the document's shape: a platform, a list of
// regions or a preset that is not what it should be is left alone, for the reader to report.
void apply_region_presets(Document& doc, const std::string& catalog_dir, Diagnostics& diag) {
  // Const access never inserts keys, but gives an invalid node for a missing one: test IsDefined() first.
  const YAML::Node& root = doc.root;
  if (!root.IsDefined() || !root.IsMap()) return;
  const YAML::Node platform = root["platform"];
  if (!platform.IsDefined() || !platform.IsMap()) return;
  YAML::Node regions = platform["regions"];
  if (!regions.IsDefined() || !regions.IsSequence()) return;
  Document presets;
  bool loaded = false;
  for (std::size_t i = 0; i < regions.size(); ++i) {
    YAML::Node region = regions[i];
    const YAML::Node& look = region;
    if (!region.IsMap() || !look["preset"].IsDefined()) continue;
    const std::string path = fmt::format("platform.regions[{}]", i);
    if (!loaded) {
      loaded = true;
      if (!load_shared_document(catalog_dir + "/regions.yaml", &presets, &diag)) return;
      if (const YAML::Node r = static_cast<const YAML::Node&>(presets.root)["regions"]; !r.IsDefined() || !r.IsMap()) {
        diag.add(presets.file, "regions", "missing required section (a map of region presets)");
        return;
      }
    }
    const YAML::Node& all = static_cast<const YAML::Node&>(presets.root)["regions"];
    const YAML::Node id = look["preset"];
    if (!id.IsScalar()) continue;  // the reader reports a preset that is not a name
    const YAML::Node entry = all[id.Scalar()];
    if (!entry.IsDefined() || !entry.IsMap()) {
      std::string ids;
      for (auto it = all.begin(); it != all.end(); ++it) ids += (ids.empty() ? "" : ", ") + it->first.Scalar();
      const std::string where = doc.overrides.count(path + ".preset") ? doc.overrides.at(path + ".preset")
                                : doc.overrides.count(path)              ? doc.overrides.at(path)
                                : id.Mark().line >= 0 ? fmt::format("{}:{}:{}", doc.file, id.Mark().line + 1, id.Mark().column + 1)
                                                      : doc.file;
      diag.add(where, path + ".preset", fmt::format("unknown region preset \"{}\" (platforms/regions.yaml has: {})", id.Scalar(), ids));
      continue;
    }
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      std::string key = it->first.Scalar();
      if (key == "name") key = "description";
      if (look[key].IsDefined()) continue;
      region[key] = YAML::Clone(it->second);
      doc.overrides[path + "." + key] = fmt::format("{}:{}:{} (preset {})", presets.file, it->second.Mark().line + 1,
                                                    it->second.Mark().column + 1, id.Scalar());
    }
  }
}

// One-way latency between two preset regions from platforms/wan_latency.yaml ("-dc-deal" presets share
// their base preset's links).
std::optional<double> preset_latency_ms(const std::string& catalog_dir, std::string a, std::string b) {
  static std::map<std::string, YAML::Node> cache;
  auto base = [](std::string id) {
    const std::string suffix = "-dc-deal";
    if (id.size() > suffix.size() && id.compare(id.size() - suffix.size(), suffix.size(), suffix) == 0)
      id.resize(id.size() - suffix.size());
    return id;
  };
  a = base(a);
  b = base(b);
  if (!cache.count(catalog_dir)) {
    Document doc;
    Diagnostics ignored;  // no usable file: latency_ms is then required on the link, which says so
    cache[catalog_dir] = load_document(catalog_dir + "/wan_latency.yaml", &doc, &ignored) ? doc.root : YAML::Node();
  }
  const YAML::Node& root = cache[catalog_dir];
  if (!root.IsDefined() || !root.IsMap()) return std::nullopt;
  const YAML::Node links = root["links"];
  if (!links.IsDefined() || !links.IsSequence()) return std::nullopt;
  for (const auto& l : links) {
    if (!l.IsMap()) continue;
    const YAML::Node ends = l["between"], ms = l["latency_ms"];
    if (!ends.IsDefined() || !ends.IsSequence() || ends.size() != 2 || !ms.IsDefined() || !ms.IsScalar()) continue;
    const std::string x = ends[0].IsScalar() ? ends[0].Scalar() : "", y = ends[1].IsScalar() ? ends[1].Scalar() : "";
    if (!((x == a && y == b) || (x == b && y == a))) continue;
    const double v = ms.as<double>(-1.0);
    if (std::isfinite(v) && v >= 0 && v <= 1000) return v;
  }
  return std::nullopt;
}

// Cost defaults (platforms/costs.yaml): every key with its value checked against the range of the scenario
// key it stands for, a unit and a source. Problems are located in costs.yaml.
void load_cost_defaults(const std::string& catalog_dir, Scenario& s, Diagnostics& diag) {
  static const std::vector<std::pair<std::string, Range>> kKeys = {
      {"cny_per_usd", Range{0, 1000, true, false}},
      {"depreciation_years", Range{0, 100, true, false}},
      {"maintenance_fraction_per_year", Range::fraction()},
      {"facility_capex_usd_per_kw", Range::between(0, 1e6)},
      {"facility_depreciation_years", Range{0, 100, true, false}},
      {"network_capex_fraction", Range::between(0, 10)},
      {"wan_lease_gbps", Range{0, 1e6, true, false}},
      {"wan_lease_usd_per_gbps_month", Range::between(0, 1e5)},
  };
  Document doc;
  if (!load_shared_document(catalog_dir + "/costs.yaml", &doc, &diag)) return;
  Reader root(doc, diag, YAML::Node(YAML::NodeType::Map));
  root.required_integer("schema_version", Range::between(1, 1));
  Reader costs = root.child("costs", true);
  for (const auto& [key, range] : kKeys) {
    Reader e = costs.child(key, true);
    CostDefault d;
    d.value = e.required_number("value", range);
    d.unit = e.required_text("unit");
    d.source = e.required_text("source");
    if (d.source.empty() && e.has("source")) e.error("source", "expected where the value comes from (or ASSUMPTION: why)");
    e.finish();
    s.cost_defaults[key] = d;
  }
  costs.finish();
  root.finish();
}

/// A cost default's value (0 when costs.yaml could not be read: its problem is reported already).
double cost_default(const Scenario& s, const std::string& key) {
  const auto it = s.cost_defaults.find(key);
  return it == s.cost_defaults.end() ? 0.0 : it->second.value;
}

void review(Scenario& s, const std::string& key, double value, const std::string& unit, const std::string& source) {
  s.defaults_to_review.push_back({key, value, unit, source});
}

/// A default of costs.yaml the scenario left out, for defaults_to_review (value in the report currency).
void review_cost_default(Scenario& s, const std::string& key, const std::string& cost_key, double value,
                         const std::string& unit = "") {
  const auto it = s.cost_defaults.find(cost_key);
  if (it == s.cost_defaults.end()) return;
  review(s, key, value, unit.empty() ? it->second.unit : unit, "platforms/costs.yaml: " + it->second.source);
}

void read_run(Reader r, Scenario& s, double default_offset_h) {
  RunSpec& run = s.run;
  run.duration_s = r.number("duration_h", 24, Range{0, 24 * 28, true, false}) * 3600.0;
  run.sample_period_s = r.number("sample_period_s", 60, Range::between(1, 86400));
  if (run.sample_period_s > run.duration_s)
    r.error("sample_period_s", fmt::format("must not exceed the run's duration ({} s), got {}", run.duration_s, run.sample_period_s));
  run.seed = static_cast<std::uint64_t>(r.integer("seed", 1, Range::between(0, 9e15)));
  run.clock_utc_offset_h = r.number("clock_utc_offset_h", default_offset_h, Range::between(-12, 14));
  const std::string wd = r.text("start_weekday", "monday", kWeekdays);
  run.start_weekday = static_cast<int>(std::find(kWeekdays.begin(), kWeekdays.end(), wd) - kWeekdays.begin());
  run.start_h = r.number("start_h", 0, Range{0, 24, false, true});
  run.output_dir = path_text(r, "output_dir", r.text("output_dir", "results/" + s.name));
  run.percentiles = r.text("percentiles", "auto", {"auto", "exact", "sketch"});
  run.engine = r.text("engine", "day", {"day", "fine"});
  run.request_log = r.text("request_log", "none", {"none", "all", "sample"});
  run.request_log_fraction = r.number("request_log_fraction", 0.01, Range::open_fraction());
  run.timeline_detail = r.text("timeline_detail", "datacenter", {"datacenter", "rack", "server"});
  run.threads = static_cast<unsigned>(r.integer("threads", 0, Range::between(0, 1024)));
  r.finish();
}

void read_economics(Reader& r, Scenario& s) {
  EconomicsSpec& e = s.economics;
  e.currency = r.text("currency", "USD", {"USD", "CNY"});
  e.cny_per_usd = r.number("cny_per_usd", cost_default(s, "cny_per_usd"), Range{0, 1000, true, false});
  e.depreciation_years = r.number("depreciation_years", cost_default(s, "depreciation_years"), Range{0, 100, true, false});
  e.maintenance_fraction_per_year =
      r.number("maintenance_fraction_per_year", cost_default(s, "maintenance_fraction_per_year"), Range::fraction());
  e.network_capex_fraction = r.number("network_capex_fraction", cost_default(s, "network_capex_fraction"), Range::between(0, 10));
  const auto facility = read_money(r, "facility_capex", "_per_kw", e, Range::between(0, 1e6));
  const std::string facility_key = e.currency == "USD" ? "facility_capex_usd_per_kw" : "facility_capex_cny_per_kw";
  e.facility_capex_per_kw = facility.value_or(cost_default(s, "facility_capex_usd_per_kw") * (e.currency == "USD" ? 1 : e.cny_per_usd));
  if (!facility) r.set_resolved(facility_key, format_number(e.facility_capex_per_kw));
  e.facility_depreciation_years =
      r.number("facility_depreciation_years", cost_default(s, "facility_depreciation_years"), Range{0, 100, true, false});
  e.carbon_price_per_t = read_money(r, "carbon_price", "_per_t", e, Range::between(0, 1e5)).value_or(0.0);
  const std::string ownership = r.text("ownership", "own", {"own", "rent"});
  const auto rent = read_money(r, "rent", "_per_gpu_hour", e, Range{0, 1e4, true, false});
  if (ownership == "rent" && !rent) r.error("ownership", "renting needs rent_usd_per_gpu_hour or rent_cny_per_gpu_hour");
  if (ownership == "own" && rent) r.error("ownership", "a rent per GPU-hour needs ownership: rent");
  e.rent_per_gpu_hour = ownership == "rent" ? rent.value_or(0) : 0.0;
  r.accept("electricity_price_usd_per_kwh");
  r.accept("electricity_price_cny_per_kwh");

  // Defaults a planner should review. Renting, the rent replaces capex and maintenance: theirs do not count.
  if (!r.has("cny_per_usd")) review_cost_default(s, "economics.cny_per_usd", "cny_per_usd", e.cny_per_usd);
  if (ownership == "rent") return;
  if (!r.has("depreciation_years"))
    review_cost_default(s, "economics.depreciation_years", "depreciation_years", e.depreciation_years);
  if (!r.has("maintenance_fraction_per_year"))
    review_cost_default(s, "economics.maintenance_fraction_per_year", "maintenance_fraction_per_year",
                        e.maintenance_fraction_per_year);
  if (!r.has("network_capex_fraction"))
    review_cost_default(s, "economics.network_capex_fraction", "network_capex_fraction", e.network_capex_fraction);
  if (!facility)
    review_cost_default(s, "economics." + facility_key, "facility_capex_usd_per_kw", e.facility_capex_per_kw,
                        e.currency + " per kW of IT nameplate");
  if (!r.has("facility_depreciation_years"))
    review_cost_default(s, "economics.facility_depreciation_years", "facility_depreciation_years", e.facility_depreciation_years);
}

// The decode pool of a disaggregated datacenter: what a pool's replica must satisfy (as the prefill
// pool's checks in read_platform, with the decode block's keys).
void check_decode_pool(Reader& dr, const Scenario& s, const DatacenterSpec& dc) {
  const DatacenterSpec::DecodePool& p = *dc.decode;
  const auto where = [](const char* key) { return std::string(key); };
  const int g = dc.server.gpus_per_server, unit_gpus = p.unit_servers > 1 ? p.unit_servers * g : p.tensor_parallel;
  const int slots = s.llm.experts + s.redundant_experts;
  if (p.tensor_parallel > g) {
    dr.error(where("tensor_parallel"), fmt::format("tensor parallelism across servers is not modelled: {} has {} GPUs, got {}",
                                                   dc.server_id, g, p.tensor_parallel));
  } else if (p.unit_servers > p.servers) {
    dr.error(where("unit_servers"), fmt::format("a decode unit of {} servers is larger than the decode pool ({} servers)",
                                                p.unit_servers, p.servers));
  } else if (p.unit_servers > 1 && !s.llm.is_moe()) {
    dr.error(where("unit_servers"), fmt::format("a unit spanning servers serves a mixture-of-experts LLM by data and expert "
                                                "parallelism; {} is dense, got {}", s.llm.id, p.unit_servers));
  } else if (p.unit_servers > 1 && p.expert_parallel != unit_gpus) {
    dr.error(where("expert_parallel"), fmt::format("a unit spanning servers spreads the experts over all its GPUs: expected {} "
                                                   "(decode.unit_servers {} x {} GPUs), got {}",
                                                   unit_gpus, p.unit_servers, g, p.expert_parallel));
  } else if (unit_gpus % p.tensor_parallel != 0 || unit_gpus % p.expert_parallel != 0) {
    dr.error(where("expert_parallel"), fmt::format("tensor_parallel {} and expert_parallel {} must divide the decode replica's "
                                                   "{} GPUs", p.tensor_parallel, p.expert_parallel, unit_gpus));
  } else if (p.expert_parallel > 1 && (!s.llm.is_moe() || slots % p.expert_parallel != 0)) {
    dr.error(where("expert_parallel"), fmt::format("expert_parallel {} must divide the experts: {} has {} routed experts + {} "
                                                   "redundant = {} expert slots",
                                                   p.expert_parallel, s.llm.id, s.llm.experts, s.redundant_experts, slots));
  } else {
    const DatacenterSpec d = dc.as_decode_pool();
    const double kv = model::kv_capacity_tokens(dc.gpu, s.llm, d.parallelism(s.redundant_experts), s.memory_headroom_fraction);
    if (kv < s.llm.max_context_tokens)
      dr.error(where("tensor_parallel"), fmt::format("the decode replica ({} x {}) leaves room for {:.0f} KV tokens, less than "
                                                     "one {}-token context", unit_gpus, dc.gpu.name, std::max(0.0, kv),
                                                     s.llm.max_context_tokens));
  }
}

NetworkSpec read_network(Reader r, double nic_gbps) {
  NetworkSpec n;
  n.server_gbps = r.number("server_gbps", nic_gbps, Range{0, 1e5, true, false});
  n.rack_uplink_gbps = r.number("rack_uplink_gbps", n.rack_uplink_gbps, Range{0, 1e6, true, false});
  n.spine_gbps = r.number("spine_gbps", n.spine_gbps, Range{0, 1e8, true, false});
  n.hop_latency_us = r.number("hop_latency_us", n.hop_latency_us, Range::between(0, 1e6));
  n.rdma_efficiency = r.number("rdma_efficiency", n.rdma_efficiency, Range{0, 1, false, true});
  r.finish();
  return n;
}

int default_tensor_parallel(const model::LlmSpec& llm, const model::GpuSpec& gpu, int gpus_per_server, double headroom) {
  for (int tp = 1; tp <= gpus_per_server; tp *= 2) {
    // Weights must leave at least a tenth of the usable memory for the KV cache.
    const double usable = tp * gpu.memory_gb * 1e9 * (1 - headroom);
    if (llm.weight_bytes() <= 0.9 * usable) return tp;
  }
  return gpus_per_server;
}

void read_platform(Reader r, Scenario& s, std::optional<double> default_price, std::optional<int> model_tp) {
  std::set<std::string> region_names, dc_names;
  for (Reader& rr : r.children("regions", true)) {
    RegionSpec region;
    region.name = rr.required_text("name");
    if (!region.name.empty() && !region_names.insert(region.name).second)
      rr.error("name", fmt::format("duplicate region name \"{}\"", region.name));
    region.preset = rr.optional_text("preset").value_or("");
    region.description = rr.optional_text("description").value_or("");
    rr.optional_text("country");
    rr.optional_text("hub");
    if (rr.has("location")) {
      Reader loc = rr.child("location");
      loc.required_number("lat", Range::between(-90, 90));
      loc.required_number("lon", Range::between(-180, 180));
      loc.finish();
    } else {
      rr.accept("location");
    }
    region.utc_offset_h = rr.required_number("utc_offset_h", Range::between(-12, 14));
    region.demand_charge_per_kw_month =
        read_money(rr, "capacity_charge", "_per_kw_month", s.economics, Range::between(0, 1e4)).value_or(0.0);
    region.pue = read_daily(rr, "pue", Range::between(1, 5), true).value_or(model::DailyCurve::constant(1));
    region.carbon_kg_per_kwh =
        read_daily(rr, "carbon_kg_per_kwh", Range::between(0, 2), true).value_or(model::DailyCurve::constant(0));
    region.green_share = rr.number("green_share", 0, Range::fraction());
    const auto green_price = read_money(rr, "green_certificate", "_per_kwh", s.economics, Range::between(0, 1));
    if (region.green_share > 0 && !green_price)
      rr.error("green_share", fmt::format("{} of the supply is green: give its price, green_certificate_cny_per_kwh or "
                                          "green_certificate_usd_per_kwh (0 if the tariff includes it)", format_number(region.green_share)));
    region.green_certificate_per_kwh = green_price.value_or(0);

    // Electricity: the region's tariff, else economics.electricity_price_*.
    Reader tariff = rr.child("tariff");
    if (rr.has("tariff")) {
      const std::string type = tariff.required_text("type", {"flat", "time_of_use"});
      if (type == "flat") {
        auto p = read_money(tariff, "price", "_per_kwh", s.economics, Range::between(0, 100));
        if (!p) tariff.error("", "a flat tariff needs price_usd_per_kwh or price_cny_per_kwh");
        region.price_per_kwh = model::DailyCurve::constant(p.value_or(0));
      } else {
        std::map<std::string, double> by_period;
        const bool usd = tariff.has("prices_usd_per_kwh"), cny = tariff.has("prices_cny_per_kwh");
        if (usd == cny) tariff.error("prices_cny_per_kwh", "give exactly one of prices_cny_per_kwh or prices_usd_per_kwh "
                                                          "(a map from period name to price)");
        Reader prices = tariff.child(usd ? "prices_usd_per_kwh" : "prices_cny_per_kwh");
        tariff.accept("prices_usd_per_kwh");
        tariff.accept("prices_cny_per_kwh");
        for (const std::string& period : prices.keys()) {
          double v = prices.required_number(period, Range::between(0, 100));
          if (usd && s.economics.currency == "CNY") v *= s.economics.cny_per_usd;
          if (!usd && s.economics.currency == "USD") v /= s.economics.cny_per_usd;
          by_period[period] = v;
        }
        prices.finish();
        const std::string def = tariff.required_text("default_period");
        if (!def.empty() && !by_period.count(def))
          tariff.error("default_period", fmt::format("\"{}\" is not a period listed under prices", def));
        std::vector<double> hour_value(24 * 60, by_period.count(def) ? by_period[def] : 0.0);  // per minute
        std::vector<int> owner(24 * 60, -1);
        int wi = 0;
        for (Reader& w : tariff.children("windows", true)) {
          const std::string period = w.required_text("period");
          const double from = w.required_number("from_h", Range{0, 24, false, true});
          const double to = w.required_number("to_h", Range{0, 24, true, false});
          w.finish();
          if (!period.empty() && !by_period.count(period)) {
            w.error("period", fmt::format("\"{}\" is not a period listed under prices", period));
            continue;
          }
          if (std::fabs(from * 60 - std::round(from * 60)) > 1e-6 || std::fabs(to * 60 - std::round(to * 60)) > 1e-6) {
            w.error("from_h", "window edges must fall on whole minutes");
            continue;
          }
          const int a = static_cast<int>(std::lround(from * 60)), b = static_cast<int>(std::lround(to * 60));
          if (a == b % 1440) {
            w.error("to_h", "a window must not be empty or cover the whole day (use default_period)");
            continue;
          }
          for (int m = a; m != b % 1440; m = (m + 1) % 1440) {  // windows may wrap past midnight
            if (owner[m] >= 0) {
              w.error("from_h", fmt::format("overlaps window {} at {:02d}:{:02d}", owner[m], m / 60, m % 60));
              break;
            }
            owner[m] = wi;
            hour_value[m] = by_period[period];
          }
          ++wi;
        }
        std::vector<model::DailyCurve::Segment> segs;
        for (int m = 0; m < 1440; ++m)
          if (m == 0 || hour_value[m] != hour_value[m - 1]) segs.push_back({m / 60.0, hour_value[m]});
        region.price_per_kwh = model::DailyCurve(segs);
      }
      tariff.finish();
    } else if (default_price) {
      region.price_per_kwh = model::DailyCurve::constant(*default_price);
    } else {
      rr.error("tariff", "no electricity price: give this region a tariff, or set economics.electricity_price_usd_per_kwh "
                         "(or _cny_per_kwh) for every region");
    }

    // Region keys a preset filled in: defaults to review (daily means of hourly values).
    {
      const auto& ov = rr.document().overrides;
      const auto preset_key = [&](const std::string& key) -> std::string {
        const auto it = ov.find(rr.key_path(key));
        return it != ov.end() && it->second.find("(preset ") != std::string::npos ? it->second : "";
      };
      const std::string at = "platform.regions[" + region.name + "].";
      const bool rent = s.economics.rent_per_gpu_hour > 0;
      const auto day_mean = [](const model::DailyCurve& c) { return c.mean(0, 86400, 0); };
      if (const std::string w = preset_key("tariff"); !w.empty() && !rent)
        review(s, at + "tariff", day_mean(region.price_per_kwh), s.economics.currency + " per kWh (daily mean of the tariff)",
               "platforms/regions.yaml preset " + region.preset);
      if (const std::string w = preset_key("pue"); !w.empty())
        review(s, at + "pue", day_mean(region.pue), "facility / IT energy (daily mean)", "platforms/regions.yaml preset " + region.preset);
      for (const char* key : {"capacity_charge_cny_per_kw_month", "capacity_charge_usd_per_kw_month"})
        if (const std::string w = preset_key(key); !w.empty() && !rent)
          review(s, at + key, region.demand_charge_per_kw_month, s.economics.currency + " per kW-month of peak facility power",
                 "platforms/regions.yaml preset " + region.preset);
    }

    for (Reader& dr : rr.children("datacenters", true)) {
      DatacenterSpec dc;
      dc.name = dr.required_text("name");
      if (!dc.name.empty() && !dc_names.insert(dc.name).second)
        dr.error("name", fmt::format("duplicate datacenter name \"{}\"", dc.name));
      dc.server_id = dr.required_text("server");
      bool known = s.catalog.servers.count(dc.server_id) > 0;
      if (!dc.server_id.empty() && !known) {
        std::string ids;
        for (const auto& [id, _] : s.catalog.servers) ids += (ids.empty() ? "" : ", ") + id;
        dr.error("server", fmt::format("unknown server \"{}\" (catalog has: {})", dc.server_id, ids));
      }
      if (known) {
        dc.server = s.catalog.servers.at(dc.server_id);
        if (const model::GpuSpec* g = gpu_for_engine(s.catalog, dc.server.gpu, s.engine)) {
          dc.gpu = *g;
        } else if (s.catalog.gpus.count(dc.server.gpu)) {
          dr.error("server", fmt::format("its GPU {} has no efficiency profile for serving engine \"{}\" (serving.engine); "
                                         "profiles: {}", dc.server.gpu, s.engine, engines_of(s.catalog, dc.server.gpu)));
          known = false;
        }
      }
      dc.racks = static_cast<int>(dr.required_integer("racks", Range::between(1, 100000)));
      dc.servers_per_rack = static_cast<int>(dr.required_integer("servers_per_rack", Range::between(1, 1024)));
      const int def_tp = model_tp.value_or(known ? default_tensor_parallel(s.llm, dc.gpu, dc.server.gpus_per_server,
                                                                          s.memory_headroom_fraction)
                                                 : 1);
      dc.tensor_parallel = static_cast<int>(dr.integer("tensor_parallel", def_tp, Range::between(1, 64)));
      dc.unit_servers = static_cast<int>(dr.integer("unit_servers", 1, Range::between(1, 1024)));
      const int def_ep = dc.unit_servers > 1 ? dc.unit_servers * dc.server.gpus_per_server : s.expert_parallel;
      dc.expert_parallel = static_cast<int>(dr.integer("expert_parallel", def_ep, Range::between(1, 8192)));
      const double capex_default =
          s.economics.currency == "USD" ? dc.server.capex_usd : dc.server.capex_usd * s.economics.cny_per_usd;
      dc.server_capex = read_money(dr, "server_capex", "", s.economics, Range::between(0, 1e8)).value_or(capex_default);
      if (!dr.has("server_capex_usd") && !dr.has("server_capex_cny")) {
        const std::string key = s.economics.currency == "USD" ? "server_capex_usd" : "server_capex_cny";
        dr.set_resolved(key, format_number(dc.server_capex));
        if (known && s.economics.rent_per_gpu_hour <= 0)
          review(s, "platform.regions[" + region.name + "].datacenters[" + dc.name + "]." + key, dc.server_capex,
                 s.economics.currency + " per server", "platforms/servers.yaml servers." + dc.server_id + ".capex_usd" +
                 (s.economics.currency == "USD" ? "" : " at economics.cny_per_usd"));
      }
      dc.network = read_network(dr.child("network"), dc.server.nic_gbps);
      if (dr.has("decode")) {  // prefill/decode disaggregation: the decode pool
        Reader pr = dr.child("decode");
        DatacenterSpec::DecodePool pool;
        const int all = dc.servers();
        if (pr.has("servers") && pr.has("server_share"))
          pr.error("server_share", "give the decode pool's servers or its server_share, not both");
        pr.accept("servers");  // one of the two is read; both are valid keys
        pr.accept("server_share");
        pool.unit_servers = static_cast<int>(pr.integer("unit_servers", 1, Range::between(1, 1024)));
        if (pr.has("server_share")) {  // rounded to whole decode units
          const double share = pr.number("server_share", 0.5, Range{0, 1, true, true});
          pool.servers = static_cast<int>(std::lround(share * all / pool.unit_servers)) * pool.unit_servers;
        } else {
          pool.servers = static_cast<int>(pr.required_integer("servers", Range::between(1, 100000 * 1024)));
        }
        // Defaults as for a datacenter: a unit spreads attention (tp 1) and experts over all its GPUs; a
        // replica inside one server takes the model's (or the fitting) tensor and expert parallelism.
        const int pool_tp = pool.unit_servers > 1 ? 1 : dc.unit_servers > 1 ? def_tp : dc.tensor_parallel;
        pool.tensor_parallel = static_cast<int>(pr.integer("tensor_parallel", pool_tp, Range::between(1, 64)));
        const int pool_ep = pool.unit_servers > 1 ? pool.unit_servers * dc.server.gpus_per_server : s.expert_parallel;
        pool.expert_parallel = static_cast<int>(pr.integer("expert_parallel", pool_ep, Range::between(1, 8192)));
        // A decode unit batches all its attention groups' sequences: DeepSeek runs about 88 per GPU on 144 GPUs.
        pool.max_batch_size = static_cast<std::uint32_t>(
            pr.integer("max_batch_size", s.scheduler.max_batch_size, Range::between(1, 65536)));
        if (pool.servers >= all)
          pr.error(pr.has("server_share") ? "server_share" : "servers",
                   fmt::format("a decode pool needs a prefill pool beside it: {} decode servers leave none of the "
                               "datacenter's {} ({} racks x {}) to prefill",
                               pool.servers, all, dc.racks, dc.servers_per_rack));
        else if (pool.servers < 1)
          pr.error("server_share", fmt::format("leaves no decode unit of {} servers in the datacenter's {}", pool.unit_servers, all));
        else if (pool.servers % pool.unit_servers != 0)
          pr.error("servers", fmt::format("the decode pool's {} servers are not a whole number of its units of {} servers "
                                          "(decode.unit_servers)", pool.servers, pool.unit_servers));
        dc.decode = pool;
        if (known && !s.llm.id.empty() && pool.servers >= 1 && pool.servers < all) check_decode_pool(pr, s, dc);
        pr.finish();
      }
      if (auto table = dr.optional_text("step_table")) {
        dc.step_table_file = relative_to(dr.document().file, *table);
        dc.step_table_where = dr.where("step_table");
        dr.set_resolved("step_table", fs::absolute(dc.step_table_file).lexically_normal().string());
        try {
          dc.step_table = std::make_shared<const model::StepTable>(model::load_step_table(dc.step_table_file));
        } catch (const Error& e) {
          dr.error("step_table", e.what());
        }
      }
      dr.finish();

      if (known && !s.llm.id.empty()) {
        const int unit_gpus = dc.replica_gpus();
        const int slots = s.llm.experts + s.redundant_experts;
        if (dc.tensor_parallel > dc.server.gpus_per_server) {
          dr.error("tensor_parallel",
                   dc.unit_servers > 1
                       ? fmt::format("tensor parallelism across servers is not modelled: {} has {} GPUs, got tensor_parallel "
                                     "{}; a unit of unit_servers {} spans servers by data and expert parallelism only",
                                     dc.server_id, dc.server.gpus_per_server, dc.tensor_parallel, dc.unit_servers)
                       : fmt::format("a replica must fit in one server: {} has {} GPUs, got tensor_parallel {} (a replica "
                                     "spanning servers needs unit_servers, with data and expert parallelism)",
                                     dc.server_id, dc.server.gpus_per_server, dc.tensor_parallel));
        } else if (dc.unit_servers > dc.prefill_servers()) {
          dr.error("unit_servers",
                   dc.decode ? fmt::format("a deployment unit of {} servers is larger than the prefill pool ({} of the "
                                           "datacenter's {} servers, the others decoding)",
                                           dc.unit_servers, dc.prefill_servers(), dc.servers())
                             : fmt::format("a deployment unit of {} servers is larger than the datacenter ({} racks x {} "
                                           "servers = {} servers)",
                                           dc.unit_servers, dc.racks, dc.servers_per_rack, dc.servers()));
        } else if (dc.unit_servers > 1 && dc.prefill_servers() % dc.unit_servers != 0) {
          dr.error("unit_servers",
                   dc.decode ? fmt::format("the prefill pool's {} servers (the datacenter's {} less {} decoding) are not a "
                                           "whole number of units of {} servers",
                                           dc.prefill_servers(), dc.servers(), dc.decode->servers, dc.unit_servers)
                             : fmt::format("the datacenter's {} servers ({} racks x {}) are not a whole number of units "
                                           "of {} servers",
                                           dc.servers(), dc.racks, dc.servers_per_rack, dc.unit_servers));
        } else if (dc.unit_servers > 1 && !s.llm.is_moe()) {
          dr.error("unit_servers", fmt::format("a unit spanning servers serves a mixture-of-experts LLM by data and expert "
                                               "parallelism; {} is dense, got {}",
                                               s.llm.id, dc.unit_servers));
        } else if (dc.unit_servers > 1 && unit_gpus % dc.tensor_parallel != 0) {
          dr.error("tensor_parallel", fmt::format("must divide the unit's {} GPUs, got {}", unit_gpus, dc.tensor_parallel));
        } else if (dc.unit_servers > 1 && dc.expert_parallel != unit_gpus) {
          dr.error("expert_parallel", fmt::format("a unit spanning servers spreads the experts over all its GPUs: expected {} "
                                                  "(unit_servers {} x {} GPUs), got {}",
                                                  unit_gpus, dc.unit_servers, dc.server.gpus_per_server, dc.expert_parallel));
        } else if (unit_gpus % dc.expert_parallel != 0) {
          if (dr.has("expert_parallel"))
            dr.error("expert_parallel", fmt::format("must divide the replica's {} GPUs, got {}", unit_gpus, dc.expert_parallel));
          else
            dr.error("tensor_parallel", fmt::format("model.expert_parallel {} must divide the replica's GPUs, got tensor_parallel {}",
                                                    dc.expert_parallel, dc.tensor_parallel));
        } else if (dc.expert_parallel > 1 && (!s.llm.is_moe() || slots % dc.expert_parallel != 0)) {
          dr.error(dr.has("expert_parallel") ? "expert_parallel" : "unit_servers",
                   fmt::format("expert_parallel {} must divide the experts: {} has {} routed experts + {} redundant "
                               "(model.redundant_experts) = {} expert slots",
                               dc.expert_parallel, s.llm.id, s.llm.experts, s.redundant_experts, slots));
        } else {
          const double kv = model::kv_capacity_tokens(dc.gpu, s.llm, dc.parallelism(s.redundant_experts),
                                                      s.memory_headroom_fraction);
          if (kv < s.llm.max_context_tokens)
            dr.error("tensor_parallel",
                     fmt::format("{} ({} weights, {:.0f} GB) leaves room for {:.0f} KV tokens on {} x {} with {:.0f}% memory "
                                 "headroom, less than one {}-token context: raise tensor_parallel, quantise the weights "
                                 "(model.weight_dtype) or use a GPU with more memory",
                                 s.llm.id, model::dtype_name(s.llm.weight_dtype), s.llm.weight_bytes() / 1e9,
                                 std::max(0.0, kv), unit_gpus, dc.gpu.name, 100 * s.memory_headroom_fraction,
                                 s.llm.max_context_tokens));
        }
      }
      region.datacenters.push_back(dc);
    }
    rr.finish();
    s.regions.push_back(std::move(region));
  }

  std::size_t n_dcs = 0;
  for (const auto& reg : s.regions) n_dcs += reg.datacenters.size();
  if (!s.regions.empty() && n_dcs == 0) r.error("regions", "no datacenter: at least one region needs datacenters");
  if (s.regions.size() > kMaxRegions) r.error("regions", fmt::format("expected at most {} regions, got {}", kMaxRegions, s.regions.size()));
  if (n_dcs > kMaxDatacenters) r.error("regions", fmt::format("expected at most {} datacenters, got {}", kMaxDatacenters, n_dcs));
  std::set<std::pair<std::uint32_t, std::uint32_t>> pairs;
  for (Reader& wr : r.children("wan_links")) {
    WanLinkSpec w;
    if (auto ends = wr.texts("between", 2)) {
      w.from = (*ends)[0];
      w.to = (*ends)[1];
      auto index_of = [&](const std::string& name) -> std::optional<std::uint32_t> {
        for (std::uint32_t i = 0; i < s.regions.size(); ++i)
          if (s.regions[i].name == name) return i;
        wr.error("between", fmt::format("\"{}\" is not a region under platform.regions", name));
        return std::nullopt;
      };
      const auto a = index_of(w.from), b = index_of(w.to);
      if (a && b) {
        w.from_index = *a;
        w.to_index = *b;
        if (*a == *b) wr.error("between", "a WAN link joins two different regions");
        else if (!pairs.insert({std::min(*a, *b), std::max(*a, *b)}).second)
          wr.error("between", fmt::format("a second link between {} and {}", w.from, w.to));
      }
    } else if (!wr.has("between")) {
      wr.error("between", "missing required key (two region names, e.g. between: [shanghai, ningxia])");
    }
    std::optional<double> from_presets;
    if (!wr.has("latency_ms") && !w.from.empty() && !w.to.empty() && w.from_index < s.regions.size() &&
        w.to_index < s.regions.size() && !s.regions[w.from_index].preset.empty() && !s.regions[w.to_index].preset.empty())
      from_presets = preset_latency_ms(s.catalog.dir, s.regions[w.from_index].preset, s.regions[w.to_index].preset);
    if (from_presets) {
      w.latency_ms = wr.number("latency_ms", *from_presets, Range::between(0, 1000));
    } else {
      w.latency_ms = wr.required_number("latency_ms", Range::between(0, 1000));
    }
    w.bandwidth_gbps = wr.number("bandwidth_gbps", 400, Range{0, 1e6, true, false});
    w.cost_per_gb = read_money(wr, "cost", "_per_gb", s.economics, Range::between(0, 1000)).value_or(0.0);
    // Leased capacity: cost_*_per_day, or lease_gbps x the price per Gbps-month (costs.yaml's when not given).
    const auto per_day = read_money(wr, "cost", "_per_day", s.economics, Range::between(0, 1e8));
    const auto lease_price = read_money(wr, "lease", "_per_gbps_month", s.economics, Range::between(0, 1e5));
    const bool gbps_given = wr.has("lease_gbps");
    const double lease_gbps = wr.optional_number("lease_gbps", Range{0, 1e6, true, false})
                                  .value_or(std::min(cost_default(s, "wan_lease_gbps"), w.bandwidth_gbps));
    if (per_day && (lease_price || gbps_given)) {
      wr.error(wr.has("cost_usd_per_day") ? "cost_usd_per_day" : "cost_cny_per_day",
               "give the leased line's cost per day or its lease (lease_gbps, lease_*_per_gbps_month), not both");
    } else if (lease_gbps > w.bandwidth_gbps) {
      wr.error("lease_gbps", fmt::format("expected at most the link's bandwidth_gbps ({}), got {}", format_number(w.bandwidth_gbps),
                                         format_number(lease_gbps)));
    }
    const std::string lease_key = s.economics.currency == "USD" ? "lease_usd_per_gbps_month" : "lease_cny_per_gbps_month";
    const double price = lease_price.value_or(cost_default(s, "wan_lease_usd_per_gbps_month") *
                                              (s.economics.currency == "USD" ? 1 : s.economics.cny_per_usd));
    // Charged only where a route crosses the link: by default when the lease is costs.yaml's (neither cost
    // nor lease given); the resolved scenario writes the choice, so that it reads back the same.
    w.lease_default = wr.boolean("lease_if_used", !per_day && !gbps_given && !lease_price);
    if (!wr.has("lease_if_used")) wr.set_resolved("lease_if_used", w.lease_default);
    if (per_day) {
      w.cost_per_day = *per_day;
    } else {
      w.cost_per_day = lease_gbps * price / kDaysPerMonth;
      if (!gbps_given) wr.set_resolved("lease_gbps", format_number(lease_gbps));
      if (!lease_price) wr.set_resolved(lease_key, format_number(price));
      const std::string at = fmt::format("platform.wan_links[{}].", s.wan.size());
      if (!gbps_given) review_cost_default(s, at + "lease_gbps", "wan_lease_gbps", lease_gbps);
      if (!lease_price)
        review_cost_default(s, at + lease_key, "wan_lease_usd_per_gbps_month", price,
                            s.economics.currency + " per Gbps per month");
    }
    wr.finish();
    s.wan.push_back(w);
  }
  s.wan_bytes_per_token = r.number("wan_bytes_per_token", s.wan_bytes_per_token, Range::between(0, 1e6));
  s.wan_bytes_per_request = r.number("wan_bytes_per_request", s.wan_bytes_per_request, Range::between(0, 1e9));
  // Every region must reach every other one: any request may be routed to any datacenter.
  if (s.regions.size() > 1 && s.regions.size() <= kMaxRegions) {
    const auto paths = wan_paths(s.regions.size(), s.wan);
    for (std::size_t b = 1; b < s.regions.size(); ++b)
      if (!paths[0][b])
        r.error("wan_links", fmt::format("region \"{}\" is not connected to region \"{}\": add wan_links so that "
                                         "every region can reach every other one", s.regions[b].name, s.regions[0].name));
  }
  r.finish();
}

workload::TraceFormat read_format(Reader& r, const std::string& key, bool required) {
  static const std::vector<std::string> kFormats = {"azure", "mooncake", "servegen", "csv"};
  const std::string f = required ? r.required_text(key, kFormats) : r.text(key, "azure", kFormats);
  return f == "mooncake" ? workload::TraceFormat::kMooncake
         : f == "servegen" ? workload::TraceFormat::kServeGen
         : f == "csv" ? workload::TraceFormat::kCsv
                      : workload::TraceFormat::kAzure;
}

void read_csv_columns(Reader& r, workload::CsvColumns* c) {
  Reader cols = r.child("columns");
  c->time = cols.text("time", c->time);
  c->prompt = cols.text("prompt", c->prompt);
  c->output = cols.text("output", c->output);
  const std::string unit = cols.text("time_unit", "s", {"s", "ms", "us", "datetime"});
  c->unit = unit == "ms" ? workload::CsvColumns::TimeUnit::kMilliseconds
            : unit == "us" ? workload::CsvColumns::TimeUnit::kMicroseconds
            : unit == "datetime" ? workload::CsvColumns::TimeUnit::kDatetime
                                 : workload::CsvColumns::TimeUnit::kSeconds;
  cols.finish();
}

// Every prompt or output length of a trace file, for an empirical token distribution.
std::vector<std::uint32_t> trace_column(Reader& r, const std::string& file, workload::TraceFormat format,
                                        const workload::CsvColumns& cols, bool prompt) {
  std::vector<std::uint32_t> out;
  try {
    workload::TraceOptions o;
    o.format = format;
    o.path = file;
    o.csv = cols;
    o.duration_s = 1e15;
    workload::TraceSource src(o);
    while (src.peek_time() < workload::RequestSource::kNever) {
      const auto q = src.pop();
      out.push_back(prompt ? q.prompt_tokens : q.output_tokens);
      if (static_cast<double>(out.size()) > kMaxEmpiricalSamples)
        throw Error(fmt::format("{}: more than {:.0e} requests; an empirical distribution keeps at most that many lengths "
                                "(use a sample of the trace)", file, kMaxEmpiricalSamples));
    }
  } catch (const Error& e) {
    r.error("file", e.what());
  }
  return out;
}

workload::TokenDist read_tokens(Reader r, const Scenario& s, const std::string& which, double max_default) {
  workload::TokenDist d;
  const std::string kind = r.required_text("distribution", {"fixed", "lognormal", "empirical"});
  const bool output = which == "output";
  if (kind == "fixed") {
    d.kind = workload::TokenDist::Kind::kFixed;
    d.value = static_cast<double>(r.required_integer("value", Range::between(output ? 1 : 0, kMaxTokens)));
  } else if (kind == "lognormal") {
    d.kind = workload::TokenDist::Kind::kLognormal;
    d.median = r.required_number("median", Range{0, kMaxTokens, true, false});
    d.sigma = r.required_number("sigma", Range::between(0, 5));
  } else if (kind == "empirical") {
    // Lengths observed in a trace: {file, format, field: prompt|output, columns (csv)}.
    d.kind = workload::TokenDist::Kind::kEmpirical;
    const std::string file = relative_to(s.file, path_text(r, "file", r.required_text("file")));
    const auto format = read_format(r, "format", true);
    workload::CsvColumns cols;
    if (format == workload::TraceFormat::kCsv) read_csv_columns(r, &cols);
    const bool prompt = r.text("field", output ? "output" : "prompt", {"prompt", "output"}) == "prompt";
    if (format == workload::TraceFormat::kServeGen) r.error("format", "ServeGen traces carry no token counts");
    else if (!file.empty()) d.samples = trace_column(r, file, format, cols, prompt);
    if (d.samples.empty() && r.has("file")) r.error("file", "no token counts found");
  }
  d.min_tokens = static_cast<std::uint32_t>(r.integer("min", 1, Range::between(output ? 1 : 0, kMaxTokens)));
  d.max_tokens = static_cast<std::uint32_t>(r.integer("max", static_cast<std::int64_t>(max_default), Range::between(1, kMaxTokens)));
  if (d.min_tokens > d.max_tokens) r.error("min", fmt::format("must not exceed max ({}), got {}", d.max_tokens, d.min_tokens));
  r.finish();
  return d;
}

// Seconds, as a distribution ({distribution: fixed|lognormal, ...}); reuses the token reader's shapes.
workload::TokenDist read_duration(Reader r, double default_median) {
  workload::TokenDist d;
  const std::string kind = r.text("distribution", "lognormal", {"fixed", "lognormal"});
  if (kind == "fixed") {
    d.value = r.required_number("value", Range::between(0, kMaxDurationS));
  } else {
    d.kind = workload::TokenDist::Kind::kLognormal;
    d.median = r.number("median", default_median, Range{0, kMaxDurationS, true, false});
    d.sigma = r.number("sigma", 1.0, Range::between(0, 5));
  }
  d.min_tokens = 0;
  d.max_tokens = static_cast<std::uint32_t>(r.integer("max", 3600, Range::between(1, kMaxDurationS)));
  r.finish();
  return d;
}

void read_profiles(std::map<std::string, std::vector<double>>* out, Diagnostics& diag) {
  Document doc;
  const std::string file = data_dir() + "/workloads/profiles.yaml";
  if (!load_shared_document(file, &doc, &diag)) return;
  YAML::Node scratch(YAML::NodeType::Map);
  Reader root(doc, diag, scratch);
  root.required_integer("schema_version", Range::between(1, 1));
  Reader profiles = root.child("profiles", true);
  for (const std::string& name : profiles.keys()) {
    Reader p = profiles.child(name);
    if (auto v = p.numbers("hourly", 24, Range::between(0, 1e9))) (*out)[name] = *v;
    else if (!p.has("hourly")) p.error("hourly", "missing required key (24 numbers)");
    p.finish();
  }
  profiles.finish();
  root.finish();
}

// A 24-value hour-of-day profile: a preset name or 24 numbers; nullopt when the key is absent.
std::optional<std::array<double, 24>> read_profile(Reader& r, const std::string& key,
                                                   const std::map<std::string, std::vector<double>>& presets,
                                                   const std::string& default_preset, std::string* name) {
  std::vector<double> v;
  if (r.is_list(key)) {
    if (auto got = r.numbers(key, 24, Range::between(0, 1e9))) v = *got;
    *name = "custom";
  } else if (r.has(key) || !default_preset.empty()) {
    std::vector<std::string> names;
    for (const auto& [n, _] : presets) names.push_back(n);
    *name = r.text(key, default_preset, names);
    if (presets.count(*name)) v = presets.at(*name);
  } else {
    r.accept(key);
    return std::nullopt;
  }
  if (v.empty()) return std::array<double, 24>{};
  double sum = 0;
  for (double x : v) sum += x;
  if (sum <= 0) r.error(key, "needs at least one positive hour");
  std::array<double, 24> out{};
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

// requests_per_day, or daily_users x queries_per_user; nullopt when neither is given.
std::optional<double> read_demand(Reader& r) {
  const auto rpd = r.optional_number("requests_per_day", Range::between(0, workload::kMaxRequestsPerDay));
  const auto users = r.optional_number("daily_users", Range::between(0, 1e10));
  const auto qpu = r.optional_number("queries_per_user", Range{0, 1e4, true, false});
  if (rpd && (users || qpu)) r.error("requests_per_day", "give requests_per_day or daily_users x queries_per_user, not both");
  if (users.has_value() != qpu.has_value())
    r.error(users ? "queries_per_user" : "daily_users", "daily_users and queries_per_user go together");
  if (rpd) return rpd;
  if (users && qpu) return *users * *qpu;
  return std::nullopt;
}

void read_workload(Reader r, Scenario& s) {
  WorkloadSpec& w = s.workload;
  w.source = r.text("source", "synthetic", {"synthetic", "trace"});
  const bool trace = w.source == "trace";
  std::map<std::string, std::vector<double>> presets;
  read_profiles(&presets, r.diagnostics());
  const double max_tokens = s.llm.max_context_tokens;

  std::optional<double> total;
  std::string trace_where;
  const std::size_t problems_before = r.diagnostics().size();
  if (!trace) {
    total = read_demand(r);
    w.demand_multiplier = r.number("demand_multiplier", 1, Range{0, 100, true, false});
    if (auto p = read_profile(r, "hourly_profile", presets, "servegen-m-large", &w.hourly_profile_name)) w.hourly_profile = *p;
    if (auto dow = r.numbers("day_of_week", 7, Range::between(0, 100))) std::copy(dow->begin(), dow->end(), w.day_of_week.begin());
    Reader arrival = r.child("arrival");
    const std::string process = arrival.text("process", "poisson", {"poisson", "gamma", "weibull"});
    w.renewal.kind = process == "poisson" ? workload::Renewal::Kind::kPoisson
                     : process == "gamma" ? workload::Renewal::Kind::kGamma
                                          : workload::Renewal::Kind::kWeibull;
    w.renewal.cv = arrival.number("cv", 1.0, Range{0.05, 20, false, false});
    if (process == "poisson" && arrival.has("cv") && std::fabs(w.renewal.cv - 1) > 1e-12)
      arrival.error("cv", "a Poisson process has cv = 1; use process: gamma or weibull for another cv");
    arrival.finish();
  } else {
    if (r.has("demand_multiplier")) r.error("demand_multiplier", "a trace sets the demand: scale it with workload.trace.rate_scale");
    r.accept("demand_multiplier");
    Reader t = r.child("trace", true);
    workload::TraceOptions& o = w.trace;
    o.format = read_format(t, "format", true);
    o.path = relative_to(s.file, path_text(t, "path", t.required_text("path")));
    trace_where = t.where("path");
    if (o.format == workload::TraceFormat::kCsv) read_csv_columns(t, &o.csv);
    o.time_scale = t.number("time_scale", 1, Range{0, 1e6, true, false});
    o.rate_scale = t.number("rate_scale", 1, Range{0, 1000, true, false});
    o.start_offset_s = t.number("start_offset_s", 0, Range{0, s.run.duration_s, false, true});
    o.skip_s = t.number("skip_s", 0, Range::between(0, 1e10));
    o.loop = t.boolean("loop", false);
    o.sample_fraction = t.number("sample_fraction", 1, Range::open_fraction());
    o.skip_malformed = t.boolean("skip_malformed", false);
    o.spread_same_timestamp = t.boolean("spread_same_timestamp", true);
    if (o.format == workload::TraceFormat::kMooncake)
      o.hash_block_tokens = static_cast<std::uint32_t>(t.integer("hash_block_tokens", 512, Range::between(1, 1 << 20)));
    else if (t.has("hash_block_tokens"))
      t.error("hash_block_tokens", "only Mooncake traces carry block hashes (hash_ids)");
    else
      t.accept("hash_block_tokens");
    t.finish();
  }
  // Token lengths: synthetic workloads and ServeGen traces draw them; other traces carry their own.
  const bool draws_tokens = !trace || w.trace.format == workload::TraceFormat::kServeGen;
  if (draws_tokens) {
    w.prompt = read_tokens(r.child("prompt_tokens", true), s, "prompt", max_tokens);
    w.output = read_tokens(r.child("output_tokens", true), s, "output", max_tokens);
  } else {
    for (const char* k : {"prompt_tokens", "output_tokens"})
      if (r.has(k)) r.error(k, fmt::format("not used: a {} trace carries its own token counts", workload::to_string(w.trace.format)));
      else r.accept(k);
  }
  if (trace) {
    w.trace.servegen_prompt = w.prompt;
    w.trace.servegen_output = w.output;
    w.trace.duration_s = s.run.duration_s;
    w.trace.seed = s.run.seed;
  }

  // Shared system prompts (synthetic only): prepended to a share of the prompts.
  if (!trace) {
    w.system_prompt_tokens =
        static_cast<std::uint32_t>(r.integer("system_prompt_tokens", 0, Range::between(0, std::max(0.0, max_tokens))));
    w.system_prompt_share = r.number("system_prompt_share", 1, Range::fraction());
    w.system_prompts = static_cast<std::uint32_t>(
        r.integer("system_prompts", 1, Range::between(1, static_cast<double>(workload::prefix::kMaxSystemPrompts))));
  } else {
    for (const char* k : {"system_prompt_tokens", "system_prompt_share", "system_prompts"})
      if (r.has(k)) r.error(k, "applies to synthetic workloads (a trace's prompts are what they are)");
      else r.accept(k);
  }

  // Multi-turn conversations (synthetic only): closed-loop follow-ups.
  if (r.has("conversations")) {
    Reader c = r.child("conversations");
    if (trace) c.error("", "conversations apply to synthetic workloads (a trace already holds every turn)");
    w.conversations = true;
    w.turns_mean = c.number("turns_mean", 3, Range::between(1, 1000));
    w.think_time = read_duration(c.child("think_time_s"), 30);
    w.message_tokens = c.has("message_tokens") ? read_tokens(c.child("message_tokens"), s, "prompt", max_tokens) : w.prompt;
    if (!c.has("message_tokens")) c.accept("message_tokens");
    c.finish();
  } else {
    r.accept("conversations");
  }

  // User regions: where demand comes from and which network it enters.
  std::set<std::string> names;
  auto region_index = [&](const std::string& name) -> std::optional<std::uint32_t> {
    for (std::uint32_t i = 0; i < s.regions.size(); ++i)
      if (s.regions[i].name == name) return i;
    return std::nullopt;
  };
  auto urs = r.children("user_regions");
  if (!trace && !total && urs.empty() && !r.has("requests_per_day") && !r.has("daily_users") && !r.has("queries_per_user"))
    r.error("requests_per_day", "missing: give requests_per_day (or daily_users and queries_per_user), here or per user region");
  if (urs.empty() && !s.regions.empty()) {
    UserRegionSpec u;
    u.name = "users";
    u.share = 1;
    u.requests_per_day = total.value_or(0);
    u.utc_offset_h = s.regions[0].utc_offset_h;
    u.network_region = s.regions[0].name;
    u.access_latency_ms = 2.5;
    u.hourly_profile = w.hourly_profile;
    w.user_regions.push_back(u);
    YAML::Node res = r.resolved();
    YAML::Node item(YAML::NodeType::Map);
    item["name"] = u.name;
    item["share"] = "1";
    item["network_region"] = u.network_region;
    item["utc_offset_h"] = format_number(u.utc_offset_h);
    item["access_latency_ms"] = format_number(u.access_latency_ms);
    res["user_regions"].push_back(item);
  }
  double share_sum = 0;
  for (Reader& ur : urs) {
    UserRegionSpec u;
    u.name = ur.required_text("name");
    if (!u.name.empty() && !names.insert(u.name).second) ur.error("name", fmt::format("duplicate user region \"{}\"", u.name));
    const auto own = trace ? std::nullopt : read_demand(ur);
    if (trace) {
      for (const char* k : {"requests_per_day", "daily_users", "queries_per_user"})
        if (ur.has(k)) ur.error(k, "a trace sets the demand: give user regions a share of it");
        else ur.accept(k);
    }
    if (total || trace) {
      if (own) ur.error("requests_per_day", "the workload already sets the total demand: give this region a share of it");
      u.share = ur.number("share", urs.size() == 1 ? 1.0 : 0.0, Range::fraction());
      share_sum += u.share;
      u.requests_per_day = u.share * total.value_or(0);
    } else {
      if (ur.has("share")) ur.error("share", "a share needs the workload's total demand (workload.requests_per_day)");
      ur.accept("share");
      if (!own) ur.error("requests_per_day", "missing: give this region requests_per_day, or daily_users and queries_per_user");
      u.requests_per_day = own.value_or(0);
    }
    u.network_region = ur.required_text("network_region");
    const auto idx = region_index(u.network_region);
    if (!u.network_region.empty() && !idx)
      ur.error("network_region", fmt::format("\"{}\" is not a region under platform.regions", u.network_region));
    u.network_region_index = idx.value_or(0);
    u.utc_offset_h = ur.number("utc_offset_h", idx ? s.regions[*idx].utc_offset_h : 0.0, Range::between(-12, 14));
    u.access_latency_ms = ur.number("access_latency_ms", 2.5, Range::between(0, 1000));
    std::string pname;
    if (trace) {
      if (ur.has("hourly_profile")) ur.error("hourly_profile", "a trace sets the arrival times");
      ur.accept("hourly_profile");
    } else {
      u.hourly_profile = read_profile(ur, "hourly_profile", presets, "", &pname).value_or(w.hourly_profile);
    }
    ur.finish();
    w.user_regions.push_back(u);
  }
  if (!urs.empty() && (total || trace) && std::fabs(share_sum - 1.0) > 1e-6)
    r.error("user_regions", fmt::format("the shares must add up to 1, got {}", format_number(share_sum)));
  w.requests_per_day = 0;
  for (auto& u : w.user_regions) {
    u.requests_per_day *= w.demand_multiplier;
    w.requests_per_day += u.requests_per_day;
  }
  if (trace) {
    w.trace.region_weights.clear();
    for (const auto& u : w.user_regions) w.trace.region_weights.push_back(u.share);
  }
  if (urs.size() > kMaxUserRegions)
    r.error("user_regions", fmt::format("expected at most {} user regions, got {}", kMaxUserRegions, urs.size()));
  if (!trace) {
    // The busiest day, before any work: an absurd demand is an error, not an endless run.
    const double peak_day = w.requests_per_day * *std::max_element(w.day_of_week.begin(), w.day_of_week.end());
    if (!(peak_day <= workload::kMaxRequestsPerDay))
      r.error("requests_per_day", fmt::format("the busiest day would carry {:.4g} requests (over all user regions, times the "
                                              "largest day_of_week factor), more than the {:.0e} a day chatdc simulates",
                                              peak_day, workload::kMaxRequestsPerDay));
    s.expected_requests = w.requests_per_day * *std::max_element(w.day_of_week.begin(), w.day_of_week.end()) *
                          std::ceil(s.run.duration_s / 86400.0);
  } else if (!w.trace.path.empty() && r.diagnostics().size() == problems_before) {
    // Read the whole trace now: a missing file or bad lines are reported with the scenario's other problems,
    // located at workload.trace.path, before any work.
    try {
      const workload::TraceSource probe(w.trace);
      s.expected_requests = probe.expected_requests();
    } catch (const Error& e) {
      std::string text = e.what();
      for (std::size_t at = 0; at < text.size();) {
        const auto nl = text.find('\n', at);
        r.diagnostics().add(trace_where, "workload.trace.path", text.substr(at, nl - at));
        at = nl == std::string::npos ? text.size() : nl + 1;
      }
    }
  }
  read_batch(r.child("batch"), s);
  r.finish();
}

void read_model(Reader r, Scenario& s, std::optional<int>* tp) {
  const std::string llm = r.required_text("llm");
  if (!llm.empty()) {
    if (!s.catalog.llms.count(llm)) {
      std::string ids;
      for (const auto& [id, _] : s.catalog.llms) ids += (ids.empty() ? "" : ", ") + id;
      r.error("llm", fmt::format("unknown LLM \"{}\" (catalog has: {})", llm, ids));
    } else {
      s.llm = s.catalog.llms.at(llm);
    }
  }
  const auto& kDt = model::dtype_names();
  model::parse_dtype(r.text("weight_dtype", model::dtype_name(s.llm.weight_dtype), kDt), &s.llm.weight_dtype);
  model::parse_dtype(r.text("kv_dtype", model::dtype_name(s.llm.kv_dtype), kDt), &s.llm.kv_dtype);
  if (auto t = r.optional_integer("tensor_parallel", Range::between(1, 64))) *tp = static_cast<int>(*t);
  s.expert_parallel = static_cast<int>(r.integer("expert_parallel", 1, Range::between(1, 64)));
  if (s.expert_parallel > 1 && !s.llm.id.empty() &&
      (!s.llm.is_moe() || s.llm.experts % s.expert_parallel != 0))
    r.error("expert_parallel", fmt::format("needs a mixture-of-experts LLM whose experts it divides ({} has {} experts), got {}",
                                           s.llm.id, s.llm.experts, s.expert_parallel));
  s.redundant_experts = static_cast<int>(r.integer("redundant_experts", 0, Range::between(0, 1024)));
  if (s.redundant_experts > 0 && !s.llm.id.empty() && !s.llm.is_moe())
    r.error("redundant_experts", fmt::format("needs a mixture-of-experts LLM ({} is dense), got {}", s.llm.id, s.redundant_experts));
  r.finish();
}

// Whether an engine profile's engine caches prefixes by default: every engine but the 2023 profiles
// (vLLM added automatic prefix caching in 2024 and turned it on by default in V1; TensorRT-LLM v0.5
// had no KV-cache reuse).
bool engine_has_prefix_caching(const std::string& engine) { return engine != "vllm-2023" && engine != "trtllm-0.5"; }

void read_serving(Reader r, Scenario& s) {
  auto& c = s.scheduler;
  c.max_batch_size = static_cast<std::uint32_t>(r.integer("max_batch_size", 256, Range::between(1, 4096)));
  c.max_tokens_per_step = static_cast<std::uint32_t>(r.integer("max_tokens_per_step", 8192, Range::between(1, 1 << 20)));
  s.engine = r.text("engine", kDefaultEngine);
  s.max_waiting_per_replica = static_cast<std::uint32_t>(r.integer("max_waiting_per_replica", 1000, Range::between(0, 1e9)));
  s.cell_replicas = static_cast<std::uint32_t>(r.integer("cell_replicas", 128, Range::between(0, 1e9)));
  // The default is the engine's own scheduling (its profiles' chunked_prefill), known once the
  // datacenters' GPUs are: see finish_serving().
  s.chunked_prefill_given = r.has("chunked_prefill");
  if (s.chunked_prefill_given)
    c.chunked_prefill = r.boolean("chunked_prefill", false);
  else
    r.set_resolved("chunked_prefill", false);  // holds the key's place; finish_serving() writes the engine's value
  s.serving_resolved = r.resolved();
  s.serving_where = r.where();
  c.decode_first = r.text("priority", "prefill_first", {"prefill_first", "decode_first"}) == "decode_first";
  c.decode_first_max_wait_steps =
      static_cast<std::uint64_t>(r.integer("decode_first_max_wait_steps", 20, Range::between(0, 1e6)));
  c.kv_policy = r.text("kv_policy", "preempt", {"preempt", "reserve"}) == "preempt" ? serving::KvPolicy::kPreempt
                                                                                    : serving::KvPolicy::kReserve;
  c.kv_watermark_fraction = r.number("kv_watermark_fraction", 0.01, Range::between(0, 0.5));
  s.memory_headroom_fraction = r.number("memory_headroom_fraction", 0.1, Range{0, 1, false, true});
  const std::string fidelity = r.text("decode_runs", "closed_form", {"closed_form", "every_iteration"});
  c.max_run_steps = fidelity == "every_iteration" ? 1 : 0;
  // Prefix caching: on by default with the engines that have it on by default (vLLM V1, SGLang), off
  // with the 2023 profiles, whose engines predate it.
  const std::string caching = r.text("prefix_caching", "auto", {"auto", "true", "false"});
  const bool on = caching == "true" || (caching == "auto" && engine_has_prefix_caching(s.engine));
  r.set_resolved("prefix_caching", on ? "true" : "false");
  const auto block = static_cast<std::uint32_t>(r.integer("kv_block_tokens", 16, Range::between(1, 4096)));
  c.prefix_block_tokens = on ? block : 0;
  s.prefix_routing = r.boolean("prefix_routing", false);
  s.prefix_routing_slack = static_cast<std::uint32_t>(r.integer("prefix_routing_slack", 32, Range::between(0, 1e6)));
  s.prefix_routing_min_match = r.number("prefix_routing_min_match", 0.5, Range::fraction());
  if (s.prefix_routing && !on)
    r.error("prefix_routing", fmt::format("routes requests to the replica caching their prefix, but prefix caching is off "
                                          "(serving.prefix_caching resolved to false for engine \"{}\"): set "
                                          "serving.prefix_caching: true", s.engine));
  if (r.has("disk_kv_cache")) {  // the on-disk KV tier (DeepSeek's 3FS context cache)
    Reader d = r.child("disk_kv_cache");
    s.disk_kv.hit_share = d.required_number("hit_share", Range{0, 1, true, false});
    s.disk_kv.read_gb_per_s_per_server =
        d.number("read_gb_per_s_per_server", s.disk_kv.read_gb_per_s_per_server, Range{0, 1000, true, false});
    s.disk_kv.latency_s = d.number("latency_ms", s.disk_kv.latency_s * 1e3, Range::between(0, 10000)) * 1e-3;
    if (!d.has("read_gb_per_s_per_server"))
      review(s, "serving.disk_kv_cache.read_gb_per_s_per_server", s.disk_kv.read_gb_per_s_per_server, "GB/s per server",
             "3FS KVCache clients' peak read, not a mean (platforms/SOURCES.md 8.10)");
    if (!d.has("latency_ms"))
      review(s, "serving.disk_kv_cache.latency_ms", s.disk_kv.latency_s * 1e3, "ms per read step",
             "ASSUMPTION (platforms/SOURCES.md 8.10)");
    d.finish();
  }
  // (the chunked-prefill token budget is checked in finish_serving(), once the engine's default is known)
  r.finish();
}

// After the platform: serving.chunked_prefill defaults to the engine's scheduling, and the checks
// that depend on it.
void finish_serving(Scenario& s, Diagnostics& diag) {
  auto& c = s.scheduler;
  if (!s.chunked_prefill_given) {
    for (const auto& reg : s.regions)
      if (!reg.datacenters.empty()) {
        c.chunked_prefill = reg.datacenters.front().gpu.chunked_prefill;
        break;
      }
    s.serving_resolved["chunked_prefill"] = c.chunked_prefill;
  }
  const std::string how = s.chunked_prefill_given ? "serving.chunked_prefill is true"
                                                  : fmt::format("serving.engine {} schedules chunked prefill", s.engine);
  if (c.decode_first && c.chunked_prefill)
    diag.add(s.serving_where, "serving.priority",
             fmt::format("decode_first applies to prefill-only steps, but {}: every step already mixes decodes and prompt "
                         "chunks (set serving.chunked_prefill: false for decode_first)", how));
  if (c.chunked_prefill && c.max_tokens_per_step < c.max_batch_size)
    diag.add(s.serving_where, "serving.max_tokens_per_step",
             fmt::format("{}, so the token budget must cover a full decode batch (max_batch_size = {}), got {}", how,
                         c.max_batch_size, c.max_tokens_per_step));
}

// Measured step-time tables may be used up to kStepTableReach times beyond their measurements.
void check_step_tables(const Scenario& s, Diagnostics& diag) {
  // The longest prompt and answer the workload can send (a trace: up to the LLM's context).
  auto longest = [&](const workload::TokenDist& d) {
    double m = d.max_tokens;
    if (s.workload.source == "trace") m = s.llm.max_context_tokens;
    else if (d.kind == workload::TokenDist::Kind::kFixed) m = std::min<double>(d.value, d.max_tokens);
    else if (d.kind == workload::TokenDist::Kind::kEmpirical && !d.samples.empty())
      m = std::min<double>(*std::max_element(d.samples.begin(), d.samples.end()), d.max_tokens);
    return std::min<double>(m, s.llm.max_context_tokens);
  };
  const double prompt_max = longest(s.workload.prompt), output_max = longest(s.workload.output);
  const double context = std::min<double>(prompt_max + output_max, s.llm.max_context_tokens);
  const double prefill = std::max<double>(s.scheduler.max_tokens_per_step, s.scheduler.chunked_prefill ? 0.0 : prompt_max);
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) {
      if (!dc.step_table) continue;
      try {
        model::check_step_table_reach(
            *dc.step_table, s.scheduler.max_batch_size, context, prefill,
            fmt::format("serving.max_batch_size {}", s.scheduler.max_batch_size),
            fmt::format("the longest sequence {:.0f} tokens (prompt + output maxima, within the LLM's context)", context),
            fmt::format("a prefill step of up to {:.0f} tokens (serving.max_tokens_per_step{})", prefill,
                        s.scheduler.chunked_prefill ? "" : ", or one whole prompt"));
      } catch (const Error& e) {
        diag.add(dc.step_table_where, "step_table", e.what());
      }
    }
}

void read_routing(Reader r, Scenario& s) {
  RoutingSpec& g = s.routing;
  g.policy = r.text("policy", "nearest", {"nearest", "least_loaded", "lowest_price", "lowest_carbon", "slo_spillover", "split"});
  g.max_load_per_replica = r.number("max_load_per_replica", s.scheduler.max_batch_size, Range{0, 1e6, true, false});
  g.spill_margin = r.number("spill_margin", 0.8, Range{0, 10, true, false});
  g.signal_half_life_s = r.number("signal_half_life_s", 30, Range{0, 86400, true, false});
  std::vector<std::string> names;
  for (const auto& reg : s.regions)
    for (const auto& d : reg.datacenters) names.push_back(d.name);
  if (g.policy == "split" || r.has("split")) {
    Reader split = r.child("split", g.policy == "split");
    g.split.assign(names.size(), 0.0);
    double sum = 0;
    for (const std::string& key : split.keys()) {
      const auto it = std::find(names.begin(), names.end(), key);
      if (it == names.end()) {
        split.error(key, fmt::format("\"{}\" is not a datacenter (datacenters: {})", key, fmt::join(names, ", ")));
        split.accept(key);
        continue;
      }
      sum += g.split[it - names.begin()] = split.number(key, 0, Range::fraction());
    }
    split.finish();
    if (g.policy == "split" && std::fabs(sum - 1) > 1e-6)
      r.error("split", fmt::format("the shares must add up to 1, got {}", format_number(sum)));
  }
  r.finish();
}

void read_slo(Reader r, Scenario& s) {
  s.slo.ttft_s = r.number("ttft_s", s.slo.ttft_s, Range{0, 3600, true, false});
  s.slo.tpot_s = r.number("tpot_s", s.slo.tpot_s, Range{0, 60, true, false});
  r.finish();
}

// The keys of a power-capping level, each defaulting to `base`'s value (0: none). A level giving any of the
// cap or clock keys (fixed or by hour) replaces all four of `base`'s.
operations::PowerCapConfig read_power_keys(Reader& r, const operations::PowerCapConfig& base) {
  operations::PowerCapConfig c = base;
  static const char* const kinds[] = {"gpu_power_cap_w", "gpu_clock_fraction", "gpu_power_cap_w_by_hour",
                                      "gpu_clock_fraction_by_hour"};
  if (std::any_of(std::begin(kinds), std::end(kinds), [&](const char* k) { return r.has(k); })) {
    c.gpu_power_cap_w = c.gpu_clock_fraction = 0;
    c.cap_by_hour = c.clock_by_hour = false;
    c.gpu_power_cap_w_by_hour.fill(0);
    c.gpu_clock_fraction_by_hour.fill(0);
  }
  c.gpu_power_cap_w = r.number("gpu_power_cap_w", c.gpu_power_cap_w, Range::between(0, 5000));
  c.gpu_clock_fraction = r.number("gpu_clock_fraction", c.gpu_clock_fraction, Range::between(0, 1));
  c.site_budget_kw = r.number("site_budget_kw", base.site_budget_kw, Range::between(0, 1e6));
  if (c.gpu_clock_fraction > 0 && c.gpu_clock_fraction < model::Dvfs::kMinClockFraction)
    r.error("gpu_clock_fraction", fmt::format("expected 0 (none) or a clock fraction in [{}, 1], got {}",
                                              model::Dvfs::kMinClockFraction, format_number(c.gpu_clock_fraction)));
  if (r.has("gpu_power_cap_w") && r.has("gpu_clock_fraction") && c.gpu_power_cap_w > 0 && c.gpu_clock_fraction > 0)
    r.error("gpu_clock_fraction", "give a power cap (gpu_power_cap_w) or a locked clock (gpu_clock_fraction), not both");
  // By the datacenter's local hour: 24 values, each 0 (none) or a cap (checked against the GPU's TDP later) or a clock.
  if (r.has("gpu_power_cap_w_by_hour")) {
    if (const auto v = r.numbers("gpu_power_cap_w_by_hour", 24, Range::between(0, 5000))) {
      c.cap_by_hour = true;
      std::copy(v->begin(), v->end(), c.gpu_power_cap_w_by_hour.begin());
    }
  }
  if (r.has("gpu_clock_fraction_by_hour")) {
    if (const auto v = r.numbers("gpu_clock_fraction_by_hour", 24, Range::between(0, 1))) {
      c.clock_by_hour = true;
      std::copy(v->begin(), v->end(), c.gpu_clock_fraction_by_hour.begin());
      for (int h = 0; h < 24; ++h)
        if (c.gpu_clock_fraction_by_hour[h] > 0 && c.gpu_clock_fraction_by_hour[h] < model::Dvfs::kMinClockFraction) {
          r.error("gpu_clock_fraction_by_hour",
                  fmt::format("hour {} (item [{}]): expected 0 (none) or a clock fraction in [{}, 1], got {}", h, h,
                              model::Dvfs::kMinClockFraction, format_number(c.gpu_clock_fraction_by_hour[h])));
          break;
        }
    }
  }
  r.accept("gpu_power_cap_w_by_hour");  // listed among the valid keys even when absent
  r.accept("gpu_clock_fraction_by_hour");
  // One kind of setting per level: a cap or a clock, fixed or by hour.
  std::vector<std::string> given;
  if (c.gpu_power_cap_w > 0) given.push_back("gpu_power_cap_w");
  if (c.gpu_clock_fraction > 0) given.push_back("gpu_clock_fraction");
  if (r.has("gpu_power_cap_w_by_hour")) given.push_back("gpu_power_cap_w_by_hour");
  if (r.has("gpu_clock_fraction_by_hour")) given.push_back("gpu_clock_fraction_by_hour");
  if (given.size() > 1 && !(given.size() == 2 && given[0] == "gpu_power_cap_w" && given[1] == "gpu_clock_fraction"))
    r.error(given.back(), fmt::format("give one of a power cap or a locked clock, fixed (gpu_power_cap_w, gpu_clock_fraction) "
                                      "or by local hour (gpu_power_cap_w_by_hour, gpu_clock_fraction_by_hour), not {}",
                                      fmt::join(given, " and ")));
  return c;
}

// Keys naming datacenters under `per` (operations.*.datacenters): each unknown name is an error, each known
// one is handed to `read` with its reader, which is finished after.
template <class F>
void read_per_datacenter(Reader per, const Scenario& s, F read) {
  std::vector<std::string> names;
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) names.push_back(dc.name);
  for (const std::string& key : per.keys()) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      per.error(key, fmt::format("\"{}\" is not a datacenter (datacenters: {})", key, fmt::join(names, ", ")));
      per.accept(key);
      continue;
    }
    Reader d = per.child(key);
    read(key, d);
    d.finish();
  }
  per.finish();
}

void read_power_capping(Reader r, Scenario& s) {
  OperationsSpec& o = s.operations;
  o.power = read_power_keys(r, {});
  read_per_datacenter(r.child("datacenters"), s, [&](const std::string& key, Reader& d) { o.power_by_dc[key] = read_power_keys(d, o.power); });
  r.finish();
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) {
      const operations::PowerCapConfig c = o.power_for(dc.name);
      if (!c.any() && !c.hourly()) continue;
      const std::string where = o.power_by_dc.count(dc.name) ? "datacenters." + dc.name + "." : "";
      const std::string cap_key = where + (c.cap_by_hour ? "gpu_power_cap_w_by_hour" : "gpu_power_cap_w");
      const std::string first_key = where + (c.cap_by_hour     ? "gpu_power_cap_w_by_hour"
                                             : c.clock_by_hour ? "gpu_clock_fraction_by_hour"
                                                               : "gpu_power_cap_w");
      if (dc.step_table)
        r.error(first_key, fmt::format("datacenter {} uses a measured step table ({}), which holds one clock: "
                                       "power capping needs the roofline", dc.name, dc.step_table_file));
      if (c.hourly()) {
        if (dc.decode)
          r.error(first_key, fmt::format("datacenter {} has a decode pool (prefill/decode disaggregation): a clock by the "
                                         "hour is not modelled there yet; give a fixed cap or clock", dc.name));
        if (s.run.engine == "fine")
          r.error(first_key, "a cap or clock by the hour needs the day engine (run.engine: day); the fine engine holds one "
                             "clock all day");
        // The clock switches at the datacenter's local hours, which must fall on sample-period ends.
        const double period = s.run.sample_period_s;
        const double offset = std::fmod(std::fmod((reg.utc_offset_h - s.run.clock_utc_offset_h + s.run.start_h) * 3600.0, 3600.0) + 3600.0, 3600.0);
        const auto on_grid = [&](double x) { const double q = x / period; return std::fabs(q - std::round(q)) < 1e-9; };
        if (!on_grid(3600.0) || !on_grid(offset))
          r.error(first_key, fmt::format("the clock switches at datacenter {}'s local hours, which must fall on sample-period "
                                         "ends: run.sample_period_s ({} s) must divide an hour (3,600 s){}",
                                         dc.name, format_number(period),
                                         on_grid(3600.0) ? fmt::format(" and its local hours, which start {} s into the run",
                                                                       format_number(std::fmod(3600.0 - offset, 3600.0)))
                                                         : ""));
      }
      for (int h = 0; h < 24; ++h) {
        const operations::PowerCapConfig ch = c.at_hour(h);
        const std::string hour = c.cap_by_hour ? fmt::format("hour {} (item [{}]): ", h, h) : "";
        bool bad = false;
        if (ch.gpu_power_cap_w > dc.gpu.tdp_w) {
          r.error(cap_key, fmt::format("{}must not exceed the TDP of datacenter {}'s GPU ({}: {} W), got {}", hour, dc.name,
                                       dc.gpu.id, format_number(dc.gpu.tdp_w), format_number(ch.gpu_power_cap_w)));
          bad = true;
        } else if (ch.gpu_power_cap_w > 0 && ch.gpu_power_cap_w < model::Dvfs::min_cap_w(dc.gpu)) {
          r.error(cap_key, fmt::format("{}must be at least datacenter {}'s GPU's minimum power limit ({}: {} W, 30% of its TDP), got {}",
                                       hour, dc.name, dc.gpu.id, format_number(model::Dvfs::min_cap_w(dc.gpu)),
                                       format_number(ch.gpu_power_cap_w)));
          bad = true;
        }
        const model::ServerPowerSpec sp{dc.server.gpus_per_server, dc.gpu.idle_power_w, dc.gpu.tdp_w,
                                        dc.server.non_gpu_idle_power_w, dc.server.non_gpu_max_power_w};
        const operations::PowerCap p = operations::resolve_power_cap(dc.gpu, sp, static_cast<std::uint32_t>(dc.servers()), ch);
        if (!p.error.empty()) {
          r.error(where + "site_budget_kw", fmt::format("datacenter {}: budget {} kW too small: {}", dc.name,
                                                        format_number(c.site_budget_kw), p.error));
          bad = true;
        }
        if (bad || !c.hourly()) break;  // one error per datacenter; a fixed setting is the same every hour
      }
    }
}

// An autoscaling section: scenario-wide (base: the defaults) or a datacenter's (base: the scenario-wide one,
// each key replacing it).
operations::AutoscalingConfig read_autoscaling(Reader a, const operations::AutoscalingConfig& base) {
  operations::AutoscalingConfig c = base;
  const std::string policy = a.text("policy", operations::policy_name(base.policy), {"none", "schedule", "reactive", "predictive"});
  c.policy = operations::parse_policy(policy.empty() ? "none" : policy);
  if (a.has("schedule") || (c.policy == operations::Policy::kSchedule && base.policy != operations::Policy::kSchedule &&
                            std::all_of(base.schedule_fraction.begin(), base.schedule_fraction.end(), [](double x) { return x == 0; }))) {
    const auto f = a.numbers("schedule", 24, Range::fraction());
    if (!f && c.policy == operations::Policy::kSchedule)
      a.error("schedule", "the schedule policy needs 24 shares of the servers on, by local hour (0..1)");
    if (f) std::copy(f->begin(), f->end(), c.schedule_fraction.begin());
  }
  a.accept("schedule");  // listed among the valid keys even when absent
  if (a.has("decode_schedule")) {  // a disaggregated datacenter's decode pool, by its own shares
    const auto f = a.numbers("decode_schedule", 24, Range::fraction());
    if (f) {
      c.has_decode_schedule = true;
      std::copy(f->begin(), f->end(), c.decode_schedule_fraction.begin());
    }
    if (c.policy != operations::Policy::kSchedule)
      a.error("decode_schedule", fmt::format("is the decode pool's share by hour under the schedule policy; policy is {}", policy));
  }
  a.accept("decode_schedule");
  if (c.policy == operations::Policy::kReactive && base.target_load_per_replica <= 0)
    c.target_load_per_replica = a.required_number("target_load_per_replica", Range{0, 1e5, true, false});
  else if (a.has("target_load_per_replica"))
    c.target_load_per_replica = a.number("target_load_per_replica", 0, Range{0, 1e5, true, false});
  a.accept("target_load_per_replica");
  if (c.policy == operations::Policy::kPredictive && base.target_requests_per_s_per_replica <= 0)
    c.target_requests_per_s_per_replica = a.required_number("target_requests_per_s_per_replica", Range{0, 1e5, true, false});
  else if (a.has("target_requests_per_s_per_replica"))
    c.target_requests_per_s_per_replica = a.number("target_requests_per_s_per_replica", 0, Range{0, 1e5, true, false});
  a.accept("target_requests_per_s_per_replica");
  c.headroom = a.number("headroom", base.headroom, Range::between(0, 10));
  c.tolerance = a.number("tolerance", base.tolerance, Range{0, 1, false, true});
  c.cooldown_s = a.number("cooldown_s", base.cooldown_s, Range::between(0, 86400));
  c.min_servers = static_cast<std::uint32_t>(a.integer("min_servers", base.min_servers, Range::between(1, 1e7)));
  c.max_servers = static_cast<std::uint32_t>(a.integer("max_servers", base.max_servers, Range::between(0, 1e7)));
  if (c.max_servers > 0 && c.min_servers > c.max_servers)
    a.error("min_servers", fmt::format("must not exceed max_servers ({}), got {}", c.max_servers, c.min_servers));
  a.finish();
  return c;
}

// operations.failures: rates scenario-wide and per datacenter, and maintenance windows.
OperationsSpec::FailureRates read_failure_rates(Reader& r, const OperationsSpec::FailureRates& base) {
  OperationsSpec::FailureRates f = base;
  f.server_mtbf_h = r.number("server_mtbf_h", base.server_mtbf_h, Range::between(0.1, 1e7));
  f.mttr_h = r.number("mttr_h", base.mttr_h, Range{0, 8760, true, false});
  return f;
}

void read_windows(Reader& r, const std::string& list_key, Scenario& s, bool training);
void check_outages(Reader& r, const Scenario& s, const std::string& key, const std::string& what);

void read_failures(Reader r, Scenario& s) {
  OperationsSpec& o = s.operations;
  // Failures are on with enabled: true, or when a rate is given; maintenance windows stand on their own.
  const bool given = r.has("server_mtbf_h") || r.has("mttr_h") || r.has("datacenters");
  o.failures_enabled = r.boolean("enabled", given);
  o.failures = read_failure_rates(r, {});
  if (o.failures_enabled) {  // the failure rates a planner should review (platforms/SOURCES.md 8.11)
    if (!r.has("server_mtbf_h"))
      review(s, "operations.failures.server_mtbf_h", o.failures.server_mtbf_h, "h between unexpected failures per server",
             "Meta's Llama 3 training: 419 unexpected interruptions in 54 days on 2,048 servers (platforms/SOURCES.md 8.11)");
    if (!r.has("mttr_h"))
      review(s, "operations.failures.mttr_h", o.failures.mttr_h, "h to repair a failed server",
             "ASSUMPTION: no public repair-time figure (platforms/SOURCES.md 8.11)");
  }
  read_per_datacenter(r.child("datacenters"), s, [&](const std::string& key, Reader& d) { o.failures_by_dc[key] = read_failure_rates(d, o.failures); });
  read_windows(r, "maintenance", s, false);
  r.finish();
}

// operations.training: servers reserved for training (README "Training reservations").
void read_training(Reader r, Scenario& s) {
  OperationsSpec& o = s.operations;
  o.training_power_fraction = r.number("server_power_fraction", 0.75, Range::open_fraction());
  o.training_value_per_gpu_hour = read_money(r, "value", "_per_gpu_hour", s.economics, Range::between(0, 1e4)).value_or(0.0);
  o.training_while_off = r.boolean("while_off", false);
  const std::size_t before = o.maintenance.size();
  read_windows(r, "reservations", s, true);  // none: nothing reserved (the resolved scenario writes the defaults)
  r.finish();
  if ((o.maintenance.size() > before || o.training_while_off) && !r.has("server_power_fraction"))
    review(s, "operations.training.server_power_fraction", o.training_power_fraction, "of a training server's maximum power",
           "Epoch AI, training-cost-trends energy.py: a training server's mean power is 0.75 of its maximum (platforms/SOURCES.md 8.12)");
}

void read_windows(Reader& r, const std::string& list_key, Scenario& s, bool training) {
  OperationsSpec& o = s.operations;
  std::map<std::string, const DatacenterSpec*> dcs;
  std::string names;
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) {
      dcs[dc.name] = &dc;
      names += (names.empty() ? "" : ", ") + dc.name;
    }
  const double run_h = s.run.duration_s / 3600.0;
  for (Reader& m : r.children(list_key)) {
    OperationsSpec::MaintenanceSpec w;
    w.training = training;
    w.datacenter = m.required_text("datacenter");
    const auto it = dcs.find(w.datacenter);
    if (!w.datacenter.empty() && it == dcs.end())
      m.error("datacenter", fmt::format("\"{}\" is not a datacenter (datacenters: {})", w.datacenter, names));
    w.start_h = m.required_number("start_h", Range::between(0, 8760));
    if (m.has("start_h") && (w.start_h < s.run.start_h || w.start_h >= s.run.start_h + run_h))
      m.error("start_h", fmt::format("expected an hour of the run's clock within the run, from run.start_h ({}) to before its end "
                                     "({}), got {}", format_number(s.run.start_h), format_number(s.run.start_h + run_h),
                                     format_number(w.start_h)));
    w.duration_h = m.required_number("duration_h", Range{0, 168, true, false});
    const std::uint32_t total = it == dcs.end() ? 0 : static_cast<std::uint32_t>(it->second->servers());
    if (m.has("servers") == m.has("server_share")) {
      m.error("servers", "give the servers taken down as a number (servers) or a share of the datacenter's (server_share), one of the two");
    } else if (m.has("servers")) {
      w.servers = static_cast<std::uint32_t>(m.integer("servers", 1, Range::between(1, 1e7)));
      if (total > 0 && w.servers > total)
        m.error("servers", fmt::format("datacenter {} has {} servers, got {}", w.datacenter, total, w.servers));
    } else {
      const double share = m.number("server_share", 1, Range::open_fraction());
      w.servers = static_cast<std::uint32_t>(std::ceil(share * total - 1e-9));
    }
    if (it != dcs.end() && it->second->decode)
      m.error("datacenter", fmt::format("datacenter {} has a decode pool (prefill/decode disaggregation): {} "
                                        "are not modelled there yet", w.datacenter,
                                        training ? "training reservations" : "maintenance windows"));
    m.accept("servers");  // both listed among the valid keys
    m.accept("server_share");
    m.finish();
    o.maintenance.push_back(w);
  }
  r.accept(list_key);
}

// What failures, maintenance and training reservations (outages of servers) cannot be combined with;
// `what` names them in the errors, located at r's `key`.
void check_outages(Reader& r, const Scenario& s, const std::string& key, const std::string& what) {
  if (s.run.engine == "fine")
    r.error(key, what + " need run.engine: day (the fine engine does not model them)");
  if (!s.workload.batch.jobs.empty())
    r.error(key, what + " with batch work (workload.batch) are not modelled yet: a failed server's batch "
                 "requests would have to return to their job");
}

void read_operations(Reader r, Scenario& s) {
  OperationsSpec& o = s.operations;
  o.autoscaling = read_autoscaling(r.child("autoscaling"), {});
  read_per_datacenter(r.child("datacenters"), s, [&](const std::string& key, Reader& d) {
    o.autoscaling_by_dc[key] = read_autoscaling(d.child("autoscaling"), o.autoscaling);
  });
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) {
      const operations::AutoscalingConfig& a = o.autoscaling_for(dc.name);
      // Where the datacenter's own section says it, else the scenario-wide one.
      Reader where = o.autoscaling_by_dc.count(dc.name) ? r.child("datacenters").child(dc.name).child("autoscaling") : r.child("autoscaling");
      if (dc.decode && a.policy != operations::Policy::kNone && a.policy != operations::Policy::kSchedule)
        where.error("policy", fmt::format("{}: datacenter {} has a decode pool (prefill/decode disaggregation), where only the "
                                          "schedule policy is modelled (each pool by its shares, in whole units): use schedule or none",
                                          operations::policy_name(a.policy), dc.name));
      if (dc.decode && a.policy == operations::Policy::kSchedule && (a.min_servers != 1 || a.max_servers != 0))
        where.error(a.min_servers != 1 ? "min_servers" : "max_servers",
                    fmt::format("datacenter {} has a decode pool: its schedule keeps at least one unit of each pool and at most all "
                                "of them (min_servers and max_servers, counted in servers of one pool, are not applied): leave "
                                "them out", dc.name));
      if (!dc.decode && a.has_decode_schedule && a.policy == operations::Policy::kSchedule)
        where.error("decode_schedule", fmt::format("datacenter {} has no decode pool (platform.regions[].datacenters[].decode)", dc.name));
    }

  Reader v = r.child("servers");
  o.off_power_w = v.number("off_power_w", 50, Range::between(0, 5000));
  const std::string wake = v.text("wake_power_w", "idle");
  if (wake != "idle") {
    char* end = nullptr;
    const double w = std::strtod(wake.c_str(), &end);
    if (wake.empty() || *end != '\0' || !(w > 0 && w <= 50000))
      v.error("wake_power_w", fmt::format("expected \"idle\" (the server's idle power) or watts in (0, 50000], got \"{}\"", wake));
    else
      o.wake_power_w = w;
  }
  o.boot_s = v.number("boot_s", 300, Range::between(0, 7200));
  o.model_load_gb_per_s = v.number("model_load_gb_per_s", 7, Range{0, 1000, true, false});
  // With servers switched off and on, their assumed power and wake times are defaults to review.
  bool scaled = false;
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) scaled |= o.autoscaling_for(dc.name).policy != operations::Policy::kNone;
  if (scaled) {
    if (!v.has("off_power_w"))
      review(s, "operations.servers.off_power_w", o.off_power_w, "W per server that is off",
             "ASSUMPTION: BMC and power-supply standby (README, Operations)");
    if (!v.has("boot_s"))
      review(s, "operations.servers.boot_s", o.boot_s, "s from power-on to the serving engine started",
             "ASSUMPTION (README, Operations)");
    if (!v.has("model_load_gb_per_s"))
      review(s, "operations.servers.model_load_gb_per_s", o.model_load_gb_per_s, "GB/s loading the weights",
             "one PCIe Gen4 NVMe drive's sequential read; a network load is slower (README, Operations)");
  }
  v.finish();
  read_power_capping(r.child("power_capping"), s);
  read_failures(r.child("failures"), s);
  read_training(r.child("training"), s);
  r.finish();
  if (o.training_while_off && !scaled)
    r.child("training").error("while_off", "true needs autoscaling (operations.autoscaling.policy schedule, reactive or "
                                           "predictive): without it no server is ever powered off to train");
  // Outages (failures, maintenance, training): what they cannot be combined with, reported once.
  bool maintenance = false, training = false;
  for (const auto& m : o.maintenance) (m.training ? training : maintenance) = true;
  if (o.failures_enabled || maintenance) {
    Reader f = r.child("failures");
    check_outages(f, s, o.failures_enabled ? "enabled" : "maintenance", "failures and maintenance");
  } else if (training) {
    Reader t = r.child("training");
    check_outages(t, s, "reservations", "training reservations");
  }
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) {
      const double idle = dc.server.gpus_per_server * dc.gpu.idle_power_w + dc.server.non_gpu_idle_power_w;
      if (o.off_power_w >= idle)
        v.error("off_power_w", fmt::format("must be below the idle power of datacenter {}'s servers ({} W), got {}",
                                           dc.name, format_number(idle), format_number(o.off_power_w)));
      if (o.wake_power_w > dc.server.max_power_w && dc.server.max_power_w > 0)
        v.error("wake_power_w", fmt::format("must not exceed the nameplate power of datacenter {}'s servers ({} W), got {}",
                                            dc.name, format_number(dc.server.max_power_w), format_number(o.wake_power_w)));
    }
}

// Limits on what the scenario as a whole asks for, so that the run's time and memory stay finite.
void check_limits(Reader& root, const Scenario& s) {
  std::size_t servers = 0, dcs = 0;
  for (const auto& r : s.regions)
    for (const auto& d : r.datacenters) servers += static_cast<std::size_t>(d.servers()), ++dcs;
  if (servers > kMaxServers)
    root.error("platform", fmt::format("the datacenters hold {} servers, more than the {} chatdc simulates in one scenario "
                                       "(each is a SimGrid host)", servers, kMaxServers));
  const double rows = std::ceil(s.run.duration_s / s.run.sample_period_s) * static_cast<double>(dcs);
  if (rows > kMaxTimelineRows)
    root.error("run", fmt::format("{} sample periods x {} datacenters = {:.3g} timeline rows, more than {:.0e}: raise "
                                  "run.sample_period_s or shorten run.duration_h",
                                  std::ceil(s.run.duration_s / s.run.sample_period_s), dcs, rows, kMaxTimelineRows));
  if (s.run.percentiles == "exact" && s.expected_requests > kMaxExactRequests)
    root.error("run", fmt::format("run.percentiles: exact keeps every request's latencies: {:.3g} requests would need about "
                                  "{:.0f} GB; use sketch or auto (exact up to 1e7 requests, then within 0.39%)",
                                  s.expected_requests, s.expected_requests * 64 / 1e9));
}

}  // namespace

Scenario load_scenario(const std::string& file, const std::vector<std::string>& overrides) {
  return load_scenario_text(file, nullptr, overrides);
}

Scenario load_scenario_text(const std::string& file, const std::string* text, const std::vector<std::string>& overrides) {
  Diagnostics diag;
  Document doc;
  const std::string header = fmt::format("invalid scenario {}:\n", file);
  if (!(text ? load_document_text(file, *text, &doc, &diag) : load_document(file, &doc, &diag))) throw Error(header + diag.report());
  for (const auto& o : overrides) apply_override(o, &doc, &diag);
  if (!diag.empty()) throw Error(header + diag.report());

  Scenario s;
  s.file = file;
  s.resolved = YAML::Node(YAML::NodeType::Map);
  {
    const YAML::Node dir = static_cast<const YAML::Node&>(doc.root)["catalog_dir"];  // invalid when missing
    apply_region_presets(doc, relative_to(file, dir.IsDefined() && dir.IsScalar() ? dir.Scalar() : default_catalog_dir()), diag);
  }
  Reader root(doc, diag, s.resolved);
  root.required_integer("schema_version", Range::between(1, 1));
  s.name = root.text("name", fs::path(file).stem().string());
  if (s.name.empty() || s.name.size() > 200 || s.name.find('/') != std::string::npos || has_control_chars(s.name) ||
      s.name == "." || s.name == "..")
    root.error("name", fmt::format("expected a name of 1 to 200 characters without '/' or control characters (it names the "
                                   "output folder results/<name>), got \"{}\"", escaped(s.name)));
  s.description = root.text("description", "");

  const std::string cat_dir = relative_to(file, path_text(root, "catalog_dir", root.text("catalog_dir", default_catalog_dir())));
  load_catalog(cat_dir, &s.catalog, diag);
  load_cost_defaults(cat_dir, s, diag);
  Reader cat = root.child("catalog");
  read_catalog_sections(cat, &s.catalog);
  cat.finish();
  check_catalog_links(s.catalog, cat_dir, diag);

  std::optional<int> tp;
  read_model(root.child("model", true), s, &tp);
  read_serving(root.child("serving"), s);
  Reader econ = root.child("economics");
  read_economics(econ, s);
  const auto default_price = read_money(econ, "electricity_price", "_per_kwh", s.economics, Range::between(0, 100));
  econ.finish();
  read_platform(root.child("platform", true), s, default_price, tp);
  read_run(root.child("run"), s, s.regions.empty() ? 0.0 : s.regions[0].utc_offset_h);
  read_workload(root.child("workload", true), s);
  read_slo(root.child("slo"), s);
  read_routing(root.child("routing"), s);
  read_operations(root.child("operations"), s);
  root.finish();
  check_limits(root, s);
  if (diag.empty()) {
    finish_serving(s, diag);
    check_step_tables(s, diag);
  }
  if (!diag.empty()) throw Error(header + diag.report());

  // The resolved scenario carries the catalog entries it used, so it reruns identically.
  YAML::Node used(YAML::NodeType::Map);
  std::set<std::string> gpus, servers;
  for (const auto& r : s.regions)
    for (const auto& d : r.datacenters) {
      servers.insert(d.server_id);
      gpus.insert(d.server.gpu);
    }
  for (const auto& g : gpus) used["gpus"][g] = s.catalog.gpu_yaml.at(g);
  for (const auto& v : servers) used["servers"][v] = s.catalog.server_yaml.at(v);
  used["llms"][s.llm.id] = s.catalog.llm_yaml.at(s.llm.id);
  s.resolved["catalog"] = used;
  return s;
}

std::string resolved_yaml(const Scenario& s) {
  YAML::Emitter out;
  out << s.resolved;
  return std::string("# chatdc resolved scenario: every default filled in, catalog entries included.\n") + out.c_str() + "\n";
}

}  // namespace chatdc::config
