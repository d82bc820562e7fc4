// Config layer: the hardware and model catalogs (platforms/*.yaml), read strictly.
#pragma once
#include <map>
#include <string>

#include "config/reader.hpp"
#include "model/specs.hpp"

namespace chatdc::config {

/// The serving engine whose efficiency profile is used when a scenario names none.
inline const std::string kDefaultEngine = "vllm";

struct Catalog {
  std::string dir;  // folder holding gpus.yaml, servers.yaml, llms.yaml
  std::map<std::string, model::GpuSpec> gpus;  // with the default engine's profile (or the first one)
  std::map<std::string, std::map<std::string, model::GpuSpec>> gpu_engines;  // id -> engine -> spec
  std::map<std::string, model::ServerSpec> servers;
  std::map<std::string, model::LlmSpec> llms;
  // Each entry as read, with defaults filled in (copied into scenario.resolved.yaml for the ones used).
  std::map<std::string, YAML::Node> gpu_yaml, server_yaml, llm_yaml;
};

/// The folder of the shipped data (platforms/, workloads/, analysis/): $CHATDC_DATA_DIR, else the source tree.
std::string data_dir();
/// The folder of the shipped catalogs: data_dir()/platforms.
std::string default_catalog_dir();

/// Reads the three catalog files of `dir`; problems go to diag.
void load_catalog(const std::string& dir, Catalog* catalog, Diagnostics& diag);

/// Reads entries from a map with optional "gpus", "servers", "llms" sections (a scenario's
/// `catalog:` section has this shape); entries replace catalog entries of the same id.
void read_catalog_sections(Reader& r, Catalog* catalog);

/// The GPU with a serving engine's efficiency profile; nullptr when the catalog has no such profile.
const model::GpuSpec* gpu_for_engine(const Catalog& c, const std::string& gpu, const std::string& engine);
/// "vllm-2023, trtllm-0.5": the engines a GPU has profiles for.
std::string engines_of(const Catalog& c, const std::string& gpu);

/// Checks references between entries (a server's GPU must exist).
void check_catalog_links(const Catalog& catalog, const std::string& where, Diagnostics& diag);

}  // namespace chatdc::config
