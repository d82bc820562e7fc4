// Engine tests: SimGrid's host energy plugin and the platform's routes against hand calculations.
// Each TEST_CASE runs in its own process under ctest (one SimGrid Engine per process).
#include <catch2/catch.hpp>
#include <simgrid/plugins/energy.h>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "engine/platform.hpp"

using namespace chatdc;
namespace sg4 = simgrid::s4u;

namespace {

const char* kTwoRegions = R"(schema_version: 1
name: t
model: {llm: llama-2-70b, tensor_parallel: 4}
platform:
  regions:
    - name: east
      utc_offset_h: 8
      pue: 1.25
      carbon_kg_per_kwh: 0.55
      datacenters:
        - {name: east-1, server: dgx-a100-80gb, racks: 2, servers_per_rack: 3, network: {hop_latency_us: 2}}
    - name: west
      utc_offset_h: 8
      pue: 1.2
      carbon_kg_per_kwh: 0.6
      datacenters:
        - {name: west-1, server: dgx-a100-80gb, racks: 1, servers_per_rack: 2, network: {hop_latency_us: 3}}
  wan_links:
    - {between: [east, west], latency_ms: 12}
workload:
  requests_per_day: 0
  prompt_tokens: {distribution: fixed, value: 100}
  output_tokens: {distribution: fixed, value: 10}
  user_regions:
    - {name: east-users, share: 1, network_region: east, access_latency_ms: 2.5}
economics: {electricity_price_usd_per_kwh: 0.08}
)";

config::Scenario load() {
  const auto p = std::filesystem::temp_directory_path() / ("chatdc-engine-test-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(p) << kTwoRegions;
  return config::load_scenario(p.string());
}

sg4::Engine* make_engine() {
  static int argc = 1;
  static char name[] = "engine_tests";
  static char* argv[] = {name, nullptr};
  auto* e = new sg4::Engine(&argc, argv);
  xbt_log_control_set("root.thres:critical");
  sg4::Engine::set_config("network/model:CM02");
  sg_host_energy_plugin_init();
  return e;
}

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
