// Pure core: turns each epoch's energy into power, facility energy, cost and carbon, per datacenter,
// and keeps the timeline rows.
//
//   facility energy = IT energy x mean PUE over the epoch (PUE may vary by local hour)
//   electricity     = facility energy x mean price over the epoch (time-of-use by local hour)
//   carbon          = facility energy x mean grid intensity over the epoch
//   demand charge   = peak facility power (kW, one epoch) x charge per kW-month x simulated days / 30.4375
//   capex           = servers x server price / (depreciation years x 365 d) x simulated days
//                     + the same for network gear (a share of server capex)
//                     + facility price per kW of IT capacity / (facility years x 365 d) x simulated days
//   maintenance     = servers x server price x yearly fraction / 365 d x simulated days
//   WAN             = GB carried between regions x path cost per GB + leased lines per day x days
//                     (a line per day: its cost_*_per_day, else lease Gbps x price per Gbps-month / 30.4375 d)
//   carbon cost     = carbon (t) x carbon price
//   rental          = GPUs x hours x price per GPU-hour, replacing electricity, demand charge, capex (servers,
//                     network gear, facility) and maintenance (the provider's) when the scenario rents its GPUs;
//                     WAN and carbon cost stay the renter's; with autoscaling, a server off is handed back
//                     (DeepSeek lends its night's nodes to training): GPUs x (hours - server-hours off / servers),
//                     off including those training instead (operations.training.while_off)
// Power is taken as uniform within an epoch when a price or PUE boundary falls inside it.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "model/daily_curve.hpp"
#include "serving/system.hpp"

namespace chatdc::metrics {

struct DcAccountingSetup {
  std::string name;
  std::string region;
  std::string engine;  // serving engine profile
  double offset_s = 0;  // local time of the datacenter minus run time
  model::DailyCurve pue, price_per_kwh, carbon_kg_per_kwh;
  double green_share = 0;               // of the supply: market-based carbon counts only the rest
  double green_certificate_per_kwh = 0;  // report currency, on the green share of facility energy
  std::uint32_t servers = 0;
  std::uint32_t gpus = 0;
  std::uint32_t replicas = 0;
  std::uint32_t max_batch_size = 0;  // sequences per replica (serving.max_batch_size)
  double kv_capacity_tokens = 0;     // per replica
  std::uint32_t prefix_block_tokens = 0;  // prefix caching: tokens per KV block (0: off)
  double peak_flops_per_gpu = 0;       // dense peak for the model's weight dtype, FLOP/s (MFU)
  double hbm_bytes_per_s_per_gpu = 0;  // HBM peak bandwidth, bytes/s (MBU)
  double server_capex = 0;  // report currency
  double server_max_w = 0;  // nameplate, for facility capex per kW
  double depreciation_years = 5;
  double maintenance_fraction_per_year = 0.05;
  double network_capex_fraction = 0;
  double facility_capex_per_kw = 0;
  double facility_depreciation_years = 20;
  double demand_charge_per_kw_month = 0;
  double carbon_price_per_t = 0;
  double rent_per_gpu_hour = 0;  // > 0: the GPUs are rented; power, capex and maintenance are the provider's
  bool rent_while_on = false;    // autoscaling: rent is paid for the server-hours not off (serving, draining, waking)
  // Power capping (operations.power_capping): the GPUs' clock all day, what a GPU then draws at most (W),
  // the site budget (kW, 0: none) and every server at its most at that clock (kW).
  bool power_capped = false;
  double gpu_clock_fraction = 1, gpu_power_cap_w = 0, site_budget_kw = 0, fleet_max_it_kw = 0;
  // By the hour (gpu_power_cap_w_by_hour, gpu_clock_fraction_by_hour): each local hour's clock and what a GPU
  // draws at most then (0: the hour is uncapped); the fields above then hold the day's lowest clock and its
  // cap, and the largest fleet power of the day.
  bool hourly_power_caps = false;
  std::array<double, 24> gpu_clock_fraction_by_hour{}, gpu_power_cap_w_by_hour{};
  /// The clock and cap of the period starting at run time t (hours by offset_s).
  double clock_at(double t) const { return hourly_power_caps ? gpu_clock_fraction_by_hour[local_hour(t)] : gpu_clock_fraction; }
  double cap_w_at(double t) const {
    return hourly_power_caps ? gpu_power_cap_w_by_hour[local_hour(t)] : power_capped ? gpu_power_cap_w : 0.0;
  }
  int local_hour(double t) const {
    const double h = std::floor((t + offset_s) / 3600.0 + 1e-9);
    return static_cast<int>(h - 24.0 * std::floor(h / 24.0));
  }
  std::uint32_t batch_fill_seqs = 0;  // batch work joins a replica's batch below this many sequences (0: none here)
  double training_value_per_gpu_hour = 0;  // operations.training: what a training GPU-hour is worth (0: not valued)
};

/// WAN traffic costs: links and, for each (user region, datacenter), the links its requests cross.
struct WanAccountingSetup {
  struct Link {
    double cost_per_gb = 0, cost_per_day = 0;
    std::vector<std::uint32_t> end_dcs;  // datacenters of its two end regions (fixed cost fallback)
    bool lease_if_used = false;  // a default lease (costs.yaml): taken only on a link some route crosses
  };
  std::vector<Link> links;
  std::vector<std::vector<std::vector<std::uint32_t>>> path;  // [user region][dc] -> link indices
  double bytes_per_token = 4, bytes_per_request = 2000;
};

struct TimelineRow {
  double t0 = 0, t1 = 0;
  std::uint32_t dc = 0;
  serving::DcEpoch stats;
  double it_energy_kwh = 0;        // from the engine (SimGrid's energy plugin)
  double facility_energy_kwh = 0;
  double pue = 0, price_per_kwh = 0, carbon_kg_per_kwh = 0;
  double electricity_cost = 0, carbon_kg = 0;
  double carbon_market_kg = 0;  // market-based: the green share emits nothing, the rest the grid average
  double cum_carbon_market_kg = 0;
  double cum_facility_kwh = 0, cum_electricity_cost = 0, cum_carbon_kg = 0;
};

/// Fractions of a datacenter's batch slots and KV cache in use at the end of an epoch.
double batch_occupancy(const serving::DcEpoch& e, const DcAccountingSetup& s);
double kv_used_fraction(const serving::DcEpoch& e, const DcAccountingSetup& s);
/// Prefix caching: cached KV no live sequence holds, as a fraction of the KV capacity, at an epoch's end.
double kv_cached_fraction(const serving::DcEpoch& e, const DcAccountingSetup& s);
/// Over an epoch of dt seconds: model FLOPs utilization, FLOPs / (GPUs x dense peak x dt), and memory
/// bandwidth utilization, HBM bytes / (GPUs x HBM peak x dt).
double mfu(const serving::DcEpoch& e, const DcAccountingSetup& s, double dt);
double mbu(const serving::DcEpoch& e, const DcAccountingSetup& s, double dt);

struct DcTotals {
  double it_energy_kwh = 0, it_energy_model_kwh = 0, facility_energy_kwh = 0;
  double electricity_cost = 0, carbon_kg = 0;
  double carbon_market_kg = 0, green_energy_kwh = 0, green_certificates = 0;
  double capex_servers = 0, capex_network = 0, capex_facility = 0, maintenance = 0;
  double demand_charge = 0, wan = 0, carbon_cost = 0, rental = 0;
  double wan_gb = 0;
  double busy_gpu_s = 0;
  double peak_utilization = 0;
  double flops = 0, hbm_bytes = 0;  // work of the steps executed
  double peak_mfu = 0, peak_mbu = 0;  // over one sample period
  // Batch slots and KV cache in use, as fractions of the datacenter's, sampled at each period's end:
  // time-weighted sums (fraction x s) and peaks.
  double batch_occupancy_s = 0, kv_used_s = 0;
  double peak_batch_occupancy = 0, peak_kv_used = 0;
  // Prefix caching: prompt tokens looked up and found cached; the cached share of the KV cache
  // (time-weighted sum and peak, sampled at each period's end).
  double prefix_queried_tokens = 0, prefix_hit_tokens = 0;
  double disk_hit_tokens = 0;  // on-disk KV tier: prompt tokens read from disk
  double kv_cached_s = 0, peak_kv_cached = 0;
  double peak_it_power_kw = 0, peak_facility_power_kw = 0;
  std::uint64_t peak_queued = 0;
  serving::DcEpoch ops;  // sums over the epochs: wake-ups, server-seconds and IT energy by power state
  // Deferrable batch work: its attributed IT energy (ops.batch_it_energy_j) x PUE, priced and emitting
  // as the period's facility energy does.
  double batch_facility_kwh = 0, batch_electricity_cost = 0, batch_carbon_kg = 0, batch_carbon_market_kg = 0;
  // Training reservations: GPU-hours trained, their IT energy (ops.energy_training_j) x PUE, priced and
  // emitting as the period's facility energy does, and what the GPU-hours are worth.
  double training_gpu_hours = 0, training_facility_kwh = 0, training_electricity_cost = 0, training_carbon_kg = 0,
         training_carbon_market_kg = 0, training_value = 0;
  double capex() const { return capex_servers + capex_network + capex_facility; }
  double total_cost() const {
    return electricity_cost + green_certificates + demand_charge + capex() + maintenance + wan + carbon_cost + rental;
  }
};

class Accounting {
 public:
  explicit Accounting(std::vector<DcAccountingSetup> dcs, WanAccountingSetup wan = {})
      : dcs_(std::move(dcs)), wan_(std::move(wan)), totals_(dcs_.size()) {}
  /// One epoch: the serving model's report and the IT energy (J) per datacenter measured by the engine.
  void add_epoch(const serving::EpochReport& rep, const std::vector<double>& it_energy_j);
  /// Requests served at datacenter d for users of region u, with their tokens (for WAN traffic). Counted
  /// as whole numbers and priced at finish(), so the order of requests does not matter.
  void add_traffic(std::uint32_t user_region, std::uint32_t dc, std::uint64_t requests, std::uint64_t tokens);
  /// Requests and tokens counted per [user region][dc] (for merging shards of a day).
  struct Traffic {
    std::uint64_t requests = 0, tokens = 0;
  };
  const std::vector<std::vector<Traffic>>& traffic() const { return traffic_; }
  /// Prorates capex, maintenance, demand and leased-line charges over the simulated duration.
  void finish(double duration_s);

  const std::vector<DcAccountingSetup>& dcs() const { return dcs_; }
  const std::vector<TimelineRow>& rows() const { return rows_; }
  const DcTotals& totals(std::uint32_t dc) const { return totals_[dc]; }
  double simulated_s() const { return simulated_s_; }

 private:
  /// Whether some user region's route to some datacenter crosses the link.
  bool on_a_route(std::uint32_t link) const;

  std::vector<DcAccountingSetup> dcs_;
  WanAccountingSetup wan_;
  std::vector<std::vector<Traffic>> traffic_;  // [user region][dc]
  std::vector<double> link_gb_;                // per link
  std::vector<std::vector<double>> link_dc_gb_;  // [link][dc]
  std::vector<DcTotals> totals_;
  std::vector<TimelineRow> rows_;
  double simulated_s_ = 0;
};

}  // namespace chatdc::metrics
