#include <catch2/catch.hpp>

#include <algorithm>

#include "core/rng.hpp"
#include "metrics/accounting.hpp"
#include "metrics/quantiles.hpp"
#include "model/daily_curve.hpp"
#include "model/power.hpp"

using namespace chatdc;

TEST_CASE("exact quantiles interpolate between order statistics") {
  metrics::Quantiles q(metrics::Quantiles::Mode::kExact);
  for (double v : {5.0, 1.0, 4.0, 2.0, 3.0}) q.add(v);
  CHECK(q.mean() == 3.0);
  CHECK(q.quantile(0.5) == 3.0);
  CHECK(q.quantile(0.9) == Approx(4.6));
  CHECK(q.quantile(0.0) == 1.0);
  CHECK(q.max() == 5.0);
}

TEST_CASE("the sketch stays within its relative error bound") {
  metrics::Quantiles exact(metrics::Quantiles::Mode::kExact), sketch(metrics::Quantiles::Mode::kSketch);
  Rng rng(11);
  for (int i = 0; i < 200000; ++i) {
    const double v = 0.05 * std::exp(1.5 * rng.normal());
    exact.add(v);
    sketch.add(v);
  }
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999}) {
    // The sketch answers the order statistic of rank floor(q (n-1)); exact interpolates next to it.
    CHECK(std::fabs(sketch.quantile(q) / exact.quantile(q) - 1) <= metrics::kSketchRelativeError + 1e-4);
  }
  CHECK(sketch.mean() == Approx(exact.mean()).epsilon(1e-6));
}

TEST_CASE("server energy: GPUs plus a non-GPU share that follows the GPUs' dynamic power") {
  const model::ServerPowerSpec s{8, 60, 400, 1000, 3000};
  CHECK(s.server_energy_j(8 * 60 * 10.0, 10) == Approx((8 * 60 + 1000) * 10.0));   // idle
  CHECK(s.server_energy_j(8 * 400 * 10.0, 10) == Approx((8 * 400 + 3000) * 10.0));  // flat out
  // GPUs at 230 W average: halfway between idle and TDP, so the non-GPU part is at 2,000 W.
  CHECK(s.server_energy_j(8 * 230 * 10.0, 10) == Approx((8 * 230 + 2000) * 10.0));
}

TEST_CASE("daily curves: hourly values, time zones, and means across breakpoints and midnight") {
  const auto tou = model::DailyCurve({{0, 0.3}, {8, 0.6}, {10, 1.0}, {12, 0.6}, {22, 0.3}});
  CHECK(tou.at_local_hour(9.5) == 0.6);
  CHECK(tou.at_local_hour(23) == 0.3);
  CHECK(tou.at_local_hour(24 + 10.5) == 1.0);
  // Run time 0 is local 08:00 (offset +8 h): one hour from run time 1.5 h is local 09:30-10:30.
  CHECK(tou.mean(1.5 * 3600, 2.5 * 3600, 8 * 3600) == Approx(0.5 * 0.6 + 0.5 * 1.0));
  // Across local midnight: 23:00-01:00 is all 0.3.
  CHECK(tou.mean(23 * 3600, 25 * 3600, 0) == Approx(0.3));
  // A negative offset: local time = run time - 5 h. Run 14:00-16:00 is local 09:00-11:00.
  CHECK(tou.mean(14 * 3600, 16 * 3600, -5 * 3600) == Approx(0.5 * 0.6 + 0.5 * 1.0));
  // The mean over a whole day is the time-weighted average.
  CHECK(tou.mean(0, 86400, 0) == Approx((8 * 0.3 + 2 * 0.6 + 2 * 1.0 + 10 * 0.6 + 2 * 0.3) / 24));
}

TEST_CASE("accounting: facility energy, electricity, carbon and prorated capex by hand") {
  metrics::DcAccountingSetup s;
  s.name = "dc";
  s.pue = model::DailyCurve::constant(1.25);
  s.price_per_kwh = model::DailyCurve({{0, 0.3}, {12, 0.9}});
  s.carbon_kg_per_kwh = model::DailyCurve::constant(0.5);
  s.servers = 10;
  s.gpus = 80;
  s.server_capex = 365000;
  s.depreciation_years = 5;
  s.maintenance_fraction_per_year = 0.1;
  s.replicas = 20;
  s.max_batch_size = 10;
  s.kv_capacity_tokens = 1000;
  metrics::Accounting acc({s});
  // Two epochs of one hour: 11:00-12:00 and 12:00-13:00, 100 kWh IT each; at their ends 50 and then
  // 150 of the 200 batch slots are used, holding 4,000 and then 16,000 of the 20,000 KV tokens.
  for (int k = 0; k < 2; ++k) {
    serving::EpochReport rep;
    rep.t0 = (11 + k) * 3600.0;
    rep.t1 = rep.t0 + 3600;
    rep.dcs.resize(1);
    rep.dcs[0].busy_gpu_s = 40 * 3600.0;
    rep.dcs[0].running = k == 0 ? 50 : 150;
    rep.dcs[0].kv_tokens = k == 0 ? 4000 : 16000;
    acc.add_epoch(rep, {100 * 3.6e6});
  }
  acc.finish(86400);
  const auto& t = acc.totals(0);
  CHECK(t.facility_energy_kwh == Approx(250));
  CHECK(t.electricity_cost == Approx(125 * 0.3 + 125 * 0.9));
  CHECK(t.carbon_kg == Approx(125));
  CHECK(t.capex_servers == Approx(10 * 365000 / (5 * 365.0)));  // one day of a 5-year straight line
  CHECK(t.maintenance == Approx(10 * 365000 * 0.1 / 365));
  CHECK(t.peak_utilization == Approx(0.5));
  CHECK(t.peak_it_power_kw == Approx(100));
  CHECK(t.batch_occupancy_s == Approx((0.25 + 0.75) * 3600));  // time-weighted: mean 0.5 over the 2 h
  CHECK(t.peak_batch_occupancy == Approx(0.75));
  CHECK(t.kv_used_s == Approx((0.2 + 0.8) * 3600));
  CHECK(t.peak_kv_used == Approx(0.8));
}

TEST_CASE("accounting: network gear, facility capex per kW and a WAN lease per day, by hand") {
  // 10 servers of USD 300,000 and 10.2 kW nameplate; network gear 14% of server capex over the servers' 5
  // years; the building at USD 9,500 per kW of IT nameplate over 20 years; one leased line of 10 Gb/s at
  // USD 300 per Gbps-month, its cost per day as the scenario reader computes it; half a day simulated.
  metrics::DcAccountingSetup s;
  s.name = "dc";
  s.pue = model::DailyCurve::constant(1.2);
  s.price_per_kwh = model::DailyCurve::constant(0.1);
  s.carbon_kg_per_kwh = model::DailyCurve::constant(0.5);
  s.servers = 10;
  s.gpus = 80;
  s.server_capex = 300000;
  s.server_max_w = 10200;
  s.depreciation_years = 5;
  s.maintenance_fraction_per_year = 0.05;
  s.network_capex_fraction = 0.14;
  s.facility_capex_per_kw = 9500;
  s.facility_depreciation_years = 20;
  metrics::WanAccountingSetup wan;
  wan.links.push_back({0.0, 10 * 300 / 30.4375, {0}});
  metrics::Accounting acc({s}, wan);
  acc.finish(43200);
  const auto& t = acc.totals(0);
  CHECK(t.capex_servers == Approx(3e6 / (5 * 365.0) / 2));                       // 1,643.84 a day: 821.92
  CHECK(t.capex_network == Approx(0.14 * 3e6 / (5 * 365.0) / 2));                // 230.14 a day: 115.07
  CHECK(t.capex_facility == Approx(102.0 * 9500 / (20 * 365.0) / 2));            // 102 kW: 132.74 a day: 66.37
  CHECK(t.wan == Approx(3000 / 30.4375 / 2));                                    // 98.56 a day: 49.28
  CHECK(t.capex() == Approx(821.9178 + 115.0685 + 66.3699).epsilon(1e-6));
  CHECK(t.total_cost() == Approx(t.capex() + t.maintenance + t.wan));          // no energy: no electricity

  // Renting: the rent replaces server, network and facility capex and maintenance; the WAN lease stays.
  s.rent_per_gpu_hour = 2;
  metrics::Accounting rented({s}, wan);
  rented.finish(43200);
  const auto& r = rented.totals(0);
  CHECK(r.capex_servers == 0);
  CHECK(r.capex_network == 0);
  CHECK(r.capex_facility == 0);
  CHECK(r.maintenance == 0);
  CHECK(r.rental == Approx(80 * 12 * 2.0));
  CHECK(r.wan == Approx(3000 / 30.4375 / 2));
}

TEST_CASE("accounting: a default lease is taken only on a link some route crosses, a lease given always") {
  metrics::DcAccountingSetup a;
  a.name = "a";
  metrics::WanAccountingSetup wan;
  wan.bytes_per_token = 4;
  wan.bytes_per_request = 2000;
  wan.links.push_back({0.0, 100, {0}, true});   // default lease, on user region 0's route to datacenter 0
  wan.links.push_back({0.0, 100, {0}, true});   // default lease, on no route: not leased
  wan.links.push_back({0.0, 100, {0}, false});  // a lease the scenario gives: charged though on no route
  wan.path = {{{0}}};                           // user region 0 -> datacenter 0 over link 0
  metrics::Accounting acc({a}, wan);
  acc.add_traffic(0, 0, 1000, 1000000);
  acc.finish(86400);
  CHECK(acc.totals(0).wan == Approx(200));
  CHECK(acc.totals(0).wan_gb == Approx((1000 * 2000.0 + 1e6 * 4.0) / 1e9));
  // Without traffic the route still needs its line (provisioned for the requests that may come).
  metrics::Accounting idle({a}, wan);
  idle.finish(86400);
  CHECK(idle.totals(0).wan == Approx(200));
  // No route over link 0 either: only the given lease.
  wan.path = {{{}}};
  metrics::Accounting none({a}, wan);
  none.finish(86400);
  CHECK(none.totals(0).wan == Approx(100));
}

TEST_CASE("accounting: a leased line between regions without datacenters is shared by all datacenters") {
  metrics::DcAccountingSetup a, b;
  a.name = "a";
  b.name = "b";
  metrics::WanAccountingSetup wan;
  wan.links.push_back({0.0, 100, {}});  // no datacenter at either end, no traffic
  metrics::Accounting acc({a, b}, wan);
  acc.finish(86400);
  CHECK(acc.totals(0).wan == Approx(50));
  CHECK(acc.totals(1).wan == Approx(50));
}

TEST_CASE("green power: market-based carbon counts only the supply not covered by green contracts, certificates cost extra") {
  metrics::DcAccountingSetup s;
  s.name = "horinger";
  s.pue = model::DailyCurve::constant(1.2);
  s.price_per_kwh = model::DailyCurve::constant(0.35);
  s.carbon_kg_per_kwh = model::DailyCurve::constant(0.6849);
  s.green_share = 0.8457;
  s.green_certificate_per_kwh = 0.00231;
  metrics::Accounting acc({s});
  serving::EpochReport rep;
  rep.t0 = 0;
  rep.t1 = 3600;
  rep.dcs.resize(1);
  acc.add_epoch(rep, {1000 * 3.6e6});  // 1,000 kWh IT
  acc.finish(3600);
  const auto& t = acc.totals(0);
  CHECK(t.facility_energy_kwh == Approx(1200));
  CHECK(t.carbon_kg == Approx(1200 * 0.6849));                       // location-based: the grid average
  CHECK(t.carbon_market_kg == Approx(1200 * 0.6849 * (1 - 0.8457)));  // market-based
  CHECK(t.green_energy_kwh == Approx(1200 * 0.8457));
  CHECK(t.green_certificates == Approx(1200 * 0.8457 * 0.00231));
  CHECK(t.total_cost() == Approx(t.electricity_cost + t.green_certificates));
  CHECK(acc.rows().back().cum_carbon_market_kg == Approx(t.carbon_market_kg));
}
