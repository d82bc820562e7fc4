#include "metrics/shard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <type_traits>

#include "core/error.hpp"
#include "core/units.hpp"

namespace chatdc::metrics {

using json = nlohmann::json;

namespace {

constexpr int kShardSchema = 5;  // 5: facts carry defaults_to_review
std::uint64_t bits(double x) { return std::bit_cast<std::uint64_t>(x); }
double real(std::uint64_t w) { return std::bit_cast<double>(w); }

/// Every field of a cell's epoch, in the shard file's order: one list for writing and reading.
template <class Epoch, class F>
constexpr void for_each_field(Epoch& e, F&& f) {
  f(e.arrivals), f(e.completions), f(e.rejected), f(e.dropped), f(e.queued), f(e.running), f(e.kv_tokens), f(e.busy_gpu_s),
      f(e.gpu_energy_j), f(e.it_energy_j), f(e.output_tokens), f(e.kv_cached_tokens), f(e.prefix_queried_tokens),
      f(e.prefix_hit_tokens), f(e.flops), f(e.hbm_bytes), f(e.disk_hit_tokens),
      // server power states (operations)
      f(e.servers_serving), f(e.servers_idle), f(e.servers_draining), f(e.servers_waking), f(e.servers_off), f(e.wake_ups),
      f(e.serving_s), f(e.draining_s), f(e.waking_s), f(e.off_s), f(e.energy_serving_j), f(e.energy_draining_j),
      f(e.energy_waking_j), f(e.energy_off_j);
}

constexpr std::size_t epoch_words() {
  std::size_t n = 0;
  serving::DcEpoch e;
  for_each_field(e, [&](auto&) { ++n; });
  return n;
}
constexpr std::size_t kEpochWords = epoch_words();
static_assert(kEpochWords == 31, "a new epoch field changes the shard format: raise kShardSchema");

/// A field as one 64-bit word: integers as they are, floating point by its bits.
template <class T>
std::uint64_t word(const T& v) {
  if constexpr (std::is_floating_point_v<T>) return bits(static_cast<double>(v));
  else return static_cast<std::uint64_t>(v);
}
template <class T>
T from_word(std::uint64_t w) {
  if constexpr (std::is_floating_point_v<T>) return static_cast<T>(real(w));
  else return static_cast<T>(w);
}

void put_epoch(const serving::DcEpoch& e, std::vector<std::uint64_t>* w) {
  for_each_field(e, [&](const auto& v) { w->push_back(word(v)); });
}

serving::DcEpoch get_epoch(const std::uint64_t* p) {
  serving::DcEpoch e;
  std::size_t i = 0;
  for_each_field(e, [&](auto& v) { v = from_word<std::remove_reference_t<decltype(v)>>(p[i++]); });
  return e;
}

template <class T>
json::binary_t blob(const std::vector<T>& v) {
  std::vector<std::uint8_t> b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return json::binary_t(std::move(b));
}

template <class T>
bool unblob(const json& j, std::vector<T>* v) {
  if (!j.is_binary() || j.get_binary().size() % sizeof(T) != 0) return false;
  const auto& b = j.get_binary();
  v->resize(b.size() / sizeof(T));
  if (!b.empty()) std::memcpy(v->data(), b.data(), b.size());
  return true;
}

json reviewed_json(const std::vector<DefaultReviewed>& v) {
  json a = json::array();
  for (const auto& d : v) a.push_back(json{{"key", d.key}, {"value", bits(d.value)}, {"unit", d.unit}, {"source", d.source}});
  return a;
}

json facts_json(const RunFacts& f) {
  return json{{"scenario_name", f.scenario_name},
              {"scenario_file", f.scenario_file},
              {"seed", f.seed},
              {"simulated_s", bits(f.simulated_s)},
              {"wall_s", f.wall_s},
              {"arrived", f.arrived},
              {"completed", f.completed},
              {"rejected", f.rejected},
              {"dropped", f.dropped},
              {"routed_per_dc", f.routed_per_dc},
              {"currency", f.currency},
              {"clock_utc_offset_h", bits(f.clock_utc_offset_h)},
              {"clock_start_h", bits(f.clock_start_h)},
              {"engine", f.engine},
              {"events", f.events},
              {"steps", f.steps},
              {"preemptions", f.preemptions},
              {"simgrid_activities", f.simgrid_activities},
              {"cells", f.cells},
              {"windows", f.windows},
              {"percentiles", f.percentiles},
              {"workload_source", f.workload_source},
              {"expected_requests", bits(f.expected_requests)},
              {"follow_ups", f.follow_ups},
              {"trace", {f.trace_skipped_malformed, f.trace_dropped_sampling, f.trace_loops}},
              {"user_regions", f.user_regions},
              {"defaults_to_review", reviewed_json(f.defaults_to_review)}};
}

RunFacts facts_of(const json& j) {
  RunFacts f;
  f.scenario_name = j.at("scenario_name").get<std::string>();
  f.scenario_file = j.at("scenario_file").get<std::string>();
  f.seed = j.at("seed").get<std::uint64_t>();
  f.simulated_s = real(j.at("simulated_s").get<std::uint64_t>());
  f.wall_s = j.at("wall_s").get<double>();
  f.arrived = j.at("arrived").get<std::uint64_t>();
  f.completed = j.at("completed").get<std::uint64_t>();
  f.rejected = j.at("rejected").get<std::uint64_t>();
  f.dropped = j.at("dropped").get<std::uint64_t>();
  f.routed_per_dc = j.at("routed_per_dc").get<std::vector<std::uint64_t>>();
  f.currency = j.at("currency").get<std::string>();
  f.clock_utc_offset_h = real(j.at("clock_utc_offset_h").get<std::uint64_t>());
  f.clock_start_h = real(j.at("clock_start_h").get<std::uint64_t>());
  f.engine = j.at("engine").get<std::string>();
  f.events = j.at("events").get<std::uint64_t>();
  f.steps = j.at("steps").get<std::uint64_t>();
  f.preemptions = j.at("preemptions").get<std::uint64_t>();
  f.simgrid_activities = j.at("simgrid_activities").get<std::uint64_t>();
  f.cells = j.at("cells").get<std::uint64_t>();
  f.windows = j.at("windows").get<bool>();
  f.percentiles = j.at("percentiles").get<std::string>();
  f.workload_source = j.at("workload_source").get<std::string>();
  f.expected_requests = real(j.at("expected_requests").get<std::uint64_t>());
  f.follow_ups = j.at("follow_ups").get<std::uint64_t>();
  const auto t = j.at("trace").get<std::vector<std::uint64_t>>();
  if (t.size() != 3) throw std::runtime_error("trace");
  f.trace_skipped_malformed = t[0];
  f.trace_dropped_sampling = t[1];
  f.trace_loops = t[2];
  f.user_regions = j.at("user_regions").get<std::vector<std::string>>();
  for (const auto& d : j.at("defaults_to_review"))
    f.defaults_to_review.push_back({d.at("key").get<std::string>(), real(d.at("value").get<std::uint64_t>()),
                                    d.at("unit").get<std::string>(), d.at("source").get<std::string>()});
  return f;
}

json curve_json(const model::DailyCurve& c) {
  std::vector<std::uint64_t> w;
  for (const auto& seg : c.segments()) w.insert(w.end(), {bits(seg.from_h), bits(seg.value)});
  return w;
}

model::DailyCurve curve_of(const json& j) {
  const auto w = j.get<std::vector<std::uint64_t>>();
  std::vector<model::DailyCurve::Segment> segs;
  for (std::size_t i = 0; i + 1 < w.size(); i += 2) segs.push_back({real(w[i]), real(w[i + 1])});
  if (segs.empty()) throw std::runtime_error("empty daily curve");
  return model::DailyCurve(segs);
}

json setup_json(const ShardSetup& s) {
  json dcs = json::array();
  for (const auto& a : s.accounting)
    dcs.push_back(json{{"name", a.name},
                       {"region", a.region},
                       {"engine", a.engine},
                       {"pue", curve_json(a.pue)},
                       {"price", curve_json(a.price_per_kwh)},
                       {"carbon", curve_json(a.carbon_kg_per_kwh)},
                       {"counts", {a.servers, a.gpus, a.replicas, a.max_batch_size, a.prefix_block_tokens}},
                       {"reals",
                        {bits(a.offset_s), bits(a.kv_capacity_tokens), bits(a.server_capex), bits(a.server_max_w),
                         bits(a.depreciation_years), bits(a.maintenance_fraction_per_year), bits(a.network_capex_fraction),
                         bits(a.facility_capex_per_kw), bits(a.facility_depreciation_years), bits(a.demand_charge_per_kw_month),
                         bits(a.carbon_price_per_t), bits(a.rent_per_gpu_hour), bits(a.peak_flops_per_gpu),
                         bits(a.hbm_bytes_per_s_per_gpu), bits(a.green_share), bits(a.green_certificate_per_kwh)}},
                       {"power_cap", {a.power_capped ? 1 : 0, bits(a.gpu_clock_fraction), bits(a.gpu_power_cap_w),
                                      bits(a.site_budget_kw), bits(a.fleet_max_it_kw)}}});
  json links = json::array();
  for (const auto& l : s.wan.links) links.push_back(json{{"reals", {bits(l.cost_per_gb), bits(l.cost_per_day)}}, {"end_dcs", l.end_dcs}});
  json cells = json::array();
  for (const auto& c : s.cells) cells.push_back({c.dc, c.first_server, c.servers, c.first_replica, c.replicas});
  return json{{"dcs", dcs},
              {"wan", {{"links", links}, {"path", s.wan.path}, {"bytes", {bits(s.wan.bytes_per_token), bits(s.wan.bytes_per_request)}}}},
              {"cells", cells},
              {"slo", {bits(s.slo.ttft_s), bits(s.slo.tpot_s)}},
              {"user_regions", s.user_regions},
              {"detail_level", s.detail_level},
              {"servers_per_rack", s.servers_per_rack},
              {"gpus_per_server", s.gpus_per_server}};
}

ShardSetup setup_of(const json& j) {
  ShardSetup s;
  for (const auto& d : j.at("dcs")) {
    DcAccountingSetup a;
    a.name = d.at("name").get<std::string>();
    a.region = d.at("region").get<std::string>();
    a.engine = d.at("engine").get<std::string>();
    a.pue = curve_of(d.at("pue"));
    a.price_per_kwh = curve_of(d.at("price"));
    a.carbon_kg_per_kwh = curve_of(d.at("carbon"));
    const auto c = d.at("counts").get<std::vector<std::uint32_t>>();
    const auto r = d.at("reals").get<std::vector<std::uint64_t>>();
    if (c.size() != 5 || r.size() != 16) throw std::runtime_error("datacenter setup");
    a.servers = c[0];
    a.gpus = c[1];
    a.replicas = c[2];
    a.max_batch_size = c[3];
    a.prefix_block_tokens = c[4];
    a.offset_s = real(r[0]);
    a.kv_capacity_tokens = real(r[1]);
    a.server_capex = real(r[2]);
    a.server_max_w = real(r[3]);
    a.depreciation_years = real(r[4]);
    a.maintenance_fraction_per_year = real(r[5]);
    a.network_capex_fraction = real(r[6]);
    a.facility_capex_per_kw = real(r[7]);
    a.facility_depreciation_years = real(r[8]);
    a.demand_charge_per_kw_month = real(r[9]);
    a.carbon_price_per_t = real(r[10]);
    a.rent_per_gpu_hour = real(r[11]);
    a.peak_flops_per_gpu = real(r[12]);
    a.hbm_bytes_per_s_per_gpu = real(r[13]);
    a.green_share = real(r[14]);
    a.green_certificate_per_kwh = real(r[15]);
    const auto pc = d.at("power_cap").get<std::vector<std::uint64_t>>();
    if (pc.size() != 5) throw std::runtime_error("datacenter power cap");
    a.power_capped = pc[0] != 0;
    a.gpu_clock_fraction = real(pc[1]);
    a.gpu_power_cap_w = real(pc[2]);
    a.site_budget_kw = real(pc[3]);
    a.fleet_max_it_kw = real(pc[4]);
    s.accounting.push_back(std::move(a));
  }
  const json& w = j.at("wan");
  for (const auto& l : w.at("links")) {
    WanAccountingSetup::Link link;
    const auto r = l.at("reals").get<std::vector<std::uint64_t>>();
    if (r.size() != 2) throw std::runtime_error("WAN link");
    link.cost_per_gb = real(r[0]);
    link.cost_per_day = real(r[1]);
    link.end_dcs = l.at("end_dcs").get<std::vector<std::uint32_t>>();
    s.wan.links.push_back(link);
  }
  s.wan.path = w.at("path").get<std::vector<std::vector<std::vector<std::uint32_t>>>>();
  const auto b = w.at("bytes").get<std::vector<std::uint64_t>>();
  if (b.size() != 2) throw std::runtime_error("WAN bytes");
  s.wan.bytes_per_token = real(b[0]);
  s.wan.bytes_per_request = real(b[1]);
  for (const auto& c : j.at("cells")) {
    const auto v = c.get<std::vector<std::uint32_t>>();
    if (v.size() != 5) throw std::runtime_error("cell");
    s.cells.push_back({v[0], v[1], v[2], v[3], v[4]});
  }
  const auto slo = j.at("slo").get<std::vector<std::uint64_t>>();
  if (slo.size() != 2) throw std::runtime_error("SLO");
  s.slo = {real(slo[0]), real(slo[1])};
  s.user_regions = j.at("user_regions").get<std::uint32_t>();
  s.detail_level = j.at("detail_level").get<std::string>();
  s.servers_per_rack = j.at("servers_per_rack").get<std::vector<std::uint32_t>>();
  s.gpus_per_server = j.at("gpus_per_server").get<std::vector<std::uint32_t>>();
  // Indices must stay inside the fleet.
  const std::size_t dcs = s.accounting.size();
  for (const auto& c : s.cells)
    if (c.dc >= dcs) throw std::runtime_error("cell outside the datacenters");
  for (const auto& l : s.wan.links)
    for (const auto d : l.end_dcs)
      if (d >= dcs) throw std::runtime_error("WAN link end outside the datacenters");
  for (const auto& row : s.wan.path) {
    if (row.size() != dcs) throw std::runtime_error("WAN paths");
    for (const auto& p : row)
      for (const auto l : p)
        if (l >= s.wan.links.size()) throw std::runtime_error("WAN path link");
  }
  if (s.wan.path.size() != s.user_regions || s.servers_per_rack.size() != dcs || s.gpus_per_server.size() != dcs ||
      (s.detail_level != "datacenter" && s.detail_level != "rack" && s.detail_level != "server"))
    throw std::runtime_error("setup sizes");
  return s;
}

}  // namespace

void ShardState::add_period(const serving::EpochReport& rep, const std::vector<double>& cell_it_j) {
  periods.insert(periods.end(), {bits(rep.t0), bits(rep.t1)});
  for (const auto& d : rep.dcs) periods.push_back(d.rejected);
  for (std::uint32_t k = first_cell; k < last_cell; ++k) {
    put_epoch(rep.cells[k], &periods);
    periods.push_back(bits(cell_it_j[k]));
  }
  ++period_count;
}

std::string write_shard(const ShardState& s) {
  json j;
  j["chatdc_shard"] = kShardSchema;
  j["byte_order"] = std::endian::native == std::endian::little ? "little" : "big";
  j["shard"] = s.shard;
  j["shards"] = s.shards;
  j["first_cell"] = s.first_cell;
  j["last_cell"] = s.last_cell;
  j["cells"] = s.cells;
  j["dcs"] = s.dcs;
  j["resolved"] = s.resolved;
  j["setup"] = setup_json(s.setup);
  j["facts"] = facts_json(s.facts);
  j["period_count"] = s.period_count;
  j["periods"] = blob(s.periods);
  j["recorder_words"] = blob(s.recorder_words);
  j["recorder_values"] = blob(s.recorder_values);
  json t = json::array();
  for (const auto& row : s.traffic) {
    std::vector<std::uint64_t> w;
    for (const auto& x : row) w.insert(w.end(), {x.requests, x.tokens});
    t.push_back(blob(w));
  }
  j["traffic"] = t;
  const std::vector<std::uint8_t> bytes = json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

ShardState read_shard(const std::string& bytes, const std::string& file) {
  ShardState s;
  try {
    const json j = json::from_cbor(bytes);
    if (!j.is_object() || !j.contains("chatdc_shard"))
      throw Error(fmt::format("{} is not a shard of a chatdc day (written by `chatdc run --shard I/N`)", file));
    if (j.at("chatdc_shard").get<int>() != kShardSchema)
      throw Error(fmt::format("{}: shard format {} is not this chatdc's ({}): run the shards again with this chatdc", file,
                              j.at("chatdc_shard").dump(), kShardSchema));
    if (j.at("byte_order").get<std::string>() != (std::endian::native == std::endian::little ? "little" : "big"))
      throw Error(fmt::format("{}: written on a machine of the other byte order", file));
    s.shard = j.at("shard").get<std::uint32_t>();
    s.shards = j.at("shards").get<std::uint32_t>();
    s.first_cell = j.at("first_cell").get<std::uint32_t>();
    s.last_cell = j.at("last_cell").get<std::uint32_t>();
    s.cells = j.at("cells").get<std::uint32_t>();
    s.dcs = j.at("dcs").get<std::uint32_t>();
    s.resolved = j.at("resolved").get<std::string>();
    s.setup = setup_of(j.at("setup"));
    s.facts = facts_of(j.at("facts"));
    s.period_count = j.at("period_count").get<std::size_t>();
    bool ok = unblob(j.at("periods"), &s.periods) && unblob(j.at("recorder_words"), &s.recorder_words) &&
              unblob(j.at("recorder_values"), &s.recorder_values);
    for (const auto& row : j.at("traffic")) {
      std::vector<std::uint64_t> w;
      ok = ok && unblob(row, &w) && w.size() == 2 * static_cast<std::size_t>(s.dcs);
      auto& r = s.traffic.emplace_back();
      for (std::size_t i = 0; i + 1 < w.size(); i += 2) r.push_back({w[i], w[i + 1]});
    }
    const std::size_t per_period = 2 + s.dcs + (s.last_cell - s.first_cell) * (kEpochWords + 1);
    if (!ok || s.shards == 0 || s.shard >= s.shards || s.first_cell >= s.last_cell || s.last_cell > s.cells ||
        s.periods.size() != s.period_count * per_period || s.cells != s.setup.cells.size() || s.dcs != s.setup.accounting.size() ||
        s.facts.routed_per_dc.size() != s.dcs || s.traffic.size() > s.setup.user_regions)
      throw Error(fmt::format("{}: a damaged shard (inconsistent sizes)", file));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("{} is not a readable shard of a chatdc day: {}", file, e.what()));
  }
  return s;
}

MergedRun merge_shards(const std::vector<ShardState>& shards, const std::vector<std::string>& files) {
  if (shards.empty()) throw Error("no shards to merge");
  const ShardState& first = shards.front();
  const std::vector<serving::CellInfo>& cells = first.setup.cells;
  MergedRun m;
  m.setup = first.setup;
  m.acc = std::make_unique<Accounting>(first.setup.accounting, first.setup.wan);
  const auto mode = first.facts.percentiles == "exact" ? Quantiles::Mode::kExact : Quantiles::Mode::kSketch;
  m.rec = std::make_unique<Recorder>(first.dcs, mode, first.setup.slo, first.facts.simulated_s, first.setup.user_regions);
  Accounting& acc = *m.acc;
  Recorder& rec = *m.rec;
  const std::uint32_t n = first.shards;
  std::vector<long> by_index(n, -1);
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const ShardState& s = shards[i];
    if (s.resolved != first.resolved)
      throw Error(fmt::format("{} and {} are shards of different scenarios (their scenario.resolved.yaml differ): merge "
                              "the shards of one `chatdc run --shard I/N` set",
                              files[0], files[i]));
    if (s.shards != n)
      throw Error(fmt::format("{} is shard {}/{} but {} is shard {}/{}: shards of one day share N", files[i], s.shard, s.shards,
                              files[0], first.shard, first.shards));
    if (by_index[s.shard] >= 0)
      throw Error(fmt::format("{} and {} are both shard {}/{}", files[static_cast<std::size_t>(by_index[s.shard])], files[i],
                              s.shard, n));
    by_index[s.shard] = static_cast<long>(i);
  }
  std::string missing;
  for (std::uint32_t k = 0; k < n; ++k)
    if (by_index[k] < 0) missing += fmt::format("{}{}/{}", missing.empty() ? "" : ", ", k, n);
  if (!missing.empty()) throw Error(fmt::format("shard {} missing: a day merges from all {} of its shards", missing, n));
  // In shard order, the shards' cells must tile the fleet's.
  std::vector<const ShardState*> ordered;
  for (std::uint32_t k = 0; k < n; ++k) ordered.push_back(&shards[static_cast<std::size_t>(by_index[k])]);
  std::uint32_t next = 0;
  for (const auto* s : ordered) {
    if (s->cells != cells.size() || s->first_cell != next || s->dcs != acc.dcs().size() || s->period_count != first.period_count)
      throw Error(fmt::format("shard {}/{} does not fit the others (cells {}..{} of {}, {} periods): merge the shards of one "
                              "`chatdc run --shard I/N` set",
                              s->shard, n, s->first_cell, s->last_cell, s->cells, s->period_count));
    next = s->last_cell;
  }
  if (next != cells.size()) throw Error("the shards do not cover every cell of the fleet");

  const std::size_t dcs = acc.dcs().size();
  for (std::size_t p = 0; p < first.period_count; ++p) {
    serving::EpochReport rep;
    rep.dcs.resize(dcs);
    std::vector<double> it_j(dcs, 0.0);
    std::vector<std::pair<const std::uint64_t*, const ShardState*>> at;
    for (const auto* s : ordered) {
      const std::size_t per_period = 2 + dcs + (s->last_cell - s->first_cell) * (kEpochWords + 1);
      at.emplace_back(s->periods.data() + p * per_period, s);
    }
    rep.t0 = real(at[0].first[0]);
    rep.t1 = real(at[0].first[1]);
    for (const auto& [w, s] : at) {
      if (w[0] != at[0].first[0] || w[1] != at[0].first[1])
        throw Error(fmt::format("shard {}/{}'s sample periods differ from shard 0's", s->shard, n));
      for (std::size_t d = 0; d < dcs; ++d) rep.dcs[d].rejected += w[2 + d];
    }
    // Cells in order, each from its shard: the same sums as one process's close_epoch and energy reading.
    for (const auto& [w, s] : at) {
      const std::uint64_t* c = w + 2 + dcs;
      for (std::uint32_t k = s->first_cell; k < s->last_cell; ++k, c += kEpochWords + 1) {
        const std::uint32_t d = cells[k].dc;
        rep.dcs[d] += get_epoch(c);
        it_j[d] += real(c[kEpochWords]);
      }
    }
    acc.add_epoch(rep, it_j);
  }
  for (const auto* s : ordered) {
    for (std::uint32_t u = 0; u < s->traffic.size(); ++u)
      for (std::uint32_t d = 0; d < s->traffic[u].size(); ++d)
        if (s->traffic[u][d].requests || s->traffic[u][d].tokens)
          acc.add_traffic(u, d, s->traffic[u][d].requests, s->traffic[u][d].tokens);
    if (!rec.add_saved(s->recorder_words, s->recorder_values))
      throw Error(fmt::format("shard {}/{}: its latency records do not fit the scenario (a damaged shard?)", s->shard, n));
  }

  RunFacts f = ordered[0]->facts;
  f.arrived = f.completed = f.rejected = f.dropped = f.events = f.steps = f.preemptions = f.follow_ups = 0;
  f.routed_per_dc.assign(dcs, 0);
  f.wall_s = 0;
  for (const auto* s : ordered) {
    const RunFacts& g = s->facts;
    f.arrived += g.arrived;
    f.completed += g.completed;
    f.rejected += g.rejected;
    f.dropped += g.dropped;
    f.events += g.events;
    f.steps += g.steps;
    f.preemptions += g.preemptions;
    f.follow_ups += g.follow_ups;
    for (std::size_t d = 0; d < dcs && d < g.routed_per_dc.size(); ++d) f.routed_per_dc[d] += g.routed_per_dc[d];
    f.wall_s = std::max(f.wall_s, g.wall_s);
  }
  acc.finish(f.simulated_s);
  m.facts = f;
  return m;
}

// ---- timeline detail ----

DetailRows::DetailRows(std::string level, std::vector<DcLayout> dcs, double clock_start_h)
    : level_(std::move(level)), dcs_(std::move(dcs)), clock_start_h_(clock_start_h) {}

std::vector<DetailRows::DcLayout> DetailRows::layout_of(const ShardSetup& s) {
  std::vector<DcLayout> out;
  std::uint32_t first = 0;
  for (std::size_t d = 0; d < s.accounting.size(); ++d) {
    out.push_back({s.accounting[d].name, first, s.accounting[d].servers, s.servers_per_rack[d], s.gpus_per_server[d]});
    first += s.accounting[d].servers;
  }
  return out;
}

std::string DetailRows::header() const {
  return level_ == "server" ? "time_s,clock_hour,datacenter,rack,server,busy_gpus,utilization,running,queued,it_power_kw\n"
                            : "time_s,clock_hour,datacenter,rack,servers,busy_gpus,utilization,running,queued,it_power_kw\n";
}

void DetailRows::begin(double t0, double t1) {
  t0_ = t0;
  t1_ = t1;
  next_server_ = 0;
  dc_ = 0;
  acc_ = Server{};
  acc_servers_ = 0;
}

void DetailRows::emit(std::string* out) {
  const DcLayout& d = dcs_[dc_];
  const double dt = t1_ - t0_;
  const double busy = dt > 0 ? acc_.busy_gpu_s / dt : 0.0;
  const double gpus = static_cast<double>(acc_servers_) * d.gpus_per_server;
  const double hour = std::fmod(t0_ / kSecondsPerHour + clock_start_h_, 24.0);
  *out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", t0_, hour, d.name, rack_, level_ == "server" ? server_in_dc_ : acc_servers_,
                      busy, gpus > 0 ? busy / gpus : 0.0, acc_.running, acc_.queued,
                      dt > 0 ? acc_.it_energy_j / dt / 1e3 : 0.0);
  acc_ = Server{};
  acc_servers_ = 0;
}

void DetailRows::add(const Server& s, std::string* out) {
  while (dc_ < dcs_.size() && next_server_ >= dcs_[dc_].first_server + dcs_[dc_].servers) ++dc_;
  if (dc_ >= dcs_.size()) return;
  const DcLayout& d = dcs_[dc_];
  server_in_dc_ = next_server_ - d.first_server;
  rack_ = server_in_dc_ / std::max<std::uint32_t>(1, d.servers_per_rack);
  acc_.busy_gpu_s += s.busy_gpu_s;
  acc_.running += s.running;
  acc_.queued += s.queued;
  acc_.it_energy_j += s.it_energy_j;
  ++acc_servers_;
  ++next_server_;
  const bool rack_done = (server_in_dc_ + 1) % std::max<std::uint32_t>(1, d.servers_per_rack) == 0 || server_in_dc_ + 1 == d.servers;
  if (level_ == "server" || rack_done) emit(out);
}

std::string DetailRows::part_line(const Server& s) {
  return fmt::format("{},{},{},{}\n", s.busy_gpu_s, s.running, s.queued, s.it_energy_j);
}

bool DetailRows::parse_part_line(const std::string& line, Server* s) {
  char* end = nullptr;
  const char* p = line.c_str();
  s->busy_gpu_s = std::strtod(p, &end);
  if (end == p || *end != ',') return false;
  p = end + 1;
  s->running = std::strtoull(p, &end, 10);
  if (end == p || *end != ',') return false;
  p = end + 1;
  s->queued = std::strtoull(p, &end, 10);
  if (end == p || *end != ',') return false;
  p = end + 1;
  s->it_energy_j = std::strtod(p, &end);
  return end != p && (*end == '\0' || *end == '\n');
}

}  // namespace chatdc::metrics
