// Engine (SimGrid): the fine-grained engine. Every request is a SimGrid message from its user region
// to the datacenter's frontend (which picks the replica) and on to the replica; every answer (first
// token, last token) is a message back. Each replica is an actor that waits for a request or for its
// next step boundary, and sets its server's power level (pstate) whenever its activity changes.
// The serving decisions are the same pure code as the day engine's (ServingSystem, Replica), so the
// two engines differ only in what SimGrid adds: real transfers over the platform's links, event-level
// power states and actor scheduling. Used to check the day engine (README "Fidelity").
//
// Autoscaling is the day engine's: the sampler closes each period, then ServingSystem::operate() decides
// and wakes or drains servers; the sampler also completes each wake at its time. The balancer skips
// servers that are not serving; a draining server powers off inside the event that completes its last
// request. A server's host follows its power state: the power level of its state (off and waking
// included), and turned off (SimGrid's wattage_off) once its last answer has left the datacenter, which
// ends its replica actors; they start again when it begins to wake.
//
// Disaggregated datacenters: a prefill replica's end hands the KV cache to this driver, which sends it as a
// communication of the cache's bytes to the decode replica (capped at one GPU's NIC share). Deployment
// units spanning servers: one actor per unit, on its first host; every host of the unit at its share.
#include <simgrid/Exception.hpp>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <limits>
#include <memory>
#include <unordered_map>

#include "engine/run_context.hpp"

namespace chatdc::engine {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();
constexpr double kFirstTokenBytes = 256;  // one streamed chunk with its framing

struct RequestMsg {
  workload::RequestSpec spec;
  // Prefill/decode disaggregation: instead, a KV cache from a prefill replica on server `from`, with the
  // job that decodes it.
  bool kv = false;
  serving::Job job;
  std::uint32_t from = 0;
};
struct AnswerMsg {
  bool first = false;
  serving::Job job;
  serving::JobTimes times;
  std::uint32_t replica = 0, dc = 0;
  double late_s = 0;  // sent this long after the token was produced (see on_first_token)
};

class FineDriver final : public serving::ResponseSink {
 public:
  FineDriver(RunContext& ctx, std::uint64_t* activities) : ctx_(ctx), activities_(activities) {
    const auto& sys = *ctx.sys;
    for (std::uint32_t d = 0; d < sys.dc_count(); ++d) dc_mb_.push_back(sg4::Mailbox::by_name(fmt::format("dc-{}", d)));
    // A server of the serving model may be a deployment unit of several hosts: its replica's actor runs on
    // the first, and every host of the unit follows its power state (its power shared out evenly).
    servers_.resize(sys.unit_server_count());
    for (std::uint32_t r = 0; r < sys.replica_count(); ++r) {
      replica_mb_.push_back(sg4::Mailbox::by_name(fmt::format("replica-{}", r)));
      const std::uint32_t server = sys.replica_server(r);
      const std::uint32_t d = sys.replica_dc(r);
      Server& sv = servers_[server];
      if (sv.hosts.empty()) {
        const auto [first, count] = sys.physical_servers(server);
        for (std::uint32_t h = 0; h < count; ++h) sv.hosts.push_back(ctx.plat.dc_servers[d][first + h - sys.first_server(d)]);
        sv.dc = d;
      }
      replica_host_.push_back(sv.hosts.front());
      sv.replicas.push_back(r);
      if (sys.setup().dcs[d].ops.enabled() && (operated_.empty() || operated_.back() != server)) operated_.push_back(server);
    }
    for (std::uint32_t d = 0; d < sys.dc_count(); ++d) servers_[sys.first_unit_server(d)].frontend = true;
    for (std::size_t u = 0; u < ctx.plat.user_hosts.size(); ++u)
      user_mb_.push_back(sg4::Mailbox::by_name(fmt::format("users-{}", u)));
    bytes_per_token_ = ctx.s.wan_bytes_per_token;
    bytes_per_request_ = ctx.s.wan_bytes_per_request;
    mutex_ = sg4::Mutex::create();
    wake_ = sg4::ConditionVariable::create();
  }

  void start() {
    const auto& plat = ctx_.plat;
    sg4::Actor::create("users", plat.user_hosts.front(), [this] { guard([this] { users(); }); });
    for (std::uint32_t d = 0; d < dc_mb_.size(); ++d)
      sg4::Actor::create(fmt::format("frontend-{}", d), plat.dc_servers[d].front(), [this, d] { guard([this, d] { frontend(d); }); });
    for (std::uint32_t r = 0; r < replica_mb_.size(); ++r) spawn_replica(r);
    for (std::uint32_t u = 0; u < user_mb_.size(); ++u)
      sg4::Actor::create(fmt::format("receiver-{}", u), plat.user_hosts[u], [this, u] { guard([this, u] { receiver(u); }); });
    sg4::Actor::create("sampler", plat.user_hosts.front(), [this] { guard([this] { sampler(); }); });
  }

  std::exception_ptr failure;

  // Answers leave from the replica actor that produced them.
  // A decode replica of a disaggregated datacenter learns of a first token produced inside a run of decode
  // steps at its next event, after the token's time t: the answer then carries how late it left, and the
  // user's time is its arrival less that (the network's time is SimGrid's, its departure the token's).
  void on_first_token(std::uint32_t replica, const serving::Job& job, double t) override {
    ++servers_[ctx_.sys->replica_server(replica)].answers_out;
    const double late = std::max(0.0, sg4::Engine::get_clock() - t);
    user_mb_[job.tag]->put_init(new AnswerMsg{true, job, {}, replica, ctx_.sys->replica_dc(replica), late}, kFirstTokenBytes)->detach();
    ++*activities_;
  }
  void on_complete(std::uint32_t replica, const serving::Job& job, const serving::JobTimes& times) override {
    const double bytes = bytes_per_request_ / 2 + job.output_tokens * bytes_per_token_;
    ++servers_[ctx_.sys->replica_server(replica)].answers_out;
    user_mb_[job.tag]->put_init(new AnswerMsg{false, job, times, replica, ctx_.sys->replica_dc(replica), 0}, bytes)->detach();
    ++*activities_;
  }
  // The KV cache leaves from the prefill replica's actor, over the platform's route between the two
  // servers, at most at the day engine's rate (one GPU's share of its server's NIC): SimGrid adds the
  // route's latency and the sharing of its links with other transfers.
  void on_kv_ready(std::uint32_t prefill, std::uint32_t decode, const serving::Job& job, double bytes, double) override {
    const std::uint32_t g = ctx_.sys->replica_server(prefill);
    ++servers_[g].answers_out;
    auto* msg = new RequestMsg;
    msg->kv = true;
    msg->job = job;
    msg->from = g;
    replica_mb_[decode]->put_init(msg, bytes)->set_rate(ctx_.a.system.dcs[ctx_.sys->replica_dc(prefill)].kv_transfer_bytes_per_s)->detach();
    ++*activities_;
  }

 private:
  template <class F>
  void guard(F body) {
    try {
      body();
    } catch (const simgrid::ForcefulKillException&) {
      throw;  // its host was turned off (a replica actor of a server powered off): it must end
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }

  // Sends each request at its send time, from its user region's endpoint.
  void users() {
    auto& src = *ctx_.wl.source;
    const double end = ctx_.s.run.duration_s;
    std::unique_lock lock(*mutex_);
    for (;;) {
      const double now = sg4::Engine::get_clock();
      const double t = src.peek_time();
      if (t > now) {
        // Wait for the next request; answers can bring follow-up turns earlier (wake_).
        wake_->wait_until(lock, std::min(t, end));
        ++*activities_;
        if (sg4::Engine::get_clock() >= end) return;
        continue;
      }
      if (t >= end) return;
      const workload::RequestSpec r = src.pop();
      const auto dc = ctx_.sys->admit(r);
      if (!dc) continue;
      sg4::this_actor::set_host(ctx_.plat.user_hosts[r.user_region]);
      dc_mb_[*dc]->put_init(new RequestMsg{r, false, {}, 0}, bytes_per_request_ / 2 + r.prompt_tokens * bytes_per_token_)->detach();
      ++*activities_;
    }
  }

  // Picks the replica when the request reaches the datacenter, and forwards it.
  void frontend(std::uint32_t d) {
    dc_mb_[d]->set_receiver(sg4::Actor::self());
    for (;;) {
      auto* msg = dc_mb_[d]->get<RequestMsg>();
      ++*activities_;
      const auto rid = ctx_.sys->assign(msg->spec, d);
      if (!rid) {
        delete msg;
        continue;
      }
      replica_mb_[*rid]->put_init(msg, bytes_per_request_ / 2 + msg->spec.prompt_tokens * bytes_per_token_)->detach();
      ++*activities_;
    }
  }

  // One replica: requests become schedulable request_overhead after they arrive, KV caches (a decode
  // replica of a disaggregated datacenter) as they arrive; between events the replica's own next step
  // boundary is the timeout.
  void replica(std::uint32_t rid) {
    auto& sys = *ctx_.sys;
    serving::Replica& rep = sys.replica(rid);
    const double overhead = ctx_.a.system.dcs[sys.replica_dc(rid)].request_overhead_s;
    replica_mb_[rid]->set_receiver(sg4::Actor::self());
    struct Pending {
      double at;  // schedulable at
      std::unique_ptr<RequestMsg> msg;
    };
    std::deque<Pending> pending;  // by time
    RequestMsg* msg = nullptr;
    sg4::CommPtr in = replica_mb_[rid]->get_async<RequestMsg>(&msg);
    for (;;) {
      const double next_event = rep.next_event_time() >= serving::Replica::kNever ? kNever : rep.next_event_time();
      const double next_ready = pending.empty() ? kNever : pending.front().at;
      const double next = std::min(next_event, next_ready);
      const double now = sg4::Engine::get_clock();
      const ssize_t idx = next == kNever ? sg4::Activity::wait_any({in}) : sg4::Activity::wait_any_for({in}, std::max(0.0, next - now));
      ++*activities_;
      if (idx == 0) {
        const double at = sg4::Engine::get_clock() + (msg->kv ? 0.0 : overhead);
        if (msg->kv) arrived_from(msg->from);
        auto pos = std::upper_bound(pending.begin(), pending.end(), at, [](double a, const Pending& p) { return a < p.at; });
        pending.insert(pos, Pending{at, std::unique_ptr<RequestMsg>(msg)});
        msg = nullptr;
        in = replica_mb_[rid]->get_async<RequestMsg>(&msg);
        continue;
      }
      if (next_ready <= next_event) {
        const RequestMsg& m = *pending.front().msg;
        if (m.kv)
          rep.deliver(m.job, next_ready);
        else
          rep.deliver(sys.job_on(rid, m.spec, next_ready), next_ready, serving::ServingSystem::prefix_of(m.spec));
        pending.pop_front();
      } else {
        rep.on_event();
      }
      set_power(rid);
    }
  }

  // Something server g sent (an answer, a KV cache) has arrived: a server powered off whose last message
  // that was may now be turned off.
  void arrived_from(std::uint32_t g) {
    if (--servers_[g].answers_out == 0 && ctx_.sys->server_state(g) != serving::ServerState::kServing) sync_server(g);
  }

  void spawn_replica(std::uint32_t r) {
    sg4::Actor::create(fmt::format("replica-{}", r), replica_host_[r], [this, r] { guard([this, r] { replica(r); }); });
  }

  // The power level of the server's state (serving or draining: its replicas' activities), on each host of it.
  void set_power(std::uint32_t rid) {
    const auto& sys = *ctx_.sys;
    const std::uint32_t g = sys.replica_server(rid);
    const Server& sv = servers_[g];
    const int level = ctx_.plat.levels[sv.dc].level_for(sys.server_power_w(g) / static_cast<double>(sv.hosts.size()));
    for (sg4::Host* h : sv.hosts) h->set_pstate(level);
  }

  // Brings server g's host to its power state (from an actor on another host: a user endpoint's). Off:
  // turned off once none of its answers is still on its way (its replica actors end; a frontend's host
  // stays on, at the off power level). On: turned on if it was off, its replica actors started again.
  void sync_server(std::uint32_t g) {
    const auto& sys = *ctx_.sys;
    Server& sv = servers_[g];
    const bool off = sys.server_powered_off(g);
    if (off && sv.answers_out == 0 && !sv.frontend) {
      for (sg4::Host* h : sv.hosts)
        if (h->is_on()) h->turn_off();
      return;
    }
    if (!off && !sv.hosts.front()->is_on()) {
      for (sg4::Host* h : sv.hosts) h->turn_on();
      for (const std::uint32_t r : sv.replicas) spawn_replica(r);
    }
    if (sv.hosts.front()->is_on()) set_power(sv.replicas.front());
  }
  void sync_operated() {
    for (const std::uint32_t g : operated_) sync_server(g);
  }

  // User-side times come from the answers' arrival.
  void receiver(std::uint32_t u) {
    user_mb_[u]->set_receiver(sg4::Actor::self());
    std::unordered_map<std::uint64_t, double> first_at;
    for (;;) {
      auto* msg = user_mb_[u]->get<AnswerMsg>();
      ++*activities_;
      const double now = sg4::Engine::get_clock();
      arrived_from(ctx_.sys->replica_server(msg->replica));
      if (msg->first) {
        first_at[msg->job.id] = now - msg->late_s;
      } else {
        serving::RequestRecord r;
        r.id = msg->job.id;
        r.user_region = u;
        r.dc = msg->dc;
        r.replica = msg->replica;
        r.sent_s = msg->job.sent_s;
        r.delivered_s = msg->job.delivered_s;
        r.admitted_s = msg->times.admitted_s;
        const auto it = first_at.find(r.id);
        r.first_token_s = it != first_at.end() ? it->second : now;
        if (it != first_at.end()) first_at.erase(it);
        r.done_s = now;
        r.prompt_tokens = msg->job.prompt_tokens;
        r.output_tokens = msg->job.output_tokens;
        r.preemptions = msg->times.preemptions;
        r.cached_tokens = msg->times.cached_tokens;
        ctx_.rec->on_done(r);
        ctx_.wl.source->on_response(r.id, now);
        wake_->notify_one();
      }
      delete msg;
    }
  }

  // Closes each sample period: the model's epoch report beside SimGrid's energy; then autoscaling
  // decides, as in the day engine. Wakes complete at their own time, within the period.
  void sampler() {
    auto& sys = *ctx_.sys;
    const double dt = ctx_.s.run.sample_period_s, end = ctx_.s.run.duration_s;
    for (long k = 0;; ++k) {
      const double t0 = k * dt;
      if (t0 >= end) return;
      const double t1 = std::min(end, (k + 1) * dt);
      for (double w; (w = sys.next_wake_s()) <= t1;) {
        sg4::this_actor::sleep_until(w);
        ++*activities_;
        sys.complete_wakes(w);
        sync_operated();
      }
      sg4::this_actor::sleep_until(t1);
      ++*activities_;
      const serving::EpochReport rep = sys.close_epoch(t0, t1);
      ctx_.record_epoch(rep);
      sys.operate(t1);  // autoscaling decides at the period's end
      sync_operated();
      ctx_.progress(t1);
    }
  }

  RunContext& ctx_;
  std::uint64_t* activities_;
  std::vector<sg4::Mailbox*> dc_mb_, replica_mb_, user_mb_;
  std::vector<sg4::Host*> replica_host_;
  // Servers (global index): their host and replicas, answers sent and not yet received, and whether the
  // datacenter's frontend runs on the host (never turned off).
  struct Server {
    std::vector<sg4::Host*> hosts;  // a unit's, its replica's host first
    std::uint32_t dc = 0;
    std::vector<std::uint32_t> replicas;
    std::uint64_t answers_out = 0;
    bool frontend = false;
  };
  std::vector<Server> servers_;
  std::vector<std::uint32_t> operated_;  // servers of datacenters with autoscaling
  sg4::MutexPtr mutex_;
  sg4::ConditionVariablePtr wake_;
  double bytes_per_token_ = 4, bytes_per_request_ = 2000;
};

}  // namespace

void run_fine(RunContext& ctx, std::uint64_t* activities) {
  FineDriver driver(ctx, activities);
  ctx.sys->set_response_sink(&driver);
  driver.start();
  ctx.engine->run_until(ctx.s.run.duration_s);
  // Actors still waiting for messages at the end are expected: no teardown warning for them.
  xbt_log_control_set("ker_engine.thres:error");
  if (driver.failure) std::rethrow_exception(driver.failure);
}

}  // namespace chatdc::engine
