// Engine (SimGrid): builds the scenario's platform with SimGrid 3.32's C++ API.
//
//   world (full zone, explicit lowest-latency routes)
//   ├─ region zones (star): a core zone holding the gateway router
//   │   └─ datacenter zones (star): a core zone holding the gateway and its border link; spine link
//   │       └─ rack zones (star): one host per server (one core per GPU), split-duplex NIC links,
//   │          top-of-rack router; rack uplink + spine towards the datacenter
//   ├─ user zones (star): one endpoint host per user region, access link
//   └─ WAN links between regions
// The topology is described once, as data, by describe_platform() (platform_spec.hpp); build_platform()
// creates that description with SimGrid's C++ API, write_platform_xml() (platform_xml.hpp) writes it as XML.
// Servers carry power levels as pstates (idle .. max, evenly spaced) for the host energy plugin.
#pragma once
#include <simgrid/s4u.hpp>

#include <vector>

#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "engine/platform_spec.hpp"  // PowerLevels; the platform as plain data

namespace chatdc::engine {

namespace sg4 = simgrid::s4u;

struct Platform {
  std::vector<std::vector<sg4::Host*>> dc_servers;  // [datacenter][server]
  std::vector<sg4::Host*> user_hosts;               // [user region]
  std::vector<PowerLevels> levels;                  // [datacenter]
  std::vector<sg4::Link*> wan_links;                // [wan link]
};

/// Builds the platform; call after the Engine exists and sg_host_energy_plugin_init().
Platform build_platform(const PlatformSpec& spec);
Platform build_platform(const config::Scenario& s, const config::Assembly& a, int power_levels = 256);

/// One-way route latency (s) from each user region's endpoint to each datacenter's servers.
std::vector<std::vector<double>> user_latencies(const Platform& p);

}  // namespace chatdc::engine
