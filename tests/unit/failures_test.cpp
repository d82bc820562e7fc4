// Failures and maintenance: the failure draws (rate, determinism), and outages applied by the serving
// system by hand: a failed server's request retried elsewhere (its completion computed from a lone
// request's times), a cell with no server left holding its requests until the repair and cold start,
// maintenance draining without a retry, and the capacity lost (failed, waking, maintenance seconds).
#include <catch2/catch.hpp>

#include <memory>

#include "operations/failures.hpp"
#include "serving/router.hpp"
#include "serving/system.hpp"
#include "test_sources.hpp"

using namespace chatdc;

namespace {

using test::Driver;
using test::ListSource;
using test::one_dc;
using test::Sink;

// Off 20 W, waking 500 W, boot 100 s + load 50 s: a cold start of 150 s. No autoscaling.
serving::SystemSetup setup_with(std::uint32_t servers, std::vector<operations::Outage> outages) {
  auto s = one_dc(servers, 1);
  s.dcs[0].ops.off_power_w = 20;
  s.dcs[0].ops.wake_power_w = 500;
  s.dcs[0].ops.boot_s = 100;
  s.dcs[0].ops.load_s = 50;
  s.dcs[0].ops.outages = !outages.empty();
  s.outages = std::move(outages);
  return s;
}

// Requests `reqs` on `servers` servers with `outages`, driven for an hour as the day engine does.
struct Outcome {
  ListSource src;
  Sink sink;
  serving::NearestRouter router;
  std::unique_ptr<serving::ServingSystem> sys;
  std::unique_ptr<Driver> drv;
  Outcome(std::uint32_t servers, std::vector<workload::RequestSpec> reqs, std::vector<operations::Outage> outages) {
    src.reqs = std::move(reqs);
    sys = std::make_unique<serving::ServingSystem>(setup_with(servers, std::move(outages)), src, router, sink);
    drv = std::make_unique<Driver>(Driver{*sys, {}});
    drv->run(3600);
  }
};

// A lone request's record on an idle fleet (the reference times).
serving::RequestRecord alone(const workload::RequestSpec& r) {
  const Outcome o(2, {r}, {});
  return o.sink.done.at(r.id);
}

}  // namespace

TEST_CASE("failure draws: exponential per server at rate 1/MTBF, deterministic by seed, a stream of their own") {
  // 2,000 servers, MTBF 100 h, repairs of 1 h, over 1,000 h: each server fails about 1000 / 101 times.
  const auto f = operations::draw_failures(0, "west", 2000, 100 * 3600.0, 3600.0, 1000 * 3600.0, 42);
  const double expected = 2000 * 1000.0 / 101;  // renewal: a failure every MTBF + MTTR on average
  CHECK(static_cast<double>(f.size()) == Approx(expected).epsilon(0.02));
  double repair = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    REQUIRE(f[i].start_s < 1000 * 3600.0);
    if (i > 0) REQUIRE(f[i - 1].start_s <= f[i].start_s);
    repair += f[i].duration_s;
    CHECK(!f[i].planned);
  }
  CHECK(repair / f.size() == Approx(3600).epsilon(0.03));
  // The same seed draws the same failures; another datacenter's name or seed others.
  const auto g = operations::draw_failures(0, "west", 2000, 100 * 3600.0, 3600.0, 1000 * 3600.0, 42);
  REQUIRE(g.size() == f.size());
  CHECK(g.front().start_s == f.front().start_s);
  CHECK(g.back().start_s == f.back().start_s);
  const auto h = operations::draw_failures(0, "east", 2000, 100 * 3600.0, 3600.0, 1000 * 3600.0, 42);
  CHECK(h.front().start_s != f.front().start_s);
  // A maintenance window spreads its servers over the datacenter.
  const auto m = operations::maintenance_window(1, 10, 3, 7200, 3600);
  REQUIRE(m.size() == 3);
  CHECK(m[0].server == 0);
  CHECK(m[1].server == 3);
  CHECK(m[2].server == 6);
  CHECK(m[2].planned);
  CHECK(m[2].dc == 1);
}

TEST_CASE("a failed server's request is retried on another: its prompt again, completing a lone request's time after the failure") {
  const workload::RequestSpec r{0, 0.0, 2000, 200, 0};
  const serving::RequestRecord ref = alone(r);
  const double ttft = ref.first_token_s - ref.sent_s, e2e = ref.done_s - ref.sent_s;
  REQUIRE(e2e > 2 * ttft);
  const double t_fail = ttft + (e2e - ttft) / 2;  // mid-decode: its first token was out
  Outcome o(2, {r}, {{t_fail, 600, 0, 0, false}});
  const Sink& sink = o.sink;
  const serving::ServingSystem& sys = *o.sys;
  const Driver& drv = *o.drv;
  const auto& d = sink.done.at(0);
  CHECK(d.replica == 1);
  CHECK(d.sent_s == 0);
  CHECK(d.first_token_s == Approx(t_fail + ttft).epsilon(1e-12));  // the prefill repeats: the answer restarts
  CHECK(d.done_s == Approx(t_fail + e2e).epsilon(1e-12));
  CHECK(sys.failures() == 1);
  CHECK(sys.retried() == 1);
  CHECK(sys.arrived() == sys.completed() + sys.rejected() + sys.dropped());
  // Capacity lost: failed for the repair (600 s, at the off power), then a cold start of 150 s.
  const serving::DcEpoch e = drv.total();
  CHECK(e.failures == 1);
  CHECK(e.repairs == 1);
  CHECK(e.retried == 1);
  CHECK(e.failed_s == Approx(600).epsilon(1e-12));
  CHECK(e.energy_failed_j == Approx(20.0 * 600).epsilon(1e-12));
  CHECK(e.waking_s == Approx(150).epsilon(1e-12));
  CHECK(e.energy_waking_j == Approx(500.0 * 150).epsilon(1e-12));
  CHECK(e.wake_ups == 1);
  CHECK(sys.wake_ups() == 1);  // the cold start after the repair
  CHECK(e.serving_s == Approx(2 * 3600 - 750).epsilon(1e-12));
  // Servers by state at the end of the period holding the failure, and back serving after the cold start.
  const auto at = [&](double t) -> const serving::DcEpoch& { return drv.reps.at(static_cast<std::size_t>(t / 60)).dcs[0]; };
  CHECK(at(t_fail).servers_failed == 1);
  CHECK(at(t_fail).servers_serving == 1);
  CHECK(at(t_fail + 610).servers_waking == 1);
  CHECK(at(t_fail + 760).servers_serving == 2);
  CHECK(at(t_fail + 760).servers_failed == 0);
}

TEST_CASE("with every server of a cell down, requests wait at the balancer for the repair and the cold start") {
  const workload::RequestSpec r0{0, 0.0, 2000, 200, 0}, r1{1, 100.0, 2000, 200, 0};
  const serving::RequestRecord ref = alone(r0);
  const double e2e = ref.done_s - ref.sent_s;
  const double t_fail = e2e / 2, repair = 300, back = t_fail + repair + 150;
  REQUIRE(r1.time_s > t_fail);
  REQUIRE(r1.time_s < back);
  Outcome o(1, {r0, r1}, {{t_fail, repair, 0, 0, false}});
  const Sink& sink = o.sink;
  const serving::ServingSystem& sys = *o.sys;
  // Both served once the server is back (batch of 1: request 0 first, then 1 in delivery order).
  CHECK(sink.done.at(0).done_s == Approx(back + e2e).epsilon(1e-12));
  CHECK(sink.done.at(1).admitted_s == Approx(back + e2e).epsilon(1e-12));
  CHECK(sink.done.at(1).done_s == Approx(back + 2 * e2e).epsilon(1e-12));
  CHECK(sys.retried() == 1);  // request 1 was never on the failed server: it waited, not retried
  CHECK(sys.completed() == 2);
  CHECK(sys.arrived() == sys.completed() + sys.rejected() + sys.dropped());
}

TEST_CASE("maintenance drains its server first (no retry), takes it down for the window, then cold-starts it") {
  const workload::RequestSpec r0{0, 0.0, 2000, 200, 0}, r1{1, 1.0, 2000, 200, 0};
  const serving::RequestRecord ref = alone(r0);
  const double e2e = ref.done_s - ref.sent_s;
  const double start = 0.5, window = 1200;
  REQUIRE(e2e > 1.0);
  Outcome o(2, {r0, r1}, {{start, window, 0, 0, true}});
  const Sink& sink = o.sink;
  const serving::ServingSystem& sys = *o.sys;
  const Driver& drv = *o.drv;
  // Request 0 finishes where it was, as alone; request 1, sent while server 0 drains, goes to server 1.
  CHECK(sink.done.at(0).replica == 0);
  CHECK(sink.done.at(0).done_s == Approx(ref.done_s).epsilon(1e-12));
  CHECK(sink.done.at(1).replica == 1);
  CHECK(sink.done.at(1).done_s - 1.0 == Approx(e2e).epsilon(1e-12));
  CHECK(sys.retried() == 0);
  CHECK(sys.failures() == 0);
  const serving::DcEpoch e = drv.total();
  // Down from the drain's end (request 0's completion) to the window's end, then 150 s waking.
  CHECK(e.maintenance_s == Approx(start + window - ref.done_s).epsilon(1e-12));
  CHECK(e.energy_maintenance_j == Approx(20.0 * (start + window - ref.done_s)).epsilon(1e-12));
  CHECK(e.waking_s == Approx(150).epsilon(1e-12));
  // A server that drained in a period counts that period's on-seconds as draining (as a scale-down's).
  CHECK(e.draining_s == Approx(ref.done_s).epsilon(1e-12));
  CHECK(drv.reps.at(10).dcs[0].servers_maintenance == 1);
  CHECK(drv.reps.at(10).dcs[0].servers_serving == 1);
  CHECK(drv.reps.back().dcs[0].servers_serving == 2);
  CHECK(drv.reps.back().dcs[0].servers_maintenance == 0);
}

TEST_CASE("a training reservation drains its server, trains it at the training power (on, not down), then cold-starts it") {
  const workload::RequestSpec r0{0, 0.0, 2000, 200, 0}, r1{1, 1.0, 2000, 200, 0};
  const serving::RequestRecord ref = alone(r0);
  const double e2e = ref.done_s - ref.sent_s;
  const double start = 0.5, window = 1200, train_w = 7000;
  REQUIRE(e2e > 1.0);
  ListSource src;
  src.reqs = {r0, r1};
  Sink sink;
  serving::NearestRouter router;
  auto setup = setup_with(2, {{start, window, 0, 0, true, true}});
  setup.dcs[0].ops.training_power_w = train_w;
  serving::ServingSystem sys(setup, src, router, sink);
  Driver drv{sys, {}};
  drv.run(3600);
  // As for maintenance: request 0 finishes where it was, request 1 goes to the other server, nothing retried.
  CHECK(sink.done.at(0).done_s == Approx(ref.done_s).epsilon(1e-12));
  CHECK(sink.done.at(1).replica == 1);
  CHECK(sys.retried() == 0);
  CHECK(sys.completed() == 2);
  const serving::DcEpoch e = drv.total();
  // Training from the drain's end to the window's end, at 7,000 W; no maintenance; then a 150 s cold start.
  CHECK(e.training_s == Approx(start + window - ref.done_s).epsilon(1e-12));
  CHECK(e.energy_training_j == Approx(train_w * (start + window - ref.done_s)).epsilon(1e-12));
  CHECK(e.maintenance_s == 0);
  CHECK(e.energy_maintenance_j == 0);
  CHECK(e.waking_s == Approx(150).epsilon(1e-12));
  // The hour's IT energy: the server's serving and draining time, training, waking (500 W) and nothing off.
  CHECK(e.off_s == 0);
  CHECK(e.energy_waking_j == Approx(500.0 * 150).epsilon(1e-12));
  CHECK(e.it_energy_j == Approx(e.energy_serving_j + e.energy_draining_j + e.energy_training_j + e.energy_waking_j).epsilon(1e-12));
  // Period 10 (600-660 s): server 0 trains, counted as training, and stays on for SimGrid (not turned off).
  CHECK(drv.reps.at(10).dcs[0].servers_training == 1);
  CHECK(drv.reps.at(10).dcs[0].servers_maintenance == 0);
  CHECK(drv.reps.at(10).server_off.at(0) == 0);
  CHECK(drv.reps.at(10).server_it_energy_j.at(0) == Approx(train_w * 60).epsilon(1e-12));
  CHECK(drv.reps.back().dcs[0].servers_serving == 2);
  CHECK(drv.reps.back().dcs[0].servers_training == 0);
}

TEST_CASE("the same window as maintenance turns its server off for SimGrid") {
  const workload::RequestSpec r0{0, 0.0, 2000, 200, 0};
  Outcome o(2, {r0}, {{0.5, 1200, 0, 0, true, false}});
  CHECK(o.drv->reps.at(10).server_off.at(0) == 1);
  CHECK(o.drv->reps.at(10).dcs[0].servers_training == 0);
}
