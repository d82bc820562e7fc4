// Operations: autoscaling policies by hand, the balancer's exclusions, and server power states applied
// by the serving system (energy by state by hand, a wake at its exact time, drains that lose nothing).
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <memory>

#include "model/step_model.hpp"
#include "operations/autoscaling.hpp"
#include "serving/least_outstanding.hpp"
#include "serving/router.hpp"
#include "serving/system.hpp"
#include "test_sources.hpp"
#include "test_specs.hpp"

using namespace chatdc;
using operations::Policy;

namespace {

using test::Driver;
using test::ListSource;
using test::Sink;
using test::one_dc;

operations::ServerOps ops_of(Policy policy, double off_w, double wake_w, double boot_s, double load_s) {
  operations::ServerOps o;
  o.autoscaling.policy = policy;
  o.off_power_w = off_w;
  o.wake_power_w = wake_w;
  o.boot_s = boot_s;
  o.load_s = load_s;
  return o;
}


}  // namespace

TEST_CASE("schedule: the share of servers on by local hour, looking ahead by the wake delay") {
  operations::AutoscalingConfig c;
  c.policy = Policy::kSchedule;
  c.schedule_fraction.fill(1.0);
  c.schedule_fraction[3] = 0.25;
  c.schedule_fraction[4] = 0.5;
  const auto decide = [&](const operations::Observation& o) { return operations::Autoscaler(c).decide(o); };
  operations::Observation o;
  o.servers = 48;
  o.available = 48;
  o.local_hour = 3.2;
  o.local_hour_ahead = 3.3;
  CHECK(decide(o) == 12);
  o.local_hour_ahead = 4.01;  // the next hour's servers wake in time
  CHECK(decide(o) == 24);
  c.schedule_fraction[3] = 0.01;  // ceil(0.48) = 1, at least min_servers
  o.local_hour_ahead = 3.3;
  CHECK(decide(o) == 1);
  c.min_servers = 4;
  CHECK(decide(o) == 4);
  c.max_servers = 30;
  o.local_hour = o.local_hour_ahead = 5;
  CHECK(decide(o) == 30);
}

TEST_CASE("reactive: target load per replica with hysteresis, a stabilization window before scaling down, min and max") {
  operations::AutoscalingConfig c;
  c.policy = Policy::kReactive;
  c.target_load_per_replica = 8;
  c.tolerance = 0.1;
  c.cooldown_s = 300;
  operations::Autoscaler a(c);
  operations::Observation o;
  o.servers = 20;
  o.available = 10;
  o.replicas_per_server = 2;  // 20 replicas available
  o.t = 1000;
  o.load_requests = 8 * 20 * 1.09;  // within the tolerance: no change
  CHECK(a.decide(o) == 10);
  o.t = 1060;
  o.load_requests = 8 * 20 * 1.5;  // 240 requests / (8 x 2) = 15 servers, at once
  CHECK(a.decide(o) == 15);
  o.available = 15;
  o.t = 1120;
  o.load_requests = 8 * 30 * 0.5;  // 120 / 16 = 8 servers, but 15 was recommended within 300 s
  CHECK(a.decide(o) == 15);
  o.t = 1359;
  CHECK(a.decide(o) == 15);
  o.t = 1360;  // 1,060 s has left the window: the largest since is 8
  CHECK(a.decide(o) == 8);
  o.available = 8;
  o.t = 1420;
  o.load_requests = 0;
  CHECK(a.decide(o) == 8);  // 8 recommended at 1,360 s
  o.t = 1700;
  CHECK(a.decide(o) == 1);  // min_servers
  o.load_requests = 1e6;
  o.available = 1;
  CHECK(a.decide(o) == 20);  // every server
  c.max_servers = 12;
  CHECK(operations::Autoscaler(c).decide(o) == 12);
  CHECK(operations::parse_policy("reactive") == Policy::kReactive);
  CHECK_THROWS(operations::parse_policy("predictive-ish"));
}

TEST_CASE("least outstanding never picks an excluded replica and takes it back where its count says") {
  serving::LeastOutstanding b(3);
  b.increment(0);
  b.set_excluded(1, true);
  CHECK(b.pick() == 2);
  b.increment(2);
  b.increment(2);
  CHECK(b.pick() == 0);  // 0 has 1, 2 has 2; 1 (0) is excluded
  b.set_excluded(0, true);
  b.set_excluded(2, true);
  CHECK(b.pick() == serving::LeastOutstanding::kNone);
  b.decrement(2);  // counts follow requests while excluded
  CHECK(b.outstanding(2) == 1);
  b.set_excluded(2, false);
  CHECK(b.pick() == 2);
  b.set_excluded(1, false);
  CHECK(b.pick() == 1);
}

TEST_CASE("a schedule's off, waking and serving hours give the energy by hand, and the wake completes at its exact time") {
  ListSource src;
  // A burst just before the wake completes, then requests at the wake's exact time (max batch 1).
  const double wake_at = 7080 + 150;  // decided at 7,080 s (the first period end with 2 h within the wake), 150 s
  src.reqs.push_back({0, wake_at - 1.0, 2000, 200, 0});
  src.reqs.push_back({1, wake_at - 0.5, 2000, 200, 0});
  src.reqs.push_back({2, wake_at, 2000, 200, 0});
  src.reqs.push_back({3, 9000, 2000, 200, 0});  // alone, for the reference TTFT
  auto setup = one_dc(2, 1);
  auto& ops = setup.dcs[0].ops = ops_of(Policy::kSchedule, 20, 500, 100, 50);
  ops.autoscaling.schedule_fraction.fill(1.0);
  ops.autoscaling.schedule_fraction[0] = ops.autoscaling.schedule_fraction[1] = 0.5;
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  Driver drv{sys, {}};
  drv.run(3 * 3600);

  // Server 1: serving until the first decision (60 s), off until 7,080 s, waking for 150 s, then serving.
  double e0 = 0, e1 = 0, off_j = 0, waking_j = 0, off_s = 0, waking_s = 0;
  std::uint64_t wakes = 0;
  for (const auto& r : drv.reps) {
    e0 += r.server_it_energy_j[0];
    e1 += r.server_it_energy_j[1];
    off_j += r.dcs[0].energy_off_j;
    waking_j += r.dcs[0].energy_waking_j;
    off_s += r.dcs[0].off_s;
    waking_s += r.dcs[0].waking_s;
    wakes += r.dcs[0].wake_ups;
  }
  CHECK(off_s == Approx(7080 - 60).epsilon(1e-12));
  CHECK(waking_s == Approx(150).epsilon(1e-12));
  CHECK(off_j == Approx(20.0 * (7080 - 60)).epsilon(1e-12));
  CHECK(waking_j == Approx(500.0 * 150).epsilon(1e-12));
  CHECK(wakes == 1);
  CHECK(sys.wake_ups() == 1);
  // No request before 7,229 s: server 1's serving energy is idle power, apart from the requests it served.
  const auto& d2 = sink.done.at(2);
  CHECK(d2.replica == 1);  // delivered as the wake completes: the woken server takes it
  CHECK(sink.done.at(0).replica == 0);
  CHECK(sink.done.at(1).replica == 0);  // the burst before the wake queues on the one serving replica
  // Request 2's TTFT equals a lone request's (request 3 at 9,000 s on an idle fleet), exactly.
  const auto& d3 = sink.done.at(3);
  CHECK(d2.first_token_s - d2.sent_s == Approx(d3.first_token_s - d3.sent_s).epsilon(1e-12));
  // Request 1 waited for request 0 (batch of 1): admitted when 0 completed.
  CHECK(sink.done.at(1).admitted_s == Approx(sink.done.at(0).done_s).epsilon(1e-12));
  CHECK(sink.done.at(1).first_token_s - sink.done.at(1).sent_s > 2 * (d3.first_token_s - d3.sent_s));
  // Energy by hand for server 1 without its busy time: idle 1,480 W when on, 20 W off, 500 W waking;
  // its served request adds the same energy as on server 0 would, so compare server 1 to that budget.
  const double idle_w = 1480;
  const double on_s = 60 + (3 * 3600 - wake_at);
  const double busy_extra = e1 - (idle_w * on_s + 20.0 * (7080 - 60) + 500.0 * 150);
  // The four requests are alike and served alone (batch of 1): each adds the same energy above idle.
  int n0 = 0, n1 = 0;
  for (const auto& [id, r] : sink.done) (r.replica == 0 ? n0 : n1) += 1;
  REQUIRE(n0 > 0);
  REQUIRE(n1 > 0);
  const double per_request = (e0 - idle_w * 3 * 3600) / n0;
  CHECK(per_request > 0);
  CHECK(busy_extra == Approx(per_request * n1).epsilon(1e-9));
  CHECK(sys.arrived() == sys.completed() + sys.rejected() + sys.dropped());
  CHECK(sys.completed() == 4);
}

TEST_CASE("an idle schedule's energy is exact by hand: off, waking and idle power times their seconds") {
  ListSource src;  // no requests
  auto setup = one_dc(4, 8);
  auto& ops = setup.dcs[0].ops = ops_of(Policy::kSchedule, 30, 1200, 240, 0);
  ops.autoscaling.schedule_fraction.fill(0.25);  // one of four servers on, all day
  ops.autoscaling.schedule_fraction[2] = 1.0;    // all four from 02:00 to 03:00
  setup.dcs[0].local_offset_s = 0;
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  Driver drv{sys, {}};
  drv.run(4 * 3600);
  double total = 0;
  for (const auto& r : drv.reps) total += r.dcs[0].it_energy_j;
  // Servers 1-3: on [0, 60), off [60, 6960), waking [6960, 7200), on [7200, 10800) (their drain is
  // immediate: empty), then at 10,800 s they drain again (the look-ahead sees hour 3) and are off.
  // Decision at t sees hour(t + 240 s): hour 2 from t = 6,960 s; hour 3 from t = 10,560 s, so they
  // drain at 10,560 s when the schedule of hour 3 (0.25) comes into view... but hour 2 is still current
  // until 10,800 s, and the policy keeps the larger share: they stay on until 10,800 s.
  const double idle_w = 1480;
  const double one_server = idle_w * 4 * 3600;
  const double others = idle_w * 60 + 30.0 * (6960 - 60) + 1200.0 * 240 + idle_w * (10800 - 7200) + 30.0 * (14400 - 10800);
  CHECK(total == Approx(one_server + 3 * others).epsilon(1e-12));
  const auto& last = drv.reps.back().dcs[0];
  CHECK(last.servers_serving == 1);
  CHECK(last.servers_idle == 1);
  CHECK(last.servers_off == 3);
  std::uint64_t wakes = 0;
  for (const auto& r : drv.reps) wakes += r.dcs[0].wake_ups;
  CHECK(wakes == 3);
}

TEST_CASE("reactive scaling drains without losing a request, and windows give one global order's answers") {
  auto run = [](bool windows) {
    ListSource src;
    // A day-like ramp: 10 requests/s for 20 min, 0.5/s for 40 min, 10/s for 20 min.
    std::uint64_t id = 0;
    for (double t = 0.25; t < 4800; t += 0) {
      const double rate = (t < 1200 || t >= 3600) ? 10.0 : 0.5;
      src.reqs.push_back({id, t, 300u + static_cast<std::uint32_t>(id * 37 % 700), 20u + static_cast<std::uint32_t>(id * 13 % 180), 0});
      ++id;
      t += 1.0 / rate;
    }
    auto setup = one_dc(8, 16);
    setup.cell_replicas = 4;  // two cells: each keeps one server serving
    setup.allow_windows = windows;
    auto& ops = setup.dcs[0].ops = ops_of(Policy::kReactive, 30, 1480, 200, 25);
    ops.autoscaling.target_load_per_replica = 4;
    ops.autoscaling.cooldown_s = 120;
    Sink sink;
    serving::NearestRouter router;
    serving::ServingSystem sys(setup, src, router, sink);
    Driver drv{sys, {}};
    drv.run(6000);
    std::uint64_t min_serving = 99, wakes = 0;
    double off_s = 0;
    for (const auto& r : drv.reps) {
      min_serving = std::min(min_serving, r.dcs[0].servers_serving);
      wakes += r.dcs[0].wake_ups;
      off_s += r.dcs[0].off_s;
    }
    CHECK(sys.arrived() == src.reqs.size());
    CHECK(sys.completed() == src.reqs.size());  // nothing lost to scaling
    CHECK(sys.dropped() == 0);
    CHECK(sink.done.size() == src.reqs.size());
    CHECK(min_serving >= 2);  // one per cell at least
    CHECK(wakes > 0);         // the second ramp woke servers
    CHECK(off_s > 0);
    return std::make_pair(sink.done, off_s);
  };
  const auto [ordered, off_ordered] = run(false);
  const auto [windowed, off_windowed] = run(true);
  CHECK(off_ordered == Approx(off_windowed).epsilon(1e-12));
  REQUIRE(ordered.size() == windowed.size());
  for (const auto& [id, a] : ordered) {
    const auto& b = windowed.at(id);
    CHECK(a.replica == b.replica);
    CHECK(a.first_token_s == Approx(b.first_token_s).epsilon(1e-12));
    CHECK(a.done_s == Approx(b.done_s).epsilon(1e-12));
  }
}

TEST_CASE("predictive: the forecast demand over the wake horizon per target rate, with headroom, clamped") {
  operations::AutoscalingConfig c;
  c.policy = Policy::kPredictive;
  c.target_requests_per_s_per_replica = 2;
  c.headroom = 0.2;
  operations::Observation o;
  o.servers = 20;
  o.available = 3;
  o.replicas_per_server = 2;
  o.forecast_requests_per_s = 30;  // 30 x 1.2 / (2 x 2) = 9 servers
  CHECK(operations::Autoscaler(c).decide(o) == 9);
  o.forecast_requests_per_s = 30.0 / 1.2 * 4 / 4;  // exactly 25 x 1.2 / 4 = 7.5 -> 8
  CHECK(operations::Autoscaler(c).decide(o) == 8);
  o.forecast_requests_per_s = 0;  // no demand: min_servers
  CHECK(operations::Autoscaler(c).decide(o) == 1);
  o.forecast_requests_per_s = 1000;  // every server, or max_servers
  CHECK(operations::Autoscaler(c).decide(o) == 20);
  c.max_servers = 12;
  CHECK(operations::Autoscaler(c).decide(o) == 12);
  CHECK(operations::parse_policy("predictive") == Policy::kPredictive);
  CHECK(std::string(operations::policy_name(Policy::kPredictive)) == "predictive");
}

TEST_CASE("demand forecasts: a diurnal curve's expected requests, and a trace's twin counted exactly") {
  workload::DemandCurve curve;
  curve.hourly_weights.fill(1.0);
  curve.hourly_weights[1] = 10;                // sum 33
  curve.requests_per_day = 33 * 3600;          // 1 request/s in hour 0, 10 in hour 1
  operations::CurveForecast f({curve, curve}, 1.5);  // two user regions, 1.5 requests per curve event
  CHECK(f.requests(0, 60) == Approx(2 * 60 * 1.5));
  CHECK(f.requests(3570, 3630) == Approx(2 * 1.5 * (30 * 1 + 30 * 10)));
  auto twin = std::make_unique<ListSource>();
  for (int i = 0; i < 10; ++i) twin->reqs.push_back({static_cast<std::uint64_t>(i), 10.0 * i, 10, 10, 0});
  operations::SourceForecast s(std::move(twin));  // requests at 0, 10, ..., 90 s
  CHECK(s.requests(0, 25) == 3);
  CHECK(s.requests(20, 50) == 3);   // 20, 30, 40
  CHECK(s.requests(60, 1000) == 4);
  s.forget_before(30);
  CHECK(s.requests(30, 31) == 1);
  CHECK(s.requests(95, 200) == 0);
}

TEST_CASE("predictive scaling wakes servers ahead of a demand step by the wake delay, as computed by hand") {
  // Demand: 1 request/s in local hour 0, 10/s in hour 1. Target 2 requests/s per replica, headroom 0.2:
  // hour 0 needs ceil(1.2 / 2) = 1 server, hour 1 ceil(12 / 2) = 6. Wake = 200 + 25 = 225 s, decisions
  // every 60 s look at the periods from t to t + 300 s: the decision at 3,360 s is the first to see hour 1
  // (its period [3600, 3660)), and the 5 servers it wakes serve from 3,585 s, before the hour starts.
  workload::DemandCurve curve;
  curve.hourly_weights.fill(1.0);
  curve.hourly_weights[1] = 10;
  curve.requests_per_day = 33 * 3600;
  auto setup = one_dc(16, 16);
  setup.forecast = std::make_shared<operations::CurveForecast>(std::vector<workload::DemandCurve>{curve});
  setup.decision_period_s = 60;
  auto& ops = setup.dcs[0].ops = ops_of(Policy::kPredictive, 30, 1480, 200, 25);
  ops.autoscaling.target_requests_per_s_per_replica = 2;
  ops.autoscaling.headroom = 0.2;
  ListSource src;  // no requests: the decisions follow the forecast alone
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  Driver drv{sys, {}};
  drv.run(3720);
  // reps[k] covers [60k, 60k + 60); its state counts are at its end, before that end's decision.
  CHECK(drv.reps[0].dcs[0].servers_serving == 16);  // the first decision comes at 60 s
  CHECK(drv.reps[1].dcs[0].servers_serving == 1);
  CHECK(drv.reps[1].dcs[0].servers_off == 15);
  CHECK(drv.reps[55].dcs[0].servers_serving == 1);  // [3300, 3360): the step not yet within the horizon
  CHECK(drv.reps[56].dcs[0].servers_waking == 5);   // woken at 3,360 s
  CHECK(drv.reps[56].dcs[0].wake_ups == 5);
  CHECK(drv.reps[58].dcs[0].servers_waking == 5);   // [3480, 3540): still waking
  CHECK(drv.reps[59].dcs[0].servers_serving == 6);  // serving from 3,585 s
  CHECK(drv.reps[59].dcs[0].waking_s == Approx(5 * (3585 - 3540)));
  CHECK(drv.reps[61].dcs[0].servers_serving == 6);
  CHECK(sys.wake_ups() == 5);
}

TEST_CASE("an external driver (the fine engine) scales through operate(): drains, powers off at the last completion, wakes on time") {
  // The fine engine runs each replica itself (deliver, on_event) and calls operate() and complete_wakes();
  // the system's state, the balancer and server_power_w() must follow as in the cells' own loop.
  ListSource src;  // requests come through admit/assign, as the fine engine's actors bring them
  auto setup = one_dc(2, 1);
  auto& ops = setup.dcs[0].ops = ops_of(Policy::kSchedule, 20, 500, 100, 50);  // wake: 150 s
  ops.autoscaling.schedule_fraction.fill(1.0);
  ops.autoscaling.schedule_fraction[0] = 0.5;  // hour 0: one server of two
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  const auto req = [](std::uint64_t id, double t) { return workload::RequestSpec{id, t, 2000, 200, 0}; };
  const auto deliver = [&](const workload::RequestSpec& r, double t) {
    REQUIRE(sys.admit(r));
    const auto rid = sys.assign(r, 0);
    REQUIRE(rid);
    sys.replica(*rid).deliver(serving::ServingSystem::job_for(r, t), t, serving::ServingSystem::prefix_of(r));
    return *rid;
  };
  const double idle_w = sys.server_power_w(0);
  CHECK(deliver(req(0, 59), 59) == 0);
  CHECK(deliver(req(1, 59), 59) == 1);
  sys.operate(60);  // hour 0: one server; server 1 holds a request: it drains
  CHECK(sys.server_state(1) == serving::ServerState::kDraining);
  CHECK(deliver(req(2, 61), 61) == 0);  // the balancer skips the draining server
  CHECK(sys.server_power_w(1) > idle_w);  // draining: on, busy
  // Server 1's replica runs to its last completion: the server powers off in that event.
  serving::Replica& r1 = sys.replica(1);
  while (r1.next_event_time() < serving::Replica::kNever) r1.on_event();
  CHECK(sink.done.count(1) == 1);
  CHECK(sys.server_state(1) == serving::ServerState::kOff);
  CHECK(sys.server_power_w(1) == 20);
  CHECK(std::isinf(sys.next_wake_s()));
  // 150 s before hour 1 (share 1), the schedule looks ahead by the wake delay: server 1 wakes.
  sys.operate(3600 - 150);
  CHECK(sys.server_state(1) == serving::ServerState::kWaking);
  CHECK(sys.server_power_w(1) == 500);
  CHECK(sys.next_wake_s() == Approx(3600).epsilon(1e-15));
  sys.complete_wakes(3599.5);
  CHECK(sys.server_state(1) == serving::ServerState::kWaking);
  CHECK(deliver(req(3, 3599.5), 3599.5) == 0);  // still waking: not picked
  sys.complete_wakes(3600);
  CHECK(sys.server_state(1) == serving::ServerState::kServing);
  CHECK(std::isinf(sys.next_wake_s()));
  CHECK(sys.server_power_w(1) == Approx(idle_w).epsilon(1e-12));  // serving, empty: idle
  CHECK(deliver(req(4, 3600), 3600) == 1);  // the woken server takes requests from its wake time
  CHECK(sys.wake_ups() == 1);
}
