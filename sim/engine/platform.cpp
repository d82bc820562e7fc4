#include "engine/platform.hpp"

#include <stdexcept>
#include <string>
#include <unordered_map>

namespace chatdc::engine {

namespace {

using NetPoint = simgrid::kernel::routing::NetPoint;

// Creates a PlatformSpec zone tree with SimGrid's C++ API, remembering every object by name.
class Builder {
 public:
  sg4::NetZone* zone(const spec::Zone& z, sg4::NetZone* parent) {
    auto* nz = z.routing == spec::Routing::Full ? sg4::create_full_zone(z.name) : sg4::create_star_zone(z.name);
    if (parent) nz->set_parent(parent);
    for (const auto& l : z.links) {
      sg4::Link* link = l.split_duplex ? nz->create_split_duplex_link(l.name, l.bandwidth_Bps) : nz->create_link(l.name, l.bandwidth_Bps);
      links_[l.name] = link->set_latency(l.latency_s)->seal();
    }
    for (const auto& h : z.hosts) {
      sg4::Host* host = nz->create_host(h.name, h.speeds);
      host->set_core_count(h.cores);
      host->set_property("wattage_per_state", h.wattage_per_state);  // read by the energy plugin at seal
      host->set_property("wattage_off", h.wattage_off);
      hosts_[h.name] = host;
      points_[h.name] = host->get_netpoint();
    }
    for (const auto& r : z.routers) points_[r] = nz->create_router(r);
    for (const auto& sub : z.zones) points_[sub.name] = zone(sub, nz)->get_netpoint();
    for (const auto& r : z.routes) {
      std::vector<sg4::LinkInRoute> links;
      for (const auto& u : r.links) links.emplace_back(link(u.link), u.dir == spec::Dir::Up     ? sg4::LinkInRoute::Direction::UP
                                                                     : u.dir == spec::Dir::Down ? sg4::LinkInRoute::Direction::DOWN
                                                                                                : sg4::LinkInRoute::Direction::NONE);
      nz->add_route(point(r.src), point(r.dst), point(r.gw_src), point(r.gw_dst), links, r.symmetrical);
    }
    nz->seal();
    return nz;
  }

  sg4::Host* host(const std::string& name) const { return hosts_.at(name); }
  sg4::Link* link(const std::string& name) const {
    const auto it = links_.find(name);
    if (it == links_.end()) throw std::logic_error("platform: route through unknown link " + name);
    return it->second;
  }

 private:
  NetPoint* point(const std::string& name) const {
    if (name.empty()) return nullptr;
    const auto it = points_.find(name);
    if (it == points_.end()) throw std::logic_error("platform: route to unknown node " + name);
    return it->second;
  }

  std::unordered_map<std::string, NetPoint*> points_;
  std::unordered_map<std::string, sg4::Link*> links_;
  std::unordered_map<std::string, sg4::Host*> hosts_;
};

}  // namespace

Platform build_platform(const PlatformSpec& spec) {
  Builder b;
  b.zone(spec.root, nullptr);
  Platform p;
  for (const auto& dc : spec.dc_servers) {
    auto& hosts = p.dc_servers.emplace_back();
    for (const auto& name : dc) hosts.push_back(b.host(name));
  }
  for (const auto& name : spec.user_hosts) p.user_hosts.push_back(b.host(name));
  p.levels = spec.levels;
  for (const auto& name : spec.wan_links) p.wan_links.push_back(b.link(name));
  return p;
}

Platform build_platform(const config::Scenario& s, const config::Assembly& a, int power_levels) {
  return build_platform(describe_platform(s, a, power_levels));
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
