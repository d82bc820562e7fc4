#include "engine/platform_spec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "config/wan_paths.hpp"

namespace chatdc::engine {

int PowerLevels::level_for(double w) const {
  if (count <= 1 || max_w <= idle_w) return 0;
  const long l = std::lround((w - idle_w) / step_w());
  return static_cast<int>(std::clamp<long>(l, 0, count - 1));
}

namespace {

using spec::Dir;
using spec::Routing;

constexpr double kFabricBps = 1e15;  // stand-in for "not a bottleneck" (zone fabrics, gateways)

double gbps_to_bytes(double gbps) { return gbps * 1e9 / 8.0; }

std::string wattage_string(const PowerLevels& lv) {
  std::string s;
  for (int k = 0; k < lv.count; ++k) {
    const std::string w = fmt::format("{}", lv.watts(k));
    s += (k ? ", " : "") + w + ":" + w + ":" + w;
  }
  return s;
}

spec::Link fabric(const std::string& name, double latency_s = 0) { return {name, kFabricBps, latency_s, false}; }

spec::Zone zone(const std::string& name, Routing routing) {
  spec::Zone z;
  z.name = name;
  z.routing = routing;
  return z;
}

// A zone that holds sub-zones needs its gateway in a leaf zone of its own: SimGrid 3.32 resolves
// routes recursively from a gateway down to a host, and cannot descend from a router that sits in
// an ancestor of the host's zone (NetZoneImpl::get_global_route_with_netzones).
// `link` (a link of `parent`) joins the gateway to the rest of the parent zone. Returns the gateway.
std::string core_zone(spec::Zone& parent, const std::string& name, const std::string& link) {
  spec::Zone core = zone(name + "-core", Routing::Star);
  const std::string gw = name + "-gw";
  core.routers.push_back(gw);
  parent.zones.push_back(std::move(core));
  parent.routes.push_back({name + "-core", "", gw, "", {{link}}, true});
  return gw;
}

}  // namespace

PlatformSpec describe_platform(const config::Scenario& s, const config::Assembly& a, int power_levels) {
  PlatformSpec p;
  spec::Zone world = zone("world", Routing::Full);  // explicit lowest-latency routes between its zones
  std::vector<std::string> region_zone, region_gw;

  std::size_t dc_index = 0;
  for (const auto& region : s.regions) {
    spec::Zone rz = zone("region-" + region.name, Routing::Star);
    rz.links.push_back(fabric(region.name + "-fabric"));
    const std::string rgw = core_zone(rz, region.name, region.name + "-fabric");

    for (const auto& dc : region.datacenters) {
      const auto& pool = a.system.dcs[dc_index];
      PowerLevels lv;
      // With power states the levels reach down to the off power: a period partly off averages below idle.
      // Per physical server: a deployment unit's pool describes the unit's servers_per_unit servers together.
      const double per_unit = pool.servers_per_unit;
      const double off_w = pool.ops.off_power_w / per_unit;
      lv.idle_w = (pool.ops.power_states() ? std::min(pool.ops.off_power_w, pool.server_power.idle_w()) : pool.server_power.idle_w()) / per_unit;
      lv.max_w = pool.server_power.max_w() / per_unit;
      lv.count = power_levels;
      p.levels.push_back(lv);
      const std::string watts = wattage_string(lv);
      const std::vector<double> speeds(static_cast<std::size_t>(lv.count), dc.gpu.bf16_dense_tflops * 1e12);
      const double hop = dc.network.hop_latency_us * 1e-6;

      spec::Zone dz = zone(dc.name, Routing::Star);
      const std::string spine = dc.name + "-spine", border = dc.name + "-border";
      dz.links.push_back({spine, gbps_to_bytes(dc.network.spine_gbps), hop, false});
      dz.links.push_back({border, gbps_to_bytes(dc.network.spine_gbps), hop, false});
      const std::string dgw = core_zone(dz, dc.name, border);

      std::vector<std::string> hosts;
      for (int r = 0; r < dc.racks; ++r) {
        const std::string rack = fmt::format("{}-r{}", dc.name, r);
        spec::Zone kz = zone(rack, Routing::Star);
        for (int k = 0; k < dc.servers_per_rack; ++k) {
          const std::string name = fmt::format("{}-s{}", rack, k);
          kz.hosts.push_back({name, speeds, dc.server.gpus_per_server, watts,
                              pool.ops.power_states() ? fmt::format("{}", off_w) : "0"});
          kz.links.push_back({name + "-nic", gbps_to_bytes(dc.network.server_gbps), hop, true});
          kz.routes.push_back({name, "", "", "", {{name + "-nic", Dir::Up}}, true});
          hosts.push_back(name);
        }
        const std::string tor = rack + "-tor";
        kz.routers.push_back(tor);
        dz.zones.push_back(std::move(kz));
        dz.links.push_back({rack + "-up", gbps_to_bytes(dc.network.rack_uplink_gbps), hop, true});
        dz.routes.push_back({rack, "", tor, "", {{rack + "-up", Dir::Up}, {spine}}, true});
      }
      rz.links.push_back(fabric(dc.name + "-uplink"));
      rz.zones.push_back(std::move(dz));
      rz.routes.push_back({dc.name, "", dgw, "", {{dc.name + "-uplink"}}, true});
      p.dc_servers.push_back(std::move(hosts));
      ++dc_index;
    }
    region_zone.push_back(rz.name);
    region_gw.push_back(rgw);
    world.zones.push_back(std::move(rz));
  }

  for (const auto& w : s.wan) {
    const std::string name = fmt::format("wan-{}-{}", w.from, w.to);
    world.links.push_back({name, gbps_to_bytes(w.bandwidth_gbps), w.latency_ms * 1e-3, true});
    p.wan_links.push_back(name);
  }
  const auto paths = config::wan_paths(s.regions.size(), s.wan);
  // A route between zones needs at least one link: users reach their own region through a local exchange.
  const std::string exchange = "world-exchange";
  world.links.push_back(fabric(exchange));
  auto wan_route = [&](std::size_t from, std::size_t to) {
    std::vector<spec::LinkUse> links;
    if (paths[from][to]->empty()) links.push_back({exchange});
    for (const auto& hop : *paths[from][to]) links.push_back({p.wan_links[hop.link], hop.forward ? Dir::Up : Dir::Down});
    return links;
  };

  for (const auto& ur : s.workload.user_regions) {
    // The zone and its endpoint host need distinct names: SimGrid's XML loader finds route ends by name.
    const std::string base = "users-" + ur.name;
    spec::Zone uz = zone(base + "-zone", Routing::Star);
    uz.hosts.push_back({base, {1e9}, 1, "0:0:0", "0"});
    uz.links.push_back({base + "-access", kFabricBps, ur.access_latency_ms * 1e-3, true});
    uz.routes.push_back({base, "", "", "", {{base + "-access", Dir::Up}}, true});
    const std::string ugw = base + "-gw";
    uz.routers.push_back(ugw);
    uz.links.push_back(fabric(base + "-fabric"));
    uz.routes.push_back({ugw, "", "", "", {{base + "-fabric"}}, true});
    p.user_hosts.push_back(base);
    for (std::size_t r = 0; r < region_zone.size(); ++r) {
      world.routes.push_back({uz.name, region_zone[r], ugw, region_gw[r], wan_route(ur.network_region_index, r), false});
      world.routes.push_back({region_zone[r], uz.name, region_gw[r], ugw, wan_route(r, ur.network_region_index), false});
    }
    world.zones.push_back(std::move(uz));
  }
  for (std::size_t a_ = 0; a_ < region_zone.size(); ++a_)
    for (std::size_t b = 0; b < region_zone.size(); ++b)
      if (a_ != b) world.routes.push_back({region_zone[a_], region_zone[b], region_gw[a_], region_gw[b], wan_route(a_, b), false});

  p.root = std::move(world);
  return p;
}

}  // namespace chatdc::engine
