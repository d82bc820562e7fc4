#include "metrics/accounting.hpp"

#include <algorithm>

#include "core/units.hpp"

namespace chatdc::metrics {

double batch_occupancy(const serving::DcEpoch& e, const DcAccountingSetup& s) {
  const double slots = static_cast<double>(s.replicas) * s.max_batch_size;
  return slots > 0 ? static_cast<double>(e.running + e.batch_running) / slots : 0.0;  // chat and batch work
}

double kv_used_fraction(const serving::DcEpoch& e, const DcAccountingSetup& s) {
  const double cap = s.replicas * s.kv_capacity_tokens;
  return cap > 0 ? e.kv_tokens / cap : 0.0;
}

double kv_cached_fraction(const serving::DcEpoch& e, const DcAccountingSetup& s) {
  const double cap = s.replicas * s.kv_capacity_tokens;
  return cap > 0 ? e.kv_cached_tokens / cap : 0.0;
}

double mfu(const serving::DcEpoch& e, const DcAccountingSetup& s, double dt) {
  const double peak = s.gpus * s.peak_flops_per_gpu * dt;
  return peak > 0 ? e.flops / peak : 0.0;
}

double mbu(const serving::DcEpoch& e, const DcAccountingSetup& s, double dt) {
  const double peak = s.gpus * s.hbm_bytes_per_s_per_gpu * dt;
  return peak > 0 ? e.hbm_bytes / peak : 0.0;
}

void Accounting::add_epoch(const serving::EpochReport& rep, const std::vector<double>& it_energy_j) {
  const double dt = rep.t1 - rep.t0;
  simulated_s_ = std::max(simulated_s_, rep.t1);
  for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
    const DcAccountingSetup& s = dcs_[d];
    DcTotals& tot = totals_[d];
    TimelineRow row;
    row.t0 = rep.t0;
    row.t1 = rep.t1;
    row.dc = d;
    row.stats = rep.dcs[d];
    row.it_energy_kwh = j_to_kwh(it_energy_j[d]);
    row.pue = s.pue.mean(rep.t0, rep.t1, s.offset_s);
    row.price_per_kwh = s.price_per_kwh.mean(rep.t0, rep.t1, s.offset_s);
    row.carbon_kg_per_kwh = s.carbon_kg_per_kwh.mean(rep.t0, rep.t1, s.offset_s);
    row.facility_energy_kwh = row.it_energy_kwh * row.pue;
    row.electricity_cost = row.facility_energy_kwh * row.price_per_kwh;
    row.carbon_kg = row.facility_energy_kwh * row.carbon_kg_per_kwh;
    row.carbon_market_kg = row.carbon_kg * (1 - s.green_share);

    tot.it_energy_kwh += row.it_energy_kwh;
    tot.it_energy_model_kwh += j_to_kwh(rep.dcs[d].it_energy_j);
    tot.facility_energy_kwh += row.facility_energy_kwh;
    tot.electricity_cost += row.electricity_cost;
    tot.carbon_kg += row.carbon_kg;
    tot.carbon_market_kg += row.carbon_market_kg;
    tot.green_energy_kwh += row.facility_energy_kwh * s.green_share;
    tot.green_certificates += row.facility_energy_kwh * s.green_share * s.green_certificate_per_kwh;
    tot.busy_gpu_s += rep.dcs[d].busy_gpu_s;
    tot.ops += rep.dcs[d];
    const double batch_kwh = j_to_kwh(rep.dcs[d].batch_it_energy_j) * row.pue;
    tot.batch_facility_kwh += batch_kwh;
    tot.batch_electricity_cost += batch_kwh * row.price_per_kwh;
    tot.batch_carbon_kg += batch_kwh * row.carbon_kg_per_kwh;
    tot.batch_carbon_market_kg += batch_kwh * row.carbon_kg_per_kwh * (1 - s.green_share);
    const double training_kwh = j_to_kwh(rep.dcs[d].energy_training_j) * row.pue;
    const double training_gpu_h = s.servers > 0 ? rep.dcs[d].training_s * s.gpus / s.servers / kSecondsPerHour : 0.0;
    tot.training_gpu_hours += training_gpu_h;
    tot.training_value += training_gpu_h * s.training_value_per_gpu_hour;
    tot.training_facility_kwh += training_kwh;
    tot.training_electricity_cost += training_kwh * row.price_per_kwh;
    tot.training_carbon_kg += training_kwh * row.carbon_kg_per_kwh;
    tot.training_carbon_market_kg += training_kwh * row.carbon_kg_per_kwh * (1 - s.green_share);
    tot.flops += rep.dcs[d].flops;
    tot.hbm_bytes += rep.dcs[d].hbm_bytes;
    tot.peak_mfu = std::max(tot.peak_mfu, mfu(rep.dcs[d], s, dt));
    tot.peak_mbu = std::max(tot.peak_mbu, mbu(rep.dcs[d], s, dt));
    if (dt > 0 && s.gpus > 0) tot.peak_utilization = std::max(tot.peak_utilization, rep.dcs[d].busy_gpu_s / (s.gpus * dt));
    if (dt > 0) {
      tot.peak_it_power_kw = std::max(tot.peak_it_power_kw, row.it_energy_kwh * kSecondsPerHour / dt);
      tot.peak_facility_power_kw = std::max(tot.peak_facility_power_kw, row.facility_energy_kwh * kSecondsPerHour / dt);
    }
    tot.peak_queued = std::max(tot.peak_queued, rep.dcs[d].queued);
    const double occ = batch_occupancy(rep.dcs[d], s), kv = kv_used_fraction(rep.dcs[d], s);
    tot.batch_occupancy_s += occ * dt;
    tot.kv_used_s += kv * dt;
    tot.peak_batch_occupancy = std::max(tot.peak_batch_occupancy, occ);
    tot.peak_kv_used = std::max(tot.peak_kv_used, kv);
    tot.prefix_queried_tokens += rep.dcs[d].prefix_queried_tokens;
    tot.prefix_hit_tokens += rep.dcs[d].prefix_hit_tokens;
    tot.disk_hit_tokens += rep.dcs[d].disk_hit_tokens;
    const double cached = kv_cached_fraction(rep.dcs[d], s);
    tot.kv_cached_s += cached * dt;
    tot.peak_kv_cached = std::max(tot.peak_kv_cached, cached);
    row.cum_facility_kwh = tot.facility_energy_kwh;
    row.cum_electricity_cost = tot.electricity_cost;
    row.cum_carbon_kg = tot.carbon_kg;
    row.cum_carbon_market_kg = tot.carbon_market_kg;
    rows_.push_back(row);
  }
}

void Accounting::add_traffic(std::uint32_t u, std::uint32_t d, std::uint64_t requests, std::uint64_t tokens) {
  if (wan_.path.empty() || wan_.path[u][d].empty()) return;
  if (traffic_.empty()) traffic_.assign(wan_.path.size(), std::vector<Traffic>(dcs_.size()));
  traffic_[u][d].requests += requests;
  traffic_[u][d].tokens += tokens;
}

bool Accounting::on_a_route(std::uint32_t link) const {
  for (const auto& from_user : wan_.path)
    for (const auto& links : from_user)
      if (std::find(links.begin(), links.end(), link) != links.end()) return true;
  return false;
}

void Accounting::finish(double duration_s) {
  const double days = duration_s / kSecondsPerDay;
  // WAN traffic, per (user region, datacenter) in order.
  if (!traffic_.empty()) {
    link_gb_.assign(wan_.links.size(), 0.0);
    link_dc_gb_.assign(wan_.links.size(), std::vector<double>(dcs_.size(), 0.0));
  }
  for (std::uint32_t u = 0; u < traffic_.size(); ++u)
    for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
      const Traffic& t = traffic_[u][d];
      if (t.requests == 0 && t.tokens == 0) continue;
      const double gb = (static_cast<double>(t.requests) * wan_.bytes_per_request + static_cast<double>(t.tokens) * wan_.bytes_per_token) / 1e9;
      totals_[d].wan_gb += gb;
      for (std::uint32_t l : wan_.path[u][d]) {
        totals_[d].wan += gb * wan_.links[l].cost_per_gb;
        link_gb_[l] += gb;
        link_dc_gb_[l][d] += gb;
      }
    }
  for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
    const DcAccountingSetup& s = dcs_[d];
    DcTotals& t = totals_[d];
    const double fleet = s.servers * s.server_capex;
    t.capex_servers = fleet / (s.depreciation_years * kDaysPerYear) * days;
    t.capex_network = fleet * s.network_capex_fraction / (s.depreciation_years * kDaysPerYear) * days;
    t.capex_facility = s.servers * s.server_max_w / 1e3 * s.facility_capex_per_kw / (s.facility_depreciation_years * kDaysPerYear) * days;
    t.maintenance = fleet * s.maintenance_fraction_per_year / kDaysPerYear * days;
    t.demand_charge = t.peak_facility_power_kw * s.demand_charge_per_kw_month * days / kDaysPerMonth;
    t.carbon_cost = t.carbon_kg / 1e3 * s.carbon_price_per_t;
    if (s.rent_per_gpu_hour > 0) {
      t.rental = s.gpus * duration_s / kSecondsPerHour * s.rent_per_gpu_hour;
      if (s.rent_while_on && s.servers > 0)  // the server-hours off (or training instead) are handed back
        t.rental -= static_cast<double>(s.gpus) / s.servers * (t.ops.off_s + t.ops.training_off_s) / kSecondsPerHour *
                    s.rent_per_gpu_hour;
      t.electricity_cost = t.demand_charge = t.capex_servers = t.capex_network = t.capex_facility = t.maintenance = 0;
    }
  }
  // Leased lines: split by the traffic each datacenter put on the link, else evenly between the
  // datacenters of the link's two end regions (or, when they have none, between all datacenters).
  for (std::uint32_t l = 0; l < wan_.links.size(); ++l) {
    const double fixed = wan_.links[l].cost_per_day * days;
    if (fixed <= 0) continue;
    const double gb = link_gb_.empty() ? 0.0 : link_gb_[l];
    if (wan_.links[l].lease_if_used && !on_a_route(l)) continue;  // a default lease only where requests may go
    if (gb > 0) {
      for (std::uint32_t d = 0; d < dcs_.size(); ++d) totals_[d].wan += fixed * link_dc_gb_[l][d] / gb;
    } else if (!wan_.links[l].end_dcs.empty()) {
      for (std::uint32_t d : wan_.links[l].end_dcs) totals_[d].wan += fixed / wan_.links[l].end_dcs.size();
    } else {  // a link between regions of users only: every datacenter's share alike
      for (auto& t : totals_) t.wan += fixed / totals_.size();
    }
  }
}

}  // namespace chatdc::metrics
