// Pure core: the serving system of a whole scenario, as a discrete-event simulation in plain C++.
//
// Users send requests (a RequestSource); a Router picks a datacenter at send time; the request
// travels the network (a fixed one-way delay per user region and datacenter, taken from the SimGrid
// platform by the engine); inside the datacenter it goes to the replica with the fewest outstanding
// requests; replicas batch and serve it (Replica); the answer travels back.
//
// Every request is exact: arrival, admission, first token and completion times come from the
// iteration-level replica model. Events are kept in one indexed heap of sources (replicas, network
// pipes, the workload), so the cost per request is O(log sources) and does not grow with tokens.
// The engine drives it epoch by epoch: advance_to(t) then close_epoch(), which hands back the
// energy each server drew in the epoch.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/indexed_heap.hpp"
#include "model/power.hpp"
#include "model/step_model.hpp"
#include "serving/least_outstanding.hpp"
#include "serving/replica.hpp"
#include "workload/request_source.hpp"

namespace chatdc::serving {

/// One datacenter's serving pool: identical servers, each holding replicas_per_server replicas.
struct PoolSetup {
  std::string name;
  std::uint32_t servers = 0;
  int gpus_per_server = 8;
  int replicas_per_server = 1;  // gpus_per_server / tensor_parallel
  std::shared_ptr<const model::StepModel> step_model;
  SchedulerConfig scheduler;
  model::ServerPowerSpec server_power;
  double request_overhead_s = 0;  // before a delivered request can be scheduled (engine profile)
  std::uint32_t max_waiting_per_replica = 0;  // a request finding this many waiting is dropped (0 = no limit)
};

struct SystemSetup {
  std::vector<PoolSetup> dcs;
  std::uint32_t user_regions = 1;
  std::vector<std::vector<double>> one_way_s;  // [user region][dc], network delay one way
  std::uint32_t max_context_tokens = 0xFFFFFFFFu;  // prompt + output above this is rejected
  double signal_half_life_s = 30;  // of DcState::server_ttft_s
  bool track_ttft_signal = false;   // keep DcState::server_ttft_s (only latency-aware routing reads it)
};

/// What became of one request, with times as the user sees them.
struct RequestRecord {
  std::uint64_t id = 0;
  std::uint32_t user_region = 0, dc = 0, replica = 0;
  double sent_s = 0, delivered_s = 0, admitted_s = 0, first_token_s = 0, done_s = 0;  // first/done at the user
  std::uint32_t prompt_tokens = 0, output_tokens = 0, preemptions = 0;
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void on_done(const RequestRecord& r) = 0;
  /// The request can never be served where it was routed (longer than the model's context or the KV cache).
  virtual void on_rejected(const workload::RequestSpec& r, std::uint32_t dc) = 0;
  /// The request reached a datacenter whose least-loaded replica already had max_waiting_per_replica
  /// requests waiting: dropped, as a gateway answers "429 Too Many Requests".
  virtual void on_dropped(const workload::RequestSpec& r, std::uint32_t dc) = 0;
};

/// Live state of a datacenter, as routers see it.
struct DcState {
  std::uint32_t replicas = 0;
  std::uint64_t routed = 0;       // requests the router sent here
  std::uint64_t inflight = 0;     // sent, not yet delivered
  std::uint64_t outstanding = 0;  // delivered, not yet completed
  // Observed time from delivery to first token, exponentially weighted over time (half-life
  // SystemSetup::signal_half_life_s): the latency signal a global load balancer can see.
  double server_ttft_s = 0;
  double server_ttft_time_s = -1;  // when it was last updated (-1: never)
};

class ServingSystem;

/// Where completed requests go when an external driver carries the answers itself (fine-grained
/// engine): times are at the replica; the driver adds the network and records them.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void on_first_token(std::uint32_t replica, const Job& job, double t) = 0;
  virtual void on_complete(std::uint32_t replica, const Job& job, const JobTimes& times) = 0;
};

class Router {
 public:
  virtual ~Router() = default;
  /// The datacenter for request r, sent at r.time_s.
  virtual std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& system) = 0;
};

/// Per datacenter, one epoch.
struct DcEpoch {
  std::uint64_t arrivals = 0;     // delivered to the datacenter
  std::uint64_t completions = 0;
  std::uint64_t rejected = 0;
  std::uint64_t dropped = 0;      // waiting queues full
  std::uint64_t queued = 0;       // waiting in replica queues at the epoch's end
  std::uint64_t running = 0;      // in batches at the epoch's end
  double kv_tokens = 0;           // KV-cache tokens held at the epoch's end
  double busy_gpu_s = 0;          // GPU-seconds executing steps
  double gpu_energy_j = 0;
  double it_energy_j = 0;         // servers' IT energy (model)
  double output_tokens = 0;       // of requests completed in the epoch
};

struct EpochReport {
  double t0 = 0, t1 = 0;
  std::vector<DcEpoch> dcs;
  std::vector<double> server_it_energy_j;  // every server of every datacenter, in pool order
};

class ServingSystem final : private ReplicaListener {
 public:
  ServingSystem(SystemSetup setup, workload::RequestSource& source, Router& router, RequestObserver& observer);

  /// Process every event at or before t.
  void advance_to(double t);

  // External drivers (the fine-grained engine) make the same decisions one at a time instead of
  // calling advance_to():
  /// Routing and admission of a request sent at r.time_s: its datacenter, or nullopt when rejected.
  std::optional<std::uint32_t> admit(const workload::RequestSpec& r);
  /// The request reaches datacenter d: the replica it goes to, or nullopt when dropped.
  std::optional<std::uint32_t> assign(const workload::RequestSpec& r, std::uint32_t d);
  /// The job a replica is handed for request r delivered at `delivered_s`.
  static Job job_for(const workload::RequestSpec& r, double delivered_s);
  Replica& replica(std::uint32_t id) { return replicas_[id]; }
  std::uint32_t replica_count() const { return static_cast<std::uint32_t>(replicas_.size()); }
  std::uint32_t replica_dc(std::uint32_t id) const { return replica_dc_[id]; }
  /// Global index of the server holding replica `id`.
  std::uint32_t replica_server(std::uint32_t id) const;
  /// IT power (W) of global server `server` right now, from its replicas' current activities.
  double server_power_w(std::uint32_t server) const;
  /// Answers go to `sink` instead of being recorded with fixed network delays.
  void set_response_sink(ResponseSink* sink) { sink_ = sink; }
  /// Account busy time and energy up to t1 and report the epoch [t0, t1).
  EpochReport close_epoch(double t0, double t1);

  const SystemSetup& setup() const { return setup_; }
  std::uint32_t dc_count() const { return static_cast<std::uint32_t>(dcs_.size()); }
  const DcState& dc_state(std::uint32_t dc) const { return dcs_[dc].state; }
  double one_way_s(std::uint32_t user_region, std::uint32_t dc) const { return setup_.one_way_s[user_region][dc]; }
  std::uint32_t server_count() const { return total_servers_; }
  std::uint32_t first_server(std::uint32_t dc) const { return dcs_[dc].first_server; }
  std::uint64_t arrived() const { return arrived_; }
  std::uint64_t completed() const { return completed_; }
  std::uint64_t rejected() const { return rejected_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t events() const { return events_; }
  std::uint64_t steps_executed() const;
  std::uint64_t preemptions() const;

 private:
  struct InFlight {
    workload::RequestSpec spec;
    double deliver_s;
  };
  struct Dc {
    PoolSetup setup;
    std::unique_ptr<DecodeProfiles> profiles;
    std::uint32_t first_replica = 0, first_server = 0;
    std::unique_ptr<LeastOutstanding> balancer;
    DcState state;
    DcEpoch epoch;
  };

  void on_first_token(std::uint32_t replica, const Job& job, double t) override;
  void on_complete(std::uint32_t replica, const Job& job, const JobTimes& times) override;
  void on_arrival(const workload::RequestSpec& r);
  void on_delivery(std::uint32_t pipe);

  SystemSetup setup_;
  workload::RequestSource& source_;
  Router& router_;
  RequestObserver& observer_;
  std::vector<Dc> dcs_;
  std::vector<Replica> replicas_;
  std::vector<std::uint32_t> replica_dc_;
  std::vector<std::deque<InFlight>> pipes_;  // [user region * dcs + dc], FIFO (constant delay)
  IndexedHeap heap_;
  std::uint32_t pipe_base_ = 0, source_id_ = 0, total_servers_ = 0;
  std::uint64_t arrived_ = 0, completed_ = 0, rejected_ = 0, dropped_ = 0, events_ = 0;
  ResponseSink* sink_ = nullptr;
  std::vector<std::uint32_t> server_dc_;  // global server -> datacenter
};

}  // namespace chatdc::serving
