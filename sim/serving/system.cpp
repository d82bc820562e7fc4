#include "serving/system.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <stdexcept>

#include "core/rng.hpp"
#include "core/task_pool.hpp"

namespace chatdc::serving {

DcEpoch& DcEpoch::operator+=(const DcEpoch& o) {
  arrivals += o.arrivals;
  completions += o.completions;
  rejected += o.rejected;
  dropped += o.dropped;
  queued += o.queued;
  running += o.running;
  kv_tokens += o.kv_tokens;
  kv_cached_tokens += o.kv_cached_tokens;
  prefix_queried_tokens += o.prefix_queried_tokens;
  prefix_hit_tokens += o.prefix_hit_tokens;
  disk_hit_tokens += o.disk_hit_tokens;
  busy_gpu_s += o.busy_gpu_s;
  flops += o.flops;
  hbm_bytes += o.hbm_bytes;
  gpu_energy_j += o.gpu_energy_j;
  it_energy_j += o.it_energy_j;
  output_tokens += o.output_tokens;
  prefill_input_tokens += o.prefill_input_tokens;
  kv_transfers += o.kv_transfers;
  kv_transfer_bytes += o.kv_transfer_bytes;
  prefill_busy_gpu_s += o.prefill_busy_gpu_s;
  decode_busy_gpu_s += o.decode_busy_gpu_s;
  prefill_server_s += o.prefill_server_s;
  decode_server_s += o.decode_server_s;
  servers_serving += o.servers_serving;
  servers_idle += o.servers_idle;
  servers_draining += o.servers_draining;
  servers_waking += o.servers_waking;
  servers_off += o.servers_off;
  wake_ups += o.wake_ups;
  serving_s += o.serving_s;
  draining_s += o.draining_s;
  waking_s += o.waking_s;
  off_s += o.off_s;
  energy_serving_j += o.energy_serving_j;
  energy_draining_j += o.energy_draining_j;
  energy_waking_j += o.energy_waking_j;
  energy_off_j += o.energy_off_j;
  servers_failed += o.servers_failed;
  servers_maintenance += o.servers_maintenance;
  failures += o.failures;
  repairs += o.repairs;
  retried += o.retried;
  failed_s += o.failed_s;
  maintenance_s += o.maintenance_s;
  energy_failed_j += o.energy_failed_j;
  energy_maintenance_j += o.energy_maintenance_j;
  servers_training += o.servers_training;
  training_s += o.training_s;
  training_off_s += o.training_off_s;
  energy_training_j += o.energy_training_j;
  batch_requests_done += o.batch_requests_done;
  batch_running += o.batch_running;
  batch_prompt_tokens_done += o.batch_prompt_tokens_done;
  batch_output_tokens_done += o.batch_output_tokens_done;
  batch_it_energy_j += o.batch_it_energy_j;
  return *this;
}

ServingSystem::ServingSystem(SystemSetup setup, workload::RequestSource& source, Router& router,
                             RequestObserver& observer)
    : setup_(std::move(setup)), source_(source), router_(router), observer_(observer) {
  const auto n_dcs = static_cast<std::uint32_t>(setup_.dcs.size());
  std::uint32_t n_replicas = 0;
  for (const auto& p : setup_.dcs) {
    n_replicas += p.servers * static_cast<std::uint32_t>(p.replicas_per_server);
    if (p.decode) n_replicas += p.decode->servers * static_cast<std::uint32_t>(p.decode->replicas_per_server);
  }
  replicas_.reserve(n_replicas);
  dcs_.resize(n_dcs);
  const std::vector<CellInfo> layout = cell_layout(setup_);
  for (std::uint32_t d = 0; d < n_dcs; ++d) {
    Dc& dc = dcs_[d];
    dc.setup = setup_.dcs[d];
    dc.setup.scheduler.hash_chains = source_.hash_chains();  // what trace prefixes refer to
    dc.autoscaler = operations::Autoscaler(dc.setup.ops.autoscaling);
    dc.profiles = std::make_unique<DecodeProfiles>(*dc.setup.step_model, dc.setup.scheduler.max_batch_size,
                                                    dc.setup.work_model.get());
    const model::StepModel* start_model = dc.setup.step_model.get();
    const DecodeProfiles* start_profiles = dc.profiles.get();
    if (!dc.setup.clock_models.empty()) {  // power caps by the hour: the replicas start at the first hour's clock
      if (dc.setup.decode) throw std::invalid_argument("power caps by the hour with a decode pool are not modelled");
      for (const auto& m : dc.setup.clock_models)
        dc.clock_profiles.push_back(
            std::make_unique<DecodeProfiles>(*m, dc.setup.scheduler.max_batch_size, dc.setup.work_model.get()));
      for (const std::uint8_t i : dc.setup.hour_model)
        if (i >= dc.setup.clock_models.size()) throw std::invalid_argument("an hour's step model is out of range");
      dc.clock_now = dc.clock_at(0.0);
      start_model = dc.setup.clock_models[dc.clock_now].get();
      start_profiles = dc.clock_profiles[dc.clock_now].get();
    }
    dc.first_replica = static_cast<std::uint32_t>(replicas_.size());
    dc.first_server = total_servers_;
    dc.first_physical = physical_servers_;
    physical_servers_ += dc.setup.servers * static_cast<std::uint32_t>(dc.setup.servers_per_unit);
    if (dc.setup.servers_per_unit > 1) has_units_ = true;
    const std::uint32_t per_server = static_cast<std::uint32_t>(dc.setup.replicas_per_server);
    for (std::uint32_t i = 0; i < dc.setup.servers * per_server; ++i) {
      const auto id = static_cast<std::uint32_t>(replicas_.size());
      replicas_.emplace_back(id, *start_model, *start_profiles, dc.setup.scheduler, static_cast<ReplicaListener*>(this));
      replica_dc_.push_back(d);
    }
    dc.prefill_replicas = dc.setup.servers * per_server;
    if (dc.setup.decode) {
      dc.pd = true;
      if (dc.setup.ops.enabled() && dc.setup.ops.autoscaling.policy != operations::Policy::kSchedule)
        throw std::invalid_argument("prefill/decode disaggregation with reactive or predictive autoscaling is not modelled "
                                    "(the schedule policy is)");
      if (dc.setup.decode->ops.autoscaling.policy != dc.setup.ops.autoscaling.policy)
        throw std::invalid_argument("a decode pool's autoscaling policy must be its datacenter's");
      if (!(dc.setup.kv_transfer_bytes_per_s > 0) || dc.setup.kv_bytes_per_token < 0 || dc.setup.kv_transfer_latency_s < 0)
        throw std::invalid_argument("prefill/decode disaggregation needs a positive KV transfer bandwidth");
      dc.decode = *dc.setup.decode;
      dc.decode_autoscaler = operations::Autoscaler(dc.decode.ops.autoscaling);
      dc.decode.scheduler.prefix_block_tokens = 0;  // the decode pool is handed whole KV caches
      dc.decode.scheduler.hash_chains = nullptr;
      dc.decode_profiles = std::make_unique<DecodeProfiles>(*dc.decode.step_model, dc.decode.scheduler.max_batch_size,
                                                            dc.decode.work_model.get());
      physical_servers_ += dc.decode.servers * static_cast<std::uint32_t>(dc.decode.servers_per_unit);
      if (dc.decode.servers_per_unit > 1) has_units_ = true;
      for (std::uint32_t i = 0; i < dc.decode.servers * static_cast<std::uint32_t>(dc.decode.replicas_per_server); ++i) {
        const auto id = static_cast<std::uint32_t>(replicas_.size());
        replicas_.emplace_back(id, *dc.decode.step_model, *dc.decode_profiles, dc.decode.scheduler,
                               static_cast<ReplicaListener*>(this));
        replica_dc_.push_back(d);
      }
    }
    const std::uint32_t servers = dc.dc_servers();
    dc.first_cell = static_cast<std::uint32_t>(cells_.size());
    dc.cells = 0;
    for (const CellInfo& info : layout) {
      if (info.dc != d) continue;
      ++dc.cells;
      Cell& c = cells_.emplace_back();
      c.dc = d;
      c.first_server = info.first_server;
      c.servers = info.servers;
      c.first_replica = info.first_replica;
      c.replicas = info.replicas;
      c.balancer = std::make_unique<LeastOutstanding>(c.replicas);
      if (setup_.prefix_routing)
        c.affinity = std::make_unique<PrefixAffinity>(std::clamp<std::size_t>(std::size_t{256} * c.replicas, 1024, 1 << 20));
      c.pipes.resize(setup_.user_regions);
      c.heap.resize(c.replicas);
      c.n_serving = c.servers;
      if (dc.pd) c.input_outstanding.assign(dc.prefill_replicas, 0.0);
      replica_cell_.insert(replica_cell_.end(), c.replicas, static_cast<std::uint32_t>(cells_.size() - 1));
      server_cell_.insert(server_cell_.end(), c.servers, static_cast<std::uint32_t>(cells_.size() - 1));
    }
    total_servers_ += servers;
    server_dc_.insert(server_dc_.end(), servers, d);
  }
  servers_.resize(total_servers_);
  if (!setup_.batch.empty()) {
    batch_released_.assign(setup_.batch.size(), 0);
    batch_open_.assign(setup_.batch.size(), 0);
    for (Cell& c : cells_) {
      c.batch_pool = std::make_unique<operations::BatchPool>(&setup_.batch, &batch_open_);
      c.batch_done.resize(setup_.batch.size());
      if (dcs_[c.dc].setup.scheduler.batch_max_seqs == 0) continue;
      for (std::uint32_t k = 0; k < c.replicas; ++k) replicas_[c.first_replica + k].set_batch_feed(c.batch_pool.get());
    }
  }
  if (!setup_.outages.empty()) {
    if (!setup_.batch.empty()) throw std::invalid_argument("failures and maintenance with batch work are not modelled");
    // A failure's completions must not be announced before it (merged steps report a step's end at its start).
    setup_.merge_steps = false;
    using Ev = Cell::OutageEvent;
    for (const operations::Outage& o : setup_.outages) {
      if (o.dc >= n_dcs || o.server >= dcs_[o.dc].dc_servers() || !(o.start_s >= 0) || !(o.duration_s >= 0))
        throw std::invalid_argument("an outage names no server of its datacenter, or has a negative time");
      if (dcs_[o.dc].pd && o.planned) throw std::invalid_argument("maintenance with prefill/decode disaggregation is not modelled");
      const std::uint32_t gs = dcs_[o.dc].first_server + o.server;
      Cell& c = cells_[server_cell_[gs]];
      const double end = o.start_s + o.duration_s;
      c.outages.push_back({o.start_s, gs, o.planned ? Ev::kMaintStart : Ev::kFail, end, o.training});
      c.outages.push_back({end, gs, o.planned ? Ev::kMaintEnd : Ev::kRepair, 0, o.training});
    }
    for (Cell& c : cells_) {
      // In time order; at one instant, ends before starts, then by server.
      std::sort(c.outages.begin(), c.outages.end(), [](const Ev& a, const Ev& b) {
        const bool a_end = a.kind == Ev::kRepair || a.kind == Ev::kMaintEnd, b_end = b.kind == Ev::kRepair || b.kind == Ev::kMaintEnd;
        if (a.t != b.t) return a.t < b.t;
        if (a_end != b_end) return a_end;
        if (a.server != b.server) return a.server < b.server;
        return a.kind < b.kind;
      });
      c.next_outage_s = c.outages.empty() ? IndexedHeap::kNever : c.outages.front().t;
    }
  }
  source_id_ = static_cast<std::uint32_t>(cells_.size());
  sharded_ = setup_.shard_first_cell > 0 || setup_.shard_last_cell < cells_.size();
  order_.resize(source_id_ + 1);
  order_.update(source_id_, source_.peek_time());
  for (std::uint32_t k = 0; k < cells_.size(); ++k)
    if (!cells_[k].outages.empty()) order_.update(k, cell_time(cells_[k]));
}

ServingSystem::~ServingSystem() = default;

std::vector<CellInfo> cell_layout(const SystemSetup& setup) {
  std::vector<CellInfo> out;
  std::uint32_t first_server = 0, first_replica = 0;
  for (std::uint32_t d = 0; d < setup.dcs.size(); ++d) {
    const PoolSetup& p = setup.dcs[d];
    const auto per_server = static_cast<std::uint32_t>(p.replicas_per_server);
    const std::uint32_t servers = p.servers;
    if (p.decode) {  // disaggregated: one cell of both pools (prefill servers first)
      const auto dec = p.decode->servers * static_cast<std::uint32_t>(p.decode->replicas_per_server);
      out.push_back({d, first_server, servers + p.decode->servers, first_replica, servers * per_server + dec});
      first_server += servers + p.decode->servers;
      first_replica += servers * per_server + dec;
      continue;
    }
    const std::uint32_t cell_servers =
        setup.cell_replicas == 0 ? servers : std::max<std::uint32_t>(1, setup.cell_replicas / per_server);
    const std::uint32_t cells = std::max<std::uint32_t>(1, (servers + cell_servers - 1) / cell_servers);
    for (std::uint32_t k = 0; k < cells; ++k) {
      const auto s0 = static_cast<std::uint32_t>(std::uint64_t{k} * servers / cells);
      const auto s1 = static_cast<std::uint32_t>(std::uint64_t{k + 1} * servers / cells);
      out.push_back({d, first_server + s0, s1 - s0, first_replica + s0 * per_server, (s1 - s0) * per_server});
    }
    first_server += servers;
    first_replica += servers * per_server;
  }
  return out;
}

std::pair<std::uint32_t, std::uint32_t> shard_cells(const std::vector<CellInfo>& cells, std::uint32_t shard,
                                                    std::uint32_t shards) {
  const auto n = static_cast<std::uint32_t>(cells.size());
  assert(shards >= 1 && shard < shards && shards <= n);
  // Boundary i: the first cell whose middle lies beyond i/shards of the replicas, kept so that every
  // shard has at least one cell.
  double total = 0;
  for (const auto& c : cells) total += c.replicas;
  auto boundary = [&](std::uint32_t i) -> std::uint32_t {
    if (i == 0) return 0;
    if (i == shards) return n;
    const double target = total * i / shards;
    double before = 0;
    std::uint32_t k = 0;
    while (k < n && before + cells[k].replicas / 2.0 < target) before += cells[k++].replicas;
    return std::clamp(k, i, n - (shards - i));
  };
  // Boundaries computed one after another stay increasing: each is clamped above the one before.
  std::uint32_t first = 0;
  for (std::uint32_t i = 1; i <= shard; ++i) first = std::max(first + 1, boundary(i));
  std::uint32_t last = shard + 1 == shards ? n : std::max(first + 1, boundary(shard + 1));
  return {first, last};
}

CellInfo ServingSystem::cell_info(std::uint32_t k) const {
  const Cell& c = cells_[k];
  // Physical servers (a deployment unit counts its servers_per_unit), as the engine's hosts are.
  const Dc& dc = dcs_[c.dc];
  const auto n = static_cast<std::uint32_t>(dc.setup.servers_per_unit);
  if (dc.pd)  // the datacenter's one cell: both pools
    return {c.dc, dc.first_physical, dc.setup.servers * n + dc.decode.servers * static_cast<std::uint32_t>(dc.decode.servers_per_unit),
            c.first_replica, c.replicas};
  return {c.dc, dc.first_physical + (c.first_server - dc.first_server) * n, c.servers * n, c.first_replica, c.replicas};
}

// ---- Routing and admission --------------------------------------------------------------------

std::optional<std::uint32_t> ServingSystem::admit(const workload::RequestSpec& r) {
  const std::uint32_t d = router_.route(r, *this);
  const bool ok = fits(r, d);
  tally(r, d, ok);
  if (!ok) return std::nullopt;
  return d;
}

bool ServingSystem::fits(const workload::RequestSpec& r, std::uint32_t d) const {
  const Dc& dc = dcs_[d];
  if (dc.pd)  // the prompt (and its first token) in a prefill replica, the whole sequence in a decode replica
    return static_cast<std::uint64_t>(r.prompt_tokens) + r.output_tokens <= setup_.max_context_tokens &&
           replicas_[dc.first_replica].can_ever_fit(r.prompt_tokens, 1) &&
           replicas_[dc.first_replica + dc.prefill_replicas].can_ever_fit(r.prompt_tokens, r.output_tokens);
  return static_cast<std::uint64_t>(r.prompt_tokens) + r.output_tokens <= setup_.max_context_tokens &&
         replicas_[dc.first_replica].can_ever_fit(r.prompt_tokens, r.output_tokens);
}

void ServingSystem::tally(const workload::RequestSpec& r, std::uint32_t d, bool admitted) {
  ++arrived_;
  Dc& dc = dcs_[d];
  ++dc.routed;
  if (admitted) {
    ++dc.admitted;
    return;
  }
  ++rejected_;
  ++dc.rejected;
  observer_.on_rejected(r, d);
  source_.on_dropped(r.id);
}

std::uint32_t ServingSystem::cell_of(const workload::RequestSpec& r, std::uint32_t d) const {
  const Dc& dc = dcs_[d];
  if (dc.cells == 1) return dc.first_cell;
  // The hash's high 32 bits scaled to one of the datacenter's replicas (Lemire 2019: no division),
  // and that replica's cell: each cell gets a share of requests proportional to its replicas.
  // A conversation's turns share a hash (a user's session stays on one balancer instance, as L4 hashing
  // of the connection does), so that its history can be found cached.
  const std::uint64_t conversation = workload::prefix::conversation(r.prefix);
  const std::uint64_t h = Rng::splitmix(conversation ? conversation : r.id) >> 32;
  const std::uint64_t replicas = dc.setup.servers * static_cast<std::uint64_t>(dc.setup.replicas_per_server);
  return replica_cell_[dc.first_replica + static_cast<std::uint32_t>((h * replicas) >> 32)];
}

std::optional<std::uint32_t> ServingSystem::assign(const workload::RequestSpec& r, std::uint32_t d) {
  Cell& c = cells_[cell_of(r, d)];
  const std::uint32_t id = assign_in(c, r);
  if (id == kNoReplica) return std::nullopt;
  if (dcs_[d].pd) c.prefilled[r.id] = {0, 0, 0, r.output_tokens};  // as on_delivery() does
  return id;
}

Job ServingSystem::job_on(std::uint32_t id, const workload::RequestSpec& r, double delivered_s) const {
  Job job = job_for(r, delivered_s);
  const Dc& dc = dcs_[replica_dc_[id]];
  if (dc.pd && id - dc.first_replica < dc.prefill_replicas) job.output_tokens = 1;
  return job;
}

std::uint32_t ServingSystem::assign_in(Cell& c, const workload::RequestSpec& r) {
  const std::uint32_t d = c.dc;
  std::uint32_t local = dcs_[d].pd ? pick_prefill(c) : c.balancer->pick();
  const bool affine = c.affinity && r.prefix != 0;
  if (affine) {
    prompt_path(prefix_of(r), r.prompt_tokens, dcs_[d].setup.scheduler.hash_chains, c.path);
    std::uint32_t matched = 0;  // the conversation's history is open-ended: it holds the prompt up to its end
    const std::uint32_t held = c.affinity->lookup(c.path, &matched);
    if (held != PrefixAffinity::kNone && !c.balancer->excluded(held) &&
        std::min(matched, r.prompt_tokens) >= setup_.prefix_routing_min_match * r.prompt_tokens &&
        c.balancer->outstanding(held) <= c.balancer->outstanding(local) + setup_.prefix_routing_slack)
      local = held;
  }
  ++c.delivered;
  const std::uint32_t max_waiting = dcs_[d].setup.max_waiting_per_replica;
  if (max_waiting > 0 && replicas_[c.first_replica + local].waiting() >= max_waiting) {
    ++c.dropped;
    ++c.epoch.dropped;
    if (windowed_) {
      c.drops[slot_].push_back({r, d});
    } else {
      observer_.on_dropped(r, d);
      source_.on_dropped(r.id);
    }
    return kNoReplica;
  }
  if (affine) c.affinity->record(c.path, local);
  c.balancer->increment(local);
  if (dcs_[d].pd) c.input_outstanding[local] += r.prompt_tokens;
  ++c.outstanding;
  ++c.epoch.arrivals;
  return c.first_replica + local;
}

Job ServingSystem::job_for(const workload::RequestSpec& r, double delivered_s) {
  Job job;
  job.id = r.id;
  job.sent_s = r.time_s;
  job.delivered_s = delivered_s;
  job.prompt_tokens = r.prompt_tokens;
  job.output_tokens = r.output_tokens;
  job.tag = r.user_region;
  return job;
}

DcState ServingSystem::dc_state(std::uint32_t d) const {
  const Dc& dc = dcs_[d];
  DcState s;
  s.routed = dc.routed;
  s.server_ttft_s = dc.server_ttft_s;
  s.server_ttft_time_s = dc.server_ttft_time_s;
  std::uint64_t delivered = 0;
  for (std::uint32_t k = dc.first_cell; k < dc.first_cell + dc.cells; ++k) {
    const Cell& c = cells_[k];
    if (!dc.pd) {
      s.replicas += c.n_serving * static_cast<std::uint32_t>(dc.setup.replicas_per_server);  // serving ones (all, without autoscaling)
    } else if (dc.setup.replicas_per_server == dc.decode.replicas_per_server) {  // both pools' serving units (a schedule)
      s.replicas += c.n_serving * static_cast<std::uint32_t>(dc.setup.replicas_per_server);
    } else {
      for (std::uint32_t i = 0; i < dc.dc_servers(); ++i)
        if (servers_[dc.first_server + i].state == ServerState::kServing)
          s.replicas += static_cast<std::uint32_t>(dc.pool_of_server(i).replicas_per_server);
    }
    s.outstanding += c.outstanding;
    delivered += c.delivered;
  }
  s.inflight = dc.admitted - delivered;
  return s;
}

// ---- Events -------------------------------------------------------------------------------------

void ServingSystem::on_arrival(const workload::RequestSpec& r) {
  if (sharded_) {  // another shard's request: routed (the router's sequence goes on), then left alone
    const std::uint32_t d = router_.route(r, *this);
    if (!owned(cell_of(r, d))) return;
    ++arrivals_;
    const bool ok = fits(r, d);
    tally(r, d, ok);
    if (ok) enqueue(r, d);
    return;
  }
  ++arrivals_;
  const auto d = admit(r);
  if (d) enqueue(r, *d);
}

void ServingSystem::enqueue(const workload::RequestSpec& r, std::uint32_t d) {
  const std::uint32_t k = cell_of(r, d);
  Cell& c = cells_[k];
  const InFlight f{r, r.time_s + setup_.one_way_s[r.user_region][d] + dcs_[d].setup.request_overhead_s};
  if (windowed_) {
    c.pipes[r.user_region].window[arrival_slot_].push_back(f);
    return;
  }
  c.pipes[r.user_region].carried.push_back(f);
  find_next_delivery(c);
  order_.update(k, cell_time(c));
}

const ServingSystem::InFlight* ServingSystem::pipe_front(const Pipe& p) const {
  if (!p.carried.empty()) return &p.carried.front();
  const auto& w = p.window[slot_];
  return p.cursor < w.size() ? &w[p.cursor] : nullptr;
}

void ServingSystem::find_next_delivery(Cell& c) const {
  c.next_delivery_s = IndexedHeap::kNever;
  for (std::uint32_t u = 0; u < c.pipes.size(); ++u) {
    const InFlight* f = pipe_front(c.pipes[u]);
    if (f && f->deliver_s < c.next_delivery_s) {
      c.next_delivery_s = f->deliver_s;
      c.next_pipe = u;
    }
  }
}

void ServingSystem::on_delivery(Cell& c) {
  Pipe& p = c.pipes[c.next_pipe];
  const InFlight f = *pipe_front(p);
  if (!p.carried.empty())
    p.carried.pop_front();
  else
    ++p.cursor;
  find_next_delivery(c);
  finish_due(c, f.deliver_s);  // completions up to now (on a tie they come first, as replica events do)
  const bool park = !can_take(c);  // every server (prefill unit) of the cell failed or down: it waits at the balancer
  std::uint32_t rid = kNoReplica;
  if (park) {
    ++c.delivered;
    ++c.outstanding;
    ++c.epoch.arrivals;
  } else if ((rid = assign_in(c, f.spec)) == kNoReplica) {
    return;  // dropped
  }
  Job job = job_for(f.spec, f.deliver_s);
  if (dcs_[c.dc].pd) {  // prefill only: the request leaves the prefill replica with its first token
    c.prefilled[job.id] = {0, 0, 0, job.output_tokens};
    job.output_tokens = 1;
  }
  if (park) {
    c.parked.emplace_back(job, prefix_of(f.spec));
    return;
  }
  replicas_[rid].deliver(job, f.deliver_s, prefix_of(f.spec));
  c.heap.update(rid - c.first_replica, replicas_[rid].next_event_time());
}

// One event of the cell: a delivery, or a replica's step or run ending (first on a tie).
void ServingSystem::cell_event(Cell& c) {
  ++c.events;
  if (c.next_outage_s <= c.next_wake_s && c.next_outage_s <= c.next_delivery_s && c.next_outage_s <= c.heap.top_time() &&
      c.next_outage_s <= next_transfer_s(c)) {  // an outage at t comes before t's other events
    on_outage(c);
    return;
  }
  if (c.next_wake_s <= c.next_delivery_s && c.next_wake_s <= c.heap.top_time() &&
      c.next_wake_s <= next_transfer_s(c)) {  // a server ready at t takes t's requests (and KV caches)
    on_wake(c);
    return;
  }
  if (c.next_delivery_s < c.heap.top_time() && c.next_delivery_s <= next_transfer_s(c)) {
    on_delivery(c);
    return;
  }
  if (next_transfer_s(c) < c.heap.top_time()) {
    on_transfer(c);
    return;
  }
  const std::uint32_t id = c.heap.top();
  Replica& r = replicas_[c.first_replica + id];
  r.on_event();
  c.heap.update(id, r.next_event_time());
}

void ServingSystem::advance_cell(Cell& c, double t) {
  while (cell_time(c) <= t) cell_event(c);
}

void ServingSystem::advance_in_order(double t) {
  for (;;) {
    if (order_.top_time() > t) break;
    const std::uint32_t id = order_.top();
    if (id == source_id_) {
      on_arrival(source_.pop());
    } else {
      Cell& c = cells_[id];
      const std::uint64_t done = c.completed;
      cell_event(c);
      order_.update(id, cell_time(c));
      // A completion may schedule a follow-up turn: the source's next time can move earlier.
      if (c.completed == done) continue;
    }
    order_.update(source_id_, source_.peek_time());
  }
}

// Windows run as a pipeline: while the cells run window i, one more task hands window i-1's answers
// to the observer and routes the requests sent in window i+1 (the source and the observer are only
// ever touched by that task, one at a time). A window never crosses t, so nothing is routed beyond it.
void ServingSystem::advance_in_windows(double t) {
  std::vector<double> ends;
  for (double w = window_clock_; w < t;) ends.push_back(w = std::min(t, w + setup_.window_s));
  if (ends.empty()) return;
  tally_ahead(t);
  dispatch_until(ends[0], slot_);  // what was not routed ahead (the first call's)
  const auto n = static_cast<std::uint32_t>(cells_.size());
  for (std::size_t i = 0; i < ends.size(); ++i) {
    const int next = 1 - slot_;
    window_end_ = ends[i];
    workers_->run(n + 1, [&](std::uint32_t k) {
      if (k == 0) {  // first, so that it overlaps the cells
        if (i > 0) hand_over(next);
        if (i + 1 < ends.size())
          dispatch_until(ends[i + 1], next);
        else  // the next call's first window ends by ends[i] + window_s at the latest
          route_ahead(ends[i] + setup_.window_s, next);
        return;
      }
      Cell& c = cells_[k - 1];
      if (!c.early.empty()) {
        std::erase_if(c.early, [&](const auto& e) {
          if (e.first > ends[i]) return false;
          c.done[slot_].push_back(e.second);
          return true;
        });
      }
      find_next_delivery(c);  // the window's requests are in
      advance_cell(c, ends[i]);
      finish_due(c, ends[i]);
      for (Pipe& p : c.pipes) {  // still on their way: carried into the next window
        auto& w = p.window[slot_];
        for (std::size_t j = p.cursor; j < w.size(); ++j) p.carried.push_back(w[j]);
        w.clear();
        p.cursor = 0;
      }
    });
    slot_ = next;
  }
  hand_over(1 - slot_);  // the last window's
  window_clock_ = t;
}

void ServingSystem::dispatch_until(double t, int slot) {
  arrival_slot_ = slot;
  while (source_.peek_time() <= t) on_arrival(source_.pop());
}

void ServingSystem::route_ahead(double t, int slot) {
  arrival_slot_ = slot;
  while (source_.peek_time() <= t) {
    const workload::RequestSpec r = source_.pop();
    const std::uint32_t d = router_.route(r, *this);  // reads no live state (windows)
    if (sharded_ && !owned(cell_of(r, d))) continue;
    const bool ok = fits(r, d);
    if (ok) enqueue(r, d);
    routed_ahead_.push_back({r, d, ok});
  }
}

void ServingSystem::tally_ahead(double t) {
  while (!routed_ahead_.empty() && routed_ahead_.front().spec.time_s <= t) {
    const RoutedAhead& a = routed_ahead_.front();
    ++arrivals_;
    tally(a.spec, a.dc, a.admitted);
    routed_ahead_.pop_front();
  }
}

void ServingSystem::hand_over(int slot) {
  ++hand_overs_;
  for (Cell& c : cells_) {
    // An open-loop source hears of answers and drops after the window: they change nothing it sends.
    for (const RequestRecord& r : c.done[slot]) {
      observer_.on_done(r);
      source_.on_response(r.id, r.done_s);
    }
    for (const Dropped& x : c.drops[slot]) {
      observer_.on_dropped(x.spec, x.dc);
      source_.on_dropped(x.spec.id);
    }
    c.done[slot].clear();
    c.drops[slot].clear();
  }
}

void ServingSystem::advance_to(double t) {
  if (!decided_) {
    decided_ = true;
    windowed_ = setup_.allow_windows && sink_ == nullptr && !source_.closed_loop() && !setup_.track_ttft_signal &&
                (dcs_.size() == 1 || !router_.reads_live_state());
    if (windowed_) {
      workers_ = std::make_unique<TaskPool>(setup_.threads);
      // Nobody acts on a first token as it happens (no driver, no latency signal): merge steps.
      merging_ = setup_.merge_steps && setup_.batch.empty();  // batch work splits step energy: no merged steps
      for (const Dc& dc : dcs_) merging_ = merging_ && !dc.pd;  // a prefill's end sets off its KV at once
      // Clocks by the hour: a merged step's answers are out before its end, so a step beginning at the hour
      // could not be retimed at the new clock; without merging, every step beginning at or after it is.
      for (const Dc& dc : dcs_) merging_ = merging_ && dc.setup.clock_models.empty();
      if (merging_)
        for (Replica& r : replicas_) r.set_merge_steps(true);
    }
  }
  if (sharded_ && !windowed_)
    throw std::logic_error("a shard of a day needs independent cells (windows)");
  if (!batch_started_) {  // instances released at the start
    batch_started_ = true;
    batch_tick(window_clock_);
  }
  if (windowed_)
    advance_in_windows(t);
  else
    advance_in_order(t);
}

// ---- Answers ------------------------------------------------------------------------------------

void ServingSystem::on_first_token(std::uint32_t replica, const Job& job, double t) {
  if (job.batch) return;
  const Dc& pool = dcs_[replica_dc_[replica]];
  if (pool.pd && replica - pool.first_replica < pool.prefill_replicas) return;  // a prefill's end: the user's first token comes from decode
  if (sink_) sink_->on_first_token(replica, job, t);
  if (!setup_.track_ttft_signal) return;
  Dc& dc = dcs_[replica_dc_[replica]];
  const double sample = t - job.delivered_s;
  if (dc.server_ttft_time_s < 0) {
    dc.server_ttft_s = sample;
  } else {
    const double w = std::exp2(-(t - dc.server_ttft_time_s) / setup_.signal_half_life_s);
    dc.server_ttft_s = w * dc.server_ttft_s + (1 - w) * sample;
  }
  dc.server_ttft_time_s = t;
}

void ServingSystem::finish(Cell& c, std::uint32_t local, std::uint32_t output_tokens, double t) {
  c.balancer->decrement(local);
  --c.outstanding;
  ++c.completed;
  ++c.epoch.completions;
  c.epoch.output_tokens += output_tokens;
  power_off_if_drained(c, replica_server(c.first_replica + local), t);
}

void ServingSystem::power_off_if_drained(Cell& c, std::uint32_t server, double t) {
  // A draining server that has finished its last request powers off now.
  if (c.n_draining > 0 && servers_[server].state == ServerState::kDraining && server_empty(c, server))
    set_state(c, server, ServerState::kOff, t);
  // A server drained for maintenance goes down for its window now.
  if (c.n_maint_draining > 0 && servers_[server].state == ServerState::kMaintDraining && server_empty(c, server))
    set_state(c, server, ServerState::kMaintenance, t);
}

void ServingSystem::finish_due(Cell& c, double t) {
  while (!c.finishing.empty() && c.finishing.front().t <= t) {
    finish(c, c.finishing.front().local, c.finishing.front().output_tokens, c.finishing.front().t);
    c.finishing.pop_front();
  }
}

void ServingSystem::on_prefilled(Cell& c, std::uint32_t replica, const Job& job, const JobTimes& times) {
  const Dc& dc = dcs_[c.dc];
  const std::uint32_t local = replica - c.first_replica;
  c.balancer->decrement(local);
  c.input_outstanding[local] -= job.prompt_tokens;
  power_off_if_drained(c, replica_server(replica), times.done_s);  // a draining prefill unit's last prefill: it hands the KV over, then powers off
  const double bytes = job.prompt_tokens * dc.setup.kv_bytes_per_token;
  ++c.epoch.kv_transfers;
  c.epoch.kv_transfer_bytes += bytes;
  c.epoch.prefill_input_tokens += job.prompt_tokens;
  Cell::Prefilled& pf = c.prefilled.at(job.id);
  pf.admitted_s = times.admitted_s;
  pf.cached_tokens = times.cached_tokens;
  pf.preemptions = times.preemptions;
  Job next = job;
  next.output_tokens = pf.output_tokens;
  next.kv_ready = true;
  if (sink_) {  // an external driver carries the KV cache over its own network (chosen now: it is sent to one replica)
    const std::uint32_t decode = pick_decode(c, times.done_s);
    if (decode == kNoReplica) throw std::logic_error("no decode unit serves (the fine engine models no failures)");
    sink_->on_kv_ready(replica, c.first_replica + decode, next, bytes, times.done_s);
    return;
  }
  c.transfers.push({times.done_s + dc.setup.kv_transfer_latency_s + bytes / dc.setup.kv_transfer_bytes_per_s, next});
}

bool ServingSystem::can_take(const Cell& c) const {
  if (!dcs_[c.dc].pd) return c.n_serving > 0;
  for (std::uint32_t i = 0; i < dcs_[c.dc].prefill_replicas; ++i)  // the first serving one ends it (usually the first)
    if (!c.balancer->excluded(i)) return true;
  return false;
}

bool ServingSystem::deliver_kv(Cell& c, const Job& job, double t) {
  const std::uint32_t best = pick_decode(c, t);
  if (best == kNoReplica) return false;
  Replica& r = replicas_[c.first_replica + best];
  r.deliver(job, t);
  c.heap.update(best, r.next_event_time());
  return true;
}

std::uint32_t ServingSystem::pick_prefill(const Cell& c) const {
  std::uint32_t local = kNoReplica;
  for (std::uint32_t i = 0; i < dcs_[c.dc].prefill_replicas; ++i)
    if (!c.balancer->excluded(i) && (local == kNoReplica || c.input_outstanding[i] < c.input_outstanding[local])) local = i;
  return local;
}

std::uint32_t ServingSystem::pick_decode(Cell& c, double t) {
  const Dc& dc = dcs_[c.dc];
  // Decode balancer: the replica with the least KV cache in use, then the fewest requests (DeepSeek).
  std::uint32_t best = kNoReplica;
  double best_kv = 0;
  for (std::uint32_t i = dc.prefill_replicas; i < c.replicas; ++i) {
    if (c.balancer->excluded(i)) continue;
    const double kv = replicas_[c.first_replica + i].kv_tokens_at(t);
    if (best == kNoReplica || kv < best_kv || (kv == best_kv && c.balancer->outstanding(i) < c.balancer->outstanding(best))) {
      best = i;
      best_kv = kv;
    }
  }
  if (best != kNoReplica) c.balancer->increment(best);
  return best;
}

void ServingSystem::on_transfer(Cell& c) {
  const Cell::Transfer x = c.transfers.top();
  c.transfers.pop();
  finish_due(c, x.t);
  // Every decode unit failed: the KV cache waits (in the prefill unit's memory) for one.
  if (!deliver_kv(c, x.job, x.t)) c.kv_parked.push_back(x.job);
}

void ServingSystem::on_complete(std::uint32_t replica, const Job& job, const JobTimes& times) {
  Cell& c = cells_[replica_cell_[replica]];
  if (job.batch) {
    on_batch_complete(c, replica, job, times);
    return;
  }
  if (dcs_[c.dc].pd && replica - c.first_replica < dcs_[c.dc].prefill_replicas) {
    on_prefilled(c, replica, job, times);
    return;
  }
  if (merging_) {  // maybe early (a merged step): the balancer and counts learn of it at its time
    c.finishing.push_sorted({times.done_s, replica - c.first_replica, job.output_tokens});
  } else {
    finish(c, replica - c.first_replica, job.output_tokens, times.done_s);
  }
  JobTimes all = times;
  if (dcs_[c.dc].pd) {  // admitted, cached and preempted in the prefill pool (preempted in decode too)
    const auto it = c.prefilled.find(job.id);
    all.admitted_s = it->second.admitted_s;
    all.cached_tokens = it->second.cached_tokens;
    all.preemptions += it->second.preemptions;
    c.prefilled.erase(it);
  }
  if (sink_) {
    sink_->on_complete(replica, job, all);
    return;
  }
  const double back = setup_.one_way_s[job.tag][c.dc];
  RequestRecord r;
  r.id = job.id;
  r.user_region = job.tag;
  r.dc = c.dc;
  r.replica = replica;
  r.sent_s = job.sent_s;
  r.delivered_s = job.delivered_s;
  r.admitted_s = all.admitted_s;
  r.first_token_s = times.first_token_s + back;
  r.done_s = times.done_s + back;
  r.prompt_tokens = job.prompt_tokens;
  r.output_tokens = job.output_tokens;
  r.preemptions = all.preemptions;
  r.cached_tokens = all.cached_tokens;
  if (windowed_) {
    if (times.done_s > window_end_)
      c.early.push_back({times.done_s, r});  // a merged step's end beyond the window: answer it then
    else
      c.done[slot_].push_back(r);
    return;
  }
  observer_.on_done(r);
  source_.on_response(job.id, r.done_s);
}

// ---- Servers, power and epochs ------------------------------------------------------------------

std::uint32_t ServingSystem::replica_server(std::uint32_t id) const {
  const Dc& dc = dcs_[replica_dc_[id]];
  return dc.first_server + dc.server_of_replica(id - dc.first_replica);
}

double ServingSystem::server_power_w(std::uint32_t server) const {
  const std::uint32_t d = server_dc_[server];
  const Dc& dc = dcs_[d];
  const PoolSetup& p = dc.pool_of_server(server - dc.first_server);
  switch (servers_[server].state) {  // as close_cell() accounts each state
    case ServerState::kOff: return p.ops.train_while_off ? p.ops.training_power_w : p.ops.off_power_w;
    case ServerState::kFailed: return p.ops.off_power_w;
    case ServerState::kMaintenance: return servers_[server].training ? p.ops.training_power_w : p.ops.off_power_w;
    case ServerState::kWaking: return p.ops.wake_power_w;
    default: break;
  }
  const int tp = p.step_model->gpus();
  const double idle = p.step_model->idle_power_w();
  double gpu_w = (p.gpus_per_server - p.replicas_per_server * tp) * idle;
  const std::uint32_t first = dc.first_replica + dc.first_replica_of_server(server - dc.first_server);
  for (int k = 0; k < p.replicas_per_server; ++k) gpu_w += replicas_[first + k].current_power_w(tp * idle);
  return p.server_power.server_energy_j(gpu_w, 1.0);
}

std::pair<std::uint32_t, std::uint32_t> ServingSystem::physical_servers(std::uint32_t server) const {
  const Dc& dc = dcs_[server_dc_[server]];
  const std::uint32_t local = server - dc.first_server;
  const auto np = static_cast<std::uint32_t>(dc.setup.servers_per_unit);
  if (dc.pd && local >= dc.setup.servers) {
    const auto nd = static_cast<std::uint32_t>(dc.decode.servers_per_unit);
    return {dc.first_physical + dc.setup.servers * np + (local - dc.setup.servers) * nd, nd};
  }
  return {dc.first_physical + local * np, np};
}

bool ServingSystem::server_powered_off(std::uint32_t server) const {
  const ServerRec& sr = servers_[server];
  const Dc& dc = dcs_[server_dc_[server]];
  switch (sr.state) {
    case ServerState::kOff: return !dc.pool_of_server(server - dc.first_server).ops.train_while_off;
    case ServerState::kFailed: return true;
    case ServerState::kMaintenance: return !sr.training;
    default: return false;
  }
}

void ServingSystem::close_cell(Cell& c, double t0, double t1, EpochReport& rep) {
  const bool detail = !rep.server_busy_gpu_s.empty();
  const Dc& dc = dcs_[c.dc];
  finish_due(c, t1);
  DcEpoch& e = c.epoch;
  for (std::uint32_t s = 0; s < c.servers; ++s) {
    const std::uint32_t gs = c.first_server + s;
    const std::uint32_t local_server = gs - dc.first_server;
    const PoolSetup& p = dc.pool_of_server(local_server);
    const int tp = p.step_model->gpus();
    const double idle_gpu_w = p.step_model->idle_power_w();
    const int spare_gpus = p.gpus_per_server - p.replicas_per_server * tp;
    const std::uint32_t first_local = dc.first_replica_of_server(local_server) - (c.first_replica - dc.first_replica);
    const bool decode_pool = dc.pd && local_server >= dc.setup.servers;
    ServerRec& sr = servers_[gs];
    // Time in the current state up to t1 (the seconds in earlier states are in on_s, off_s, waking_s).
    const double in_state = t1 - std::max(sr.since, t0);
    double on_s = sr.on_s, off_s = sr.off_s, waking_s = sr.waking_s, failed_s = sr.failed_s, maint_s = sr.maint_s,
           train_s = sr.train_s;
    switch (sr.state) {
      case ServerState::kServing:
      case ServerState::kDraining:
      case ServerState::kMaintDraining: on_s += in_state; break;
      case ServerState::kOff: off_s += in_state; break;
      case ServerState::kWaking: waking_s += in_state; break;
      case ServerState::kFailed: failed_s += in_state; break;
      case ServerState::kMaintenance: (sr.training ? train_s : maint_s) += in_state; break;
    }
    double train_off_s = 0;  // off, training instead (operations.training.while_off)
    if (p.ops.train_while_off) {
      train_off_s = off_s;
      train_s += off_s;
      off_s = 0;
    }
    double gpu_j = spare_gpus * idle_gpu_w * on_s, server_busy = 0, batch_gpu_j = 0;
    std::uint64_t server_running = 0, server_queued = 0;
    bool empty = true;
    for (int k = 0; k < p.replicas_per_server; ++k) {
      Replica& r = replicas_[c.first_replica + first_local + k];
      r.accrue(t1);
      const double busy = r.take_busy_s();
      gpu_j += r.take_energy_j() + tp * idle_gpu_w * std::max(0.0, on_s - busy);
      e.busy_gpu_s += busy * tp;
      if (dc.pd) (decode_pool ? e.decode_busy_gpu_s : e.prefill_busy_gpu_s) += busy * tp;
      const model::StepWork w = r.take_work();
      e.flops += w.flops;
      e.hbm_bytes += w.hbm_bytes;
      const std::uint64_t waiting = r.waiting(), batch_running = r.batch_running(), running = r.running_at(t1) - batch_running;
      e.batch_running += batch_running;
      batch_gpu_j += r.take_batch_energy_j();
      e.queued += waiting;
      e.running += running;
      e.kv_tokens += r.kv_tokens_at(t1);
      const PrefixStats ps = r.take_prefix_stats();
      if (r.prefix_caching()) {
        e.kv_cached_tokens += r.cached_tokens_at(t1);
        e.prefix_queried_tokens += ps.queried_tokens;
        e.prefix_hit_tokens += ps.hit_tokens;
      }
      e.disk_hit_tokens += ps.disk_hit_tokens;
      if (c.balancer->outstanding(first_local + k) > 0 || r.batch_held() > 0) empty = false;
      if (detail) {
        server_busy += busy * tp;
        server_running += running;
        server_queued += waiting;
      }
    }
    const double on_j = on_s > 0 ? p.server_power.server_energy_j(gpu_j, on_s) : 0.0;
    const double off_j = p.ops.off_power_w * off_s, waking_j = p.ops.wake_power_w * waking_s;
    // A failed server, and one down for maintenance, is powered off: it draws the off power.
    // One reserved for training draws the training power (operations.training.server_power_fraction of its max).
    const double failed_j = p.ops.off_power_w * failed_s, maint_j = p.ops.off_power_w * maint_s;
    const double train_j = p.ops.training_power_w * train_s;
    const double it_j = on_j + off_j + waking_j + failed_j + maint_j + train_j;
    if (batch_gpu_j > 0 && gpu_j > 0) e.batch_it_energy_j += on_j * batch_gpu_j / gpu_j;
    e.gpu_energy_j += gpu_j;
    e.it_energy_j += it_j;
    rep.server_it_energy_j[gs] = it_j;
    rep.server_off[gs] = server_powered_off(gs) && sr.since <= t0 ? 1 : 0;
    if (detail) {
      rep.server_busy_gpu_s[gs] = server_busy;
      rep.server_running[gs] = server_running;
      rep.server_queued[gs] = server_queued;
    }
    const bool draining = sr.drained || sr.state == ServerState::kDraining || sr.state == ServerState::kMaintDraining;
    // Disaggregated pools may have units of different sizes: physical servers counted here (units of
    // one size are counted in expand_units()).
    const int w = dc.pd ? p.servers_per_unit : 1;
    (draining ? e.draining_s : e.serving_s) += on_s * w;
    if (dc.pd) (decode_pool ? e.decode_server_s : e.prefill_server_s) += on_s * w;
    (draining ? e.energy_draining_j : e.energy_serving_j) += on_j;
    e.off_s += off_s * w;
    e.energy_off_j += off_j;
    e.waking_s += waking_s * w;
    e.energy_waking_j += waking_j;
    e.failed_s += failed_s * w;
    e.energy_failed_j += failed_j;
    e.maintenance_s += maint_s * w;
    e.energy_maintenance_j += maint_j;
    e.training_s += train_s * w;
    e.training_off_s += train_off_s * w;
    e.energy_training_j += train_j;
    switch (sr.state) {
      case ServerState::kServing: e.servers_serving += w; e.servers_idle += empty ? w : 0; break;
      case ServerState::kDraining: e.servers_draining += w; break;
      case ServerState::kOff: (p.ops.train_while_off ? e.servers_training : e.servers_off) += w; break;
      case ServerState::kWaking: e.servers_waking += w; break;
      case ServerState::kFailed: e.servers_failed += w; break;
      case ServerState::kMaintDraining:
      case ServerState::kMaintenance: (sr.training ? e.servers_training : e.servers_maintenance) += w; break;
    }
    sr.on_s = sr.off_s = sr.waking_s = sr.failed_s = sr.maint_s = sr.train_s = 0;
    sr.drained = false;
  }
}

// ---- Operations: power states and autoscaling ----------------------------------------------------

void ServingSystem::set_state(Cell& c, std::uint32_t server, ServerState to, double t) {
  ServerRec& sr = servers_[server];
  const double spent = t - std::max(sr.since, epoch_t0_);
  switch (sr.state) {
    case ServerState::kServing: sr.on_s += spent; --c.n_serving; break;
    case ServerState::kDraining: sr.on_s += spent; sr.drained = true; --c.n_draining; break;
    case ServerState::kOff: sr.off_s += spent; --c.n_off; break;
    case ServerState::kWaking: sr.waking_s += spent; --c.n_waking; break;
    case ServerState::kFailed: sr.failed_s += spent; --c.n_failed; break;
    case ServerState::kMaintDraining: sr.on_s += spent; sr.drained = true; --c.n_maint_draining; break;
    case ServerState::kMaintenance: (sr.training ? sr.train_s : sr.maint_s) += spent; --c.n_maint; break;
  }
  switch (to) {
    case ServerState::kServing: ++c.n_serving; break;
    case ServerState::kDraining: ++c.n_draining; break;
    case ServerState::kOff: ++c.n_off; break;
    case ServerState::kWaking: ++c.n_waking; break;
    case ServerState::kFailed: ++c.n_failed; break;
    case ServerState::kMaintDraining: ++c.n_maint_draining; break;
    case ServerState::kMaintenance: ++c.n_maint; break;
  }
  sr.state = to;
  sr.since = t;
  exclude_server(c, server, to != ServerState::kServing);
  if (c.batch_pool && dcs_[c.dc].setup.scheduler.batch_max_seqs > 0) {
    // Only serving servers take batch work; a draining one finishes the batch work it holds.
    const auto per = static_cast<std::uint32_t>(dcs_[c.dc].setup.replicas_per_server);
    const std::uint32_t first = c.first_replica + (server - c.first_server) * per;
    for (std::uint32_t k = 0; k < per; ++k) {
      Replica& r = replicas_[first + k];
      r.set_batch_feed(to == ServerState::kServing ? c.batch_pool.get() : nullptr);
      if (to == ServerState::kServing) {
        r.poke(t);
        c.heap.update(first + k - c.first_replica, r.next_event_time());
      }
    }
  }
  if (to == ServerState::kOff || to == ServerState::kMaintenance) {  // powered off: GPU memory, and the prefixes cached in it, are lost
    const Dc& dc = dcs_[c.dc];
    const auto per = static_cast<std::uint32_t>(dc.pool_of_server(server - dc.first_server).replicas_per_server);
    const std::uint32_t first = dc.first_replica + dc.first_replica_of_server(server - dc.first_server);
    for (std::uint32_t k = 0; k < per; ++k) replicas_[first + k].drop_cache();
  }
  if (to == ServerState::kServing && can_take(c))
    while (!c.parked.empty()) {  // requests waiting at the balancer while no server (prefill unit) of the cell served
      const auto [job, prefix] = c.parked.front();
      c.parked.pop_front();
      --c.outstanding;  // redeliver() counts it again
      redeliver(c, job, prefix, t);
    }
  if (to == ServerState::kServing)  // disaggregated: KV caches waiting while no decode unit served
    while (!c.kv_parked.empty() && deliver_kv(c, c.kv_parked.front(), t)) c.kv_parked.pop_front();
}

void ServingSystem::exclude_server(Cell& c, std::uint32_t server, bool ex) {
  const Dc& dc = dcs_[c.dc];
  const auto per = static_cast<std::uint32_t>(dc.pool_of_server(server - dc.first_server).replicas_per_server);
  const std::uint32_t first = dc.first_replica + dc.first_replica_of_server(server - dc.first_server) - c.first_replica;
  for (std::uint32_t k = 0; k < per; ++k) c.balancer->set_excluded(first + k, ex);
}

bool ServingSystem::server_empty(const Cell& c, std::uint32_t server) const {
  const Dc& dc = dcs_[c.dc];
  const auto per = static_cast<std::uint32_t>(dc.pool_of_server(server - dc.first_server).replicas_per_server);
  const std::uint32_t first = dc.first_replica + dc.first_replica_of_server(server - dc.first_server) - c.first_replica;
  for (std::uint32_t k = 0; k < per; ++k)
    if (c.balancer->outstanding(first + k) > 0 || replicas_[c.first_replica + first + k].batch_held() > 0) return false;
  return true;
}

void ServingSystem::on_wake(Cell& c) {
  const auto [t, server] = c.wakes[c.wake_next++];
  if (c.wake_next == c.wakes.size()) {
    c.wakes.clear();
    c.wake_next = 0;
  }
  c.next_wake_s = c.wakes.empty() ? IndexedHeap::kNever : c.wakes[c.wake_next].first;
  finish_due(c, t);
  // A wake cancelled by an outage (and perhaps begun again since) is stale.
  if (servers_[server].state == ServerState::kWaking && servers_[server].wake_at == t) set_state(c, server, ServerState::kServing, t);
}

double ServingSystem::next_wake_s() const {
  double t = IndexedHeap::kNever;
  for (const Cell& c : cells_) t = std::min(t, c.next_wake_s);
  return t;
}

void ServingSystem::complete_wakes(double t) {
  for (Cell& c : cells_)
    while (c.next_wake_s <= t) on_wake(c);
}

void ServingSystem::start_wake(Cell& c, std::uint32_t server, double t) {
  set_state(c, server, ServerState::kWaking, t);
  const Dc& dc = dcs_[c.dc];
  const PoolSetup& pool = dc.pool_of_server(server - dc.first_server);
  const double at = t + pool.ops.wake_s();
  servers_[server].wake_at = at;
  // Wakes begin at the cell's current time; every wake of a pool takes as long, but a disaggregated
  // datacenter's two pools may differ (their units load different weights): kept in time order.
  const std::pair<double, std::uint32_t> w{at, server};
  c.wakes.insert(std::upper_bound(c.wakes.begin() + static_cast<std::ptrdiff_t>(c.wake_next), c.wakes.end(), w), w);
  c.next_wake_s = c.wakes[c.wake_next].first;
  c.epoch.wake_ups += dc.pd ? static_cast<std::uint64_t>(pool.servers_per_unit) : 1;  // disaggregated: physical servers, as its states
  ++c.wake_ups;
}

void ServingSystem::redeliver(Cell& c, const Job& job, const PromptPrefix& prefix, double t) {
  ++c.outstanding;
  const bool pd = dcs_[c.dc].pd;
  Job again = job;
  if (pd) {  // disaggregated: back to the prefill pool (a failed decode unit's KV caches are lost)
    again.kv_ready = false;
    again.output_tokens = 1;  // the request's own count waits in c.prefilled
  }
  if (!can_take(c)) {
    c.parked.emplace_back(again, prefix);
    return;
  }
  const std::uint32_t local = pd ? pick_prefill(c) : c.balancer->pick();
  c.balancer->increment(local);
  if (pd) c.input_outstanding[local] += again.prompt_tokens;
  Replica& r = replicas_[c.first_replica + local];
  r.deliver(again, t, prefix);
  c.heap.update(local, r.next_event_time());
}

void ServingSystem::fail_server(Cell& c, std::uint32_t server, double t) {
  const Dc& dc = dcs_[c.dc];
  const auto per = static_cast<std::uint32_t>(dc.pool_of_server(server - dc.first_server).replicas_per_server);
  const std::uint32_t first = dc.first_replica + dc.first_replica_of_server(server - dc.first_server) - c.first_replica;
  const bool prefill = dc.pd && first < dc.prefill_replicas;
  std::vector<Job> held;
  for (std::uint32_t k = 0; k < per; ++k) {
    Replica& r = replicas_[c.first_replica + first + k];
    for (const Job& job : r.fail(t)) {
      if (job.batch) throw std::logic_error("a failed server held batch work");
      c.balancer->decrement(first + k);
      if (prefill) c.input_outstanding[first + k] -= job.prompt_tokens;
      --c.outstanding;
      held.push_back(job);
    }
    c.heap.update(first + k, r.next_event_time());
  }
  set_state(c, server, ServerState::kFailed, t);  // excluded from the balancer before the retries
  ++c.epoch.failures;
  ++c.failures;
  // Retried at the balancer, prompt and all (the prefill repeats; the answer restarts): in delivery order.
  std::sort(held.begin(), held.end(), [](const Job& a, const Job& b) {
    return a.delivered_s < b.delivered_s || (a.delivered_s == b.delivered_s && a.id < b.id);
  });
  for (const Job& job : held) redeliver(c, job, {}, t);
  c.epoch.retried += held.size();
  c.retried += held.size();
}

void ServingSystem::on_outage(Cell& c) {
  using Ev = Cell::OutageEvent;
  const Ev ev = c.outages[c.outage_next++];
  c.next_outage_s = c.outage_next < c.outages.size() ? c.outages[c.outage_next].t : IndexedHeap::kNever;
  const double t = ev.t;
  finish_due(c, t);
  ServerRec& sr = servers_[ev.server];
  switch (ev.kind) {
    case Ev::kFail:
      // Any server fails but one already failed or down for maintenance (its failure is not drawn).
      if (sr.state == ServerState::kFailed || sr.state == ServerState::kMaintenance) return;
      if (sr.state == ServerState::kServing || sr.state == ServerState::kDraining || sr.state == ServerState::kMaintDraining)
        fail_server(c, ev.server, t);
      else {  // off or waking: nothing held (a wake under way is cancelled)
        set_state(c, ev.server, ServerState::kFailed, t);
        ++c.epoch.failures;
        ++c.failures;
      }
      sr.repair_at = ev.until;
      return;
    case Ev::kRepair:
      if (sr.state != ServerState::kFailed || sr.repair_at != t) return;  // a failure that did not happen
      ++c.epoch.repairs;
      if (sr.maint_until > t)  // a maintenance window began meanwhile: down for its rest
        set_state(c, ev.server, ServerState::kMaintenance, t);
      else
        start_wake(c, ev.server, t);  // repaired: a cold start (boot and model load), then it serves
      return;
    case Ev::kMaintStart:
      if (sr.state != ServerState::kMaintenance) sr.training = ev.training;  // (down already: the window's kind stays)
      sr.maint_until = std::max(sr.maint_until, ev.until);
      if (sr.state == ServerState::kServing || sr.state == ServerState::kDraining) {
        set_state(c, ev.server, ServerState::kMaintDraining, t);  // drains first: no request is retried
        power_off_if_drained(c, ev.server, t);
      } else if (sr.state == ServerState::kOff || sr.state == ServerState::kWaking) {
        set_state(c, ev.server, ServerState::kMaintenance, t);
      }  // failed: down for the window once repaired; already in maintenance: the window extended
      return;
    case Ev::kMaintEnd:
      if (sr.maint_until != t) return;  // extended by an overlapping window
      if (sr.state == ServerState::kMaintenance)
        start_wake(c, ev.server, t);
      else if (sr.state == ServerState::kMaintDraining)  // never drained within its window: serves on
        set_state(c, ev.server, ServerState::kServing, t);
      sr.training = false;
      return;
  }
}

std::uint64_t ServingSystem::failures() const {
  std::uint64_t n = 0;
  for (const Cell& c : cells_) n += c.failures;
  return n;
}

std::uint64_t ServingSystem::wake_ups() const {
  std::uint64_t n = 0;
  for (const Cell& c : cells_) n += c.wake_ups;
  return n;
}

std::uint64_t ServingSystem::retried() const {
  std::uint64_t n = 0;
  for (const Cell& c : cells_) n += c.retried;
  return n;
}

void ServingSystem::scale_pool(std::uint32_t d, bool decode_pool, std::uint32_t target, double t) {
  const Dc& dc = dcs_[d];
  Cell& c = cells_[dc.first_cell];  // a disaggregated datacenter is one cell of both pools
  const std::uint32_t s0 = dc.first_server + (decode_pool ? dc.setup.servers : 0);
  const std::uint32_t s1 = decode_pool ? dc.first_server + dc.dc_servers() : dc.first_server + dc.setup.servers;
  std::uint32_t available = 0, serving = 0;
  for (std::uint32_t s = s0; s < s1; ++s) {
    const ServerState st = servers_[s].state;
    available += st == ServerState::kServing || st == ServerState::kWaking;
    serving += st == ServerState::kServing;
  }
  const auto find = [&](ServerState st, bool from_end) {
    for (std::uint32_t i = 0; i < s1 - s0; ++i) {
      const std::uint32_t s = from_end ? s1 - 1 - i : s0 + i;
      if (servers_[s].state == st) return s;
    }
    return s1;
  };
  for (; available < target; ++available) {  // a draining unit serves again at once; otherwise an off one wakes
    std::uint32_t s = find(ServerState::kDraining, false);
    if (s != s1) {
      set_state(c, s, ServerState::kServing, t);
      ++serving;
      continue;
    }
    s = find(ServerState::kOff, false);
    if (s == s1) break;
    start_wake(c, s, t);
    order_.update(dc.first_cell, cell_time(c));
  }
  // Down: drain serving units from the pool's end, never its last one (every request needs both pools).
  for (; available > target && serving > 1; --available, --serving) {
    const std::uint32_t s = find(ServerState::kServing, true);
    set_state(c, s, ServerState::kDraining, t);
    if (server_empty(c, s)) set_state(c, s, ServerState::kOff, t);
  }
}

void ServingSystem::scale(std::uint32_t d, std::uint32_t target, double t) {
  Dc& dc = dcs_[d];
  Cell* first = &cells_[dc.first_cell];
  Cell* last = first + dc.cells;
  std::uint32_t available = 0;
  for (Cell* c = first; c != last; ++c) available += c->n_serving + c->n_waking;
  if (target == available) return;
  // Pick the cell that keeps the datacenter's cells even: up, the fewest available; down, the most serving.
  const auto pick = [&](auto better, auto eligible) {
    Cell* best = nullptr;
    for (Cell* c = first; c != last; ++c)
      if (eligible(*c) && (!best || better(*c, *best))) best = c;
    return best;
  };
  const auto avail = [](const Cell& c) { return c.n_serving + c.n_waking; };
  const auto find = [&](const Cell& c, ServerState st, bool from_end) {
    for (std::uint32_t i = 0; i < c.servers; ++i) {
      const std::uint32_t s = c.first_server + (from_end ? c.servers - 1 - i : i);
      if (servers_[s].state == st) return s;
    }
    return c.first_server;  // not reached: the cell's count says one exists
  };
  for (; available < target; ++available) {
    // A draining server serves again at once; otherwise an off server wakes (boot and model load).
    Cell* c = pick([&](const Cell& a, const Cell& b) { return avail(a) < avail(b); },
                   [](const Cell& a) { return a.n_draining + a.n_off > 0; });
    if (!c) break;
    if (c->n_draining > 0) {
      set_state(*c, find(*c, ServerState::kDraining, false), ServerState::kServing, t);
      continue;
    }
    start_wake(*c, find(*c, ServerState::kOff, false), t);
    order_.update(static_cast<std::uint32_t>(c - cells_.data()), cell_time(*c));
  }
  for (; available > target; --available) {
    // Drain a serving server of the cell with the most, never a cell's last one: every cell keeps serving.
    Cell* c = pick([&](const Cell& a, const Cell& b) { return a.n_serving > b.n_serving; },
                   [](const Cell& a) { return a.n_serving > 1; });
    if (!c) break;
    const std::uint32_t s = find(*c, ServerState::kServing, true);
    set_state(*c, s, ServerState::kDraining, t);
    if (server_empty(*c, s)) set_state(*c, s, ServerState::kOff, t);
  }
}

void ServingSystem::switch_clock(std::uint32_t d, double t) {
  Dc& dc = dcs_[d];
  dc.clock_now = dc.clock_at(t);
  const model::StepModel* m = dc.setup.clock_models[dc.clock_now].get();
  const DecodeProfiles* prof = dc.clock_profiles[dc.clock_now].get();
  for (std::uint32_t k = dc.first_cell; k < dc.first_cell + dc.cells; ++k) {
    Cell& c = cells_[k];
    finish_due(c, t);
    for (std::uint32_t i = 0; i < c.replicas; ++i) {  // every replica, whatever its server's state
      Replica& r = replicas_[c.first_replica + i];
      r.set_step_model(m, prof, t);
      c.heap.update(i, r.next_event_time());
    }
    if (!windowed_) order_.update(k, cell_time(c));
  }
}

double ServingSystem::forecast_rate(std::uint32_t d, double t, double share) const {
  const double period = setup_.decision_period_s;
  const double wake = dcs_[d].setup.ops.wake_s();
  // Periods [t + k P, t + (k+1) P) for k = 0 .. ceil(wake / P): they cover [t, t + wake + P].
  const auto periods = static_cast<int>(std::ceil(wake / period - 1e-9)) + 1;
  double peak = 0;
  for (int k = 0; k < periods; ++k)
    peak = std::max(peak, setup_.forecast->requests(t + k * period, t + (k + 1) * period) / period);
  return peak * share;
}

void ServingSystem::operate(double t) {
  // Each datacenter's share of the requests routed since the last decision (predictive), else since the
  // start, else of the servers.
  std::uint64_t recent_total = 0, routed_total = 0;
  double servers_total = 0;
  for (const Dc& dc : dcs_) {
    recent_total += dc.routed - dc.routed_at_decision;
    routed_total += dc.routed;
    servers_total += dc.setup.servers;
  }
  if (setup_.forecast) setup_.forecast->forget_before(t);
  for (std::uint32_t d = 0; d < dcs_.size(); ++d)
    if (!dcs_[d].setup.clock_models.empty() && dcs_[d].clock_at(t) != dcs_[d].clock_now) switch_clock(d, t);
  for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
    Dc& dc = dcs_[d];
    const std::uint64_t recent = dc.routed - dc.routed_at_decision;
    dc.routed_at_decision = dc.routed;
    const operations::ServerOps& ops = dc.setup.ops;  // dc.autoscaler holds the same policy
    if (!ops.enabled()) continue;
    for (std::uint32_t k = dc.first_cell; k < dc.first_cell + dc.cells; ++k) finish_due(cells_[k], t);
    operations::Observation o;
    o.t = t;
    const auto hour = [&](double at) { return std::fmod(std::fmod((at + dc.setup.local_offset_s) / 3600.0, 24.0) + 24.0, 24.0); };
    o.local_hour = hour(t);
    o.local_hour_ahead = hour(t + ops.wake_s());
    o.servers = dc.setup.servers;
    for (std::uint32_t k = dc.first_cell; k < dc.first_cell + dc.cells; ++k) o.available += cells_[k].n_serving + cells_[k].n_waking;
    o.replicas_per_server = static_cast<std::uint32_t>(dc.setup.replicas_per_server);
    if (dc.pd) {  // disaggregated (schedule only): each pool by its own shares, in whole units of its own
      const std::uint32_t s0 = dc.first_server, s1 = s0 + dc.setup.servers, s2 = s0 + dc.dc_servers();
      const auto available = [&](std::uint32_t from, std::uint32_t to) {
        std::uint32_t n = 0;
        for (std::uint32_t s = from; s < to; ++s) n += servers_[s].state == ServerState::kServing || servers_[s].state == ServerState::kWaking;
        return n;
      };
      o.available = available(s0, s1);
      scale_pool(d, false, dc.autoscaler.decide(o), t);
      operations::Observation od = o;
      od.local_hour_ahead = hour(t + dc.decode.ops.wake_s());
      od.servers = dc.decode.servers;
      od.available = available(s1, s2);
      od.replicas_per_server = static_cast<std::uint32_t>(dc.decode.replicas_per_server);
      scale_pool(d, true, dc.decode_autoscaler.decide(od), t);
      continue;
    }
    const DcState st = dc_state(d);
    o.load_requests = static_cast<double>(st.outstanding + st.inflight);
    if (ops.autoscaling.policy == operations::Policy::kPredictive) {
      if (!setup_.forecast) throw std::logic_error("predictive autoscaling without a demand forecast");
      const double share = dcs_.size() == 1 ? 1.0
                           : recent_total > 0 ? static_cast<double>(recent) / recent_total
                           : routed_total > 0 ? static_cast<double>(dc.routed) / routed_total
                                              : dc.setup.servers / servers_total;
      o.forecast_requests_per_s = forecast_rate(d, t, share);
    }
    scale(d, dc.autoscaler.decide(o), t);
  }
  batch_tick(t);
}

EpochReport ServingSystem::close_epoch(double t0, double t1) {
  EpochReport rep;
  rep.t0 = t0;
  rep.t1 = t1;
  rep.dcs.resize(dcs_.size());
  rep.cells.resize(cells_.size());
  rep.server_it_energy_j.assign(total_servers_, 0.0);
  rep.server_off.assign(total_servers_, 0);
  if (setup_.server_detail) {
    rep.server_busy_gpu_s.assign(total_servers_, 0.0);
    rep.server_running.assign(total_servers_, 0);
    rep.server_queued.assign(total_servers_, 0);
  }
  const auto close = [&](std::uint32_t k) { close_cell(cells_[k], t0, t1, rep); };
  if (workers_)
    workers_->run(static_cast<std::uint32_t>(cells_.size()), close);
  else
    for (std::uint32_t k = 0; k < cells_.size(); ++k) close(k);
  for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
    Dc& dc = dcs_[d];
    DcEpoch& e = rep.dcs[d];
    e.rejected = dc.rejected;
    dc.rejected = 0;
    for (std::uint32_t k = dc.first_cell; k < dc.first_cell + dc.cells; ++k) {
      e += cells_[k].epoch;
      rep.cells[k] = cells_[k].epoch;
      cells_[k].epoch = DcEpoch{};
    }
  }
  epoch_t0_ = t1;
  if (has_units_) expand_units(rep);
  return rep;
}

// ---- Deferrable batch work --------------------------------------------------------------------

void ServingSystem::batch_tick(double t) {
  if (setup_.batch.empty()) return;
  for (std::uint32_t i = 0; i < setup_.batch.size(); ++i) {
    const operations::BatchInstance& b = setup_.batch[i];
    batch_open_[i] = b.open_at(t) ? 1 : 0;
    if (batch_released_[i] || b.release_s > t) continue;
    batch_released_[i] = 1;
    const Dc& dc = dcs_[b.dc];
    std::vector<double> weights;
    for (std::uint32_t k = dc.first_cell; k < dc.first_cell + dc.cells; ++k) weights.push_back(cells_[k].replicas);
    const std::vector<std::uint64_t> share = operations::split_proportionally(b.requests, weights);
    for (std::uint32_t k = 0; k < dc.cells; ++k) cells_[dc.first_cell + k].batch_pool->add(i, share[k]);
  }
  for (std::uint32_t k = 0; k < cells_.size(); ++k) {
    Cell& c = cells_[k];
    if (!c.batch_pool->ready() || dcs_[c.dc].setup.scheduler.batch_max_seqs == 0) continue;
    finish_due(c, t);
    poke_batch(c, t);
    if (!windowed_) order_.update(k, cell_time(c));
  }
}

void ServingSystem::poke_batch(Cell& c, double t) {
  for (std::uint32_t k = 0; k < c.replicas; ++k) {
    Replica& r = replicas_[c.first_replica + k];
    if (servers_[replica_server(c.first_replica + k)].state != ServerState::kServing) continue;
    r.poke(t);
    c.heap.update(k, r.next_event_time());
  }
}

void ServingSystem::on_batch_complete(Cell& c, std::uint32_t replica, const Job& job, const JobTimes& times) {
  operations::BatchOutcome& o = c.batch_done[job.tag];
  ++o.requests_done;
  o.prompt_tokens_done += job.prompt_tokens;
  o.output_tokens_done += job.output_tokens;
  o.last_done_s = std::max(o.last_done_s, times.done_s);
  ++c.epoch.batch_requests_done;
  c.epoch.batch_prompt_tokens_done += job.prompt_tokens;
  c.epoch.batch_output_tokens_done += job.output_tokens;
  power_off_if_drained(c, replica_server(replica), times.done_s);
}

std::vector<operations::BatchOutcome> ServingSystem::batch_outcomes() const {
  std::vector<operations::BatchOutcome> out(setup_.batch.size());
  for (const Cell& c : cells_)
    for (std::size_t i = 0; i < c.batch_done.size(); ++i) out[i] += c.batch_done[i];
  return out;
}

void ServingSystem::expand_units(EpochReport& rep) const {
  const bool detail = !rep.server_busy_gpu_s.empty();
  EpochReport out;
  out.server_it_energy_j.assign(physical_servers_, 0.0);
  out.server_off.assign(physical_servers_, 0);
  if (detail) {
    out.server_busy_gpu_s.assign(physical_servers_, 0.0);
    out.server_running.assign(physical_servers_, 0);
    out.server_queued.assign(physical_servers_, 0);
  }
  for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
    const Dc& dc = dcs_[d];
    const auto n = static_cast<std::uint32_t>(dc.setup.servers_per_unit);
    std::uint32_t to = dc.first_physical;
    for (std::uint32_t i = 0; i < dc.dc_servers(); ++i) {
      const std::uint32_t from = dc.first_server + i;
      const auto ni = static_cast<std::uint32_t>(dc.pool_of_server(i).servers_per_unit);
      for (std::uint32_t j = 0; j < ni; ++j, ++to) {
        out.server_it_energy_j[to] = rep.server_it_energy_j[from] / ni;
        out.server_off[to] = rep.server_off[from];
        if (detail) {  // the unit's busy GPU-seconds shared out; its requests shown on its first server
          out.server_busy_gpu_s[to] = rep.server_busy_gpu_s[from] / ni;
          out.server_running[to] = j == 0 ? rep.server_running[from] : 0;
          out.server_queued[to] = j == 0 ? rep.server_queued[from] : 0;
        }
      }
    }
    if (n == 1 || dc.pd) continue;
    auto scale = [n](DcEpoch& e) {
      e.servers_serving *= n;
      e.servers_idle *= n;
      e.servers_draining *= n;
      e.servers_waking *= n;
      e.servers_off *= n;
      e.wake_ups *= n;
      e.serving_s *= n;
      e.draining_s *= n;
      e.waking_s *= n;
      e.off_s *= n;
      e.servers_failed *= n;
      e.servers_maintenance *= n;
      e.failed_s *= n;
      e.maintenance_s *= n;
      e.servers_training *= n;
      e.training_s *= n;
      e.training_off_s *= n;
    };
    scale(rep.dcs[d]);
    for (std::uint32_t k = dc.first_cell; k < dc.first_cell + dc.cells; ++k) scale(rep.cells[k]);
  }
  rep.server_it_energy_j = std::move(out.server_it_energy_j);
  rep.server_off = std::move(out.server_off);
  rep.server_busy_gpu_s = std::move(out.server_busy_gpu_s);
  rep.server_running = std::move(out.server_running);
  rep.server_queued = std::move(out.server_queued);
}

// ---- Totals -------------------------------------------------------------------------------------

std::uint64_t ServingSystem::completed() const {
  std::uint64_t n = 0;
  for (const Cell& c : cells_) n += c.completed;
  return n;
}

std::uint64_t ServingSystem::dropped() const {
  std::uint64_t n = 0;
  for (const Cell& c : cells_) n += c.dropped;
  return n;
}

std::uint64_t ServingSystem::events() const {
  std::uint64_t n = arrivals_;
  for (const Cell& c : cells_) n += c.events;
  return n;
}

std::uint64_t ServingSystem::steps_executed() const {
  std::uint64_t n = 0;
  for (const auto& r : replicas_) n += r.steps_executed();
  return n;
}

std::uint64_t ServingSystem::preemptions() const {
  std::uint64_t n = 0;
  for (const auto& r : replicas_) n += r.preemptions();
  return n;
}

}  // namespace chatdc::serving
