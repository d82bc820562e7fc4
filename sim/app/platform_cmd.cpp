#include "app/platform_cmd.hpp"

#include <fmt/format.h>

#include <cstddef>

#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "core/output_stage.hpp"
#include "engine/platform_spec.hpp"
#include "engine/platform_xml.hpp"

namespace chatdc::app {

CLI::App* add_platform_subcommand(CLI::App& app, PlatformArgs& args) {
  auto* sub = app.add_subcommand("platform", "Write the scenario's SimGrid platform (zones, hosts with power levels, links, "
                                             "routes) as a SimGrid XML platform file, without a simulation.");
  sub->add_option("scenario", args.scenario, "Scenario YAML file (see scenarios/ and README \"Scenario reference\")")->required();
  sub->add_option("--xml", args.xml, "XML platform file to write (DTD 4.1; loads with SimGrid 3.32's Engine::load_platform)")
      ->required();
  sub->add_option("--set", args.sets,
                  "Override a scenario key, validated like the file: --set platform.regions[0].datacenters[sh-1].racks=8; "
                  "repeatable")
      ->allow_extra_args(false);
  return sub;
}

int cmd_platform(const PlatformArgs& args) {
  const config::Scenario s = config::load_scenario(args.scenario, args.sets);
  OutputStage out(args.xml, OutputStage::Kind::kFile, "--xml " + args.xml);  // written beside, renamed into place
  const config::Assembly a = config::assemble(s);
  const engine::PlatformSpec p = engine::describe_platform(s, a);  // the platform `chatdc run` builds
  engine::save_platform_xml(p, out.file(), fmt::format("SimGrid platform of chatdc scenario \"{}\" ({})", s.name, args.scenario));
  out.commit();
  std::size_t servers = 0;
  for (const auto& dc : p.dc_servers) servers += dc.size();
  fmt::print("chatdc: platform of {} written to {} ({} servers in {} datacenters, {} user endpoints, {} power levels per server)\n",
             s.name, args.xml, servers, p.dc_servers.size(), p.user_hosts.size(), p.levels.empty() ? 0 : p.levels.front().count);
  return 0;
}

}  // namespace chatdc::app
