// Pure core: one LLM replica (a tensor-parallel group of GPUs) serving requests with continuous
// batching, exact to the iteration.
//
// Semantics (vLLM-like; README "Serving model"):
//  * Requests wait FCFS. At each step boundary the scheduler admits waiting requests while the batch
//    has room (max_batch_size sequences), the step's token budget allows (max_tokens_per_step) and the
//    KV cache has room.
//  * prefill-first (default): admitted prompts are prefilled in a prefill-only step; decodes pause.
//    decode-first (TGI-like): a new prompt does not interrupt decoding; it is admitted when a sequence
//    completes, when the batch is empty, or after waiting decode_first_max_wait_steps decode steps.
//    chunked prefill (Sarathi-style): every step decodes all running sequences and fills the rest of
//    the token budget with prompt chunks.
//  * The prefill step produces the first token. Each decode step produces one token per sequence.
//  * KV policy "preempt": admission needs the prompt's KV (plus a watermark); decodes grow the KV one
//    token per step; when it is full the most recently admitted sequence is preempted and later
//    recomputed (prompt + tokens so far). "reserve": admission reserves prompt + output tokens, so no
//    preemption ever happens.
//  * Prefix caching (prefix_block_tokens > 0; PrefixCache): an admitted prompt whose first blocks are
//    cached prefills only the rest (its chunks attend the cached tokens as earlier context), and the
//    blocks of finished and preempted sequences stay cached in otherwise free KV until memory is
//    needed. Live KV counts shared blocks once; admission and preemption test live KV as before, and
//    cached blocks are evicted lazily, at the next cache operation (exactly what eager eviction would
//    have removed by then).
//
// Between events the batch is constant, so a run of decode steps is advanced in closed form
// (RunMath). Setting max_run_steps = 1 executes every iteration explicitly instead; both give the
// same timestamps (tests check this).
#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/quad_heap.hpp"
#include "model/step_model.hpp"
#include "model/step_work.hpp"
#include "serving/prefix_cache.hpp"
#include "serving/run_math.hpp"
#include "workload/request_source.hpp"

namespace chatdc::serving {

enum class KvPolicy { kPreempt, kReserve };

struct SchedulerConfig {
  std::uint32_t max_batch_size = 256;
  std::uint32_t max_tokens_per_step = 8192;
  bool chunked_prefill = false;
  bool decode_first = false;                     // without chunked prefill only
  std::uint64_t decode_first_max_wait_steps = 20;
  KvPolicy kv_policy = KvPolicy::kPreempt;
  double kv_watermark_fraction = 0.01;
  double kv_capacity_tokens = 0;
  std::uint64_t max_run_steps = 0;  // 0 = unlimited (closed-form runs); 1 = one iteration at a time
  // Prefix caching: tokens per KV block (0 = off), and the block hashes trace prefixes refer to.
  std::uint32_t prefix_block_tokens = 0;
  const workload::HashChains* hash_chains = nullptr;
  // Process a prefill step's end when it starts, and start the decode run that follows, when only a
  // request arriving during the step could change what follows (it then ends the run at once): one
  // event fewer per prompt, the same timestamps. First-token and completion callbacks at the step's
  // end then come at its start, with their true times: for callers that apply them in time order.
  bool merge_steps = false;
  // Deferrable batch work (workload.batch): batch sequences are admitted only while no chat request
  // waits and the batch (chat and batch sequences) holds fewer than this many (0: none); they come from
  // a BatchFeed and are preempted first (KV cache full, or a chat request needing a slot or KV).
  std::uint32_t batch_max_seqs = 0;
  // Batch prompts (or chunks) join a step only while its time stays within this (s; 0: no limit), so
  // chat's decodes never wait longer than that for batch prefills.
  double batch_step_limit_s = 0;
  // On-disk KV cache tier (DeepSeek's 3FS context cache; README "On-disk KV cache"): the first
  // floor(disk_hit_share x prompt) tokens of each chat prompt are found on disk (below its last token).
  // What the in-memory prefix cache does not already hold of them is read instead of computed: the step
  // that admits it takes disk_latency_s + tokens x disk_s_per_token longer (the read, not overlapped).
  double disk_hit_share = 0;
  double disk_s_per_token = 0;  // KV bytes per token / the replica's read bandwidth
  double disk_latency_s = 0;
};

/// A request as a replica sees it.
struct Job {
  std::uint64_t id = 0;
  double sent_s = 0;       // left the user
  double delivered_s = 0;  // reached this replica
  std::uint32_t prompt_tokens = 0;
  std::uint32_t output_tokens = 1;
  std::uint32_t tag = 0;   // opaque to the replica (the caller's bookkeeping)
  // Prefill/decode disaggregation: the prompt's KV cache arrives with the request (computed by a prefill
  // replica), so the replica admits it straight into the decode batch (its KV counted as held) and runs
  // output_tokens decode steps; the first token is the end of the first of them. A preempted one loses
  // its KV and is recomputed (prompt and tokens so far), as any preempted sequence.
  bool kv_ready = false;
  bool batch = false;      // deferrable batch work: lower priority than chat, preempted first
};

struct JobTimes {
  double admitted_s = -1;     // first admitted into a step
  double first_token_s = -1;  // end of the step that produced the first output token
  double done_s = -1;         // end of the step that produced the last output token
  std::uint32_t preemptions = 0;
  std::uint32_t cached_tokens = 0;  // of the prompt, found in the prefix cache when first admitted
};

/// Prefix-cache statistics of a replica (tokens).
struct PrefixStats {
  double queried_tokens = 0;  // prompt tokens looked up at admissions (readmissions after preemption too)
  double hit_tokens = 0;      // of them found cached: prefill tokens not computed
  double evicted_tokens = 0;  // cached tokens evicted to make room
  double disk_hit_tokens = 0; // read from the on-disk tier (not in memory): prefill tokens not computed
  PrefixStats& operator+=(const PrefixStats& o) {
    queried_tokens += o.queried_tokens;
    hit_tokens += o.hit_tokens;
    evicted_tokens += o.evicted_tokens;
    disk_hit_tokens += o.disk_hit_tokens;
    return *this;
  }
};

/// Where a replica takes deferrable batch requests from when it has room (a balancer cell's pool).
class BatchFeed {
 public:
  virtual ~BatchFeed() = default;
  /// The next batch request for a replica with room, or false when there is none (or none may run now).
  virtual bool take(Job& job) = 0;
};

class ReplicaListener {
 public:
  virtual ~ReplicaListener() = default;
  virtual void on_first_token(std::uint32_t replica, const Job& job, double t) = 0;
  virtual void on_complete(std::uint32_t replica, const Job& job, const JobTimes& times) = 0;
};

/// Decode profiles for batch sizes 0..max_batch_size, shared by the replicas of one pool, and the
/// work (FLOPs, HBM bytes) of steps when a work model is given (otherwise the work is zero).
class DecodeProfiles {
 public:
  DecodeProfiles(const model::StepModel& model, std::uint32_t max_batch, const model::StepWorkModel* work = nullptr);
  const model::DecodeProfile& at(std::uint32_t batch) const { return profiles_[batch]; }
  const model::DecodeWork& work_at(std::uint32_t batch) const { return work_[batch]; }
  model::StepWork work(const model::StepShape& shape) const { return work_model_ ? work_model_->work(shape) : model::StepWork{}; }

 private:
  std::vector<model::DecodeProfile> profiles_;
  std::vector<model::DecodeWork> work_;
  std::optional<model::StepWorkModel> work_model_;
};

class Replica {
 public:
  static constexpr double kNever = 1e300;

  Replica(std::uint32_t id, const model::StepModel& model, const DecodeProfiles& profiles,
          const SchedulerConfig& config, ReplicaListener* listener);

  /// False when a request could never be served here (prompt + output exceed the KV capacity).
  bool can_ever_fit(std::uint32_t prompt_tokens, std::uint32_t output_tokens) const;
  /// A request reaches the replica at `now` (now >= every earlier call's time).
  void deliver(const Job& job, double now, const PromptPrefix& prefix = {});
  /// Time of the replica's next internal event (end of the current step or run), kNever when idle.
  double next_event_time() const { return activity_ == Activity::kIdle ? kNever : act_end_; }
  /// Process the event at next_event_time().
  void on_event();
  /// Bring the busy-time and energy accounting up to t (t <= next_event_time()).
  void accrue(double t);
  /// Busy seconds, step energy (J, all GPUs of the replica) and step work (FLOPs and HBM bytes, all
  /// GPUs) accrued since the last take.
  double take_busy_s();
  double take_energy_j();
  model::StepWork take_work();

  /// Power (W, all GPUs of the replica) of the current step or run, on average; idle_w when idle.
  double current_power_w(double idle_w) const;
  std::uint32_t id() const { return id_; }
  void set_merge_steps(bool on) { cfg_.merge_steps = on; }
  /// Batch work: the feed the replica takes batch requests from (null: it takes none, as when its server
  /// drains; what it holds it still finishes).
  void set_batch_feed(BatchFeed* feed) { feed_ = feed; }
  /// New batch work may be available at `now` (a release, an opened gate, a wake): an idle replica
  /// schedules, a decode run ends at its next step boundary if the replica has room for batch work.
  void poke(double now);
  /// The GPUs' clock changes (hourly power caps): from the replica's first step boundary at or after `now`
  /// (now >= the last event), steps run under `model` with its decode `profiles` (both outlive the
  /// replica's use of them): every step beginning at or after `now` runs at the new clock. Idle: at once. A
  /// step in progress finishes at the old clock; a decode run is cut at that boundary (as poke() does) and the
  /// next run goes at the new clock; a step or run beginning at `now` (or a run after a merged prefill step
  /// still in progress) is retimed at the new clock. Busy time and energy stay exact (each step at its clock).
  void set_step_model(const model::StepModel* model, const DecodeProfiles* profiles, double now);
  const model::StepModel& step_model() const { return *model_; }
  /// Batch sequences admitted (prefilling or decoding) and waiting (preempted) in this replica.
  std::uint32_t batch_running() const { return batch_running_; }
  std::uint32_t batch_held() const { return batch_running_ + static_cast<std::uint32_t>(batch_waiting_.size()); }
  /// Step energy (J, all GPUs of the replica) attributed to batch work since the last take: each step's
  /// energy split by its share of tokens (prefill tokens and decoding sequences) that are batch work.
  double take_batch_energy_j() {
    const double e = batch_energy_j_;
    batch_energy_j_ = 0;
    return e;
  }
  std::uint32_t waiting() const { return static_cast<std::uint32_t>(waiting_.size()); }
  std::uint32_t running() const { return batch_ + static_cast<std::uint32_t>(prefilling_.size()); }
  /// running() as of time t (next_event_time() >= t >= the last event): during a merged prefill
  /// step, the sequences before its end.
  std::uint32_t running_at(double t) const { return lead_ && t < act_start_ ? lead_running_ : running(); }
  /// KV-cache tokens held at time t (next_event_time() >= t >= the last event): the admitted
  /// sequences' prompts and the tokens decoded so far, counting the steps of the current run done by t
  /// (reserve policy: the prompt + output reserved for every admitted sequence).
  double kv_tokens_at(double t) const;
  /// Prefix caching: unreferenced cached KV tokens at time t (as kv_tokens_at), and the statistics
  /// since the last take.
  double cached_tokens_at(double t) const;
  PrefixStats take_prefix_stats();
  bool prefix_caching() const { return cache_ != nullptr; }
  /// The replica's server fails at `now` (now <= next_event_time()): the work of the current step or run
  /// is lost (its busy time and energy up to now stay accounted), every request it holds (waiting,
  /// prefilling, decoding; chat and batch) is handed back, in delivery order (ties by id), and the replica
  /// is left idle and empty, its prefix cache lost. Statistics (steps, preemptions) are kept.
  std::vector<Job> fail(double now);
  /// Empties the prefix cache of an idle replica (its server powers off); no-op without caching.
  void drop_cache() {
    if (cache_) cache_->evict_to(0);
  }
  /// Checks the prefix cache's bookkeeping and that live + cached KV fit the capacity (tests).
  std::string check_kv() const;
  std::uint64_t steps_executed() const { return steps_; }
  std::uint64_t preemptions() const { return preemptions_; }

 private:
  enum class Activity { kIdle, kStep, kRun };
  enum class State : std::uint8_t { kFree, kWaiting, kPrefilling, kDecoding };
  // Two whole cache lines: a completion touches one sequence of many, long after it was last seen.
  struct alignas(64) Seq {
    Job job;
    JobTimes times;
    State state = State::kFree;
    std::uint32_t generated = 0;  // output tokens produced (when decoding: at join time)
    std::uint32_t target = 0;     // tokens to (re)compute in prefill: prompt + generated
    std::uint32_t prefilled = 0;  // of target, already in the KV cache
    std::uint32_t chunk = 0;      // tokens of target computed by the current step
    std::uint32_t held = kNoHolding;  // prefix caching: its Holding in holdings_, if it has one
    std::uint64_t join_step = 0;  // decode counter when it joined the decode batch
    std::uint64_t finish_step = 0;
    std::uint64_t admit_order = 0;
    std::uint64_t deadline_step = 0;  // decode-first: admitted by this decode counter at the latest
  };
  static_assert(sizeof(Seq) == 128, "a sequence fills exactly two cache lines");
  struct HeapEntry {
    std::uint64_t finish_step, admit_order;  // admit_order is unique, so the order is total
    std::uint32_t slot;
    struct Earlier {
      bool operator()(const HeapEntry& a, const HeapEntry& b) const {
        return a.finish_step < b.finish_step || (a.finish_step == b.finish_step && a.admit_order < b.admit_order);
      }
    };
  };

  static constexpr std::uint32_t kNoHolding = 0xFFFFFFFFu;
  std::uint32_t new_slot();
  /// A new slot holding `job`, waiting for its prompt (its prefix for the cache).
  std::uint32_t waiting_slot(const Job& job, const PromptPrefix& prefix);
  /// Prefix caching: the Holding of the sequence in `slot`, made (with its path) when first needed.
  Holding& holding(std::uint32_t slot);
  void schedule(double now);
  /// Whether s fits, with `hit` of its tokens cached (`pinned` of them not referenced now).
  bool kv_admissible(const Seq& s, const PrefixCache::Match& m) const;
  void admit(std::uint32_t slot, double now, const PrefixCache::Match& m);
  /// The cached prefix of the waiting sequence in `slot` (nothing without prefix caching).
  PrefixCache::Match lookup(std::uint32_t slot);
  /// Tokens of the sequence in `slot` found on disk beyond the in-memory match `m` (on-disk KV tier).
  std::uint32_t disk_extra(std::uint32_t slot, const PrefixCache::Match& m) const;
  /// KV tokens held by the admitted sequences, shared cache blocks counted once (reserve: reserved).
  double live_kv() const {
    const double own = cfg_.kv_policy == KvPolicy::kReserve ? reserved_total_ : decode_kv() + prefill_reserved_;
    return cache_ ? own - shared_total_ + cache_->referenced() : own;
  }
  /// Before a cache operation: evicts what live KV needs. Live KV only grows between cache operations
  /// (every decrease is a completion, a preemption or a published duplicate), so its peak since the
  /// last one is its value now, and this evicts exactly what eager eviction would have.
  void settle() { cache_->evict_to(cfg_.kv_capacity_tokens - live_kv()); }
  /// The sequence in `slot` stops holding KV (completion, preemption): its blocks stay cached.
  void release(std::uint32_t slot, double kv_tokens, bool preempted);
  /// The current clock's cost of a step of `shape` (with the on-disk tier's read of the step's admissions).
  model::StepCost step_cost_of(const model::StepShape& shape) const;
  void start_step(const model::StepShape& shape, double now);
  void start_run(double now);
  void try_merge(double now);
  void finish_step(double now);
  void finish_run(double now);
  void end_prefill(std::uint32_t slot, double now);
  void join_decode(std::uint32_t slot);
  /// A kv_ready sequence admitted at a step boundary: straight into the decode batch.
  void admit_ready(std::uint32_t slot, double now, const PrefixCache::Match& m);
  /// kv_ready sequences whose first decode step has ended by now get their first token (end of step
  /// `join_step`, the run's steps timed from act_start_ when `run_first` is the run's first counter).
  void stamp_first_tokens(double now, bool run, std::uint64_t run_first);
  void complete(std::uint32_t slot, double now);
  void complete_due(double now);
  void preempt_one();
  struct Joined;
  void preempt_slot(const Joined& e);
  /// Preempts the most recently joined decoding batch sequence; false when there is none.
  bool preempt_batch();
  /// Batch work: whether one more batch sequence may be admitted now.
  bool batch_room() const {
    return running() < cfg_.batch_max_seqs && running() < cfg_.max_batch_size && waiting_.empty();
  }
  /// The next batch sequence to admit (a preempted one first, then one from the feed), or kNoSlot.
  std::uint32_t next_batch_slot();
  /// Whether adding a chunk of `chunk` tokens of the sequence in `slot` keeps the step within the batch limit.
  bool batch_chunk_fits(const model::StepShape& shape, std::uint32_t slot, std::uint32_t chunk) const;
  /// Batch share of the tokens of a step (chunks of its prefills, decodes when it decodes).
  double batch_share(const model::StepShape& shape) const;
  /// Decode-first: may waiting prompts be admitted at this boundary?
  bool prefill_allowed() const;
  /// The run step index of the first boundary at or after `now` (current run), and its time.
  std::uint64_t boundary_at_or_after(double now, double& at_s) const;
  /// Energy and work of the current activity from its start (a merged step's included) to t.
  void progress_at(double t, double& energy, model::StepWork& work) const;
  void run_progress_at(double t, double& energy, model::StepWork& work) const;
  const HeapEntry& top_valid();
  void prefetch_slot(std::uint32_t slot) const {
    __builtin_prefetch(&slots_[slot]);
    __builtin_prefetch(reinterpret_cast<const char*>(&slots_[slot]) + 64);
  }
  double decode_context() const { return dec_base_ + static_cast<double>(batch_) * static_cast<double>(step_counter_ + 1); }
  double decode_kv() const { return dec_base_ + static_cast<double>(batch_) * static_cast<double>(step_counter_); }

  std::uint32_t id_;
  const model::StepModel* model_;
  const DecodeProfiles* profiles_;
  // A clock change waiting for the current step or run's end (null: none).
  const model::StepModel* pending_model_ = nullptr;
  const DecodeProfiles* pending_profiles_ = nullptr;
  SchedulerConfig cfg_;
  ReplicaListener* listener_;

  std::vector<Seq> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::deque<std::uint32_t> waiting_;
  std::vector<std::uint32_t> prefilling_;  // admitted, prompt not finished (FCFS)
  std::vector<std::uint32_t> step_prefills_;  // sequences prefilled by the current step
  std::vector<std::uint32_t> first_pending_;  // kv_ready sequences decoding, their first token not yet out
  QuadHeap<HeapEntry, HeapEntry::Earlier> finish_heap_;
  // Decoding sequences in the order they joined, the last one the first to preempt. An entry whose
  // finish step has passed is a completed sequence (a preempted one leaves the stack as it goes), so
  // telling live from stale entries needs no look at the sequences.
  struct Joined {
    std::uint64_t finish_step;
    std::uint32_t slot;
  };
  std::vector<Joined> admit_stack_;

  // Decode batch aggregates: KV before the step at counter S is dec_base_ + B*S.
  std::uint32_t batch_ = 0;
  double dec_base_ = 0;
  std::uint64_t step_counter_ = 0;  // decode steps executed (prefill-only steps do not count)
  double prefill_reserved_ = 0;     // KV held by admitted, not yet decoding sequences
  double reserved_total_ = 0;       // reserve policy: sum of prompt + output of admitted sequences
  std::uint64_t admit_counter_ = 0;
  std::uint64_t stale_entries_ = 0;  // finish_heap_ entries of preempted sequences
  bool freed_ = false;  // a sequence completed at the current step boundary

  // Current activity.
  Activity activity_ = Activity::kIdle;
  double act_start_ = 0, act_end_ = 0;
  model::StepShape step_shape_{};
  model::StepCost step_cost_{};
  model::StepWork step_work_{};
  bool step_has_decodes_ = false;
  RunMath run_;
  std::uint64_t run_steps_ = 0;
  double run_c0_ = 0;  // context of the run's first step
  double acc_t_ = 0, acc_e_ = 0;  // accounting progress inside the activity
  model::StepWork acc_w_{};
  // A merged prefill step before the current run: [lead_start_, lead_end_ = act_start_).
  bool lead_ = false;
  double lead_start_ = 0, lead_energy_j_ = 0, lead_kv_ = 0;
  model::StepWork lead_work_{};
  std::uint32_t lead_running_ = 0;

  double busy_s_ = 0, energy_j_ = 0;
  model::StepWork work_{};

  // Prefix caching (null when off).
  std::unique_ptr<PrefixCache> cache_;
  std::vector<PromptPrefix> prefixes_;  // by slot
  // Holdings of the sequences admitted or looked up (not every waiting one: at scale most are waiting).
  std::vector<Holding> holdings_;
  std::vector<std::uint32_t> free_holdings_;
  double shared_total_ = 0;        // tokens of the sequences' KV held in cache blocks they reference
  double lead_cached_ = 0;         // cached_tokens_at() before a merged step
  PrefixStats prefix_stats_;
  double evicted_taken_ = 0;  // cache_->evicted() at the last take
  std::uint64_t steps_ = 0, preemptions_ = 0;

  // Deferrable batch work.
  static constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;
  BatchFeed* feed_ = nullptr;
  std::deque<std::uint32_t> batch_waiting_;  // preempted batch sequences (readmitted first)
  std::vector<Joined> batch_stack_;          // decoding batch sequences, the last joined preempted first
  std::uint32_t batch_running_ = 0, batch_decoding_ = 0;
  double batch_prefill_tokens_ = 0;  // of the current step's chunks
  double step_disk_tokens_ = 0;      // read from the on-disk tier by the current step's admissions
  double act_batch_share_ = 0;       // of the current activity's energy
  double batch_energy_j_ = 0;
};

}  // namespace chatdc::serving
