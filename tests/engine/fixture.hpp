// Shared set-up of the engine tests: a two-region scenario, a scratch folder and a SimGrid engine
// configured as chatdc configures it.
#pragma once

#include <simgrid/plugins/energy.h>
#include <simgrid/s4u.hpp>
#include <unistd.h>
#include <xbt/log.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/scenario.hpp"

namespace chatdc::engine_test {

// Two regions (east: 2 racks x 3 DGX A100, west: 1 rack x 2) joined by a 12 ms WAN link. All users
// are in the east unless `west_users`, which moves 40% of them to the west (access 4 ms).
inline std::string two_regions_yaml(bool west_users) {
  std::string y = R"(schema_version: 1
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
)";
  y += west_users ? "    - {name: east-users, share: 0.6, network_region: east, access_latency_ms: 2.5}\n"
                    "    - {name: west-users, share: 0.4, network_region: west, access_latency_ms: 4}\n"
                  : "    - {name: east-users, share: 1, network_region: east, access_latency_ms: 2.5}\n";
  y += "economics: {electricity_price_usd_per_kwh: 0.08}\n";
  return y;
}

// A per-process scratch folder under the system temp directory.
inline std::filesystem::path scratch(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() / ("chatdc-engine-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d / name;
}

inline config::Scenario load_two_regions(bool west_users) {
  const auto p = scratch(west_users ? "two-regions-west-users.yaml" : "two-regions.yaml");
  std::ofstream(p) << two_regions_yaml(west_users);
  return config::load_scenario(p.string());
}

// One SimGrid engine per process (ctest runs each TEST_CASE in its own), with chatdc's settings.
inline simgrid::s4u::Engine* make_engine() {
  static int argc = 1;
  static char name[] = "engine_tests";
  static char* argv[] = {name, nullptr};
  auto* e = new simgrid::s4u::Engine(&argc, argv);
  xbt_log_control_set("root.thres:critical");
  simgrid::s4u::Engine::set_config("network/model:CM02");
  sg_host_energy_plugin_init();
  return e;
}

}  // namespace chatdc::engine_test
