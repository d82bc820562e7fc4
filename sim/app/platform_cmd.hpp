// App: `chatdc platform SCENARIO.yaml --xml FILE` writes the scenario's SimGrid platform as a SimGrid
// XML platform file (DTD 4.1), the same platform `chatdc run` simulates.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace chatdc::app {

struct PlatformArgs {
  std::string scenario;
  std::string xml;
  std::vector<std::string> sets;
};

/// Adds the `platform` subcommand to `app`, filling `args`.
CLI::App* add_platform_subcommand(CLI::App& app, PlatformArgs& args);

/// Loads the scenario and writes the XML file (whole or not at all). Throws chatdc::Error on bad input.
int cmd_platform(const PlatformArgs& args);

}  // namespace chatdc::app
