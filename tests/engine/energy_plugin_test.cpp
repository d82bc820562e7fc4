// Engine tests: SimGrid's host energy plugin and the platform's routes against hand calculations.
// Each TEST_CASE runs in its own process under ctest (one SimGrid Engine per process).
#include <catch2/catch.hpp>
#include <simgrid/plugins/energy.h>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>


#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "engine/platform.hpp"
#include "fixture.hpp"

using namespace chatdc;
using engine_test::make_engine;
namespace sg4 = simgrid::s4u;

namespace {

config::Scenario load() { return engine_test::load_two_regions(false); }

}  // namespace

TEST_CASE("the host energy plugin integrates power levels exactly as by hand") {
  auto* e = make_engine();
  const auto s = load();
  const auto a = config::assemble(s);
  const auto p = engine::build_platform(s, a, 11);
  sg4::Host* h = p.dc_servers[0][0];
  const engine::PowerLevels lv = p.levels[0];
  // DGX A100: idle 8 x 63 W + 1,000 W; max 8 x 400 W + 3,300 W.
  CHECK(lv.idle_w == 1504);
  CHECK(lv.max_w == 6500);
  sg4::Actor::create("pattern", p.user_hosts[0], [&] {
    h->set_pstate(0);
    sg4::this_actor::sleep_for(10);
    h->set_pstate(10);
    sg4::this_actor::sleep_for(5);
    h->set_pstate(4);
    sg4::this_actor::sleep_for(2);
  });
  e->run();
  const double step = (6500.0 - 1504.0) / 10;
  CHECK(sg_host_get_consumed_energy(h) == Approx(1504 * 10 + 6500 * 5 + (1504 + 4 * step) * 2).epsilon(1e-12));
  // A server left alone drew idle power throughout.
  CHECK(sg_host_get_consumed_energy(p.dc_servers[1][0]) == Approx(1504 * 17.0).epsilon(1e-12));
}

TEST_CASE("route latencies: access, WAN and datacenter hops add up") {
  make_engine();
  const auto s = load();
  const auto a = config::assemble(s);
  const auto p = engine::build_platform(s, a);
  const auto lat = engine::user_latencies(p);
  // Users -> east: 2.5 ms access + border, spine, rack uplink, NIC at 2 us each.
  CHECK(lat[0][0] == Approx(2.5e-3 + 4 * 2e-6).epsilon(1e-12));
  // Users -> west: + 12 ms WAN, and west's hops are 3 us.
  CHECK(lat[0][1] == Approx(2.5e-3 + 12e-3 + 4 * 3e-6).epsilon(1e-12));
}

TEST_CASE("a real message takes the route latency plus its transfer time under CM02") {
  auto* e = make_engine();
  const auto s = load();
  const auto a = config::assemble(s);
  const auto p = engine::build_platform(s, a);
  double arrival = -1;
  sg4::Actor::create("sender", p.user_hosts[0], [] {
    sg4::Mailbox::by_name("west")->put(new int(1), 1);  // one byte: transfer time negligible
  });
  sg4::Actor::create("receiver", p.dc_servers[1][0], [&] {
    std::unique_ptr<int> v(sg4::Mailbox::by_name("west")->get<int>());
    arrival = sg4::Engine::get_clock();
  });
  e->run();
  CHECK(arrival == Approx(2.5e-3 + 12e-3 + 4 * 3e-6).epsilon(1e-6));
}
