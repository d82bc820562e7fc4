#include "metrics/accounting.hpp"

#include <algorithm>

#include "core/units.hpp"

namespace chatdc::metrics {

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

    tot.it_energy_kwh += row.it_energy_kwh;
    tot.it_energy_model_kwh += j_to_kwh(rep.dcs[d].it_energy_j);
    tot.facility_energy_kwh += row.facility_energy_kwh;
    tot.electricity_cost += row.electricity_cost;
    tot.carbon_kg += row.carbon_kg;
    tot.busy_gpu_s += rep.dcs[d].busy_gpu_s;
    if (dt > 0 && s.gpus > 0) tot.peak_utilization = std::max(tot.peak_utilization, rep.dcs[d].busy_gpu_s / (s.gpus * dt));
    if (dt > 0) {
      tot.peak_it_power_kw = std::max(tot.peak_it_power_kw, row.it_energy_kwh * kSecondsPerHour / dt);
      tot.peak_facility_power_kw = std::max(tot.peak_facility_power_kw, row.facility_energy_kwh * kSecondsPerHour / dt);
    }
    tot.peak_queued = std::max(tot.peak_queued, rep.dcs[d].queued);
    row.cum_facility_kwh = tot.facility_energy_kwh;
    row.cum_electricity_cost = tot.electricity_cost;
    row.cum_carbon_kg = tot.carbon_kg;
    rows_.push_back(row);
  }
}

void Accounting::finish(double duration_s) {
  const double days = duration_s / kSecondsPerDay;
  for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
    const DcAccountingSetup& s = dcs_[d];
    const double fleet = s.servers * s.server_capex;
    totals_[d].capex = fleet / (s.depreciation_years * kDaysPerYear) * days;
    totals_[d].maintenance = fleet * s.maintenance_fraction_per_year / kDaysPerYear * days;
  }
}

}  // namespace chatdc::metrics
