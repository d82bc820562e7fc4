// Config layer: turns a validated Scenario into the pure core's setups (serving pools, workload,
// accounting). The engine adds what only the platform knows (network delays).
#pragma once
#include <memory>
#include <vector>

#include "config/scenario.hpp"
#include "metrics/accounting.hpp"
#include "serving/router.hpp"
#include "serving/system.hpp"
#include "workload/conversation.hpp"
#include "workload/synthetic.hpp"
#include "workload/trace.hpp"

namespace chatdc::config {

struct DcRef {
  std::uint32_t region = 0;
  const DatacenterSpec* spec = nullptr;
};

struct Assembly {
  std::vector<DcRef> dcs;  // flat list, in scenario order
  serving::SystemSetup system;
  workload::SyntheticSpec workload;
  std::vector<metrics::DcAccountingSetup> accounting;
  metrics::WanAccountingSetup wan;
  serving::RoutingConfig routing;
  std::vector<serving::RouteInfo> route_info;  // per datacenter
};

Assembly assemble(const Scenario& s);
/// How a datacenter's replica splits its GPUs, with the network figures of a unit spanning servers
/// (each GPU's achieved share of the NIC or the rack uplink, and the route's latency).
model::Parallelism unit_parallelism(const Scenario& s, const DatacenterSpec& dc);

/// The scenario's request source, with typed handles for its statistics.
struct Workload {
  std::unique_ptr<workload::RequestSource> source;
  workload::TraceSource* trace = nullptr;                // when replaying a trace
  workload::ConversationSource* conversations = nullptr;  // when turns follow one another
};
Workload make_workload(const Scenario& s, const Assembly& a);

/// The demand known ahead for predictive autoscaling (null without it): the synthetic curves' expected
/// requests, or a twin of the trace's source read ahead.
std::shared_ptr<operations::DemandForecast> make_forecast(const Scenario& s, const Assembly& a);

/// Local time minus run time, s, for a place at utc_offset_h.
double local_offset_s(const Scenario& s, double utc_offset_h);

}  // namespace chatdc::config
