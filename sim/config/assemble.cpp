#include "config/assemble.hpp"

#include <cmath>

#include "config/wan_paths.hpp"
#include "model/step_model.hpp"
#include "model/step_table.hpp"
#include "model/step_work.hpp"

namespace chatdc::config {

// Local time at run time t is t + offset: the run starts at start_h on its clock (clock_utc_offset_h).
double local_offset_s(const Scenario& s, double utc_offset_h) {
  return (utc_offset_h - s.run.clock_utc_offset_h + s.run.start_h) * 3600.0;
}

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
      auto roofline = std::make_shared<model::RooflineStepModel>(dc.gpu, s.llm, par);
      if (dc.step_table)
        p.step_model = std::make_shared<model::TableStepModel>(*dc.step_table, roofline);
      else
        p.step_model = roofline;
      p.work_model = std::make_shared<model::StepWorkModel>(s.llm);
      p.scheduler = s.scheduler;
      p.scheduler.kv_capacity_tokens =
          model::kv_capacity_tokens(dc.gpu, s.llm, par, s.memory_headroom_fraction);
      p.request_overhead_s = dc.gpu.request_overhead_ms * 1e-3;
      p.max_waiting_per_replica = s.max_waiting_per_replica;
      p.server_power = {p.gpus_per_server, dc.gpu.idle_power_w, dc.gpu.tdp_w, unit * dc.server.non_gpu_idle_power_w,
                        unit * dc.server.non_gpu_max_power_w};
      p.local_offset_s = local_offset_s(s, region.utc_offset_h);
      p.ops.autoscaling = s.operations.autoscaling;
      p.ops.off_power_w = unit * s.operations.off_power_w;
      p.ops.wake_power_w = s.operations.wake_power_w >= 0 ? unit * s.operations.wake_power_w : p.server_power.idle_w();
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
        auto droof = std::make_shared<model::RooflineStepModel>(dc.gpu, s.llm, dpar);
        if (dc.step_table)
          d->step_model = std::make_shared<model::TableStepModel>(*dc.step_table, droof);
        else
          d->step_model = droof;
        d->scheduler.kv_capacity_tokens = model::kv_capacity_tokens(dc.gpu, s.llm, dpar, s.memory_headroom_fraction);
        d->scheduler.max_batch_size = dc.decode->max_batch_size;
        d->server_power = {d->gpus_per_server, dc.gpu.idle_power_w, dc.gpu.tdp_w, du * dc.server.non_gpu_idle_power_w,
                           du * dc.server.non_gpu_max_power_w};
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
      }
      acc.prefix_block_tokens = p.scheduler.prefix_block_tokens;
      acc.peak_flops_per_gpu = roofline->linear_peak_flops();
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
