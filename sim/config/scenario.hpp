// Config layer: a scenario, fully typed and validated. Every default lives in the loader
// (scenario.cpp) and is written back into `resolved` (scenario.resolved.yaml).
#pragma once
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "config/catalog.hpp"
#include "model/daily_curve.hpp"
#include "model/specs.hpp"
#include "serving/replica.hpp"
#include "workload/diurnal.hpp"
#include "workload/token_sampler.hpp"

namespace chatdc::config {

struct RunSpec {
  double duration_s = 86400;
  double sample_period_s = 60;
  std::uint64_t seed = 1;
  double clock_utc_offset_h = 0;  // the run starts at 00:00 in this time zone
  int start_weekday = 0;          // weekday of the run's first day (0 = Monday)
  std::string output_dir;
  std::string percentiles = "auto";  // auto | exact | sketch
};

struct NetworkSpec {
  double server_gbps = 200;        // server NIC
  double rack_uplink_gbps = 3200;  // top-of-rack switch to spine
  double spine_gbps = 51200;       // datacenter spine (aggregate)
  double hop_latency_us = 2;       // per link
};

struct DatacenterSpec {
  std::string name;
  std::string server_id;
  model::ServerSpec server;
  model::GpuSpec gpu;
  int racks = 1;
  int servers_per_rack = 1;
  int tensor_parallel = 1;
  double server_capex = 0;  // in the report currency
  NetworkSpec network;
  int servers() const { return racks * servers_per_rack; }
};

struct RegionSpec {
  std::string name;
  double utc_offset_h = 0;
  model::DailyCurve pue;
  model::DailyCurve carbon_kg_per_kwh;
  model::DailyCurve price_per_kwh;  // report currency
  std::vector<DatacenterSpec> datacenters;
};

struct WanLinkSpec {
  std::string from, to;
  std::uint32_t from_index = 0, to_index = 0;
  double latency_ms = 10;
  double bandwidth_gbps = 400;
};

struct UserRegionSpec {
  std::string name;
  double requests_per_day = 0;
  double utc_offset_h = 0;
  std::string network_region;
  std::uint32_t network_region_index = 0;
  double access_latency_ms = 5;  // one way, user to the region's network
};

struct WorkloadSpec {
  double requests_per_day = 0;
  std::array<double, 24> hourly_profile{};
  std::string hourly_profile_name;  // preset name, or "custom"
  std::array<double, 7> day_of_week{1, 1, 1, 1, 1, 1, 1};
  workload::Renewal renewal;
  workload::TokenDist prompt;
  workload::TokenDist output;
  std::vector<UserRegionSpec> user_regions;
};

struct EconomicsSpec {
  std::string currency = "USD";  // USD | CNY: every cost figure is reported in it
  double cny_per_usd = 7.2;
  double depreciation_years = 5;
  double maintenance_fraction_per_year = 0.05;
};

struct RoutingSpec {
  std::string policy = "nearest";
};

struct SloSpec {
  double ttft_s = 2.0;  // MLPerf Llama-2-70B server scenario (facts 2)
  double tpot_s = 0.2;
};

struct Scenario {
  std::string file;
  std::string name;
  std::string description;
  RunSpec run;
  model::LlmSpec llm;
  serving::SchedulerConfig scheduler;  // kv_capacity_tokens filled per datacenter
  double memory_headroom_fraction = 0.1;
  std::vector<RegionSpec> regions;
  std::vector<WanLinkSpec> wan;
  WorkloadSpec workload;
  EconomicsSpec economics;
  RoutingSpec routing;
  SloSpec slo;
  Catalog catalog;
  YAML::Node resolved;

  std::size_t datacenter_count() const;
};

/// Loads, overrides and validates a scenario. Throws chatdc::Error listing every problem.
Scenario load_scenario(const std::string& file, const std::vector<std::string>& overrides = {});

/// Writes the resolved scenario as YAML text.
std::string resolved_yaml(const Scenario& s);

}  // namespace chatdc::config
