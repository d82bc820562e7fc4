#include "config/assemble.hpp"

#include <cmath>

#include "model/step_model.hpp"

namespace chatdc::config {

double local_offset_s(const Scenario& s, double utc_offset_h) { return (utc_offset_h - s.run.clock_utc_offset_h) * 3600.0; }

Assembly assemble(const Scenario& s) {
  Assembly a;
  for (std::uint32_t r = 0; r < s.regions.size(); ++r) {
    const RegionSpec& region = s.regions[r];
    for (const DatacenterSpec& dc : region.datacenters) {
      a.dcs.push_back({r, &dc});
      serving::PoolSetup p;
      p.name = dc.name;
      p.servers = static_cast<std::uint32_t>(dc.servers());
      p.gpus_per_server = dc.server.gpus_per_server;
      p.replicas_per_server = dc.server.gpus_per_server / dc.tensor_parallel;
      p.step_model = std::make_shared<model::RooflineStepModel>(dc.gpu, s.llm, dc.tensor_parallel);
      p.scheduler = s.scheduler;
      p.scheduler.kv_capacity_tokens = model::kv_capacity_tokens(dc.gpu, s.llm, dc.tensor_parallel, s.memory_headroom_fraction);
      p.server_power = {dc.server.gpus_per_server, dc.gpu.idle_power_w, dc.gpu.tdp_w, dc.server.non_gpu_idle_power_w,
                        dc.server.non_gpu_max_power_w};
      a.system.dcs.push_back(p);

      metrics::DcAccountingSetup acc;
      acc.name = dc.name;
      acc.region = region.name;
      acc.offset_s = local_offset_s(s, region.utc_offset_h);
      acc.pue = region.pue;
      acc.price_per_kwh = region.price_per_kwh;
      acc.carbon_kg_per_kwh = region.carbon_kg_per_kwh;
      acc.servers = p.servers;
      acc.gpus = p.servers * static_cast<std::uint32_t>(p.gpus_per_server);
      acc.replicas = p.servers * static_cast<std::uint32_t>(p.replicas_per_server);
      acc.server_capex = dc.server_capex;
      acc.depreciation_years = s.economics.depreciation_years;
      acc.maintenance_fraction_per_year = s.economics.maintenance_fraction_per_year;
      a.accounting.push_back(acc);
    }
  }
  a.system.user_regions = static_cast<std::uint32_t>(s.workload.user_regions.size());
  a.system.max_context_tokens = static_cast<std::uint32_t>(s.llm.max_context_tokens);

  workload::SyntheticSpec& w = a.workload;
  for (const auto& u : s.workload.user_regions) {
    workload::DemandCurve c;
    c.requests_per_day = u.requests_per_day;
    c.offset_s = local_offset_s(s, u.utc_offset_h);
    c.hourly_weights = s.workload.hourly_profile;
    c.day_of_week = s.workload.day_of_week;
    c.start_weekday = s.run.start_weekday;
    w.regions.push_back(c);
  }
  w.renewal = s.workload.renewal;
  w.prompt = s.workload.prompt;
  w.output = s.workload.output;
  w.duration_s = s.run.duration_s;
  w.seed = s.run.seed;
  return a;
}

}  // namespace chatdc::config
