#include "engine/platform.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "config/wan_paths.hpp"

namespace chatdc::engine {

using Dir = sg4::LinkInRoute::Direction;

int PowerLevels::level_for(double w) const {
  if (count <= 1 || max_w <= idle_w) return 0;
  const long l = std::lround((w - idle_w) / step_w());
  return static_cast<int>(std::clamp<long>(l, 0, count - 1));
}

namespace {

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

sg4::Link* fabric(sg4::NetZone* z, const std::string& name, double latency_s = 0) {
  return z->create_link(name, kFabricBps)->set_latency(latency_s)->seal();
}

// A zone that holds sub-zones needs its gateway in a leaf zone of its own: SimGrid 3.32 resolves
// routes recursively from a gateway down to a host, and cannot descend from a router that sits in
// an ancestor of the host's zone (NetZoneImpl::get_global_route_with_netzones).
// `link` joins the gateway to the rest of the parent zone.
simgrid::kernel::routing::NetPoint* core_zone(sg4::NetZone* parent, const std::string& name, sg4::Link* link) {
  auto* core = sg4::create_star_zone(name + "-core");
  core->set_parent(parent);
  auto* gw = core->create_router(name + "-gw");
  core->seal();
  parent->add_route(core->get_netpoint(), nullptr, gw, nullptr, {sg4::LinkInRoute(link)}, true);
  return gw;
}

}  // namespace

Platform build_platform(const config::Scenario& s, const config::Assembly& a, int power_levels) {
  Platform p;
  auto* world = sg4::create_full_zone("world");
  std::vector<sg4::NetZone*> region_zones;
  std::vector<simgrid::kernel::routing::NetPoint*> region_gw;

  std::size_t dc_index = 0;
  for (const auto& region : s.regions) {
    auto* rz = sg4::create_star_zone("region-" + region.name);
    rz->set_parent(world);
    auto* rgw = core_zone(rz, region.name, fabric(rz, region.name + "-fabric"));

    for (const auto& dc : region.datacenters) {
      const auto& pool = a.system.dcs[dc_index];
      PowerLevels lv;
      lv.idle_w = pool.server_power.idle_w();
      lv.max_w = pool.server_power.max_w();
      lv.count = power_levels;
      p.levels.push_back(lv);
      const std::string watts = wattage_string(lv);
      const std::vector<double> speeds(static_cast<std::size_t>(lv.count), dc.gpu.bf16_dense_tflops * 1e12);
      const double hop = dc.network.hop_latency_us * 1e-6;

      auto* dz = sg4::create_star_zone(dc.name);
      dz->set_parent(rz);
      auto* spine = dz->create_link(dc.name + "-spine", gbps_to_bytes(dc.network.spine_gbps))->set_latency(hop)->seal();
      auto* dgw = core_zone(dz, dc.name, dz->create_link(dc.name + "-border", gbps_to_bytes(dc.network.spine_gbps))->set_latency(hop)->seal());

      std::vector<sg4::Host*> hosts;
      for (int r = 0; r < dc.racks; ++r) {
        const std::string rack = fmt::format("{}-r{}", dc.name, r);
        auto* kz = sg4::create_star_zone(rack);
        kz->set_parent(dz);
        for (int k = 0; k < dc.servers_per_rack; ++k) {
          const std::string name = fmt::format("{}-s{}", rack, k);
          sg4::Host* h = kz->create_host(name, speeds);
          h->set_core_count(dc.server.gpus_per_server);
          h->set_property("wattage_per_state", watts);
          h->set_property("wattage_off", "0");
          auto* nic = kz->create_split_duplex_link(name + "-nic", gbps_to_bytes(dc.network.server_gbps))->set_latency(hop)->seal();
          kz->add_route(h->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(nic, Dir::UP)}, true);
          hosts.push_back(h);
        }
        auto* tor = kz->create_router(rack + "-tor");
        kz->seal();
        auto* up = dz->create_split_duplex_link(rack + "-up", gbps_to_bytes(dc.network.rack_uplink_gbps))->set_latency(hop)->seal();
        dz->add_route(kz->get_netpoint(), nullptr, tor, nullptr, {sg4::LinkInRoute(up, Dir::UP), sg4::LinkInRoute(spine)}, true);
      }
      dz->seal();
      rz->add_route(dz->get_netpoint(), nullptr, dgw, nullptr, {sg4::LinkInRoute(fabric(rz, dc.name + "-uplink"))}, true);
      p.dc_servers.push_back(std::move(hosts));
      ++dc_index;
    }
    rz->seal();
    region_zones.push_back(rz);
    region_gw.push_back(rgw);
  }

  for (const auto& w : s.wan) {
    auto* l = world->create_split_duplex_link(fmt::format("wan-{}-{}", w.from, w.to), gbps_to_bytes(w.bandwidth_gbps))
                  ->set_latency(w.latency_ms * 1e-3)
                  ->seal();
    p.wan_links.push_back(l);
  }
  const auto paths = config::wan_paths(s.regions.size(), s.wan);
  // A route between zones needs at least one link: users reach their own region through a local exchange.
  auto* exchange = fabric(world, "world-exchange");
  auto wan_route = [&](std::size_t from, std::size_t to) {
    std::vector<sg4::LinkInRoute> links;
    if (paths[from][to]->empty()) links.emplace_back(exchange);
    for (const auto& hop : *paths[from][to]) {
      auto* sd = static_cast<sg4::SplitDuplexLink*>(p.wan_links[hop.link]);
      links.emplace_back(sd, hop.forward ? Dir::UP : Dir::DOWN);
    }
    return links;
  };

  for (std::size_t u = 0; u < s.workload.user_regions.size(); ++u) {
    const auto& ur = s.workload.user_regions[u];
    auto* uz = sg4::create_star_zone("users-" + ur.name);
    uz->set_parent(world);
    sg4::Host* h = uz->create_host("users-" + ur.name, 1e9);
    h->set_property("wattage_per_state", "0:0:0");
    h->set_property("wattage_off", "0");
    auto* access = uz->create_split_duplex_link("users-" + ur.name + "-access", kFabricBps)->set_latency(ur.access_latency_ms * 1e-3)->seal();
    uz->add_route(h->get_netpoint(), nullptr, nullptr, nullptr, {sg4::LinkInRoute(access, Dir::UP)}, true);
    auto* ugw = uz->create_router("users-" + ur.name + "-gw");
    uz->add_route(ugw, nullptr, nullptr, nullptr, {sg4::LinkInRoute(fabric(uz, "users-" + ur.name + "-fabric"))}, true);
    uz->seal();
    p.user_hosts.push_back(h);
    for (std::size_t r = 0; r < region_zones.size(); ++r) {
      world->add_route(uz->get_netpoint(), region_zones[r]->get_netpoint(), ugw, region_gw[r],
                       wan_route(ur.network_region_index, r), false);
      auto back = wan_route(r, ur.network_region_index);
      world->add_route(region_zones[r]->get_netpoint(), uz->get_netpoint(), region_gw[r], ugw, back, false);
    }
  }
  for (std::size_t a_ = 0; a_ < region_zones.size(); ++a_)
    for (std::size_t b = 0; b < region_zones.size(); ++b)
      if (a_ != b)
        world->add_route(region_zones[a_]->get_netpoint(), region_zones[b]->get_netpoint(), region_gw[a_], region_gw[b],
                         wan_route(a_, b), false);
  world->seal();
  return p;
}

std::vector<std::vector<double>> user_latencies(const Platform& p) {
  std::vector<std::vector<double>> out(p.user_hosts.size(), std::vector<double>(p.dc_servers.size(), 0.0));
  for (std::size_t u = 0; u < p.user_hosts.size(); ++u)
    for (std::size_t d = 0; d < p.dc_servers.size(); ++d) {
      std::vector<sg4::Link*> links;
      double latency = 0;
      p.user_hosts[u]->route_to(p.dc_servers[d].front(), links, &latency);
      out[u][d] = latency;
    }
  return out;
}

}  // namespace chatdc::engine
