// Engine: the scenario's platform as a SimGrid XML platform file (DTD version 4.1), for SimGrid users
// to inspect or reuse. It walks the same PlatformSpec as build_platform(), so the hosts, links,
// names and routes are those of the simulated platform. It needs no SimGrid Engine.
//
// SimGrid 3.32's XML has no star zone with explicit routes: <route> needs both ends, and
// routing="Cluster" (a StarZone) is filled only from <host_link>/<backbone>/<cabinet>. So a star zone is
// written as routing="Cluster" when each of its routes is "one host to everyone over one link"
// (racks, gateway cores), and otherwise as routing="Full" with the route between every pair of its
// members that the star zone computes (its UP links of the source, then the DOWN links of the
// destination, each link once). Route links and latencies are unchanged; only a host's route to
// itself may differ (a Full zone gives it SimGrid's loopback link).
#pragma once
#include <ostream>
#include <string>

#include "engine/platform_spec.hpp"

namespace chatdc::engine {

/// Writes the XML; `comment` (e.g. the scenario's name) goes into a comment at the top.
/// Throws chatdc::Error when the platform cannot be written as XML (two elements of one name).
void write_platform_xml(const PlatformSpec& p, std::ostream& out, const std::string& comment = "");

/// Writes the XML to `file` whole or not at all (a temporary name in the same folder, then rename).
void save_platform_xml(const PlatformSpec& p, const std::string& file, const std::string& comment = "");

}  // namespace chatdc::engine
