// Pure core: routing across datacenters (the global load balancer), decided when the user sends.
//   nearest       lowest network delay from the user's region (ties: first datacenter)
//   least_loaded  fewest requests in flight or outstanding per replica (ties: nearest)
#pragma once
#include <memory>
#include <string>

#include "serving/system.hpp"

namespace chatdc::serving {

class NearestRouter final : public Router {
 public:
  std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& sys) override;
};

class LeastLoadedRouter final : public Router {
 public:
  std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& sys) override;
};

/// The router named in a scenario ("nearest", "least_loaded").
std::unique_ptr<Router> make_router(const std::string& policy);

}  // namespace chatdc::serving
