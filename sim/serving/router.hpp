// Pure core: routing across datacenters (the global load balancer), decided when the user sends.
//
//   nearest        lowest network delay from the user's region (ties: the first datacenter)
//   least_loaded   fewest requests in flight or outstanding per replica (ties: nearest)
//   lowest_price   cheapest electricity now (local time-of-use price x PUE)   } skipping datacenters whose
//   lowest_carbon  lowest grid carbon intensity now (x PUE)                    } load per replica is at
//                                                                              } the capacity guard
//   slo_spillover  nearest, unless its predicted TTFT (round trip + observed server TTFT) breaks the
//                  target, or its load per replica reaches the batch size whose decode step would
//                  break the TPOT target (from its step model); then the next nearest that meets both
//                  (none: the lowest predicted TTFT)
//   split          fixed shares per datacenter, drawn at random (seeded)
// Every policy is a pure function of the request, the time and the DcState of each datacenter.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "model/daily_curve.hpp"
#include "model/step_model.hpp"
#include "serving/system.hpp"

namespace chatdc::serving {

/// What routers may know about each datacenter beyond its live state.
struct RouteInfo {
  model::DailyCurve price_per_kwh;  // by local hour
  model::DailyCurve carbon_kg_per_kwh;
  model::DailyCurve pue;
  double offset_s = 0;  // local time minus run time
};

struct RoutingConfig {
  std::string policy = "nearest";
  double max_load_per_replica = 0;   // capacity guard (requests in flight + outstanding per replica); 0 = none
  double ttft_target_s = 2.0;        // slo_spillover
  double spill_margin = 0.8;         // slo_spillover: spill when the prediction exceeds margin x target
  std::vector<double> split;         // split: share per datacenter
  std::vector<double> slo_load_limit;  // slo_spillover: requests per replica each datacenter takes (0 = none)
  std::uint64_t seed = 1;
};

class NearestRouter final : public Router {
 public:
  std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& sys) override;
  bool reads_live_state() const override { return false; }
};

class LeastLoadedRouter final : public Router {
 public:
  std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& sys) override;
};

/// Lowest price or carbon now (both x PUE), skipping datacenters at the capacity guard.
class CostRouter final : public Router {
 public:
  enum class Signal { kPrice, kCarbon };
  CostRouter(Signal signal, std::vector<RouteInfo> info, double max_load_per_replica);
  std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& sys) override;
  bool reads_live_state() const override { return max_load_ > 0; }

 private:
  Signal signal_;
  std::vector<RouteInfo> info_;
  double max_load_;
};

class SloSpilloverRouter final : public Router {
 public:
  SloSpilloverRouter(double ttft_target_s, double margin, std::vector<double> load_limit = {})
      : target_s_(ttft_target_s), margin_(margin), load_limit_(std::move(load_limit)) {}
  std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& sys) override;
  /// The TTFT the router expects for user region u at datacenter d.
  static double predicted_ttft_s(std::uint32_t u, std::uint32_t d, const ServingSystem& sys);

 private:
  double target_s_, margin_;
  std::vector<double> load_limit_;
};

class SplitRouter final : public Router {
 public:
  SplitRouter(std::vector<double> shares, std::uint64_t seed);
  std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& sys) override;
  bool reads_live_state() const override { return false; }

 private:
  std::vector<double> cumulative_;
  Rng rng_;
};

/// The largest batch (<= max_batch) whose decode step, at `context_per_seq` tokens each, takes at most
/// `step_s`; at least 1.
std::uint32_t batch_within_step_time(const model::StepModel& m, std::uint32_t max_batch, double context_per_seq, double step_s);

/// The router a scenario asks for; info has one entry per datacenter.
std::unique_ptr<Router> make_router(const RoutingConfig& cfg, std::vector<RouteInfo> info);

}  // namespace chatdc::serving
