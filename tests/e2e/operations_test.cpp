// Operations end to end: a diurnal day of the western datacenter (scenarios/west-operations.yaml at a
// tenth of its scale) always on, scheduled, reactively and predictively scaled; bad operations input.
#include <cmath>

#include "e2e/harness.hpp"

using namespace chatdc::test;
using json = nlohmann::json;

namespace {
const std::string kSmall =
    " --set workload.requests_per_day=2e6 --set 'platform.regions[ningxia].datacenters[zw-1].racks=5'"
    " --set 'platform.regions[ningxia].datacenters[zw-1].servers_per_rack=1' --set operations.autoscaling.min_servers=1 --quiet";

json day(const std::string& policy, const std::filesystem::path& out, const std::string& extra = "") {
  const Proc p = run("run scenarios/west-operations.yaml" + kSmall + " --set operations.autoscaling.policy=" + policy + extra +
                     " --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  return summary(out);
}
}  // namespace

TEST_CASE("operations: scheduled and reactive scaling save energy on a diurnal day, keep the SLO and lose no request") {
  const auto base = scratch("ops-always-on");
  const auto sched = scratch("ops-schedule");
  const auto react = scratch("ops-reactive");
  const auto pred = scratch("ops-predictive");
  const json a = day("none", base), s = day("schedule", sched), r = day("reactive", react), p = day("predictive", pred);
  const double servers = a["fleet"]["servers"].get<double>();
  for (const json* j : {&a, &s, &r, &p}) {
    const auto& q = (*j)["requests"];
    CHECK(q["arrived"].get<long>() == q["completed"].get<long>() + q["unfinished"].get<long>() + q["rejected"].get<long>() +
                                          q["dropped"].get<long>());
    CHECK(q["dropped"].get<long>() == 0);
    CHECK(q["arrived"].get<long>() == a["requests"]["arrived"].get<long>());  // the same requests
    CHECK((*j)["slo"]["attainment"].get<double>() >= 0.99);
    // Server-hours by state add up to the fleet's, and IT energy by state to the model's IT energy.
    const auto& ps = (*j)["power_states"];
    double hours = 0, kwh = 0;
    for (const char* k : {"serving", "draining", "waking", "off"}) {
      hours += ps["server_hours"][k].get<double>();
      kwh += ps["it_energy_kwh"][k].get<double>();
    }
    CHECK(hours == Approx(servers * 24).epsilon(1e-9));
    CHECK(kwh == Approx((*j)["energy_kwh"]["it_model"].get<double>()).epsilon(1e-9));
    // SimGrid's plugin (hosts off for whole periods, power levels down to the off power) agrees with the model.
    CHECK((*j)["energy_kwh"]["it"].get<double>() == Approx((*j)["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
  }
  const double e0 = a["energy_kwh"]["it"].get<double>();
  CHECK(a["power_states"]["wake_ups"].get<long>() == 0);
  CHECK(s["energy_kwh"]["it"].get<double>() < 0.93 * e0);
  CHECK(r["energy_kwh"]["it"].get<double>() < 0.95 * e0);
  CHECK(s["power_states"]["server_hours"]["off"].get<double>() > 10);
  CHECK(r["power_states"]["wake_ups"].get<long>() > 0);
  // Predictive: the demand curve known ahead by the wake delay (4 requests/s per replica, 20% headroom).
  CHECK(p["energy_kwh"]["it"].get<double>() < 0.9 * e0);
  CHECK(p["power_states"]["wake_ups"].get<long>() > 0);
  CHECK(p["power_states"]["server_hours"]["off"].get<double>() > 10);
  CHECK(s["cost"]["electricity"].get<double>() < a["cost"]["electricity"].get<double>());

  // The timeline counts servers by state at every period's end.
  const auto t = read_csv(sched / "timeline.csv");
  const auto& h = t[0];
  const std::size_t cs = column(h, "servers_serving"), cd = column(h, "servers_draining"), cw = column(h, "servers_waking"),
                    co = column(h, "servers_off"), ci = column(h, "servers_idle");
  long min_serving = 1 << 30, max_off = 0;
  for (std::size_t i = 1; i < t.size(); ++i) {
    const long n = std::stol(t[i][cs]) + std::stol(t[i][cd]) + std::stol(t[i][cw]) + std::stol(t[i][co]);
    CHECK(n == static_cast<long>(servers));
    CHECK(std::stol(t[i][ci]) <= std::stol(t[i][cs]));
    min_serving = std::min(min_serving, std::stol(t[i][cs]));
    max_off = std::max(max_off, std::stol(t[i][co]));
  }
  CHECK(min_serving >= 1);
  CHECK(max_off >= 2);

  // Deterministic by seed, and independent of the number of threads.
  const auto again = scratch("ops-reactive-again");
  json r2 = day("reactive", again, " --set run.threads=1");
  json r1 = r;
  r1.erase("wall_s");
  r2.erase("wall_s");
  r1["scenario"].erase("file");
  r2["scenario"].erase("file");
  CHECK(r1 == r2);
}

TEST_CASE("operations: bad input names the key, the value and what is expected") {
  const auto never = scratch("ops-bad") / "never";
  const std::string base = "run scenarios/west-operations.yaml --quiet --out " + never.string() + " --set ";
  check_bad_inputs(base, {{"operations.autoscaling.policy=predictive-ish", "operations.autoscaling.policy"},
                          {"operations.autoscaling.polcy=reactive", "polcy"},
                          {"operations.autoscaling.min_servers=10 --set operations.autoscaling.max_servers=4",
                           "must not exceed max_servers (4), got 10"},
                          {"operations.autoscaling.schedule=[1,1,1]", "operations.autoscaling.schedule"},
                          {"operations.autoscaling.tolerance=1", "operations.autoscaling.tolerance"},
                          {"operations.servers.boot_s=90000", "operations.servers.boot_s"},
                          {"operations.servers.model_load_gb_per_s=0", "operations.servers.model_load_gb_per_s"},
                          {"operations.servers.off_power_w=4000", "below the idle power"},
                          {"operations.servers.wake_power_w=hot", "expected \"idle\""},
                          // the fine engine runs autoscaling, not failures
                          {"operations.autoscaling.policy=reactive --set run.engine=fine --set operations.failures.enabled=true",
                           "failures and maintenance need run.engine: day"}},
                   never);
  // A day with autoscaling does not split into shards: its cells are scaled together.
  const Proc sh = run("run tests/fixtures/tiny.yaml --quiet --shard 1/2 --out " + never.string() +
                      " --set operations.autoscaling.policy=reactive --set operations.autoscaling.target_load_per_replica=8");
  CHECK(sh.code == 2);
  CHECK_THAT(sh.err, Catch::Contains("operations.autoscaling.policy is reactive: a datacenter's servers are scaled together"));
  // reactive without its target
  const Proc p = run("run tests/fixtures/tiny.yaml --quiet --out " + never.string() + " --set operations.autoscaling.policy=reactive");
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("operations.autoscaling.target_load_per_replica"));
}

TEST_CASE("green power: a preset's green share gives market-based carbon beside location-based, and its certificates' cost") {
  const auto out = scratch("green");
  const Proc p = run("run scenarios/west-operations.yaml --quiet --set run.duration_h=1 --set workload.requests_per_day=1e6"
                     " --set 'platform.regions[ningxia].preset=cn-west-innermongolia-horinger' --out " + out.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const double fac = s["energy_kwh"]["facility"].get<double>();
  CHECK(s["carbon_kg"].get<double>() == Approx(fac * 0.6849).epsilon(1e-9));
  CHECK(s["carbon_kg_market"].get<double>() == Approx(fac * 0.6849 * (1 - 0.8457)).epsilon(1e-9));
  CHECK(s["green_energy_kwh"].get<double>() == Approx(fac * 0.8457).epsilon(1e-9));
  CHECK(s["cost"]["green_certificates"].get<double>() == Approx(fac * 0.8457 * 0.00231).epsilon(1e-9));
  const auto t = read_csv(out / "timeline.csv");
  CHECK(std::stod(t.back()[column(t[0], "carbon_kg_market_cum")]) == Approx(s["carbon_kg_market"].get<double>()).epsilon(1e-9));
  // A region without a green share has market = location.
  const auto plain = scratch("green-none");
  REQUIRE(run("run tests/fixtures/tiny.yaml --quiet --set run.duration_h=1 --out " + plain.string()).code == 0);
  const json q = summary(plain);
  CHECK(q["carbon_kg_market"].get<double>() == Approx(q["carbon_kg"].get<double>()).epsilon(1e-12));

  const auto never = scratch("green-bad") / "never";
  check_bad_inputs("run tests/fixtures/tiny.yaml --quiet --out " + never.string() + " --set ",
                   {{"'platform.regions[east].green_share=0.5'", "green_certificate_cny_per_kwh"},
                    {"'platform.regions[east].green_share=1.5'", "platform.regions[0].green_share"},
                    {"'platform.regions[east].green_share=0.5' --set 'platform.regions[east].green_certificate_usd_per_kwh=3'",
                     "green_certificate_usd_per_kwh"}},
                   never);
}

TEST_CASE("power capping: a GPU cap slows prefill and saves energy, a datacenter's own clock, outputs name them") {
  const auto base = scratch("cap-none"), capped = scratch("cap-300"), clocked = scratch("cap-dc-clock");
  const auto go = [](const std::filesystem::path& out, const std::string& extra) {
    const Proc p = run("run tests/fixtures/tiny.yaml --quiet --out " + out.string() + extra);
    INFO(p.err);
    REQUIRE(p.code == 0);
    return summary(out);
  };
  const json a = go(base, "");
  const json b = go(capped, " --set operations.power_capping.gpu_power_cap_w=300");
  // The datacenter's own locked clock replaces the scenario-wide cap.
  const json c = go(clocked, " --set operations.power_capping.gpu_power_cap_w=300"
                             " --set operations.power_capping.datacenters.east-1.gpu_clock_fraction=0.9");
  CHECK(b["requests"]["arrived"] == a["requests"]["arrived"]);
  CHECK(b["requests"]["completed"].get<long>() + b["requests"]["unfinished"].get<long>() ==
        a["requests"]["completed"].get<long>() + a["requests"]["unfinished"].get<long>());
  CHECK(b["latency_s"]["ttft"]["p50"].get<double>() > 1.05 * a["latency_s"]["ttft"]["p50"].get<double>());
  CHECK(b["energy_kwh"]["it"].get<double>() < 0.97 * a["energy_kwh"]["it"].get<double>());
  // The work is the same, measured against the nominal peak.
  CHECK(b["utilization"]["mfu_mean"].get<double>() == Approx(a["utilization"]["mfu_mean"].get<double>()).epsilon(2e-3));
  const json& pa = a["datacenters"][0]["power_capping"];
  const json& pb = b["datacenters"][0]["power_capping"];
  const json& pc = c["datacenters"][0]["power_capping"];
  CHECK_FALSE(pa["enabled"].get<bool>());
  CHECK(pa["gpu_clock_fraction"].get<double>() == 1.0);
  CHECK(pb["enabled"].get<bool>());
  CHECK(pb["gpu_power_cap_w"].get<double>() == Approx(300));
  CHECK(pb["gpu_clock_fraction"].get<double>() < 0.9);
  CHECK(pc["gpu_clock_fraction"].get<double>() == 0.9);
  CHECK(pb["fleet_max_it_kw"].get<double>() < pa["fleet_max_it_kw"].get<double>());
  const auto t = read_csv(capped / "timeline.csv");
  const std::size_t cw = column(t[0], "gpu_power_cap_w"), cf = column(t[0], "gpu_clock_fraction");
  CHECK(std::stod(t[1][cw]) == Approx(300));
  CHECK(std::stod(t[1][cf]) == Approx(pb["gpu_clock_fraction"].get<double>()));
}

TEST_CASE("power caps by the hour: capped hours draw less, earlier hours are the uncapped day's, deterministic, nothing lost") {
  // The tiny fixture with a balancer cell per server (2 cells, run in windows over threads); run clock = local time.
  const std::string cells = " --set serving.cell_replicas=1";
  const std::string hourly =
      " --set 'operations.power_capping.gpu_power_cap_w_by_hour=[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,240,240,240,240,240,0]'";
  const auto base = scratch("cap-hourly-none"), capped = scratch("cap-hourly"), again = scratch("cap-hourly-again"),
             fixed = scratch("cap-hourly-fixed");
  const auto go = [](const std::filesystem::path& out, const std::string& extra) {
    const Proc p = run("run tests/fixtures/tiny.yaml --quiet --out " + out.string() + extra);
    INFO(p.err);
    REQUIRE(p.code == 0);
    return summary(out);
  };
  const json a = go(base, cells), b = go(capped, cells + hourly), c = go(again, cells + hourly + " --set run.threads=1"),
             f = go(fixed, cells + " --set operations.power_capping.gpu_power_cap_w=240");
  for (const json* j : {&a, &b}) {
    const auto& q = (*j)["requests"];
    CHECK(q["arrived"].get<long>() ==
          q["completed"].get<long>() + q["unfinished"].get<long>() + q["rejected"].get<long>() + q["dropped"].get<long>());
    CHECK(q["arrived"].get<long>() == a["requests"]["arrived"].get<long>());
    // The model's energy and SimGrid's agree as without caps.
    CHECK((*j)["energy_kwh"]["it"].get<double>() == Approx((*j)["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
  }
  CHECK(summary_sans_wall(capped) == summary_sans_wall(again));  // deterministic, whatever the threads
  // Less energy than uncapped, more than capped all day.
  const double ea = a["energy_kwh"]["it"].get<double>(), eb = b["energy_kwh"]["it"].get<double>(), ef = f["energy_kwh"]["it"].get<double>();
  CHECK(eb < 0.99 * ea);
  CHECK(eb > ef);
  const json& pc = b["datacenters"][0]["power_capping"];
  CHECK(pc["enabled"].get<bool>());
  CHECK(pc["gpu_power_cap_w"].get<double>() == Approx(240));  // the day's lowest clock and its cap
  CHECK(pc["gpu_clock_fraction"].get<double>() == Approx(f["datacenters"][0]["power_capping"]["gpu_clock_fraction"].get<double>()));
  CHECK(pc["fleet_max_it_kw"].get<double>() == Approx(a["datacenters"][0]["power_capping"]["fleet_max_it_kw"].get<double>()));
  REQUIRE(pc["gpu_power_cap_w_by_hour"].size() == 24);
  CHECK(pc["gpu_power_cap_w_by_hour"][17].get<double>() == 0.0);
  CHECK(pc["gpu_power_cap_w_by_hour"][18].get<double>() == Approx(240));
  CHECK(pc["gpu_clock_fraction_by_hour"][23].get<double>() == 1.0);
  CHECK(pc["gpu_clock_fraction_by_hour"][22].get<double>() == Approx(pc["gpu_clock_fraction"].get<double>()));
  CHECK_FALSE(a["datacenters"][0]["power_capping"].contains("gpu_power_cap_w_by_hour"));

  // Timeline: before 18:00 every row is the uncapped day's; from 18:00 to 23:00 the clock and cap follow the
  // hour and each hour draws less than uncapped; at 23:00 the clock is back to its maximum.
  const auto ta = read_csv(base / "timeline.csv"), tb = read_csv(capped / "timeline.csv");
  REQUIRE(ta.size() == tb.size());
  const std::size_t ch = column(ta[0], "clock_hour"), cp = column(ta[0], "it_power_kw"), cf = column(ta[0], "gpu_clock_fraction"),
                    cw = column(ta[0], "gpu_power_cap_w");
  std::vector<double> pa(24, 0.0), pb(24, 0.0);
  std::size_t same = 0;
  for (std::size_t i = 1; i < ta.size(); ++i) {
    const int h = static_cast<int>(std::stod(ta[i][ch]));
    pa[h] += std::stod(ta[i][cp]);
    pb[h] += std::stod(tb[i][cp]);
    const bool in_cap = h >= 18 && h < 23;
    CHECK(std::stod(tb[i][cw]) == (in_cap ? Approx(240) : Approx(0)));
    CHECK((std::stod(tb[i][cf]) < 1.0) == in_cap);
    if (h < 18) {
      CHECK(ta[i] == tb[i]);
      ++same;
    }
  }
  CHECK(same == 18 * 12);  // 5-minute periods
  for (int h = 18; h < 23; ++h) CHECK(pb[h] < 0.97 * pa[h]);
  CHECK(pb[23] == Approx(pa[23]).epsilon(0.05));  // the uncapped clock again (the queues left by the cap aside)
}

TEST_CASE("operations per datacenter: one site scales predictively while the other serves all day, nothing lost") {
  const auto out = scratch("ops-per-dc");
  const Proc p = run("run tests/fixtures/two_sites.yaml --quiet --out " + out.string() +
                     " --set 'operations.datacenters.zw-1.autoscaling={policy: predictive, target_requests_per_s_per_replica: 2}'");
  INFO(p.err);
  REQUIRE(p.code == 0);
  const json j = summary(out);
  const auto& q = j["requests"];
  CHECK(q["arrived"].get<long>() ==
        q["completed"].get<long>() + q["unfinished"].get<long>() + q["rejected"].get<long>() + q["dropped"].get<long>());
  CHECK(q["dropped"].get<long>() == 0);
  for (const auto& d : j["datacenters"]) {
    const double off = d["power_states"]["server_hours"]["off"].get<double>();
    if (d["name"] == "sh-1")
      CHECK(off == 0.0);  // no policy of its own, none scenario-wide: always on
    else
      CHECK(off > 0.5);   // 0.3 requests/s a replica, 2 wanted: one of its two servers off
  }
}

TEST_CASE("failures and maintenance: a seeded day loses capacity (timeline), retries requests, stays deterministic, loses none") {
  const std::string fail = " --set operations.failures.server_mtbf_h=24 --set operations.failures.mttr_h=2";
  const std::string maint = " --set 'operations.failures.maintenance=[{datacenter: zw-1, start_h: 2, duration_h: 3, servers: 2}]'";
  const auto base_dir = scratch("fail-none"), fail_dir = scratch("fail-on"), again_dir = scratch("fail-again"),
             maint_dir = scratch("fail-maint");
  const json a = day("none", base_dir), f = day("none", fail_dir, fail), g = day("none", again_dir, fail + " --set run.threads=1"),
             m = day("none", maint_dir, maint);
  const double servers = a["fleet"]["servers"].get<double>();
  for (const json* j : {&a, &f, &m}) {
    const auto& q = (*j)["requests"];
    CHECK(q["arrived"].get<long>() == q["completed"].get<long>() + q["unfinished"].get<long>() + q["rejected"].get<long>() +
                                          q["dropped"].get<long>());
    // Failures draw from a stream of their own: the same requests arrive.
    CHECK(q["arrived"].get<long>() == a["requests"]["arrived"].get<long>());
    const auto& ps = (*j)["power_states"];
    double hours = 0, kwh = 0;
    for (const char* k : {"serving", "draining", "waking", "off", "failed", "maintenance"}) {
      hours += ps["server_hours"][k].get<double>();
      kwh += ps["it_energy_kwh"][k].get<double>();
    }
    CHECK(hours == Approx(servers * 24).epsilon(1e-9));
    CHECK(kwh == Approx((*j)["energy_kwh"]["it_model"].get<double>()).epsilon(1e-9));
    CHECK((*j)["energy_kwh"]["it"].get<double>() == Approx((*j)["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
  }
  // Off unless asked for: the plain day has none.
  CHECK(a["failures"]["failures"].get<long>() == 0);
  CHECK(a["failures"]["retried_requests"].get<long>() == 0);
  // Failures (5 servers, MTBF 24 h: about 5 a day): retried requests, server-hours lost, energy lower.
  const auto& ff = f["failures"];
  CHECK(ff["failures"].get<long>() >= 1);
  CHECK(ff["repairs"].get<long>() >= 1);
  CHECK(ff["retried_requests"].get<long>() >= 1);
  CHECK(ff["server_hours_failed"].get<double>() > 0.5);
  CHECK(f["power_states"]["server_hours"]["failed"].get<double>() == Approx(ff["server_hours_failed"].get<double>()).epsilon(1e-12));
  CHECK(f["energy_kwh"]["it"].get<double>() < a["energy_kwh"]["it"].get<double>());
  // Deterministic by seed, and independent of the number of threads.
  json f1 = f, g1 = g;
  for (json* j : {&f1, &g1}) {
    j->erase("wall_s");
    (*j)["scenario"].erase("file");
  }
  CHECK(f1 == g1);
  // The timeline shows the capacity lost: servers failed at some period's end, fewer serving then; every
  // row's states add up to the fleet.
  const auto t = read_csv(fail_dir / "timeline.csv");
  const auto& h = t[0];
  const std::size_t cs = column(h, "servers_serving"), cd = column(h, "servers_draining"), cw = column(h, "servers_waking"),
                    co = column(h, "servers_off"), cf = column(h, "servers_failed"), cm = column(h, "servers_maintenance"),
                    cn = column(h, "failures"), cr = column(h, "retried_requests");
  long max_failed = 0, min_serving = 1 << 30, failures = 0, retried = 0;
  for (std::size_t i = 1; i < t.size(); ++i) {
    const long n = std::stol(t[i][cs]) + std::stol(t[i][cd]) + std::stol(t[i][cw]) + std::stol(t[i][co]) + std::stol(t[i][cf]) +
                   std::stol(t[i][cm]);
    CHECK(n == static_cast<long>(servers));
    max_failed = std::max(max_failed, std::stol(t[i][cf]));
    min_serving = std::min(min_serving, std::stol(t[i][cs]));
    failures += std::stol(t[i][cn]);
    retried += std::stol(t[i][cr]);
  }
  CHECK(max_failed >= 1);
  CHECK(min_serving < static_cast<long>(servers));
  CHECK(failures == ff["failures"].get<long>());
  CHECK(retried == ff["retried_requests"].get<long>());
  // Maintenance: 2 servers drained, then down from 02:00 for 3 h (less their drains), no retry.
  CHECK(m["failures"]["retried_requests"].get<long>() == 0);
  CHECK(m["failures"]["server_hours_maintenance"].get<double>() > 5.9);
  CHECK(m["failures"]["server_hours_maintenance"].get<double>() <= 6.0);
  const auto tm = read_csv(maint_dir / "timeline.csv");
  const std::size_t mm = column(tm[0], "servers_maintenance"), mt = column(tm[0], "time_s");
  for (std::size_t i = 1; i < tm.size(); ++i) {
    const double t0 = std::stod(tm[i][mt]);
    if (t0 >= 2 * 3600 && t0 + 60 < 5 * 3600) CHECK(std::stol(tm[i][mm]) == 2);
    if (t0 + 60 < 2 * 3600 || t0 >= 5 * 3600) CHECK(std::stol(tm[i][mm]) == 0);
  }
}

TEST_CASE("training reservations: servers drained, trained at 0.75 of their maximum power, valued, and back, nothing lost") {
  const std::string train =
      " --set 'operations.training.reservations=[{datacenter: zw-1, start_h: 2, duration_h: 3, servers: 2}]'"
      " --set operations.training.value_cny_per_gpu_hour=14.4";
  const auto dir = scratch("training");
  const json t = day("none", dir, train);
  const double servers = t["fleet"]["servers"].get<double>();
  const auto& q = t["requests"];
  CHECK(q["arrived"].get<long>() == q["completed"].get<long>() + q["unfinished"].get<long>() + q["rejected"].get<long>() +
                                        q["dropped"].get<long>());
  CHECK(t["failures"]["retried_requests"].get<long>() == 0);
  CHECK(t["failures"]["server_hours_maintenance"].get<double>() == 0);
  // 2 servers from 02:00 for 3 h, less their drains; 8 GPUs each; a DGX H100 (10,200 W at most) at 0.75.
  const auto& tr = t["training"];
  const double h = tr["server_hours"].get<double>();
  CHECK(h > 5.9);
  CHECK(h <= 6.0);
  CHECK(tr["gpu_hours"].get<double>() == Approx(8 * h).epsilon(1e-12));
  CHECK(tr["value"].get<double>() == Approx(14.4 * 8 * h).epsilon(1e-12));
  CHECK(tr["energy_kwh"]["it"].get<double>() == Approx(0.75 * 10.2 * h).epsilon(1e-9));
  CHECK(tr["energy_kwh"]["facility"].get<double>() > tr["energy_kwh"]["it"].get<double>());
  CHECK(tr["electricity_cost"].get<double>() > 0);
  CHECK(t["power_states"]["server_hours"]["training"].get<double>() == Approx(h).epsilon(1e-12));
  // Server-hours by state add up to the fleet's, energy by state to the model's; SimGrid's plugin agrees
  // (training servers stay on at the power level of their training power).
  const auto& ps = t["power_states"];
  double hours = 0, kwh = 0;
  for (const char* k : {"serving", "draining", "waking", "off", "failed", "maintenance", "training"}) {
    hours += ps["server_hours"][k].get<double>();
    kwh += ps["it_energy_kwh"][k].get<double>();
  }
  CHECK(hours == Approx(servers * 24).epsilon(1e-9));
  CHECK(kwh == Approx(t["energy_kwh"]["it_model"].get<double>()).epsilon(1e-9));
  CHECK(t["energy_kwh"]["it"].get<double>() == Approx(t["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
  // The timeline: 2 servers training within the window, none outside it; a cold start after.
  const auto tl = read_csv(dir / "timeline.csv");
  const std::size_t ct = column(tl[0], "servers_training"), cm = column(tl[0], "servers_maintenance"), c0 = column(tl[0], "time_s");
  for (std::size_t i = 1; i < tl.size(); ++i) {
    const double t0 = std::stod(tl[i][c0]);
    if (t0 >= 2 * 3600 && t0 + 60 < 5 * 3600) CHECK(std::stol(tl[i][ct]) == 2);
    if (t0 + 60 < 2 * 3600 || t0 >= 5 * 3600) CHECK(std::stol(tl[i][ct]) == 0);
    CHECK(std::stol(tl[i][cm]) == 0);
  }
  CHECK(ps["wake_ups"].get<long>() == 2);
  // A planner's default to review: the training power fraction.
  bool listed = false;
  for (const auto& d : t["defaults_to_review"]) listed |= d["key"] == "operations.training.server_power_fraction";
  CHECK(listed);
}

TEST_CASE("training while off: the servers a schedule powers off train instead, on a disaggregated datacenter, in both engines") {
  // tests/fixtures/pd_small.yaml with four servers (two prefill, two decode), 00:00-04:00, each pool at half
  // for two of the hours, rented at $2 per GPU-hour. With operations.training.while_off the off hours become
  // training hours: training power (0.75 x 10,200 W), valued at $2 per GPU-hour, and not rented.
  const std::string base = "run " + fixture("pd_small.yaml") +
                           " --set workload.requests_per_day=3e5 --set 'platform.regions[east].datacenters[east-1].servers_per_rack=4'"
                           " --set run.duration_h=4 --set operations.autoscaling.policy=schedule"
                           " --set 'operations.autoscaling.schedule=[1,0.5,0.5,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]'"
                           " --set 'operations.autoscaling.decode_schedule=[1,0.5,1,0.5,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]'"
                           " --set economics.ownership=rent --set economics.rent_usd_per_gpu_hour=2 --quiet";
  const std::string train = " --set operations.training.while_off=true --set operations.training.value_usd_per_gpu_hour=2";
  const auto off_dir = scratch("train-off-none"), day_dir = scratch("train-off-day"), fine_dir = scratch("train-off-fine");
  for (const auto& [args, dir] : {std::pair{base, off_dir}, std::pair{base + train, day_dir},
                                  std::pair{base + train + " --set run.engine=fine", fine_dir}}) {
    const Proc p = run(args + " --out " + dir.string());
    INFO(p.err);
    REQUIRE(p.code == 0);
  }
  const json o = summary(off_dir);
  const double off_h = o["power_states"]["server_hours"]["off"].get<double>();
  CHECK(off_h > 3);  // a prefill server 01:00-03:00, a decode server 01:00-02:00 and 03:00-04:00, less drains and look-ahead
  CHECK(o["training"]["server_hours"].get<double>() == 0);
  for (const auto& dir : {day_dir, fine_dir}) {
    const json t = summary(dir);
    INFO(t["engine"]["name"]);
    const auto& ps = t["power_states"];
    CHECK(ps["server_hours"]["off"].get<double>() == 0);
    const double h = t["training"]["server_hours"].get<double>();
    CHECK(h == Approx(off_h).epsilon(1e-3));  // the fine engine's drains end a few seconds apart
    CHECK(ps["server_hours"]["training"].get<double>() == Approx(h).epsilon(1e-12));
    CHECK(t["training"]["gpu_hours"].get<double>() == Approx(8 * h).epsilon(1e-12));
    CHECK(t["training"]["value"].get<double>() == Approx(2 * 8 * h).epsilon(1e-12));
    CHECK(t["training"]["energy_kwh"]["it"].get<double>() == Approx(0.75 * 10.2 * h).epsilon(1e-9));
    // The same wakes (from training, as from off), and the training hours handed back from the rental.
    CHECK(ps["wake_ups"] == o["power_states"]["wake_ups"]);
    CHECK(t["cost"]["rental"].get<double>() == Approx(o["cost"]["rental"].get<double>()).epsilon(1e-3));
    CHECK(t["cost"]["rental"].get<double>() ==
          Approx(2 * 8 * (16 - ps["server_hours"]["training"].get<double>())).epsilon(1e-9));
    // Training servers stay on: SimGrid's energy plugin agrees with the model, which adds the training power.
    CHECK(t["energy_kwh"]["it"].get<double>() == Approx(t["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
    const auto tl = read_csv(dir / "timeline.csv");
    const std::size_t ct = column(tl[0], "servers_training"), co = column(tl[0], "servers_off"), c0 = column(tl[0], "time_s");
    for (std::size_t i = 1; i < tl.size(); ++i) {
      CHECK(std::stol(tl[i][co]) == 0);
      const double t0 = std::stod(tl[i][c0]);
      if (t0 >= 1.5 * 3600 && t0 + 60 <= 1.9 * 3600) CHECK(std::stol(tl[i][ct]) == 2);  // one server of each pool
      if (t0 + 60 <= 3600) CHECK(std::stol(tl[i][ct]) == 0);
    }
  }
  CHECK(summary(day_dir)["energy_kwh"]["it_model"].get<double>() - o["energy_kwh"]["it_model"].get<double>() ==
        Approx((0.75 * 10.2 - o["power_states"]["it_energy_kwh"]["off"].get<double>() / off_h) * off_h).epsilon(2e-3));
}
