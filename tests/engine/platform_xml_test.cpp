// Engine tests: the platform written as SimGrid XML loads in SimGrid 3.32 and is the platform
// build_platform() creates (hosts, power levels, link names, route latencies).
// Each TEST_CASE runs in its own process under ctest (one SimGrid Engine per process).
#include <catch2/catch.hpp>
#include <simgrid/plugins/energy.h>
#include <simgrid/s4u.hpp>
#include <sys/wait.h>
#include <unistd.h>
#include <xbt/log.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "core/error.hpp"
#include "engine/platform.hpp"
#include "engine/platform_xml.hpp"
#include "fixture.hpp"

using namespace chatdc;
namespace sg4 = simgrid::s4u;
namespace fs = std::filesystem;
using engine_test::make_engine;
using engine_test::scratch;

namespace {

config::Scenario load() { return engine_test::load_two_regions(true); }

// Hand-computed one-way latencies [user region][datacenter]: access + WAN + border, spine, rack uplink, NIC.
double expected_latency(std::size_t user, std::size_t dc) {
  const double access = user == 0 ? 2.5e-3 : 4e-3;
  const double wan = user == dc ? 0 : 12e-3;
  const double hops = 4 * (dc == 0 ? 2e-6 : 3e-6);
  return access + wan + hops;
}

// The links from east's users to the first server of east-1, named as in both platforms.
const std::vector<std::string> kEastRoute = {"users-east-users-access_UP", "users-east-users-fabric", "world-exchange",
                                             "east-fabric", "east-1-uplink", "east-1-border", "east-1-spine",
                                             "east-1-r0-up_DOWN", "east-1-r0-s0-nic_DOWN"};
// ... and to west-1, over the WAN link crossed from its `to` end.
const std::vector<std::string> kWestRoute = {"users-east-users-access_UP", "users-east-users-fabric", "wan-east-west_UP",
                                             "west-fabric", "west-1-uplink", "west-1-border", "west-1-spine",
                                             "west-1-r0-up_DOWN", "west-1-r0-s0-nic_DOWN"};

std::vector<std::string> route_names(const sg4::Host* from, const sg4::Host* to, double* latency = nullptr) {
  std::vector<sg4::Link*> links;
  double lat = 0;
  from->route_to(to, links, &lat);
  if (latency) *latency = lat;
  std::vector<std::string> names;
  for (const auto* l : links) names.push_back(l->get_name());
  return names;
}

// Every host-to-host route of the current platform, as text: "src dst latency link,link,...".
std::string all_routes() {
  auto hosts = sg4::Engine::get_instance()->get_all_hosts();
  std::sort(hosts.begin(), hosts.end(), [](const sg4::Host* a, const sg4::Host* b) { return a->get_name() < b->get_name(); });
  std::ostringstream out;
  out.precision(17);
  for (const auto* a : hosts)
    for (const auto* b : hosts) {
      if (a == b) continue;  // a host's route to itself may differ (see platform_xml.hpp)
      out << a->get_name() << ' ' << b->get_name() << ' ';
      try {
        double lat = 0;
        const auto names = route_names(a, b, &lat);
        out << lat << ' ';
        for (const auto& n : names) out << n << ',';
      } catch (const std::exception&) {
        out << "no route";  // between user endpoints: the world zone has no user-to-user routes
      }
      out << '\n';
    }
  return out.str();
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("the XML platform loads in SimGrid 3.32 with the hosts, power levels and route latencies of the scenario") {
  const auto s = load();
  const auto a = config::assemble(s);
  const auto spec = engine::describe_platform(s, a);  // what build_platform() builds (256 power levels)
  const auto file = scratch("platform.xml");
  engine::save_platform_xml(spec, file.string(), "test");
  const std::string xml = slurp(file);
  CHECK(xml.rfind("<?xml", 0) == 0);
  CHECK_THAT(xml, Catch::Contains("<platform version=\"4.1\">"));
  CHECK_THAT(xml, Catch::Contains("<zone id=\"east-1-r0\" routing=\"Cluster\">"));
  CHECK_THAT(xml, Catch::Contains("<host_link id=\"east-1-r0-s0\" up=\"east-1-r0-s0-nic_UP\" down=\"east-1-r0-s0-nic_DOWN\"/>"));
  CHECK_THAT(xml, Catch::Contains("sharing_policy=\"SPLITDUPLEX\""));
  CHECK_THAT(xml, Catch::Contains("<link_ctn id=\"wan-east-west\" direction=\"DOWN\"/>"));

  auto* e = make_engine();
  e->load_platform(file.string());
  e->seal_platform();  // XML zones are sealed by run() or here; routes need sealed star zones

  // Hosts: 6 + 2 servers and 2 user endpoints, named as in the C++-built platform.
  CHECK(e->get_host_count() == 8 + 2);
  const engine::PowerLevels lv = spec.levels[0];
  CHECK(lv.idle_w == 1504);  // DGX A100: 8 x 63 W + 1,000 W idle; 8 x 400 W + 3,300 W max
  CHECK(lv.max_w == 6500);
  CHECK(lv.count == 256);
  for (std::size_t d = 0; d < spec.dc_servers.size(); ++d)
    for (const auto& name : spec.dc_servers[d]) {
      const sg4::Host* h = sg4::Host::by_name_or_null(name);
      REQUIRE(h != nullptr);
      CHECK(h->get_pstate_count() == 256);
      CHECK(h->get_core_count() == 8);
      CHECK(h->get_speed() == Approx(312e12));
      CHECK(sg_host_get_wattmin_at(h, 0) == spec.levels[d].idle_w);
      CHECK(sg_host_get_wattmax_at(h, 0) == spec.levels[d].idle_w);
      CHECK(sg_host_get_wattmin_at(h, 255) == Approx(spec.levels[d].max_w).epsilon(1e-12));
      CHECK(sg_host_get_wattmax_at(h, 255) == Approx(spec.levels[d].max_w).epsilon(1e-12));
      CHECK(sg_host_get_wattmax_at(h, 100) == Approx(spec.levels[d].watts(100)).epsilon(1e-12));
      CHECK(std::string(h->get_property("wattage_off")) == "0");
    }

  // Route latencies from each user endpoint to every server of each datacenter, by hand.
  REQUIRE(spec.user_hosts.size() == 2);
  for (std::size_t u = 0; u < spec.user_hosts.size(); ++u) {
    const sg4::Host* user = sg4::Host::by_name(spec.user_hosts[u]);
    for (std::size_t d = 0; d < spec.dc_servers.size(); ++d)
      for (const auto& name : spec.dc_servers[d]) {
        double lat = 0;
        route_names(user, sg4::Host::by_name(name), &lat);
        CHECK(lat == Approx(expected_latency(u, d)).epsilon(1e-12));
      }
  }
  CHECK(route_names(sg4::Host::by_name("users-east-users"), sg4::Host::by_name("east-1-r0-s0")) == kEastRoute);
  CHECK(route_names(sg4::Host::by_name("users-east-users"), sg4::Host::by_name("west-1-r0-s0")) == kWestRoute);
  fs::remove_all(file.parent_path());
}

TEST_CASE("build_platform() gives the same route latencies and link names as the hand calculation") {
  make_engine();
  const auto s = load();
  const auto a = config::assemble(s);
  const auto p = engine::build_platform(s, a);
  CHECK(sg4::Engine::get_instance()->get_host_count() == 8 + 2);
  const auto lat = engine::user_latencies(p);
  for (std::size_t u = 0; u < 2; ++u)
    for (std::size_t d = 0; d < 2; ++d) CHECK(lat[u][d] == Approx(expected_latency(u, d)).epsilon(1e-12));
  CHECK(route_names(p.user_hosts[0], p.dc_servers[0][0]) == kEastRoute);
  CHECK(route_names(p.user_hosts[0], p.dc_servers[1][0]) == kWestRoute);
  CHECK(p.dc_servers[0][4]->get_name() == "east-1-r1-s1");
  CHECK(p.dc_servers[0][0]->get_pstate_count() == 256);
  fs::remove_all(scratch("x").parent_path());
}

TEST_CASE("the XML platform and build_platform() route every pair of hosts over the same links") {
  const auto s = load();
  const auto a = config::assemble(s);
  const auto file = scratch("platform.xml");
  engine::save_platform_xml(engine::describe_platform(s, a), file.string());
  const auto cpp_routes = scratch("cpp-routes.txt");

  // The C++-built platform in a child process (one SimGrid Engine per process).
  std::fflush(nullptr);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int code = 1;
    try {
      make_engine();
      engine::build_platform(s, a);
      std::ofstream(cpp_routes) << all_routes();
      code = 0;
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "child: %s\n", ex.what());
    }
    std::_Exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  auto* e = make_engine();
  e->load_platform(file.string());
  e->seal_platform();
  const std::string xml_routes = all_routes();
  const std::string expected = slurp(cpp_routes);
  CHECK(std::count(expected.begin(), expected.end(), '\n') == 10 * 9);
  std::size_t no_route = 0;
  for (std::size_t k = expected.find("no route"); k != std::string::npos; k = expected.find("no route", k + 1)) ++no_route;
  CHECK(no_route == 2);  // users-east-users <-> users-west-users only
  CHECK(xml_routes == expected);
  fs::remove_all(file.parent_path());
}

TEST_CASE("a platform whose names clash cannot be written as XML, and leaves no file") {
  auto s = load();
  s.workload.user_regions[1].name = "east-users";  // two user zones of one name
  const auto a = config::assemble(s);
  const auto file = scratch("clash.xml");
  CHECK_THROWS_AS(engine::save_platform_xml(engine::describe_platform(s, a), file.string()), Error);
  CHECK_FALSE(fs::exists(file));
  CHECK(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator{}) == 1);  // the scenario only
  fs::remove_all(file.parent_path());
}
