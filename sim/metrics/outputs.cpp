#include "metrics/outputs.hpp"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/units.hpp"

namespace chatdc::metrics {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

json stats(Quantiles& q) {
  return json{{"mean", q.mean()}, {"p50", q.quantile(0.5)}, {"p90", q.quantile(0.9)}, {"p99", q.quantile(0.99)},
              {"max", q.max()}, {"count", q.count()}};
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// The figures shared by the total and each datacenter.
// peak_flops, peak_hbm_bytes: FLOP/s and bytes/s of all the GPUs together (MFU and MBU denominators).
json block(LatencySet& lat, std::uint64_t arrived, const DcTotals& t, double gpus, double peak_flops, double peak_hbm_bytes,
           std::uint32_t prefix_block_tokens, double simulated_s, const std::string& currency, const SloTargets& slo,
           double gpus_per_server) {
  // arrived = completed + unfinished + rejected + dropped
  json j;
  const std::uint64_t unfinished = arrived - lat.completed - lat.rejected - lat.dropped;
  j["requests"] = {{"arrived", arrived}, {"completed", lat.completed}, {"unfinished", unfinished},
                   {"rejected", lat.rejected}, {"rejected_over_context", lat.rejected_over_context}, {"dropped", lat.dropped}, {"preempted", lat.preempted_requests}};
  j["latency_s"] = {{"queue", stats(lat.queue)}, {"ttft", stats(lat.ttft)}, {"tpot", stats(lat.tpot)}, {"e2e", stats(lat.e2e)}};
  const double done = static_cast<double>(lat.completed);
  j["slo"] = {{"ttft_target_s", slo.ttft_s},
              {"tpot_target_s", slo.tpot_s},
              {"attainment_ttft", ratio(lat.meet_ttft, done)},
              {"attainment_tpot", ratio(lat.meet_tpot, done)},
              {"attainment", ratio(lat.meet_both, done)}};
  j["tokens"] = {{"prompt", lat.prompt_tokens},
                 {"output", lat.output_tokens},
                 {"output_per_s", ratio(lat.output_tokens, simulated_s)}};
  j["utilization"] = {{"gpu_mean", ratio(t.busy_gpu_s, gpus * simulated_s)},
                      {"gpu_peak", t.peak_utilization},
                      {"batch_occupancy_mean", ratio(t.batch_occupancy_s, simulated_s)},
                      {"batch_occupancy_peak", t.peak_batch_occupancy},
                      {"kv_cache_mean", ratio(t.kv_used_s, simulated_s)},
                      {"kv_cache_peak", t.peak_kv_used},
                      {"mfu_mean", ratio(t.flops, peak_flops * simulated_s)},
                      {"mfu_peak", t.peak_mfu},
                      {"mbu_mean", ratio(t.hbm_bytes, peak_hbm_bytes * simulated_s)},
                      {"mbu_peak", t.peak_mbu}};
  j["prefix_cache"] = {{"enabled", prefix_block_tokens > 0},
                       {"block_tokens", prefix_block_tokens},
                       {"queried_tokens", t.prefix_queried_tokens},
                       {"hit_tokens", t.prefix_hit_tokens},
                       {"hit_rate", ratio(t.prefix_hit_tokens, t.prefix_queried_tokens)},
                       {"kv_cached_mean", ratio(t.kv_cached_s, simulated_s)},
                       {"kv_cached_peak", t.peak_kv_cached}};
  j["disk_kv_cache"] = {{"hit_tokens", t.disk_hit_tokens},
                        {"hit_share_of_prompt_tokens", ratio(t.disk_hit_tokens, lat.prompt_tokens)}};
  j["energy_kwh"] = {{"it", t.it_energy_kwh}, {"facility", t.facility_energy_kwh}, {"it_model", t.it_energy_model_kwh}};
  const serving::DcEpoch& o = t.ops;
  if (o.prefill_server_s > 0 || o.decode_server_s > 0) {  // prefill/decode disaggregation: the pools
    // Per server of each pool, as DeepSeek publishes them: prefill input tokens (cached ones included)
    // and decode output tokens per second per powered-on server, on average over the run.
    j["disaggregation"] = {
        {"prefill", {{"server_hours", o.prefill_server_s / kSecondsPerHour},
                     {"servers_mean", ratio(o.prefill_server_s, simulated_s)},
                     {"utilization", ratio(o.prefill_busy_gpu_s, o.prefill_server_s * gpus_per_server)},
                     {"input_tokens", o.prefill_input_tokens},
                     {"input_tokens_per_s_per_server", ratio(o.prefill_input_tokens, o.prefill_server_s)}}},
        {"decode", {{"server_hours", o.decode_server_s / kSecondsPerHour},
                    {"servers_mean", ratio(o.decode_server_s, simulated_s)},
                    {"utilization", ratio(o.decode_busy_gpu_s, o.decode_server_s * gpus_per_server)},
                    {"output_tokens", o.output_tokens},
                    {"output_tokens_per_s_per_server", ratio(o.output_tokens, o.decode_server_s)}}},
        {"kv_transfers", o.kv_transfers},
        {"kv_transfer_gb", o.kv_transfer_bytes / 1e9}};
  }
  j["power_states"] = {{"wake_ups", o.wake_ups},
                       {"server_hours", {{"serving", o.serving_s / kSecondsPerHour}, {"draining", o.draining_s / kSecondsPerHour},
                                         {"waking", o.waking_s / kSecondsPerHour}, {"off", o.off_s / kSecondsPerHour},
                                         {"failed", o.failed_s / kSecondsPerHour}, {"maintenance", o.maintenance_s / kSecondsPerHour},
                                         {"training", o.training_s / kSecondsPerHour}}},
                       {"it_energy_kwh", {{"serving", o.energy_serving_j / 3.6e6}, {"draining", o.energy_draining_j / 3.6e6},
                                          {"waking", o.energy_waking_j / 3.6e6}, {"off", o.energy_off_j / 3.6e6},
                                          {"failed", o.energy_failed_j / 3.6e6}, {"maintenance", o.energy_maintenance_j / 3.6e6},
                                          {"training", o.energy_training_j / 3.6e6}}}};
  // Training reservations (README "Training reservations"): servers given to training, their energy and
  // cost (included in the fleet's totals, as batch work's is) and what their GPU-hours are worth.
  j["training"] = {{"server_hours", o.training_s / kSecondsPerHour},
                   {"gpu_hours", t.training_gpu_hours},
                   {"energy_kwh", {{"it", o.energy_training_j / 3.6e6}, {"facility", t.training_facility_kwh}}},
                   {"electricity_cost", t.training_electricity_cost},
                   {"carbon_kg", t.training_carbon_kg},
                   {"carbon_kg_market", t.training_carbon_market_kg},
                   {"value", t.training_value}};
  // Failures and maintenance (README "Failures and maintenance"): failures and repairs of servers (a unit
  // spanning servers counts once), requests retried because the server holding them failed, and
  // server-hours lost: failed (down for repair) and down for maintenance (drains and cold starts not included).
  j["failures"] = {{"failures", o.failures},
                   {"repairs", o.repairs},
                   {"retried_requests", o.retried},
                   {"server_hours_failed", o.failed_s / kSecondsPerHour},
                   {"server_hours_maintenance", o.maintenance_s / kSecondsPerHour}};
  j["power_kw"] = {{"it_mean", ratio(t.it_energy_kwh * kSecondsPerHour, simulated_s)},
                   {"it_peak", t.peak_it_power_kw},
                   {"facility_mean", ratio(t.facility_energy_kwh * kSecondsPerHour, simulated_s)},
                   {"facility_peak", t.peak_facility_power_kw}};
  j["carbon_kg"] = t.carbon_kg;
  j["carbon_kg_market"] = t.carbon_market_kg;
  j["green_energy_kwh"] = t.green_energy_kwh;
  j["wan_gb"] = t.wan_gb;
  const double total = t.total_cost();
  j["cost"] = {{"currency", currency},
               {"electricity", t.electricity_cost},
               {"green_certificates", t.green_certificates},
               {"demand_charge", t.demand_charge},
               {"capex", t.capex()},
               {"capex_servers", t.capex_servers},
               {"capex_network", t.capex_network},
               {"capex_facility", t.capex_facility},
               {"maintenance", t.maintenance},
               {"wan", t.wan},
               {"carbon", t.carbon_cost},
               {"rental", t.rental},
               {"total", total},
               {"per_1k_requests", ratio(total * 1000.0, done)},
               {"per_1m_output_tokens", ratio(total * 1e6, lat.output_tokens)}};
  j["wh_per_request"] = ratio(t.facility_energy_kwh * 1000.0, done);
  j["batch"] = {{"requests_done", o.batch_requests_done},
                {"input_tokens_done", o.batch_prompt_tokens_done},
                {"output_tokens_done", o.batch_output_tokens_done},
                {"energy_kwh", {{"it", o.batch_it_energy_j / 3.6e6}, {"facility", t.batch_facility_kwh}}},
                {"electricity_cost", t.batch_electricity_cost},
                {"carbon_kg", t.batch_carbon_kg},
                {"carbon_kg_market", t.batch_carbon_market_kg}};
  return j;
}

// Deferrable batch work, per instance: met (done by its deadline), missed (done late, or not done by a
// deadline within the run) or open (not done; its deadline is after the run's end).
json batch_section(const RunFacts& f, const Accounting& acc) {
  json list = json::array();
  std::uint64_t done = 0, misses = 0, open = 0, requests = 0;
  for (std::size_t i = 0; i < f.batch.size(); ++i) {
    const operations::BatchInstance& b = f.batch[i];
    const operations::BatchOutcome o = i < f.batch_outcomes.size() ? f.batch_outcomes[i] : operations::BatchOutcome{};
    const bool complete = o.requests_done == b.requests;
    const std::string status = operations::batch_status(b, o, f.simulated_s);
    done += complete ? 1 : 0;
    misses += status == "missed" ? 1 : 0;
    open += status == "open" ? 1 : 0;
    requests += b.requests;
    list.push_back({{"name", b.name},
                    {"day", b.day},
                    {"datacenter", b.dc < acc.dcs().size() ? acc.dcs()[b.dc].name : ""},
                    {"requests", b.requests},
                    {"requests_done", o.requests_done},
                    {"prompt_tokens_per_request", b.prompt_tokens},
                    {"output_tokens_per_request", b.output_tokens},
                    {"release_s", b.release_s},
                    {"deadline_s", b.deadline_s},
                    {"done_s", complete ? json(o.last_done_s) : json(nullptr)},
                    {"status", status}});
  }
  return {{"jobs", f.batch.size()}, {"jobs_done", done}, {"deadline_misses", misses}, {"open", open},
          {"requests", requests}, {"instances", list}};
}

}  // namespace

json build_summary(const RunFacts& f, Recorder& rec, const Accounting& acc) {
  json j;
  j["schema_version"] = 1;
  j["scenario"] = {{"name", f.scenario_name}, {"file", f.scenario_file}, {"seed", f.seed}};
  j["simulated_s"] = f.simulated_s;
  j["clock_start_h"] = f.clock_start_h;
  j["wall_s"] = f.wall_s;

  DcTotals sum;
  double gpus = 0, servers = 0, replicas = 0, batch_slots = 0, kv_capacity = 0, peak_flops = 0, peak_hbm = 0;
  std::uint32_t block_tokens = 0;
  for (std::uint32_t d = 0; d < acc.dcs().size(); ++d) {
    const DcTotals& t = acc.totals(d);
    sum.it_energy_kwh += t.it_energy_kwh;
    sum.it_energy_model_kwh += t.it_energy_model_kwh;
    sum.facility_energy_kwh += t.facility_energy_kwh;
    sum.electricity_cost += t.electricity_cost;
    sum.carbon_kg += t.carbon_kg;
    sum.carbon_market_kg += t.carbon_market_kg;
    sum.green_energy_kwh += t.green_energy_kwh;
    sum.green_certificates += t.green_certificates;
    sum.capex_servers += t.capex_servers;
    sum.capex_network += t.capex_network;
    sum.capex_facility += t.capex_facility;
    sum.maintenance += t.maintenance;
    sum.demand_charge += t.demand_charge;
    sum.wan += t.wan;
    sum.wan_gb += t.wan_gb;
    sum.carbon_cost += t.carbon_cost;
    sum.rental += t.rental;
    sum.busy_gpu_s += t.busy_gpu_s;
    sum.ops += t.ops;
    sum.batch_facility_kwh += t.batch_facility_kwh;
    sum.batch_electricity_cost += t.batch_electricity_cost;
    sum.batch_carbon_kg += t.batch_carbon_kg;
    sum.batch_carbon_market_kg += t.batch_carbon_market_kg;
    sum.training_gpu_hours += t.training_gpu_hours;
    sum.training_value += t.training_value;
    sum.training_facility_kwh += t.training_facility_kwh;
    sum.training_electricity_cost += t.training_electricity_cost;
    sum.training_carbon_kg += t.training_carbon_kg;
    sum.training_carbon_market_kg += t.training_carbon_market_kg;
    sum.prefix_queried_tokens += t.prefix_queried_tokens;
    sum.prefix_hit_tokens += t.prefix_hit_tokens;
    sum.disk_hit_tokens += t.disk_hit_tokens;
    if (block_tokens == 0) block_tokens = acc.dcs()[d].prefix_block_tokens;
    sum.flops += t.flops;
    sum.hbm_bytes += t.hbm_bytes;
    gpus += acc.dcs()[d].gpus;
    peak_flops += acc.dcs()[d].gpus * acc.dcs()[d].peak_flops_per_gpu;
    peak_hbm += acc.dcs()[d].gpus * acc.dcs()[d].hbm_bytes_per_s_per_gpu;
    servers += acc.dcs()[d].servers;
    replicas += acc.dcs()[d].replicas;
    batch_slots += static_cast<double>(acc.dcs()[d].replicas) * acc.dcs()[d].max_batch_size;
    kv_capacity += acc.dcs()[d].replicas * acc.dcs()[d].kv_capacity_tokens;
  }
  // Fleet-wide peaks come from the timeline (the datacenters' peaks need not coincide).
  std::size_t n_dcs = acc.dcs().size();
  for (std::size_t i = 0; i < acc.rows().size(); i += n_dcs) {
    double busy = 0, it = 0, fac = 0, running = 0, kv = 0, cached = 0, flops = 0, bytes = 0;
    const double dt = acc.rows()[i].t1 - acc.rows()[i].t0;
    for (std::size_t k = 0; k < n_dcs; ++k) {
      const auto& r = acc.rows()[i + k];
      busy += r.stats.busy_gpu_s;
      flops += r.stats.flops;
      bytes += r.stats.hbm_bytes;
      it += r.it_energy_kwh;
      fac += r.facility_energy_kwh;
      running += static_cast<double>(r.stats.running + r.stats.batch_running);
      kv += r.stats.kv_tokens;
      cached += r.stats.kv_cached_tokens;
    }
    if (dt <= 0) continue;
    const double occ = ratio(running, batch_slots), kv_frac = ratio(kv, kv_capacity);
    sum.batch_occupancy_s += occ * dt;
    sum.kv_used_s += kv_frac * dt;
    sum.peak_batch_occupancy = std::max(sum.peak_batch_occupancy, occ);
    sum.peak_kv_used = std::max(sum.peak_kv_used, kv_frac);
    sum.kv_cached_s += ratio(cached, kv_capacity) * dt;
    sum.peak_kv_cached = std::max(sum.peak_kv_cached, ratio(cached, kv_capacity));
    sum.peak_utilization = std::max(sum.peak_utilization, ratio(busy, gpus * dt));
    sum.peak_mfu = std::max(sum.peak_mfu, ratio(flops, peak_flops * dt));
    sum.peak_mbu = std::max(sum.peak_mbu, ratio(bytes, peak_hbm * dt));
    sum.peak_it_power_kw = std::max(sum.peak_it_power_kw, it * kSecondsPerHour / dt);
    sum.peak_facility_power_kw = std::max(sum.peak_facility_power_kw, fac * kSecondsPerHour / dt);
  }

  json total = block(rec.total(), f.arrived, sum, gpus, peak_flops, peak_hbm, block_tokens, f.simulated_s, f.currency, rec.slo(),
                     ratio(gpus, servers));
  for (auto it = total.begin(); it != total.end(); ++it) j[it.key()] = it.value();
  const json batch = batch_section(f, acc);
  for (auto it = batch.begin(); it != batch.end(); ++it) j["batch"][it.key()] = it.value();
  j["batch"]["attribution"] =
      "each step's GPU energy split by its share of tokens (prefill tokens, decoding sequences) that are batch work; "
      "a server's IT energy while on by the batch share of its GPU energy (idle time counts for chat)";
  j["workload"] = {{"source", f.workload_source}, {"expected_requests", f.expected_requests}, {"follow_up_turns", f.follow_ups}};
  if (f.workload_source == "trace")
    j["workload"]["trace"] = {{"skipped_malformed_lines", f.trace_skipped_malformed},
                              {"dropped_by_sampling", f.trace_dropped_sampling},
                              {"loops", f.trace_loops}};
  j["fleet"] = {{"datacenters", n_dcs}, {"servers", servers}, {"gpus", gpus}, {"replicas", replicas}};
  json review = json::array();
  for (const auto& d : f.defaults_to_review)
    review.push_back(json{{"key", d.key}, {"value", d.value}, {"unit", d.unit}, {"source", d.source}});
  j["defaults_to_review"] = review;
  j["engine"] = {{"name", f.engine},
                 {"events", f.events},
                 {"steps", f.steps},
                 {"preemptions", f.preemptions},
                 {"simgrid_activities", f.simgrid_activities},
                 {"cells", f.cells},
                 {"windows", f.windows},
                 {"percentiles", f.percentiles},
                 {"percentile_relative_error", f.percentiles == "sketch" ? kSketchRelativeError : 0.0}};

  json dcs = json::array();
  for (std::uint32_t d = 0; d < n_dcs; ++d) {
    const auto& s = acc.dcs()[d];
    json b = block(rec.dc(d), f.routed_per_dc[d], acc.totals(d), s.gpus, s.gpus * s.peak_flops_per_gpu,
                   s.gpus * s.hbm_bytes_per_s_per_gpu, s.prefix_block_tokens, f.simulated_s, f.currency, rec.slo(),
                   ratio(s.gpus, s.servers));
    json o = {{"name", s.name}, {"region", s.region}, {"servers", s.servers}, {"gpus", s.gpus}, {"replicas", s.replicas},
              {"engine", s.engine}};
    for (auto it = b.begin(); it != b.end(); ++it) o[it.key()] = it.value();
    o["power_capping"] = {{"enabled", s.power_capped}, {"gpu_clock_fraction", s.gpu_clock_fraction},
                          {"gpu_power_cap_w", s.power_capped ? s.gpu_power_cap_w : 0.0}, {"site_budget_kw", s.site_budget_kw},
                          {"fleet_max_it_kw", s.fleet_max_it_kw}};
    if (s.hourly_power_caps) {  // by the datacenter's local hour; the fixed fields: the day's lowest clock, its cap
      o["power_capping"]["gpu_clock_fraction_by_hour"] = s.gpu_clock_fraction_by_hour;
      o["power_capping"]["gpu_power_cap_w_by_hour"] = s.gpu_power_cap_w_by_hour;
    }
    o["batch"]["fill_seqs_per_replica"] = s.batch_fill_seqs;
    dcs.push_back(o);
  }
  j["datacenters"] = dcs;
  json regions = json::array();
  for (std::uint32_t u = 0; u < rec.regions(); ++u) {
    LatencySet& l = rec.region(u);
    const double done = static_cast<double>(l.completed);
    regions.push_back(json{
        {"name", u < f.user_regions.size() ? f.user_regions[u] : fmt::format("region-{}", u)},
        {"requests", {{"completed", l.completed}, {"preempted", l.preempted_requests}}},
        {"latency_s", {{"ttft", stats(l.ttft)}, {"tpot", stats(l.tpot)}, {"e2e", stats(l.e2e)}}},
        {"slo",
         {{"attainment_ttft", ratio(l.meet_ttft, done)}, {"attainment_tpot", ratio(l.meet_tpot, done)}, {"attainment", ratio(l.meet_both, done)}}}});
  }
  j["user_regions"] = regions;
  return j;
}

std::string timeline_csv(const Accounting& acc, double clock_start_h) {
  std::string out =
      "time_s,clock_hour,datacenter,arrivals,completions,queued,running,busy_gpus,utilization,batch_occupancy,"
      "kv_cache_used,kv_cache_cached,prefix_hit_rate,prefill_tokens_saved,mfu,mbu,it_power_kw,"
      "facility_power_kw,pue,price_per_kwh,carbon_kg_per_kwh,energy_kwh_cum,cost_cum,carbon_kg_cum,"
      "servers_serving,servers_idle,servers_draining,servers_waking,servers_off,wake_ups,carbon_kg_market_cum,"
      "gpu_clock_fraction,gpu_power_cap_w,batch_running,batch_requests_done,batch_input_tokens_done,batch_output_tokens_done,"
      "prefill_servers,decode_servers,prefill_input_tokens_per_s_per_server,decode_output_tokens_per_s_per_server,"
      "kv_transfer_gbps,servers_failed,servers_maintenance,failures,retried_requests,servers_training\n";
  for (const TimelineRow& r : acc.rows()) {
    const auto& s = acc.dcs()[r.dc];
    const double dt = r.t1 - r.t0;
    const double busy = dt > 0 ? r.stats.busy_gpu_s / dt : 0.0;
    const double hour = std::fmod(r.t0 / kSecondsPerHour + clock_start_h, 24.0);
    // Disaggregation (else zero): servers on in each pool over the period, per-server token rates, KV traffic.
    const double pre = dt > 0 ? r.stats.prefill_server_s / dt : 0.0, dec = dt > 0 ? r.stats.decode_server_s / dt : 0.0;
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.t0, hour, s.name,
                       r.stats.arrivals, r.stats.completions, r.stats.queued, r.stats.running, busy,
                       s.gpus ? busy / s.gpus : 0.0, batch_occupancy(r.stats, s), kv_used_fraction(r.stats, s),
                       kv_cached_fraction(r.stats, s), ratio(r.stats.prefix_hit_tokens, r.stats.prefix_queried_tokens),
                       r.stats.prefix_hit_tokens,
                       mfu(r.stats, s, dt), mbu(r.stats, s, dt),
                       dt > 0 ? r.it_energy_kwh * kSecondsPerHour / dt : 0.0,
                       dt > 0 ? r.facility_energy_kwh * kSecondsPerHour / dt : 0.0, r.pue, r.price_per_kwh,
                       r.carbon_kg_per_kwh, r.cum_facility_kwh, r.cum_electricity_cost, r.cum_carbon_kg,
                       r.stats.servers_serving, r.stats.servers_idle, r.stats.servers_draining, r.stats.servers_waking,
                       r.stats.servers_off, r.stats.wake_ups, r.cum_carbon_market_kg, s.clock_at(r.t0), s.cap_w_at(r.t0),
                       r.stats.batch_running, r.stats.batch_requests_done, r.stats.batch_prompt_tokens_done, r.stats.batch_output_tokens_done,
                       pre, dec, ratio(r.stats.prefill_input_tokens, r.stats.prefill_server_s),
                       ratio(r.stats.output_tokens, r.stats.decode_server_s), dt > 0 ? r.stats.kv_transfer_bytes * 8 / 1e9 / dt : 0.0,
                       r.stats.servers_failed, r.stats.servers_maintenance, r.stats.failures, r.stats.retried,
                       r.stats.servers_training);
  }
  return out;
}

std::string request_log_row(const serving::RequestRecord& r, const std::vector<std::string>& regions,
                            const std::vector<std::string>& dcs) {
  const double tpot = r.output_tokens > 1 ? (r.done_s - r.first_token_s) / (r.output_tokens - 1) : 0.0;
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.id, regions.at(r.user_region), dcs.at(r.dc), r.replica, r.sent_s,
                     r.delivered_s, r.admitted_s, r.first_token_s, r.done_s, r.prompt_tokens, r.output_tokens, r.preemptions,
                     r.admitted_s - r.delivered_s, r.first_token_s - r.sent_s, tpot, r.done_s - r.sent_s, r.cached_tokens);
}

bool logged(std::uint64_t id, double fraction) {
  if (fraction >= 1) return true;
  std::uint64_t x = id + 0x9E3779B97F4A7C15ULL;  // splitmix64 finaliser: a uniform hash of the id
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-53 < fraction;
}

StagedOutputs::StagedOutputs(std::string dir, std::string what, std::vector<std::string> stale)
    : dir_(std::move(dir)), stage_(std::make_unique<OutputStage>(dir_, OutputStage::Kind::kFolder, std::move(what), std::move(stale))) {}

StagedOutputs::~StagedOutputs() {
  for (auto& [name, s] : streams_) s->close();
}

void StagedOutputs::add(const std::string& name, std::string content) { files_.emplace_back(name, std::move(content)); }

std::ofstream& StagedOutputs::stream(const std::string& name) {
  auto s = std::make_unique<std::ofstream>(stage_->path(name), std::ios::binary);
  if (!*s) throw Error(fmt::format("cannot write {} in the staging folder {}", name, stage_->folder()));
  streams_.emplace_back(name, std::move(s));
  return *streams_.back().second;
}

void StagedOutputs::commit() {
  for (const auto& [name, content] : files_) {
    std::ofstream out(stage_->path(name), std::ios::binary);
    out << content;
    out.close();
    if (!out) throw Error(fmt::format("cannot write {} in {} (disk full or no permission?)", name, stage_->folder()));
  }
  for (auto& [name, s] : streams_) {
    s->close();
    if (!*s) throw Error(fmt::format("cannot write {} in {} (disk full or no permission?)", name, stage_->folder()));
  }
  stage_->commit();
}

}  // namespace chatdc::metrics

namespace chatdc::metrics {

std::string hourly_csv(const Accounting& acc, Recorder& rec, double clock_start_h, const std::vector<std::string>& regions) {
  std::string out =
      "hour,clock_hour,datacenter,user_region,arrivals,completions,completed_sent,ttft_p50_s,ttft_p90_s,ttft_p99_s,tpot_p50_s,"
      "tpot_p99_s,e2e_p50_s,e2e_p99_s,slo_attainment,utilization,mfu,mbu,prefix_hit_rate,prefill_tokens_saved,it_energy_kwh,"
      "facility_energy_kwh,electricity_cost,"
      "carbon_kg,price_per_kwh,pue\n";
  const std::size_t n_dcs = acc.dcs().size();
  const std::size_t hours = static_cast<std::size_t>(std::ceil(acc.simulated_s() / kSecondsPerHour));
  struct Agg {
    double arrivals = 0, completions = 0, busy = 0, flops = 0, bytes = 0, queried = 0, hit = 0, span = 0, it = 0, fac = 0,
           cost = 0, carbon = 0, price_t = 0, pue_t = 0;
  };
  std::vector<std::vector<Agg>> agg(hours, std::vector<Agg>(n_dcs));
  for (const TimelineRow& r : acc.rows()) {
    const auto h = std::min(hours - 1, static_cast<std::size_t>(r.t0 / kSecondsPerHour));
    Agg& a = agg[h][r.dc];
    const double dt = r.t1 - r.t0;
    a.arrivals += r.stats.arrivals;
    a.completions += r.stats.completions;
    a.busy += r.stats.busy_gpu_s;
    a.flops += r.stats.flops;
    a.bytes += r.stats.hbm_bytes;
    a.queried += r.stats.prefix_queried_tokens;
    a.hit += r.stats.prefix_hit_tokens;
    a.span += dt;
    a.it += r.it_energy_kwh;
    a.fac += r.facility_energy_kwh;
    a.cost += r.electricity_cost;
    a.carbon += r.carbon_kg;
    a.price_t += r.price_per_kwh * dt;
    a.pue_t += r.pue * dt;
  }
  // The latency columns of one hour's requests: completed_sent through slo_attainment.
  auto latency = [](HourStats* st) {
    auto q = [&](Quantiles HourStats::*m, double p) { return st && (st->*m).count() ? (st->*m).quantile(p) : 0.0; };
    return fmt::format("{},{},{},{},{},{},{},{},{}", st ? st->completed : 0, q(&HourStats::ttft, 0.5), q(&HourStats::ttft, 0.9),
                       q(&HourStats::ttft, 0.99), q(&HourStats::tpot, 0.5), q(&HourStats::tpot, 0.99), q(&HourStats::e2e, 0.5),
                       q(&HourStats::e2e, 0.99), st && st->completed ? static_cast<double>(st->meet_both) / st->completed : 0.0);
  };
  for (std::size_t h = 0; h < hours; ++h)
    for (std::uint32_t d = 0; d < n_dcs; ++d) {
      const Agg& a = agg[h][d];
      const auto& s = acc.dcs()[d];
      const double peak_f = a.span * s.gpus * s.peak_flops_per_gpu, peak_b = a.span * s.gpus * s.hbm_bytes_per_s_per_gpu;
      out += fmt::format("{},{},{},all,{},{},{},{},{},{},{},{},{},{},{},{},{}\n", h, std::fmod(static_cast<double>(h) + clock_start_h, 24.0),
                         s.name, a.arrivals, a.completions, latency(rec.hour(d, h)),
                         a.span > 0 && s.gpus ? a.busy / (a.span * s.gpus) : 0.0, peak_f > 0 ? a.flops / peak_f : 0.0,
                         peak_b > 0 ? a.bytes / peak_b : 0.0, a.queried > 0 ? a.hit / a.queried : 0.0, a.hit, a.it, a.fac, a.cost,
                         a.carbon, a.span > 0 ? a.price_t / a.span : 0.0, a.span > 0 ? a.pue_t / a.span : 0.0);
    }
  for (std::size_t h = 0; h < hours; ++h)
    for (std::uint32_t u = 0; u < rec.regions(); ++u)
      out += fmt::format("{},{},all,{},,,{},,,,,,,,,,,\n", h, std::fmod(static_cast<double>(h) + clock_start_h, 24.0),
                         u < regions.size() ? regions[u] : fmt::format("region-{}", u), latency(rec.region_hour(u, h)));
  return out;
}

}  // namespace chatdc::metrics
