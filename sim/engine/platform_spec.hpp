// Engine (plain data, no SimGrid): the scenario's platform described once, as a tree of zones.
//
// describe_platform() is the only place that knows the topology (see platform.hpp for the picture).
// build_platform() (platform.cpp) turns the description into SimGrid objects with the C++ API, and
// write_platform_xml() (platform_xml.cpp) into a SimGrid XML platform file, so both platforms have
// the same zones, names, links and routes by construction.
#pragma once
#include <string>
#include <vector>

#include "config/assemble.hpp"
#include "config/scenario.hpp"

namespace chatdc::engine {

/// Evenly spaced power levels of one server type, used as SimGrid pstates.
struct PowerLevels {
  double idle_w = 0;
  double max_w = 0;
  int count = 256;
  double step_w() const { return count > 1 ? (max_w - idle_w) / (count - 1) : 0.0; }
  double watts(int level) const { return idle_w + step_w() * level; }
  /// The level closest to w.
  int level_for(double w) const;
};

namespace spec {

enum class Routing { Full, Star };
/// How a route crosses a link; Up/Down only for split-duplex links (SimGrid's LinkInRoute::Direction).
enum class Dir { None, Up, Down };

struct Link {
  std::string name;
  double bandwidth_Bps = 0;
  double latency_s = 0;
  bool split_duplex = false;  // SimGrid creates two links, name_UP and name_DOWN
};

struct LinkUse {
  std::string link;
  Dir dir = Dir::None;
  bool operator==(const LinkUse&) const = default;
};

/// A route as passed to NetZone::add_route(). Empty names stand for SimGrid's nullptr: in a star zone a
/// route goes from `src` to everyone (dst empty) or from everyone to `dst` (src empty). Gateways are
/// set when src/dst are zones.
struct Route {
  std::string src, dst, gw_src, gw_dst;
  std::vector<LinkUse> links;
  bool symmetrical = true;
};

struct Host {
  std::string name;
  std::vector<double> speeds;  // flop/s per pstate
  int cores = 1;
  std::string wattage_per_state;  // the host energy plugin's "Idle:Epsilon:AllCores, ..." (one triple per pstate)
  std::string wattage_off = "0";
};

/// A zone holds either sub-zones or hosts and routers (SimGrid's XML DTD allows nothing else).
/// Links are created in the zone that lists them; routes may use links of the zone only.
struct Zone {
  std::string name;
  Routing routing = Routing::Star;
  std::vector<Link> links;
  std::vector<Host> hosts;
  std::vector<std::string> routers;
  std::vector<Zone> zones;
  std::vector<Route> routes;  // added after every link, host, router and sub-zone of the zone exists
};

}  // namespace spec

struct PlatformSpec {
  spec::Zone root;
  std::vector<std::vector<std::string>> dc_servers;  // host names [datacenter][server]
  std::vector<std::string> user_hosts;               // host names [user region]
  std::vector<PowerLevels> levels;                   // [datacenter]
  std::vector<std::string> wan_links;                // split-duplex link names [wan link]
};

/// The platform of a scenario; `power_levels` pstates per server (build_platform's default is 256).
PlatformSpec describe_platform(const config::Scenario& s, const config::Assembly& a, int power_levels = 256);

}  // namespace chatdc::engine
