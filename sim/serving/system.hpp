// Pure core: the serving system of a whole scenario, as a discrete-event simulation in plain C++.
//
// Users send requests (a RequestSource); a Router picks a datacenter at send time; the request
// travels the network (a fixed one-way delay per user region and datacenter, taken from the SimGrid
// platform by the engine); inside the datacenter it goes to the replica with the fewest outstanding
// requests; replicas batch and serve it (Replica); the answer travels back.
//
// Every request is exact: arrival, admission, first token and completion times come from the
// iteration-level replica model. Each cell keeps its replicas' next events in a tournament tree and
// its network pipes in FIFOs, so the cost per request is O(log replicas) and does not grow with tokens.
// The engine drives it epoch by epoch: advance_to(t) then close_epoch(), which hands back the
// energy each server drew in the epoch.
//
// Balancer cells: a datacenter is split into cells of whole servers holding at most cell_replicas
// replicas each; a request reaching the datacenter goes to the cell given by a hash of its id (as an
// L4 load balancer spreads flows over balancer instances) and, inside it, to the replica with the
// fewest outstanding requests. Cells share nothing but the request stream, so when nothing else
// couples them (routing across datacenters that ignores live load, an open-loop workload) the day is
// simulated in windows of window_s: the window's requests are routed in send order, then every cell
// runs through the window on its own, cells spread over `threads` threads, and the answers are
// recorded in cell order. Results do not depend on the number of threads. Otherwise (closed-loop
// conversations, load-aware routing across datacenters, an external driver) all events run in one
// global time order; both ways give the same results (tests check this).
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/fifo.hpp"
#include "core/indexed_heap.hpp"
#include "core/tournament_tree.hpp"
#include "model/power.hpp"
#include "model/step_model.hpp"
#include "operations/autoscaling.hpp"
#include "operations/forecast.hpp"
#include "operations/batch.hpp"
#include "operations/failures.hpp"
#include "serving/least_outstanding.hpp"
#include "serving/replica.hpp"
#include "workload/request_source.hpp"

namespace chatdc {
class TaskPool;
}

namespace chatdc::serving {

/// One datacenter's serving pool: identical servers, each holding replicas_per_server replicas.
struct PoolSetup {
  std::string name;
  std::uint32_t servers = 0;
  int gpus_per_server = 8;
  int replicas_per_server = 1;  // gpus_per_server / tensor_parallel
  // A deployment unit spanning servers: each of the pool's `servers` is a unit of servers_per_unit
  // physical servers holding one replica (gpus_per_server and server_power are the unit's). Reports
  // (EpochReport, first_server, server_count) count physical servers, each 1/servers_per_unit of its unit.
  int servers_per_unit = 1;
  std::shared_ptr<const model::StepModel> step_model;
  std::shared_ptr<const model::StepWorkModel> work_model;  // FLOPs and HBM bytes of steps (none: zero)
  SchedulerConfig scheduler;
  model::ServerPowerSpec server_power;
  double request_overhead_s = 0;  // before a delivered request can be scheduled (engine profile)
  std::uint32_t max_waiting_per_replica = 0;  // a request finding this many waiting is dropped (0 = no limit)
  operations::ServerOps ops;  // power states and autoscaling (policy none: every server serves all day)
  double local_offset_s = 0;  // local time of the datacenter minus run time (schedules by local hour)
  // Power caps by the hour (operations.power_capping.*_by_hour): the step models of the distinct clocks, and
  // the one each local hour runs (an index into clock_models). Empty: step_model all day. The replicas run
  // the model of the hour at the start, and operate(t) switches them at each local hour, which must fall on
  // a sample-period end (the scenario reader checks it).
  std::vector<std::shared_ptr<const model::StepModel>> clock_models;
  std::array<std::uint8_t, 24> hour_model{};
  // Prefill/decode disaggregation (README "Prefill/decode disaggregation"): with a decode pool, this
  // pool's servers only prefill (a request leaves its replica with its first token), then its KV cache,
  // prompt_tokens x kv_bytes_per_token bytes, crosses the network to a replica of the decode pool in
  // kv_transfer_latency_s + bytes / kv_transfer_bytes_per_s, which decodes every output token (the
  // first at the end of its first decode step). The decode pool's own setup gives its servers, unit,
  // step model, scheduler (no prefix caching) and power; its name, ops and the rest are this pool's.
  // One balancer cell per datacenter. Autoscaling: the schedule policy only, each pool by its own
  // ops.autoscaling (the decode pool's shares may differ), in whole units of its own.
  std::shared_ptr<const PoolSetup> decode;
  double kv_bytes_per_token = 0;
  double kv_transfer_bytes_per_s = 0;
  double kv_transfer_latency_s = 0;
};

struct SystemSetup {
  std::vector<PoolSetup> dcs;
  std::uint32_t user_regions = 1;
  std::vector<std::vector<double>> one_way_s;  // [user region][dc], network delay one way
  std::uint32_t max_context_tokens = 0xFFFFFFFFu;  // prompt + output above this is rejected
  double signal_half_life_s = 30;  // of DcState::server_ttft_s
  bool track_ttft_signal = false;   // keep DcState::server_ttft_s (only latency-aware routing reads it)
  std::uint32_t cell_replicas = 0;  // replicas per balancer cell at most (0: one cell per datacenter)
  unsigned threads = 1;             // for independent cells (0: one per hardware thread)
  double window_s = 10;             // independent cells are synchronised this often (simulated seconds)
  bool allow_windows = true;        // false: always one global event order (tests compare the two)
  // A shard of the day: only requests bound for cells [shard_first_cell, shard_last_cell) are simulated
  // and counted (the others are routed and dropped unseen). Needs independent cells (windows).
  std::uint32_t shard_first_cell = 0, shard_last_cell = 0xFFFFFFFFu;
  bool server_detail = false;       // EpochReport carries per-server figures (timeline detail)
  bool merge_steps = true;          // with windows: Replica merge_steps (same results, fewer events)
  // Prefix-aware balancing inside cells: a request goes to the replica that last took a request sharing
  // its longest known prefix, if that prefix is at least prefix_routing_min_match of its prompt and the
  // replica has at most prefix_routing_slack outstanding requests above the least-loaded one (else to
  // the least-loaded, as without it).
  bool prefix_routing = false;
  std::uint32_t prefix_routing_slack = 32;
  double prefix_routing_min_match = 0.5;
  // Predictive autoscaling: the demand known ahead (null when no datacenter scales predictively), and how
  // often operate() is called (the engine's sample period), which sets the forecast's horizon.
  std::shared_ptr<operations::DemandForecast> forecast;
  double decision_period_s = 60;
  // Deferrable batch work (workload.batch), one instance per job and day, each placed in a datacenter
  // (operations/batch.hpp); replicas take it with scheduler.batch_max_seqs > 0.
  std::vector<operations::BatchInstance> batch;
  // Failures and planned maintenance (operations/failures.hpp; README "Failures and maintenance"): each
  // outage names a datacenter and a server of its pool. Not with a decode pool or batch work.
  std::vector<operations::Outage> outages;
};

/// A balancer cell's place: its datacenter and its whole servers (global indices, in pool order).
struct CellInfo {
  std::uint32_t dc = 0, first_server = 0, servers = 0, first_replica = 0, replicas = 0;
};
/// The cells of every datacenter, in order: a datacenter of more than cell_replicas replicas is split into
/// cells of whole servers, as even as possible.
std::vector<CellInfo> cell_layout(const SystemSetup& setup);
/// Shard `shard` of `shards` (a day split over processes): a contiguous range [first, last) of cells,
/// balanced by replicas, never empty. Requires 0 <= shard < shards <= cells.
std::pair<std::uint32_t, std::uint32_t> shard_cells(const std::vector<CellInfo>& cells, std::uint32_t shard, std::uint32_t shards);

/// What became of one request, with times as the user sees them.
struct RequestRecord {
  std::uint64_t id = 0;
  double sent_s = 0, delivered_s = 0, admitted_s = 0, first_token_s = 0, done_s = 0;  // first/done at the user
  std::uint32_t user_region = 0, dc = 0, replica = 0;
  std::uint32_t prompt_tokens = 0, output_tokens = 0, preemptions = 0;
  std::uint32_t cached_tokens = 0;  // of the prompt, found in the prefix cache when first admitted
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
  std::uint32_t replicas = 0;     // serving (with autoscaling, not those draining, off or waking)
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
  /// Prefill/decode disaggregation: prefill replica `prefill` ended `job`'s prefill at t; its KV cache
  /// (`bytes`) goes to decode replica `decode` (chosen now by the decode balancer), which the driver hands
  /// `job` (kv_ready, its output tokens restored) when the bytes arrive.
  virtual void on_kv_ready(std::uint32_t prefill, std::uint32_t decode, const Job& job, double bytes, double t) = 0;
};

class Router {
 public:
  virtual ~Router() = default;
  /// The datacenter for request r, sent at r.time_s.
  virtual std::uint32_t route(const workload::RequestSpec& r, const ServingSystem& system) = 0;
  /// Whether route() reads the datacenters' live state (dc_state); if not, decisions depend only on
  /// the request, the time and the router's own sequence, and cells can run independently.
  virtual bool reads_live_state() const { return true; }
};

/// Per datacenter, one epoch.
struct DcEpoch {
  DcEpoch& operator+=(const DcEpoch& o);
  std::uint64_t arrivals = 0;     // delivered to the datacenter
  std::uint64_t completions = 0;
  std::uint64_t rejected = 0;
  std::uint64_t dropped = 0;      // waiting queues full
  std::uint64_t queued = 0;       // waiting in replica queues at the epoch's end
  std::uint64_t running = 0;      // in batches at the epoch's end
  double kv_tokens = 0;           // KV-cache tokens held at the epoch's end (live sequences)
  double kv_cached_tokens = 0;    // prefix caching: cached KV tokens no live sequence holds, at the end
  double prefix_queried_tokens = 0;  // prefix caching: prompt tokens looked up at admissions
  double prefix_hit_tokens = 0;      // of them found cached (prefill tokens saved)
  double disk_hit_tokens = 0;        // on-disk KV tier: prompt tokens read from disk, not computed
  double busy_gpu_s = 0;          // GPU-seconds executing steps
  double flops = 0;               // FLOPs of the steps executed (model::StepWork)
  double hbm_bytes = 0;           // HBM bytes the steps executed moved
  double gpu_energy_j = 0;
  double it_energy_j = 0;         // servers' IT energy (model)
  double output_tokens = 0;       // of requests completed in the epoch
  // Prefill/decode disaggregation, by pool: prompt tokens whose prefill ended in the epoch (cached
  // ones included), KV transfers begun and their bytes, GPU-seconds busy and physical server-seconds
  // powered on (serving or draining) in each pool.
  double prefill_input_tokens = 0;
  std::uint64_t kv_transfers = 0;
  double kv_transfer_bytes = 0;
  double prefill_busy_gpu_s = 0, decode_busy_gpu_s = 0;
  double prefill_server_s = 0, decode_server_s = 0;
  // Server power states (operations): servers in each state at the epoch's end (idle: serving and
  // holding no request), wake-ups begun, server-seconds and IT energy by state over the epoch.
  std::uint64_t servers_serving = 0, servers_idle = 0, servers_draining = 0, servers_waking = 0, servers_off = 0;
  // Failures and maintenance: servers failed (under repair) and in maintenance (draining for it, or down)
  // at the epoch's end; failures, repairs done and requests retried (held by a server that failed) in the
  // epoch; server-seconds and IT energy (off power) failed and down for maintenance.
  std::uint64_t servers_failed = 0, servers_maintenance = 0;
  std::uint64_t failures = 0, repairs = 0, retried = 0;
  double failed_s = 0, maintenance_s = 0, energy_failed_j = 0, energy_maintenance_j = 0;
  // Training reservations: servers reserved for training at the epoch's end (draining for it, or
  // training); server-seconds training and their IT energy (training power) over the epoch.
  std::uint64_t servers_training = 0;
  double training_s = 0, energy_training_j = 0;
  // Of training_s: servers that autoscaling powered off and that train instead (operations.training.while_off),
  // handed back from inference (a rental is not paid for them).
  double training_off_s = 0;
  std::uint64_t wake_ups = 0;
  double serving_s = 0, draining_s = 0, waking_s = 0, off_s = 0;
  double energy_serving_j = 0, energy_draining_j = 0, energy_waking_j = 0, energy_off_j = 0;
  // Deferrable batch work: requests and their tokens completed in the epoch, batch sequences in
  // batches at its end (not in `running`), and the IT energy attributed to it (each server's on-energy x
  // the batch share of its GPU energy, steps split by their batch share of tokens).
  std::uint64_t batch_requests_done = 0, batch_running = 0;
  double batch_prompt_tokens_done = 0, batch_output_tokens_done = 0, batch_it_energy_j = 0;
};

struct EpochReport {
  double t0 = 0, t1 = 0;
  std::vector<DcEpoch> dcs;    // each the sum of its cells', in cell order (rejections are the datacenter's)
  std::vector<DcEpoch> cells;  // per cell
  std::vector<double> server_it_energy_j;  // every server of every datacenter, in pool order
  std::vector<std::uint8_t> server_off;    // 1: the server was off for the whole epoch
  // With SystemSetup::server_detail, per server too (else empty): GPU-seconds busy, and requests in
  // batches and waiting at the epoch's end.
  std::vector<double> server_busy_gpu_s;
  std::vector<std::uint64_t> server_running, server_queued;
};

/// A server's power state (operations). Serving servers take requests; draining ones finish what they
/// hold, then power off; waking ones boot and load the model, then serve. Failed ones are down for
/// repair; maintenance-draining ones finish what they hold, then go down for maintenance (off power).
enum class ServerState : std::uint8_t { kServing, kDraining, kOff, kWaking, kFailed, kMaintDraining, kMaintenance };

class ServingSystem final : private ReplicaListener {
 public:
  ServingSystem(SystemSetup setup, workload::RequestSource& source, Router& router, RequestObserver& observer);
  ~ServingSystem() override;

  /// Process every event at or before t.
  void advance_to(double t);

  // External drivers (the fine-grained engine) make the same decisions one at a time instead of
  // calling advance_to():
  /// Routing and admission of a request sent at r.time_s: its datacenter, or nullopt when rejected.
  std::optional<std::uint32_t> admit(const workload::RequestSpec& r);
  /// The request reaches datacenter d: the replica it goes to, or nullopt when dropped.
  std::optional<std::uint32_t> assign(const workload::RequestSpec& r, std::uint32_t d);
  /// The job a replica is handed for request r delivered at `delivered_s`, and what its prompt shares.
  static Job job_for(const workload::RequestSpec& r, double delivered_s);
  /// The job replica `id` (assigned by assign()) is handed: job_for(), but a prefill replica of a
  /// disaggregated datacenter gets the prefill only (up to its first token).
  Job job_on(std::uint32_t id, const workload::RequestSpec& r, double delivered_s) const;
  static PromptPrefix prefix_of(const workload::RequestSpec& r) { return {r.prefix, r.system_prompt_tokens}; }
  Replica& replica(std::uint32_t id) { return replicas_[id]; }
  std::uint32_t replica_count() const { return static_cast<std::uint32_t>(replicas_.size()); }
  std::uint32_t replica_dc(std::uint32_t id) const { return replica_dc_[id]; }
  /// Global index of the server holding replica `id`.
  std::uint32_t replica_server(std::uint32_t id) const;
  /// IT power (W) of global server `server` right now: from its replicas' current activities while it is
  /// on (serving or draining), else its power state's (off, failed or down for maintenance: off_power_w;
  /// waking: wake_power_w).
  double server_power_w(std::uint32_t server) const;
  /// Whether global server `server` is powered off now (off, failed or down for maintenance; not one that
  /// trains: a training reservation, or off with operations.training.while_off).
  bool server_powered_off(std::uint32_t server) const;
  /// Answers go to `sink` instead of being recorded with fixed network delays.
  void set_response_sink(ResponseSink* sink) { sink_ = sink; }
  /// Account busy time and energy up to t1 and report the epoch [t0, t1).
  EpochReport close_epoch(double t0, double t1);
  /// Autoscaling: every datacenter with a policy decides, at t, how many servers should be available,
  /// and its servers are woken or drained accordingly (call between advance_to(t) and later events).
  void operate(double t);
  /// External drivers (which run the replicas themselves): when the next wake under way completes
  /// (boot and model load done), or infinity when none is.
  double next_wake_s() const;
  /// External drivers: every wake due by t completes, as the cells' own event would: its server serves
  /// (takes requests) from its wake time.
  void complete_wakes(double t);
  ServerState server_state(std::uint32_t server) const { return servers_[server].state; }
  /// Wake-ups begun so far, over every datacenter (cold starts after repairs and maintenance included).
  std::uint64_t wake_ups() const;
  /// Failures, and requests retried because the server holding them failed, so far.
  std::uint64_t failures() const;
  std::uint64_t retried() const;
  /// Batch work: releases the instances due by t, opens and closes them by their hours, and has the
  /// replicas with room take the work (call between advance_to(t) and later events; operate() does).
  void batch_tick(double t);
  /// Batch work: what became of each instance so far (summed over the cells), and its requests not done.
  std::vector<operations::BatchOutcome> batch_outcomes() const;

  const SystemSetup& setup() const { return setup_; }
  std::uint32_t dc_count() const { return static_cast<std::uint32_t>(dcs_.size()); }
  /// Live state of datacenter `dc` now.
  DcState dc_state(std::uint32_t dc) const;
  double one_way_s(std::uint32_t user_region, std::uint32_t dc) const { return setup_.one_way_s[user_region][dc]; }
  /// Physical servers (a deployment unit counts its servers_per_unit).
  std::uint32_t server_count() const { return physical_servers_; }
  std::uint32_t first_server(std::uint32_t dc) const { return dcs_[dc].first_physical; }
  /// Servers as the serving model counts them (a deployment unit is one: replica_server(), server_state(),
  /// server_power_w() take these), and datacenter dc's first.
  std::uint32_t unit_server_count() const { return total_servers_; }
  std::uint32_t first_unit_server(std::uint32_t dc) const { return dcs_[dc].first_server; }
  /// The physical servers of global server `server` (a unit: its servers_per_unit): {first, count}, global
  /// physical indices (first_server()'s numbering, the engine's hosts).
  std::pair<std::uint32_t, std::uint32_t> physical_servers(std::uint32_t server) const;
  /// Balancer cells of datacenter `dc`.
  std::uint32_t cell_count(std::uint32_t dc) const { return dcs_[dc].cells; }
  /// Every cell, in order (global index).
  std::uint32_t cells() const { return static_cast<std::uint32_t>(cells_.size()); }
  /// Cell k, its servers counted as physical servers (a deployment unit: servers_per_unit each), as the engine's hosts are.
  CellInfo cell_info(std::uint32_t k) const;
  /// Hand-overs of windows' answers so far (windows): requests recorded in one hand-over come cell by cell.
  std::uint64_t hand_overs() const { return hand_overs_; }
  /// Whether advance_to() runs the cells independently, window by window (decided at its first call).
  bool windowed() const { return windowed_; }
  std::uint64_t arrived() const { return arrived_; }
  std::uint64_t completed() const;
  std::uint64_t rejected() const { return rejected_; }
  std::uint64_t dropped() const;
  std::uint64_t events() const;
  std::uint64_t steps_executed() const;
  std::uint64_t preemptions() const;

 private:
  struct InFlight {
    workload::RequestSpec spec;
    double deliver_s;
  };
  /// Requests on their way from one user region to a cell, in delivery order (a constant delay keeps
  /// send order): those carried over from earlier windows (or, in one global order, sent one by one),
  /// then the requests routed for the current window, read in place.
  struct Pipe {
    Fifo<InFlight> carried;
    std::vector<InFlight> window[2];  // by window parity
    std::size_t cursor = 0;           // into the current window's
  };
  struct Dropped {
    workload::RequestSpec spec;
    std::uint32_t dc;
  };
  /// A balancer cell: whole servers of one datacenter behind one least-outstanding balancer, with its
  /// own events. Only the cell's own thread touches it between window boundaries.
  struct Cell {
    std::uint32_t dc = 0, first_replica = 0, replicas = 0, first_server = 0, servers = 0;
    std::unique_ptr<LeastOutstanding> balancer;
    std::unique_ptr<PrefixAffinity> affinity;  // prefix-aware balancing
    Path path;                                 // scratch: the path of the request being assigned
    std::vector<Pipe> pipes;  // per user region
    double next_delivery_s = IndexedHeap::kNever;
    std::uint32_t next_pipe = 0;
    // Operations: wakes completing, in time order (the next at wakes[wake_next]), and servers by state.
    std::vector<std::pair<double, std::uint32_t>> wakes;  // (time, global server)
    std::size_t wake_next = 0;
    double next_wake_s = IndexedHeap::kNever;
    std::uint32_t n_serving = 0, n_draining = 0, n_off = 0, n_waking = 0;
    std::uint32_t n_failed = 0, n_maint_draining = 0, n_maint = 0;
    // Failures and maintenance: outage events in time order (the next at outages[outage_next]), and
    // requests waiting at the balancer while no server of the cell serves (delivered: outstanding).
    struct OutageEvent {
      double t;
      std::uint32_t server;  // global
      enum Kind : std::uint8_t { kFail, kRepair, kMaintStart, kMaintEnd } kind;
      double until;          // kFail: the repair's time; kMaintStart: the window's end
      bool training = false; // kMaintStart: a training reservation (the server trains rather than being down)
    };
    std::vector<OutageEvent> outages;
    std::size_t outage_next = 0;
    double next_outage_s = IndexedHeap::kNever;
    std::deque<std::pair<Job, PromptPrefix>> parked;
    // Disaggregation: KV caches that arrived while no decode unit served (every one failed), delivered when one serves.
    std::deque<Job> kv_parked;
    std::uint64_t failures = 0, retried = 0, wake_ups = 0;  // so far
    TournamentTree heap;  // the replicas' next events
    std::uint64_t delivered = 0, outstanding = 0, completed = 0, dropped = 0, events = 0;
    DcEpoch epoch;
    // Merged steps: completions not yet applied to the balancer and counts, earliest first (ties by
    // replica, the order of replica events).
    // They come nearly in order (only a merged step's are early), so a sorted FIFO, inserted into
    // from the back, costs O(1) where a heap would sift.
    struct Finishing {
      double t;
      std::uint32_t local, output_tokens;
      bool operator<(const Finishing& o) const { return t < o.t || (t == o.t && local < o.local); }
    };
    Fifo<Finishing> finishing;
    // Windows, by window parity: what the cell produced, handed over in cell order during the next window.
    std::vector<RequestRecord> done[2];
    std::vector<std::pair<double, RequestRecord>> early;  // completed by merged steps after the window
    std::vector<Dropped> drops[2];
    // Disaggregation: KV caches on their way from a prefill to a decode replica, earliest first (ties by
    // request id), and what the prefill left for the request's record.
    struct Transfer {
      double t;
      Job job;
      bool operator>(const Transfer& o) const { return t > o.t || (t == o.t && job.id > o.job.id); }
    };
    std::priority_queue<Transfer, std::vector<Transfer>, std::greater<Transfer>> transfers;
    struct Prefilled {  // from delivery to completion
      double admitted_s;
      std::uint32_t cached_tokens, preemptions, output_tokens;
    };
    std::unordered_map<std::uint64_t, Prefilled> prefilled;
    std::vector<double> input_outstanding;  // per prefill replica: prompt tokens sent, prefill not ended
    // Deferrable batch work: the cell's share of the released instances, and what it completed of each.
    std::unique_ptr<operations::BatchPool> batch_pool;
    std::vector<operations::BatchOutcome> batch_done;
  };
  struct Dc {
    PoolSetup setup;
    std::unique_ptr<DecodeProfiles> profiles;
    // Disaggregation: the decode pool (its servers and replicas follow the prefill pool's).
    bool pd = false;
    PoolSetup decode;
    std::unique_ptr<DecodeProfiles> decode_profiles;
    std::uint32_t prefill_replicas = 0;  // replicas of this pool (all of them without disaggregation)
    std::uint32_t dc_servers() const { return setup.servers + (pd ? decode.servers : 0); }
    /// The setup of the datacenter's local server s (its pool's).
    const PoolSetup& pool_of_server(std::uint32_t s) const { return pd && s >= setup.servers ? decode : setup; }
    /// The datacenter's local replica index of local server s's first replica.
    std::uint32_t first_replica_of_server(std::uint32_t s) const {
      if (pd && s >= setup.servers)
        return prefill_replicas + (s - setup.servers) * static_cast<std::uint32_t>(decode.replicas_per_server);
      return s * static_cast<std::uint32_t>(setup.replicas_per_server);
    }
    /// The datacenter's local server holding local replica i.
    std::uint32_t server_of_replica(std::uint32_t i) const {
      if (pd && i >= prefill_replicas)
        return setup.servers + (i - prefill_replicas) / static_cast<std::uint32_t>(decode.replicas_per_server);
      return i / static_cast<std::uint32_t>(setup.replicas_per_server);
    }
    std::uint32_t first_replica = 0, first_server = 0, first_cell = 0, cells = 1;
    std::uint32_t first_physical = 0;  // first physical server (units spanning servers)
    std::uint64_t routed = 0, admitted = 0, rejected = 0;
    double server_ttft_s = 0, server_ttft_time_s = -1;
    operations::Autoscaler autoscaler;
    operations::Autoscaler decode_autoscaler;  // disaggregated: the decode pool's (its own schedule)
    std::uint64_t routed_at_decision = 0;  // `routed` at the last operate() (predictive: the recent share)
    // Power caps by the hour: decode profiles of each clock_models entry, and the one running now.
    std::vector<std::unique_ptr<DecodeProfiles>> clock_profiles;
    std::uint32_t clock_now = 0;
    /// The clock_models index of the local hour at run time t.
    std::uint32_t clock_at(double t) const {
      const double h = std::floor((t + setup.local_offset_s) / 3600.0 + 1e-9);
      return setup.hour_model[static_cast<std::size_t>(h - 24.0 * std::floor(h / 24.0))];
    }
  };
  /// A server's power state and the seconds it spent in each during the current epoch.
  struct ServerRec {
    ServerState state = ServerState::kServing;
    bool drained = false;  // was draining during the epoch
    double since = 0;      // in its state since
    double on_s = 0, off_s = 0, waking_s = 0, failed_s = 0, maint_s = 0, train_s = 0;
    bool training = false;    // its maintenance window is a training reservation
    double wake_at = -1;      // waking: when the wake completes (a wake cancelled by an outage is stale)
    double repair_at = -1;    // failed: when the repair completes
    double maint_until = -1;  // in (or due for) a maintenance window until then
  };

  void on_first_token(std::uint32_t replica, const Job& job, double t) override;
  void on_complete(std::uint32_t replica, const Job& job, const JobTimes& times) override;
  void on_arrival(const workload::RequestSpec& r);
  /// Whether request r can ever be served in datacenter d.
  bool fits(const workload::RequestSpec& r, std::uint32_t d) const;
  /// Count request r as arrived and routed to d, admitted or rejected.
  void tally(const workload::RequestSpec& r, std::uint32_t d, bool admitted);
  /// Send admitted request r on its way to datacenter d.
  void enqueue(const workload::RequestSpec& r, std::uint32_t d);
  void route_ahead(double t, int slot);
  void tally_ahead(double t);
  void cell_event(Cell& c);
  static double next_transfer_s(const Cell& c) { return c.transfers.empty() ? IndexedHeap::kNever : c.transfers.top().t; }
  static double cell_time(const Cell& c) {
    return std::min({c.heap.top_time(), c.next_delivery_s, c.next_wake_s, next_transfer_s(c), c.next_outage_s});
  }
  /// Disaggregation: the prefill of `job` ended at t in prefill replica `replica`: its KV sets off.
  void on_prefilled(Cell& c, std::uint32_t replica, const Job& job, const JobTimes& times);
  /// Disaggregation: a KV cache reaches the decode pool; the decode replica with the least KV in use.
  void on_transfer(Cell& c);
  /// Disaggregation: the decode replica (cell-local) a KV cache arriving at t goes to, counted on the balancer
  /// (kNoReplica, not counted, when no decode unit serves).
  std::uint32_t pick_decode(Cell& c, double t);
  /// Disaggregation: the serving prefill replica (cell-local) with the fewest prompt tokens sent to it and not
  /// yet prefilled, or kNoReplica when none serves.
  std::uint32_t pick_prefill(const Cell& c) const;
  /// Whether a request can be handed to one of the cell's replicas now (disaggregated: a prefill unit serves).
  bool can_take(const Cell& c) const;
  /// Disaggregation: a KV cache to the decode replica pick_decode() chooses at t; false (nothing done) when
  /// no decode unit serves.
  bool deliver_kv(Cell& c, const Job& job, double t);
  const InFlight* pipe_front(const Pipe& p) const;
  void find_next_delivery(Cell& c) const;
  void on_delivery(Cell& c);
  void finish(Cell& c, std::uint32_t local, std::uint32_t output_tokens, double t);
  // Operations.
  void set_state(Cell& c, std::uint32_t server, ServerState to, double t);
  void exclude_server(Cell& c, std::uint32_t server, bool ex);
  bool server_empty(const Cell& c, std::uint32_t server) const;
  void on_wake(Cell& c);
  /// Server `server` of cell c starts waking at t (boot and model load); serving at t + wake_s.
  void start_wake(Cell& c, std::uint32_t server, double t);
  /// Failures and maintenance: the cell's next outage event.
  void on_outage(Cell& c);
  /// Server `server` fails at t: what its replicas hold is retried at the cell's balancer.
  void fail_server(Cell& c, std::uint32_t server, double t);
  /// Request `job` (delivered before) goes again to the cell's least-loaded serving replica at t, or
  /// waits at the balancer while none serves.
  void redeliver(Cell& c, const Job& job, const PromptPrefix& prefix, double t);
  void scale(std::uint32_t d, std::uint32_t target, double t);
  /// Power caps by the hour: datacenter d's replicas switch to the clock of the hour at t (each at its next
  /// step boundary at or after t).
  void switch_clock(std::uint32_t d, double t);
  /// Disaggregated datacenter d: its prefill (or decode) pool to `target` units available (serving or
  /// waking), keeping at least one serving.
  void scale_pool(std::uint32_t d, bool decode_pool, std::uint32_t target, double t);
  /// Predictive: datacenter d's expected demand (requests/s), the largest mean of the periods from t to
  /// t + wake + one period, at d's share of the requests routed in the last period.
  double forecast_rate(std::uint32_t d, double t, double share) const;
  void finish_due(Cell& c, double t);
  void power_off_if_drained(Cell& c, std::uint32_t server, double t);
  /// Batch work: replicas of the serving servers of cell c with room take work at t.
  void poke_batch(Cell& c, double t);
  void on_batch_complete(Cell& c, std::uint32_t replica, const Job& job, const JobTimes& times);
  static constexpr std::uint32_t kNoReplica = 0xFFFFFFFFu;
  /// The replica the cell's balancer sends r to, or kNoReplica when dropped.
  std::uint32_t assign_in(Cell& c, const workload::RequestSpec& r);
  void advance_cell(Cell& c, double t);
  void advance_in_order(double t);
  void advance_in_windows(double t);
  void dispatch_until(double t, int slot);
  void hand_over(int slot);
  void close_cell(Cell& c, double t0, double t1, EpochReport& rep);
  std::uint32_t cell_of(const workload::RequestSpec& r, std::uint32_t dc) const;

  SystemSetup setup_;
  workload::RequestSource& source_;
  Router& router_;
  RequestObserver& observer_;
  std::vector<Dc> dcs_;
  std::vector<Cell> cells_;
  std::vector<Replica> replicas_;
  std::vector<std::uint32_t> replica_dc_, replica_cell_;
  IndexedHeap order_;  // one global order: cells by their next event, then the workload
  std::uint32_t source_id_ = 0, total_servers_ = 0, physical_servers_ = 0;
  bool has_units_ = false;  // a pool of deployment units spanning servers
  /// Units spanning servers: the report's per-server figures and server counts, per physical server.
  void expand_units(EpochReport& rep) const;
  std::uint64_t arrived_ = 0, rejected_ = 0, arrivals_ = 0;
  ResponseSink* sink_ = nullptr;
  std::vector<std::uint32_t> server_dc_;  // global server -> datacenter
  std::vector<std::uint32_t> server_cell_;  // global server -> cell
  std::vector<ServerRec> servers_;
  double epoch_t0_ = 0;       // start of the epoch being run
  bool decided_ = false, windowed_ = false, merging_ = false, sharded_ = false;
  bool owned(std::uint32_t cell) const { return cell >= setup_.shard_first_cell && cell < setup_.shard_last_cell; }
  double window_clock_ = 0;  // windows: every event at or before it is done
  std::uint64_t hand_overs_ = 0;
  int slot_ = 0;             // windows: parity of the window the cells are running
  int arrival_slot_ = 0;     // windows: parity of the window being routed
  double window_end_ = 0;    // windows: end of the window the cells are running
  std::unique_ptr<TaskPool> workers_;  // windows only
  // Windows: the first window of an advance_to() call is routed during the last window of the call
  // before (otherwise it would run alone, before any cell can start). Its requests are counted
  // (arrived, routed, rejected) only when a call reaches their send time, so counts and epochs are
  // as if routed then; a request sent after the last call's end is never counted, nor delivered.
  struct RoutedAhead {
    workload::RequestSpec spec;
    std::uint32_t dc;
    bool admitted;
  };
  Fifo<RoutedAhead> routed_ahead_;
  // Batch work: released instances, and which are open now (read by the cells' pools).
  std::vector<std::uint8_t> batch_released_, batch_open_;
  bool batch_started_ = false;
};

}  // namespace chatdc::serving
