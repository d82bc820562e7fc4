#include "serving/system.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace chatdc::serving {

ServingSystem::ServingSystem(SystemSetup setup, workload::RequestSource& source, Router& router,
                             RequestObserver& observer)
    : setup_(std::move(setup)), source_(source), router_(router), observer_(observer) {
  const auto n_dcs = static_cast<std::uint32_t>(setup_.dcs.size());
  std::uint32_t n_replicas = 0;
  for (const auto& p : setup_.dcs) n_replicas += p.servers * static_cast<std::uint32_t>(p.replicas_per_server);
  replicas_.reserve(n_replicas);
  dcs_.resize(n_dcs);
  for (std::uint32_t d = 0; d < n_dcs; ++d) {
    Dc& dc = dcs_[d];
    dc.setup = setup_.dcs[d];
    dc.profiles = std::make_unique<DecodeProfiles>(*dc.setup.step_model, dc.setup.scheduler.max_batch_size);
    dc.first_replica = static_cast<std::uint32_t>(replicas_.size());
    dc.first_server = total_servers_;
    const std::uint32_t n = dc.setup.servers * static_cast<std::uint32_t>(dc.setup.replicas_per_server);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto id = static_cast<std::uint32_t>(replicas_.size());
      replicas_.emplace_back(id, *dc.setup.step_model, *dc.profiles, dc.setup.scheduler, static_cast<ReplicaListener*>(this));
      replica_dc_.push_back(d);
    }
    dc.balancer = std::make_unique<LeastOutstanding>(n);
    dc.state.replicas = n;
    total_servers_ += dc.setup.servers;
    server_dc_.insert(server_dc_.end(), dc.setup.servers, d);
  }
  pipes_.resize(static_cast<std::size_t>(setup_.user_regions) * n_dcs);
  pipe_base_ = n_replicas;
  source_id_ = pipe_base_ + static_cast<std::uint32_t>(pipes_.size());
  heap_.resize(source_id_ + 1);
  heap_.update(source_id_, source_.peek_time());
}

void ServingSystem::advance_to(double t) {
  for (;;) {
    const double now = heap_.top_time();
    if (now > t) break;
    const std::uint32_t id = heap_.top();
    ++events_;
    if (id < pipe_base_) {
      const std::uint64_t done = completed_;
      replicas_[id].on_event();
      heap_.update(id, replicas_[id].next_event_time());
      // A completion may schedule a follow-up turn: the source's next time can move earlier.
      if (completed_ != done) heap_.update(source_id_, source_.peek_time());
    } else if (id < source_id_) {
      on_delivery(id - pipe_base_);
    } else {
      on_arrival(source_.pop());
      heap_.update(source_id_, source_.peek_time());
    }
  }
}

std::optional<std::uint32_t> ServingSystem::admit(const workload::RequestSpec& r) {
  ++arrived_;
  const std::uint32_t d = router_.route(r, *this);
  Dc& dc = dcs_[d];
  ++dc.state.routed;
  if (static_cast<std::uint64_t>(r.prompt_tokens) + r.output_tokens > setup_.max_context_tokens ||
      !replicas_[dc.first_replica].can_ever_fit(r.prompt_tokens, r.output_tokens)) {
    ++rejected_;
    ++dc.epoch.rejected;
    observer_.on_rejected(r, d);
    source_.on_dropped(r.id);
    return std::nullopt;
  }
  ++dc.state.inflight;
  return d;
}

std::optional<std::uint32_t> ServingSystem::assign(const workload::RequestSpec& r, std::uint32_t d) {
  Dc& dc = dcs_[d];
  const std::uint32_t local = dc.balancer->pick();
  --dc.state.inflight;
  if (dc.setup.max_waiting_per_replica > 0 &&
      replicas_[dc.first_replica + local].waiting() >= dc.setup.max_waiting_per_replica) {
    ++dropped_;
    ++dc.epoch.dropped;
    observer_.on_dropped(r, d);
    source_.on_dropped(r.id);
    return std::nullopt;
  }
  dc.balancer->increment(local);
  ++dc.state.outstanding;
  ++dc.epoch.arrivals;
  return dc.first_replica + local;
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

void ServingSystem::on_arrival(const workload::RequestSpec& r) {
  const auto d = admit(r);
  if (!d) return;
  const std::uint32_t pipe = r.user_region * dc_count() + *d;
  auto& q = pipes_[pipe];
  q.push_back({r, r.time_s + setup_.one_way_s[r.user_region][*d] + dcs_[*d].setup.request_overhead_s});
  if (q.size() == 1) heap_.update(pipe_base_ + pipe, q.front().deliver_s);
}

void ServingSystem::on_delivery(std::uint32_t pipe) {
  auto& q = pipes_[pipe];
  const InFlight f = q.front();
  q.pop_front();
  heap_.update(pipe_base_ + pipe, q.empty() ? IndexedHeap::kNever : q.front().deliver_s);
  const auto rid = assign(f.spec, pipe % dc_count());
  if (!rid) return;
  replicas_[*rid].deliver(job_for(f.spec, f.deliver_s), f.deliver_s);
  heap_.update(*rid, replicas_[*rid].next_event_time());
}

std::uint32_t ServingSystem::replica_server(std::uint32_t id) const {
  const Dc& dc = dcs_[replica_dc_[id]];
  return dc.first_server + (id - dc.first_replica) / static_cast<std::uint32_t>(dc.setup.replicas_per_server);
}

double ServingSystem::server_power_w(std::uint32_t server) const {
  const std::uint32_t d = server_dc_[server];
  const Dc& dc = dcs_[d];
  const PoolSetup& p = dc.setup;
  const int tp = p.step_model->gpus();
  const double idle = p.step_model->idle_power_w();
  double gpu_w = (p.gpus_per_server - p.replicas_per_server * tp) * idle;
  const std::uint32_t first = dc.first_replica + (server - dc.first_server) * static_cast<std::uint32_t>(p.replicas_per_server);
  for (int k = 0; k < p.replicas_per_server; ++k) gpu_w += replicas_[first + k].current_power_w(tp * idle);
  return p.server_power.server_energy_j(gpu_w, 1.0);
}

void ServingSystem::on_first_token(std::uint32_t replica, const Job& job, double t) {
  if (sink_) sink_->on_first_token(replica, job, t);
  if (!setup_.track_ttft_signal) return;
  DcState& st = dcs_[replica_dc_[replica]].state;
  const double sample = t - job.delivered_s;
  if (st.server_ttft_time_s < 0) {
    st.server_ttft_s = sample;
  } else {
    const double w = std::exp2(-(t - st.server_ttft_time_s) / setup_.signal_half_life_s);
    st.server_ttft_s = w * st.server_ttft_s + (1 - w) * sample;
  }
  st.server_ttft_time_s = t;
}

void ServingSystem::on_complete(std::uint32_t replica, const Job& job, const JobTimes& times) {
  const std::uint32_t d = replica_dc_[replica];
  Dc& dc = dcs_[d];
  dc.balancer->decrement(replica - dc.first_replica);
  --dc.state.outstanding;
  ++dc.epoch.completions;
  dc.epoch.output_tokens += job.output_tokens;
  ++completed_;
  if (sink_) {
    sink_->on_complete(replica, job, times);
    return;
  }
  const double back = setup_.one_way_s[job.tag][d];
  RequestRecord r;
  r.id = job.id;
  r.user_region = job.tag;
  r.dc = d;
  r.replica = replica;
  r.sent_s = job.sent_s;
  r.delivered_s = job.delivered_s;
  r.admitted_s = times.admitted_s;
  r.first_token_s = times.first_token_s + back;
  r.done_s = times.done_s + back;
  r.prompt_tokens = job.prompt_tokens;
  r.output_tokens = job.output_tokens;
  r.preemptions = times.preemptions;
  observer_.on_done(r);
  source_.on_response(job.id, r.done_s);
}

EpochReport ServingSystem::close_epoch(double t0, double t1) {
  const double dt = t1 - t0;
  EpochReport rep;
  rep.t0 = t0;
  rep.t1 = t1;
  rep.dcs.resize(dcs_.size());
  rep.server_it_energy_j.assign(total_servers_, 0.0);
  for (std::uint32_t d = 0; d < dcs_.size(); ++d) {
    Dc& dc = dcs_[d];
    DcEpoch& e = dc.epoch;
    const PoolSetup& p = dc.setup;
    const int tp = p.step_model->gpus();
    const double idle_gpu_w = p.step_model->idle_power_w();
    const int spare_gpus = p.gpus_per_server - p.replicas_per_server * tp;
    for (std::uint32_t s = 0; s < p.servers; ++s) {
      double gpu_j = spare_gpus * idle_gpu_w * dt;
      for (int k = 0; k < p.replicas_per_server; ++k) {
        Replica& r = replicas_[dc.first_replica + s * p.replicas_per_server + k];
        r.accrue(t1);
        const double busy = r.take_busy_s();
        gpu_j += r.take_energy_j() + tp * idle_gpu_w * std::max(0.0, dt - busy);
        e.busy_gpu_s += busy * tp;
        e.queued += r.waiting();
        e.running += r.running();
        e.kv_tokens += r.kv_tokens_at(t1);
      }
      const double it_j = p.server_power.server_energy_j(gpu_j, dt);
      e.gpu_energy_j += gpu_j;
      e.it_energy_j += it_j;
      rep.server_it_energy_j[dc.first_server + s] = it_j;
    }
    rep.dcs[d] = e;
    e = DcEpoch{};
  }
  return rep;
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
