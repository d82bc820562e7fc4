// Config layer: a scenario, fully typed and validated. Every default lives in the loader
// (scenario.cpp) and is written back into `resolved` (scenario.resolved.yaml).
#pragma once
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/catalog.hpp"
#include "model/daily_curve.hpp"
#include "model/specs.hpp"
#include "model/step_table.hpp"
#include "operations/autoscaling.hpp"
#include "operations/power_cap.hpp"
#include "serving/replica.hpp"
#include "workload/diurnal.hpp"
#include "workload/token_sampler.hpp"
#include "workload/trace.hpp"

namespace chatdc::config {

// Upper bounds that keep every run finite, checked when the scenario loads (README "Scenario reference"),
// beside each key's own range. workload::kMaxRequestsPerDay (1e11) bounds the demand of a day.
inline constexpr double kMaxTokens = 1 << 24;         // one prompt or answer: 16.8 M tokens (longest contexts: 10 M)
inline constexpr double kMaxDurationS = 1e6;          // a think time: 11.6 days
inline constexpr std::size_t kMaxServers = 100000;    // in one scenario: 800 k GPUs (largest fleets: ~200 k)
inline constexpr std::size_t kMaxRegions = 200, kMaxDatacenters = 2000, kMaxUserRegions = 1000;
inline constexpr double kMaxTimelineRows = 1e7;       // sample periods x datacenters (timeline.csv, in memory)
inline constexpr double kMaxExactRequests = 1e8;      // run.percentiles: exact keeps 8 latencies of each request
inline constexpr double kMaxEmpiricalSamples = 5e7;   // lengths an empirical token distribution keeps (200 MB)

struct RunSpec {
  double duration_s = 86400;
  double sample_period_s = 60;
  std::uint64_t seed = 1;
  double clock_utc_offset_h = 0;  // the run starts at 00:00 in this time zone
  int start_weekday = 0;          // weekday of the run's first day (0 = Monday)
  double start_h = 0;             // the run starts at this hour of its clock's day (part of a day at its true clock)
  std::string output_dir;
  std::string percentiles = "auto";  // auto | exact | sketch
  std::string engine = "day";        // day (closed-form, one SimGrid wake-up per period) | fine (SimGrid events per request)
  std::string request_log = "none";  // none | all | sample: requests.csv, streamed
  double request_log_fraction = 0.01;  // sample: share of requests logged (chosen by request id)
  std::string timeline_detail = "datacenter";  // datacenter | rack | server: timeline_racks.csv / timeline_servers.csv
  unsigned threads = 0;  // for independent balancer cells (0: every hardware thread); results do not depend on it
};

struct NetworkSpec {
  double server_gbps = 200;        // server NIC
  double rack_uplink_gbps = 3200;  // top-of-rack switch to spine
  double spine_gbps = 51200;       // datacenter spine (aggregate)
  double hop_latency_us = 2;       // per link
  double rdma_efficiency = 0.86;   // achieved / NIC share per GPU in expert-parallel all-to-alls (units spanning servers)
};

struct DatacenterSpec {
  std::string name;
  std::string server_id;
  model::ServerSpec server;
  model::GpuSpec gpu;
  int racks = 1;
  int servers_per_rack = 1;
  int tensor_parallel = 1;
  // A deployment unit spanning servers (unit_servers > 1): attention data parallelism and expert
  // parallelism over unit_servers x gpus_per_server GPUs (README "Deployment units spanning servers").
  int unit_servers = 1;
  int expert_parallel = 1;  // routed experts spread over this many of a replica's GPUs
  double server_capex = 0;  // in the report currency
  NetworkSpec network;
  // A measured step-time table replacing the roofline for this datacenter (step_table key), with
  // where the key sits (for messages).
  std::string step_table_file;
  std::shared_ptr<const model::StepTable> step_table;
  std::string step_table_where;
  // Prefill/decode disaggregation (README "Prefill/decode disaggregation"): the last decode->servers
  // servers form the decode pool, in units of decode->unit_servers; the others, in units of
  // unit_servers, the prefill pool. Without it (default), every replica prefills and decodes.
  struct DecodePool {
    int servers = 0;
    int unit_servers = 1;
    int tensor_parallel = 1;
    int expert_parallel = 1;
    std::uint32_t max_batch_size = 0;  // sequences per decode replica (0: serving.max_batch_size)
  };
  std::optional<DecodePool> decode;
  int servers() const { return racks * servers_per_rack; }
  /// Servers of the prefill pool (all of them without disaggregation).
  int prefill_servers() const { return servers() - (decode ? decode->servers : 0); }
  /// The datacenter as its decode pool (unit and parallelism of the decode pool, its servers).
  DatacenterSpec as_decode_pool() const {
    DatacenterSpec d = *this;
    d.unit_servers = decode->unit_servers;
    d.tensor_parallel = decode->tensor_parallel;
    d.expert_parallel = decode->expert_parallel;
    d.decode.reset();
    return d;
  }
  int replica_gpus() const { return unit_servers > 1 ? unit_servers * server.gpus_per_server : tensor_parallel; }
  /// How the replica's GPUs split the work (without the network figures, which assemble() adds).
  model::Parallelism parallelism(int redundant_experts) const {
    model::Parallelism p{tensor_parallel, expert_parallel, replica_gpus() / tensor_parallel};
    p.nodes = unit_servers;
    p.redundant_experts = redundant_experts;
    return p;
  }
};

struct RegionSpec {
  std::string name;
  std::string preset;        // platforms/regions.yaml id, or empty
  std::string description;
  double utc_offset_h = 0;
  double demand_charge_per_kw_month = 0;  // report currency; on the peak facility power
  model::DailyCurve pue;
  model::DailyCurve carbon_kg_per_kwh;
  model::DailyCurve price_per_kwh;  // report currency
  double green_share = 0;              // of the supply, by green contracts or certificates (market-based carbon)
  double green_certificate_per_kwh = 0;  // report currency, on the green share
  std::vector<DatacenterSpec> datacenters;
};

struct WanLinkSpec {
  std::string from, to;
  std::uint32_t from_index = 0, to_index = 0;
  double latency_ms = 10;
  double bandwidth_gbps = 400;
  double cost_per_gb = 0;   // report currency, traffic either way
  double cost_per_day = 0;  // report currency, leased capacity: cost_*_per_day, else lease_gbps x price per Gbps-month
  bool lease_default = false;  // neither the cost per day nor the lease given: costs.yaml's lease, on links in use only
};

struct UserRegionSpec {
  std::string name;
  double share = 1;  // of the workload's total (trace: of its requests)
  double requests_per_day = 0;
  std::array<double, 24> hourly_profile{};  // the workload's unless the region has its own
  double utc_offset_h = 0;
  std::string network_region;
  std::uint32_t network_region_index = 0;
  double access_latency_ms = 5;  // one way, user to the region's network
};

/// Deferrable batch work (workload.batch): jobs of batch inference released every day of the run.
struct BatchJobSpec {
  std::string name;
  double input_tokens_per_day = 0, output_tokens_per_day = 0;
  std::uint32_t prompt_tokens = 1024;  // per request
  std::uint32_t output_tokens = 1;     // per request: output volume / requests, rounded (at least 1)
  std::uint64_t requests = 0;          // per day: ceil(input volume / prompt_tokens)
  double release_h = 0;                // hour of the run's clock at which it is released, every day
  double deadline_h = 24;              // after its release
  std::string hours = "any";           // any | valley: only while its site's price x PUE is the window's lowest
  std::vector<std::string> datacenters;  // candidates (empty: every datacenter)
  std::uint32_t dc = 0;                // placed in (flat datacenter index): the cheapest candidate over its window
  double window_price = 0;             // mean price x PUE over its first window at that site (report currency)
};
struct BatchSpec {
  std::vector<BatchJobSpec> jobs;
  std::uint32_t fill_seqs_per_replica = 0;  // 0: auto (per datacenter, from the TPOT target)
  double fill_tpot_fraction = 0.8;          // auto: decode step within this share of slo.tpot_s
};

struct WorkloadSpec {
  std::string source = "synthetic";  // synthetic | trace
  workload::TraceOptions trace;      // source == trace
  double requests_per_day = 0;       // synthetic: sum over user regions
  std::array<double, 24> hourly_profile{};
  std::string hourly_profile_name;  // preset name, or "custom"
  std::array<double, 7> day_of_week{1, 1, 1, 1, 1, 1, 1};
  double demand_multiplier = 1;  // scales every user region's demand (a what-if; synthetic workloads)
  workload::Renewal renewal;
  workload::TokenDist prompt;
  workload::TokenDist output;
  // Shared system prompts (synthetic): a share of the requests start with one of `system_prompts`
  // distinct system prompts of system_prompt_tokens tokens, before their own prompt tokens.
  std::uint32_t system_prompt_tokens = 0;
  double system_prompt_share = 1;
  std::uint32_t system_prompts = 1;
  bool conversations = false;  // multi-turn, closed loop
  double turns_mean = 1;
  workload::TokenDist think_time;      // seconds
  workload::TokenDist message_tokens;  // new user tokens per follow-up turn
  std::vector<UserRegionSpec> user_regions;
  BatchSpec batch;  // deferrable batch work (workload.batch)
};

struct EconomicsSpec {
  std::string currency = "USD";  // USD | CNY: every cost figure is reported in it
  double cny_per_usd = 7.2;
  double depreciation_years = 5;
  double maintenance_fraction_per_year = 0.05;
  double network_capex_fraction = 0;      // network gear, as a share of server capex (same depreciation)
  double facility_capex_per_kw = 0;       // building, power, cooling: per kW of IT capacity (report currency)
  double facility_depreciation_years = 20;
  double carbon_price_per_t = 0;          // report currency per tonne CO2
  double rent_per_gpu_hour = 0;           // > 0: rent the GPUs instead of owning them (report currency)
};

struct RoutingSpec {
  std::string policy = "nearest";
  double max_load_per_replica = 0;  // capacity guard of lowest_price/lowest_carbon (0 = serving.max_batch_size)
  double spill_margin = 0.8;
  double signal_half_life_s = 30;
  std::vector<double> split;  // per datacenter, scenario order
};

struct SloSpec {
  double ttft_s = 2.0;  // MLPerf Llama-2-70B server scenario (facts 2)
  double tpot_s = 0.2;
};

/// Operating the fleet through the day (operations.*): power states and autoscaling, every datacenter.
struct OperationsSpec {
  operations::AutoscalingConfig autoscaling;
  double off_power_w = 50;          // per server, off (BMC and power-supply standby): an assumption
  double wake_power_w = -1;         // per server while waking; < 0: the server's idle power
  double boot_s = 300;              // power-on to the serving engine started: an assumption
  double model_load_gb_per_s = 7;   // weights from local NVMe (one PCIe Gen4 drive's sequential read)
  // operations.power_capping: GPU power cap, locked clock and site budget, scenario-wide and per datacenter
  // (operations.power_capping.datacenters.<name>, each key overriding the scenario-wide one).
  operations::PowerCapConfig power;
  // operations.datacenters.<name>.autoscaling: a datacenter's own policy, each key replacing the scenario-wide one.
  std::map<std::string, operations::AutoscalingConfig> autoscaling_by_dc;
  operations::AutoscalingConfig autoscaling_for(const std::string& dc) const {
    const auto it = autoscaling_by_dc.find(dc);
    return it == autoscaling_by_dc.end() ? autoscaling : it->second;
  }
  /// The first policy other than none among the scenario-wide one and the datacenters' (none if none).
  operations::Policy any_policy() const {
    if (autoscaling.policy != operations::Policy::kNone) return autoscaling.policy;
    for (const auto& [name, c] : autoscaling_by_dc)
      if (c.policy != operations::Policy::kNone) return c.policy;
    return operations::Policy::kNone;
  }
  bool any_predictive() const {
    if (autoscaling.policy == operations::Policy::kPredictive) return true;
    for (const auto& [name, c] : autoscaling_by_dc)
      if (c.policy == operations::Policy::kPredictive) return true;
    return false;
  }
  // operations.failures: unexpected server failures (exponential, per server) and planned maintenance
  // windows (README "Failures and maintenance"); off unless the section is given (or enabled: true).
  struct FailureRates {
    double server_mtbf_h = 6335;  // Llama 3: 2,048 servers x 54 days x 24 h / 419 unexpected interruptions
    double mttr_h = 24;           // an assumption to review
  };
  struct MaintenanceSpec {
    std::string datacenter;
    double start_h = 0;     // hour of the run's clock (0: its first midnight)
    double duration_h = 0;
    std::uint32_t servers = 0;  // physical servers taken down (from `servers` or `server_share`)
    bool training = false;      // a training reservation (operations.training): the servers train, not down
  };
  bool failures_enabled = false;
  FailureRates failures;
  std::map<std::string, FailureRates> failures_by_dc;
  FailureRates failures_for(const std::string& dc) const {
    const auto it = failures_by_dc.find(dc);
    return it == failures_by_dc.end() ? failures : it->second;
  }
  std::vector<MaintenanceSpec> maintenance;  // maintenance windows, then training reservations (training: true)
  bool any_outages() const { return failures_enabled || !maintenance.empty(); }
  // operations.training: servers reserved for training (README "Training reservations"): drained, then
  // training at this fraction of their maximum power, then a cold start back to serving.
  double training_power_fraction = 0.75;  // Epoch AI energy.py: a training server's mean power, of its max
  bool training_while_off = false;  // servers autoscaling powers off train instead (DeepSeek's night)
  double training_value_per_gpu_hour = 0;   // what a training GPU-hour is worth (report currency); 0: not valued
  std::map<std::string, operations::PowerCapConfig> power_by_dc;
  operations::PowerCapConfig power_for(const std::string& dc) const {
    const auto it = power_by_dc.find(dc);
    return it == power_by_dc.end() ? power : it->second;
  }
};

/// A default of platforms/costs.yaml: its value (in the unit of its key), unit and source.
struct CostDefault {
  double value = 0;
  std::string unit, source;
};

/// A planner-facing default the scenario did not set (summary.json defaults_to_review): the key path as a
/// scenario would set it, the value used (report currency for money), its unit and where it came from.
struct DefaultToReview {
  std::string key;
  double value = 0;
  std::string unit, source;
};

struct Scenario {
  std::string file;
  std::string name;
  std::string description;
  RunSpec run;
  model::LlmSpec llm;
  int expert_parallel = 1;  // model.expert_parallel: routed experts spread over this many GPUs of a replica
  int redundant_experts = 0;  // model.redundant_experts: extra copies of hot experts (expert-parallel balancer)
  serving::SchedulerConfig scheduler;  // kv_capacity_tokens filled per datacenter
  std::string engine = kDefaultEngine;  // serving engine: picks each GPU's efficiency profile
  bool chunked_prefill_given = false;   // serving.chunked_prefill set (else the engine profile's)
  YAML::Node serving_resolved;          // the serving section of `resolved`, completed after the platform
  std::string serving_where;
  std::uint32_t max_waiting_per_replica = 1000;
  std::uint32_t cell_replicas = 128;  // replicas behind one least-outstanding balancer (0: the whole datacenter)
  bool prefix_routing = false;        // prefix-aware balancing inside cells
  std::uint32_t prefix_routing_slack = 32;
  double prefix_routing_min_match = 0.5;
  // On-disk KV cache tier (serving.disk_kv_cache; README "On-disk KV cache"): off when hit_share is 0.
  struct DiskKvCache {
    double hit_share = 0;                    // of each chat prompt's tokens, found on disk
    double read_gb_per_s_per_server = 42.9;  // 3FS KVCache client peak, 40 GiB/s (platforms/SOURCES.md)
    double latency_s = 0.001;                // per step that reads (an assumption to review)
  } disk_kv;
  double memory_headroom_fraction = 0.1;
  std::vector<RegionSpec> regions;
  std::vector<WanLinkSpec> wan;
  double wan_bytes_per_token = 4;      // text carried over the network per token
  double wan_bytes_per_request = 2000; // headers and framing per request and answer
  WorkloadSpec workload;
  EconomicsSpec economics;
  RoutingSpec routing;
  SloSpec slo;
  OperationsSpec operations;
  Catalog catalog;
  std::map<std::string, CostDefault> cost_defaults;  // platforms/costs.yaml of the catalog folder
  std::vector<DefaultToReview> defaults_to_review;   // in the order the scenario is read
  YAML::Node resolved;
  double expected_requests = 0;  // in the run (synthetic: an upper bound), for the limits checked at load


  std::size_t datacenter_count() const;
};

/// Loads, overrides and validates a scenario. Throws chatdc::Error listing every problem.
Scenario load_scenario(const std::string& file, const std::vector<std::string>& overrides = {});
/// The same from text in memory (`text`; the file when null); `file` names it and anchors relative paths.
Scenario load_scenario_text(const std::string& file, const std::string* text, const std::vector<std::string>& overrides = {});

/// Writes the resolved scenario as YAML text.
std::string resolved_yaml(const Scenario& s);

}  // namespace chatdc::config
