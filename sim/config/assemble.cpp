#include "config/assemble.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "config/wan_paths.hpp"
#include "model/dvfs.hpp"
#include "model/step_model.hpp"
#include "model/step_table.hpp"
#include "model/step_work.hpp"

namespace chatdc::config {

// Local time at run time t is t + offset: the run starts at start_h on its clock (clock_utc_offset_h).
double local_offset_s(const Scenario& s, double utc_offset_h) {
  return (utc_offset_h - s.run.clock_utc_offset_h + s.run.start_h) * 3600.0;
}

namespace {

// Deferrable batch work: one instance per job and day of the run, its open hours, and how full a
// replica's batch may be for batch work to join (per datacenter).
void assemble_batch(const Scenario& s, Assembly& a) {
  const BatchSpec& b = s.workload.batch;
  if (b.jobs.empty()) return;
  const double chat_ctx = workload::TokenSampler(s.workload.prompt).mean() + workload::TokenSampler(s.workload.output).mean() / 2;
  std::vector<double> ctx(a.dcs.size(), 0.0), refill(a.dcs.size(), 0.0);
  for (const BatchJobSpec& job : b.jobs) {
    ctx[job.dc] = std::max({ctx[job.dc], chat_ctx, job.prompt_tokens + job.output_tokens / 2.0});
    // A batch sequence is prefilled once per output_tokens decode steps: that prefill's time, amortized.
    model::StepShape pf;
    pf.prefill_seqs = 1;
    pf.prefill_tokens = job.prompt_tokens;
    pf.prefill_attention_pairs = job.prompt_tokens * (job.prompt_tokens + 1.0) / 2;
    refill[job.dc] = std::max(refill[job.dc], a.system.dcs[job.dc].step_model->cost(pf).time_s / job.output_tokens);
    const RegionSpec& reg = s.regions[a.dcs[job.dc].region];
    const double offset = local_offset_s(s, reg.utc_offset_h);
    const auto price = [&](double t) { return reg.price_per_kwh.at(t, offset) * reg.pue.at(t, offset); };
    for (std::uint32_t day = 0;; ++day) {
      const double release = (day * 24.0 + job.release_h - s.run.start_h) * 3600.0;
      if (release >= s.run.duration_s) break;
      if (release < 0) continue;
      operations::BatchInstance in;
      in.name = job.name;
      in.day = day;
      in.dc = job.dc;
      in.requests = job.requests;
      in.prompt_tokens = job.prompt_tokens;
      in.output_tokens = job.output_tokens;
      in.release_s = release;
      in.deadline_s = release + job.deadline_h * 3600.0;
      if (job.hours == "valley") {  // the minutes whose price x PUE is the window's lowest
        double low = 1e300;
        for (double t = in.release_s; t < in.deadline_s; t += 60) low = std::min(low, price(t));
        const double cut = low * (1 + 1e-9) + 1e-12;
        for (double t = in.release_s; t < in.deadline_s; t += 60) {
          const bool open = price(t) <= cut;
          if (!open) continue;
          const double to = std::min(t + 60, in.deadline_s);
          if (!in.open.empty() && in.open.back().second == t)
            in.open.back().second = to;
          else
            in.open.emplace_back(t, to);
        }
      } else {
        in.open.emplace_back(in.release_s, in.deadline_s);
      }
      a.system.batch.push_back(std::move(in));
    }
  }
  for (std::uint32_t d = 0; d < a.dcs.size(); ++d) {
    if (ctx[d] <= 0) continue;  // no batch work placed here
    serving::PoolSetup& p = a.system.dcs[d];
    p.scheduler.batch_step_limit_s = b.fill_tpot_fraction * s.slo.tpot_s;
    if (b.fill_seqs_per_replica > 0) {
      p.scheduler.batch_max_seqs = b.fill_seqs_per_replica;
      continue;
    }
    // auto: the largest batch B whose time per decoded token, the decode step at the mean context plus
    // the batch sequences' prefills amortized over their answers (B x prefill / output tokens, counting
    // every sequence as batch work: conservative), stays within fill_tpot_fraction x the TPOT target.
    const auto per_token = [&](std::uint32_t n) {
      model::StepShape dec;
      dec.decode_seqs = n;
      dec.decode_context_tokens = n * ctx[d];
      return p.step_model->cost(dec).time_s + n * refill[d];
    };
    const double limit = b.fill_tpot_fraction * s.slo.tpot_s;
    std::uint32_t lo = 1, hi = p.scheduler.max_batch_size;
    if (per_token(1) > limit) hi = 1;
    while (lo < hi) {
      const std::uint32_t mid = lo + (hi - lo + 1) / 2;
      if (per_token(mid) <= limit)
        lo = mid;
      else
        hi = mid - 1;
    }
    p.scheduler.batch_max_seqs = lo;
  }
}

}  // namespace

model::Parallelism unit_parallelism(const Scenario& s, const DatacenterSpec& dc) {
  model::Parallelism par = dc.parallelism(s.redundant_experts);
  if (dc.unit_servers <= 1) return par;
  // The all-to-all over the platform's links: each GPU's share of its server's NIC, or of its rack's
  // uplink for the traffic leaving the rack when the unit spans racks (units are contiguous servers).
  const double g = dc.server.gpus_per_server, n = dc.unit_servers;
  const double in_rack = std::min<double>(dc.servers_per_rack, n);
  const bool spans_racks = dc.servers_per_rack % dc.unit_servers != 0;
  double gb_per_s = dc.network.server_gbps / 8.0 / g;
  if (spans_racks) {
    const double leaving = (n - in_rack) / (n - 1.0);  // share of a GPU's remote traffic that leaves its rack
    if (leaving > 0) gb_per_s = std::min(gb_per_s, dc.network.rack_uplink_gbps / 8.0 / (g * in_rack) / leaving);
  }
  par.network_gb_per_s = gb_per_s * dc.network.rdma_efficiency;
  // Route between two servers: NIC, NIC (same rack); NIC, rack uplink, spine, rack uplink, NIC (else).
  par.network_latency_us = (spans_racks ? 5 : 2) * dc.network.hop_latency_us;
  return par;
}

Assembly assemble(const Scenario& s) {
  Assembly a;
  for (std::uint32_t r = 0; r < s.regions.size(); ++r) {
    const RegionSpec& region = s.regions[r];
    for (const DatacenterSpec& dc : region.datacenters) {
      a.dcs.push_back({r, &dc});
      serving::PoolSetup p;
      p.name = dc.name;
      // A deployment unit spanning servers is one server of the serving system (README "Deployment units").
      const int unit = dc.unit_servers;
      p.servers = static_cast<std::uint32_t>(dc.prefill_servers() / unit);
      p.servers_per_unit = unit;
      p.gpus_per_server = dc.server.gpus_per_server * unit;
      p.replicas_per_server = unit > 1 ? 1 : dc.server.gpus_per_server / dc.tensor_parallel;
      const model::Parallelism par = unit_parallelism(s, dc);
      // Power capping: the GPUs run at one clock all day (operations/power_cap.*, model/dvfs.*), resolved over
      // the datacenter's physical servers.
      const model::ServerPowerSpec physical_server{dc.server.gpus_per_server, dc.gpu.idle_power_w, dc.gpu.tdp_w,
                                                   dc.server.non_gpu_idle_power_w, dc.server.non_gpu_max_power_w};
      const operations::PowerCapConfig cap_config = s.operations.power_for(dc.name);
      operations::PowerCap cap =
          operations::resolve_power_cap(dc.gpu, physical_server, static_cast<std::uint32_t>(dc.servers()), cap_config);
      // By the hour: each hour's clock (its cap or clock, lowered by the budget), one step model per distinct
      // clock; the pool's step_model (batch fill and routing limits) is the lowest clock's, so those limits
      // hold in every hour. `cap` then reports the lowest clock, and the largest fleet power of the day.
      std::array<operations::PowerCap, 24> hour_caps;
      if (cap_config.hourly()) {
        std::vector<double> clocks;
        double fleet_max_kw = 0;
        for (int h = 0; h < 24; ++h) {
          hour_caps[h] = operations::resolve_power_cap(dc.gpu, physical_server, static_cast<std::uint32_t>(dc.servers()),
                                                       cap_config.at_hour(h));
          auto it = std::find(clocks.begin(), clocks.end(), hour_caps[h].clock_fraction);
          if (it == clocks.end()) {
            clocks.push_back(hour_caps[h].clock_fraction);
            it = clocks.end() - 1;
          }
          p.hour_model[h] = static_cast<std::uint8_t>(it - clocks.begin());
          fleet_max_kw = std::max(fleet_max_kw, hour_caps[h].fleet_max_kw);
          if (hour_caps[h].clock_fraction < cap.clock_fraction || h == 0) cap = hour_caps[h];
        }
        cap.fleet_max_kw = fleet_max_kw;
        for (const double f : clocks)
          p.clock_models.push_back(std::make_shared<model::RooflineStepModel>(model::Dvfs::at_clock(dc.gpu, f), s.llm, par));
      }
      auto roofline = std::make_shared<model::RooflineStepModel>(model::Dvfs::at_clock(dc.gpu, cap.clock_fraction), s.llm, par);
      if (dc.step_table)
        p.step_model = std::make_shared<model::TableStepModel>(*dc.step_table, roofline);
      else
        p.step_model = roofline;
      p.work_model = std::make_shared<model::StepWorkModel>(s.llm);
      p.scheduler = s.scheduler;
      p.scheduler.kv_capacity_tokens =
          model::kv_capacity_tokens(dc.gpu, s.llm, par, s.memory_headroom_fraction);
      if (s.disk_kv.hit_share > 0) {  // the on-disk KV tier: the replica's share of its servers' read bandwidth
        const double servers_per_replica = unit > 1 ? unit : 1.0 / p.replicas_per_server;
        p.scheduler.disk_hit_share = s.disk_kv.hit_share;
        p.scheduler.disk_s_per_token =
            s.llm.kv_bytes_per_token() / (s.disk_kv.read_gb_per_s_per_server * 1e9 * servers_per_replica);
        p.scheduler.disk_latency_s = s.disk_kv.latency_s;
      }
      p.request_overhead_s = dc.gpu.request_overhead_ms * 1e-3;
      p.max_waiting_per_replica = s.max_waiting_per_replica;
      p.server_power = {p.gpus_per_server, dc.gpu.idle_power_w, dc.gpu.tdp_w, unit * dc.server.non_gpu_idle_power_w,
                        unit * dc.server.non_gpu_max_power_w};
      p.local_offset_s = local_offset_s(s, region.utc_offset_h);
      p.ops.autoscaling = s.operations.autoscaling_for(dc.name);
      p.ops.off_power_w = unit * s.operations.off_power_w;
      p.ops.wake_power_w = s.operations.wake_power_w >= 0 ? unit * s.operations.wake_power_w : p.server_power.idle_w();
      p.ops.training_power_w = s.operations.training_power_fraction * p.server_power.max_w();
      p.ops.train_while_off = s.operations.training_while_off;
      p.ops.boot_s = s.operations.boot_s;
      if (unit > 1) {  // a unit is switched on and off whole: bounds in servers become bounds in units
        p.ops.autoscaling.min_servers = (p.ops.autoscaling.min_servers + unit - 1) / unit;
        p.ops.autoscaling.max_servers /= unit;
      }
      // Every replica of the server loads the whole model (sharded over its GPUs) from the server's storage;
      // a unit's servers each load their own GPUs' weights (attention and shared experts on every GPU), at once.
      p.ops.load_s = (unit > 1 ? dc.server.gpus_per_server * model::weight_bytes_per_gpu(s.llm, par)
                               : p.replicas_per_server * s.llm.weight_bytes()) /
                     (s.operations.model_load_gb_per_s * 1e9);
      if (dc.decode) {  // prefill/decode disaggregation: the decode pool, its units and parallelism its own
        const DatacenterSpec dd = dc.as_decode_pool();
        const int du = dd.unit_servers;
        auto d = std::make_shared<serving::PoolSetup>(p);
        d->servers = static_cast<std::uint32_t>(dc.decode->servers / du);
        d->servers_per_unit = du;
        d->gpus_per_server = dc.server.gpus_per_server * du;
        d->replicas_per_server = du > 1 ? 1 : dc.server.gpus_per_server / dd.tensor_parallel;
        const model::Parallelism dpar = unit_parallelism(s, dd);
        auto droof = std::make_shared<model::RooflineStepModel>(model::Dvfs::at_clock(dc.gpu, cap.clock_fraction), s.llm, dpar);  // the datacenter's clock, as the prefill pool's
        if (dc.step_table)
          d->step_model = std::make_shared<model::TableStepModel>(*dc.step_table, droof);
        else
          d->step_model = droof;
        d->scheduler.kv_capacity_tokens = model::kv_capacity_tokens(dc.gpu, s.llm, dpar, s.memory_headroom_fraction);
        d->scheduler.max_batch_size = dc.decode->max_batch_size;
        d->server_power = {d->gpus_per_server, dc.gpu.idle_power_w, dc.gpu.tdp_w, du * dc.server.non_gpu_idle_power_w,
                           du * dc.server.non_gpu_max_power_w};
        // Autoscaling (schedule): the decode pool by its own shares if given, in whole decode units, at
        // least one; its units' standby and wake power, and their wake: each server loads its GPUs' weights.
        if (d->ops.autoscaling.has_decode_schedule) d->ops.autoscaling.schedule_fraction = d->ops.autoscaling.decode_schedule_fraction;
        d->ops.autoscaling.min_servers = 1;
        d->ops.autoscaling.max_servers = 0;
        d->ops.off_power_w = du * s.operations.off_power_w;
        d->ops.wake_power_w = s.operations.wake_power_w >= 0 ? du * s.operations.wake_power_w : d->server_power.idle_w();
        d->ops.training_power_w = s.operations.training_power_fraction * d->server_power.max_w();
        d->ops.load_s = (du > 1 ? dc.server.gpus_per_server * model::weight_bytes_per_gpu(s.llm, dpar)
                                : d->replicas_per_server * s.llm.weight_bytes()) /
                        (s.operations.model_load_gb_per_s * 1e9);
        p.decode = d;
        // The KV cache of a request lives on one GPU of the prefill replica (attention data parallelism)
        // and goes to one GPU of the decode replica: that GPU's share of its server's NIC, at the RDMA
        // efficiency, over the route between two racks (NIC, rack uplink, spine, rack uplink, NIC).
        p.kv_bytes_per_token = s.llm.kv_bytes_per_token();
        p.kv_transfer_bytes_per_s = dc.network.server_gbps / 8.0 * 1e9 / dc.server.gpus_per_server * dc.network.rdma_efficiency;
        p.kv_transfer_latency_s = 5 * dc.network.hop_latency_us * 1e-6;
      }
      a.system.dcs.push_back(p);

      metrics::DcAccountingSetup acc;
      acc.name = dc.name;
      acc.region = region.name;
      acc.offset_s = local_offset_s(s, region.utc_offset_h);
      acc.pue = region.pue;
      acc.price_per_kwh = region.price_per_kwh;
      acc.carbon_kg_per_kwh = region.carbon_kg_per_kwh;
      acc.green_share = region.green_share;
      acc.green_certificate_per_kwh = region.green_certificate_per_kwh;
      acc.servers = static_cast<std::uint32_t>(dc.servers());
      acc.gpus = acc.servers * static_cast<std::uint32_t>(dc.server.gpus_per_server);
      acc.replicas = p.servers * static_cast<std::uint32_t>(p.replicas_per_server) +
                     (p.decode ? p.decode->servers * static_cast<std::uint32_t>(p.decode->replicas_per_server) : 0);
      acc.max_batch_size = p.scheduler.max_batch_size;
      acc.kv_capacity_tokens = p.scheduler.kv_capacity_tokens;
      if (p.decode) {  // both pools: the mean replica's, so that replicas x capacity is the datacenter's
        const double np = p.servers * p.replicas_per_server, nd = p.decode->servers * p.decode->replicas_per_server;
        acc.kv_capacity_tokens = (np * p.scheduler.kv_capacity_tokens + nd * p.decode->scheduler.kv_capacity_tokens) / (np + nd);
        // batch slots likewise (a decode unit batches far more than a prefill unit), to the nearest sequence
        acc.max_batch_size = static_cast<std::uint32_t>(
            std::lround((np * p.scheduler.max_batch_size + nd * p.decode->scheduler.max_batch_size) / (np + nd)));
      }
      acc.prefix_block_tokens = p.scheduler.prefix_block_tokens;
      acc.peak_flops_per_gpu = roofline->linear_peak_flops() / cap.clock_fraction;  // MFU against the nominal peak
      acc.power_capped = cap_config.any();
      acc.gpu_clock_fraction = cap.clock_fraction;
      acc.gpu_power_cap_w = cap.gpu_power_cap_w;
      acc.site_budget_kw = cap_config.site_budget_kw;
      acc.fleet_max_it_kw = cap.fleet_max_kw;
      if (cap_config.hourly()) {
        acc.hourly_power_caps = true;
        for (int h = 0; h < 24; ++h) {
          acc.gpu_clock_fraction_by_hour[h] = hour_caps[h].clock_fraction;
          acc.gpu_power_cap_w_by_hour[h] = cap_config.at_hour(h).any_fixed() ? hour_caps[h].gpu_power_cap_w : 0.0;
        }
      }
      acc.hbm_bytes_per_s_per_gpu = dc.gpu.memory_bandwidth_gb_per_s * 1e9;
      acc.engine = dc.gpu.engine;
      acc.server_capex = dc.server_capex;
      acc.server_max_w = dc.server.max_power_w;
      acc.depreciation_years = s.economics.depreciation_years;
      acc.maintenance_fraction_per_year = s.economics.maintenance_fraction_per_year;
      acc.network_capex_fraction = s.economics.network_capex_fraction;
      acc.facility_capex_per_kw = s.economics.facility_capex_per_kw;
      acc.facility_depreciation_years = s.economics.facility_depreciation_years;
      acc.demand_charge_per_kw_month = region.demand_charge_per_kw_month;
      acc.carbon_price_per_t = s.economics.carbon_price_per_t;
      acc.rent_per_gpu_hour = s.economics.rent_per_gpu_hour;
      acc.training_value_per_gpu_hour = s.operations.training_value_per_gpu_hour;
      acc.rent_while_on = p.ops.enabled();  // autoscaling: servers off are handed back (README "Facility, electricity")
      a.accounting.push_back(acc);
      a.route_info.push_back({region.price_per_kwh, region.carbon_kg_per_kwh, region.pue, acc.offset_s});
    }
  }
  a.system.user_regions = static_cast<std::uint32_t>(s.workload.user_regions.size());
  a.system.signal_half_life_s = s.routing.signal_half_life_s;
  a.system.track_ttft_signal = s.routing.policy == "slo_spillover";
  a.system.cell_replicas = s.cell_replicas;
  a.system.prefix_routing = s.prefix_routing;
  a.system.prefix_routing_slack = s.prefix_routing_slack;
  a.system.prefix_routing_min_match = s.prefix_routing_min_match;
  a.system.threads = s.run.threads;
  a.system.server_detail = s.run.timeline_detail != "datacenter";
  a.system.decision_period_s = s.run.sample_period_s;
  // Failures (per server, from the failures stream of the seed; a unit of k servers fails k times as often)
  // and maintenance windows and training reservations (whole units: a window's servers rounded up to units).
  for (std::uint32_t d = 0; d < a.system.dcs.size(); ++d) {
    serving::PoolSetup& p = a.system.dcs[d];
    const double unit = p.servers_per_unit;
    const std::size_t before = a.system.outages.size();
    if (s.operations.failures_enabled) {
      const OperationsSpec::FailureRates f = s.operations.failures_for(p.name);
      // Each pool's units from a stream of their own; a decode pool's numbered after the prefill pool's.
      const auto draw = [&](const serving::PoolSetup& pool, const std::string& stream, std::uint32_t first) {
        auto drawn = operations::draw_failures(d, stream, pool.servers, f.server_mtbf_h * 3600.0 / pool.servers_per_unit,
                                               f.mttr_h * 3600.0, s.run.duration_s, s.run.seed);
        for (auto& o : drawn) o.server += first;
        a.system.outages.insert(a.system.outages.end(), drawn.begin(), drawn.end());
      };
      draw(p, p.name, 0);
      if (p.decode) draw(*p.decode, p.name + "/decode", p.servers);
    }
    for (const OperationsSpec::MaintenanceSpec& m : s.operations.maintenance) {
      if (m.datacenter != p.name) continue;
      const auto units = static_cast<std::uint32_t>(std::ceil(m.servers / unit - 1e-9));
      auto w = operations::maintenance_window(d, p.servers, units, (m.start_h - s.run.start_h) * 3600.0, m.duration_h * 3600.0);
      for (auto& o : w) o.training = m.training;
      a.system.outages.insert(a.system.outages.end(), w.begin(), w.end());
    }
    p.ops.outages = a.system.outages.size() > before;
  }

  a.routing.policy = s.routing.policy;
  a.routing.max_load_per_replica = s.routing.max_load_per_replica;
  a.routing.ttft_target_s = s.slo.ttft_s;
  a.routing.spill_margin = s.routing.spill_margin;
  a.routing.split = s.routing.split;
  if (s.routing.policy == "slo_spillover") {
    // Each site takes requests up to the batch whose decode step meets the TPOT target (with the same
    // margin as the TTFT test), at the workload's mean context: prompt + half the answer.
    const double ctx = workload::TokenSampler(s.workload.prompt).mean() + workload::TokenSampler(s.workload.output).mean() / 2;
    for (const auto& p : a.system.dcs)
      a.routing.slo_load_limit.push_back(
          serving::batch_within_step_time(*p.step_model, p.scheduler.max_batch_size, ctx, s.routing.spill_margin * s.slo.tpot_s));
  }
  a.routing.seed = s.run.seed;

  // WAN: the links each (user region, datacenter) pair crosses.
  const auto paths = wan_paths(s.regions.size(), s.wan);
  for (const auto& w : s.wan) {
    metrics::WanAccountingSetup::Link l;
    l.cost_per_gb = w.cost_per_gb;
    l.cost_per_day = w.cost_per_day;
    l.lease_if_used = w.lease_default;
    for (std::uint32_t d = 0; d < a.dcs.size(); ++d)
      if (a.dcs[d].region == w.from_index || a.dcs[d].region == w.to_index) l.end_dcs.push_back(d);
    a.wan.links.push_back(l);
  }
  a.wan.bytes_per_token = s.wan_bytes_per_token;
  a.wan.bytes_per_request = s.wan_bytes_per_request;
  a.wan.path.assign(s.workload.user_regions.size(), std::vector<std::vector<std::uint32_t>>(a.dcs.size()));
  for (std::size_t u = 0; u < s.workload.user_regions.size(); ++u)
    for (std::uint32_t d = 0; d < a.dcs.size(); ++d) {
      const auto& p = paths[s.workload.user_regions[u].network_region_index][a.dcs[d].region];
      if (p)
        for (const auto& hop : *p) a.wan.path[u][d].push_back(hop.link);
    }
  a.system.max_context_tokens = static_cast<std::uint32_t>(s.llm.max_context_tokens);
  assemble_batch(s, a);
  for (std::size_t d = 0; d < a.accounting.size(); ++d) a.accounting[d].batch_fill_seqs = a.system.dcs[d].scheduler.batch_max_seqs;

  workload::SyntheticSpec& w = a.workload;
  for (const auto& u : s.workload.user_regions) {
    workload::DemandCurve c;
    // With conversations, the profile sets when conversations start; follow-ups come on top.
    c.requests_per_day = u.requests_per_day / (s.workload.conversations ? s.workload.turns_mean : 1.0);
    c.offset_s = local_offset_s(s, u.utc_offset_h);
    c.hourly_weights = u.hourly_profile;
    c.day_of_week = s.workload.day_of_week;
    c.start_weekday = s.run.start_weekday;
    w.regions.push_back(c);
  }
  w.renewal = s.workload.renewal;
  w.prompt = s.workload.prompt;
  w.output = s.workload.output;
  w.duration_s = s.run.duration_s;
  w.seed = s.run.seed;
  w.system_prompt_tokens = s.workload.system_prompt_tokens;
  w.system_prompt_share = s.workload.system_prompt_share;
  w.system_prompts = s.workload.system_prompts;
  return a;
}

}  // namespace chatdc::config

namespace chatdc::config {

std::shared_ptr<operations::DemandForecast> make_forecast(const Scenario& s, const Assembly& a) {
  if (!s.operations.any_predictive()) return nullptr;
  if (s.workload.source == "trace")  // a twin of the trace's source: the same requests, read ahead
    return std::make_shared<operations::SourceForecast>(std::make_unique<workload::TraceSource>(s.workload.trace));
  return std::make_shared<operations::CurveForecast>(a.workload.regions, s.workload.conversations ? s.workload.turns_mean : 1.0);
}

Workload make_workload(const Scenario& s, const Assembly& a) {
  Workload w;
  if (s.workload.source == "trace") {
    auto t = std::make_unique<workload::TraceSource>(s.workload.trace);
    w.trace = t.get();
    w.source = std::move(t);
    return w;
  }
  w.source = std::make_unique<workload::SyntheticSource>(a.workload);
  if (s.workload.conversations) {
    workload::ConversationSpec c;
    c.turns_mean = s.workload.turns_mean;
    c.think_time_s = s.workload.think_time;
    c.message_tokens = s.workload.message_tokens;
    c.output_tokens = s.workload.output;
    c.max_prompt_tokens = s.workload.prompt.max_tokens;
    c.seed = s.run.seed;
    auto conv = std::make_unique<workload::ConversationSource>(std::move(w.source), c);
    w.conversations = conv.get();
    w.source = std::move(conv);
  }
  return w;
}

}  // namespace chatdc::config
