// Pure core: deferrable batch work (workload.batch). A batch job is a volume of requests (batch
// inference, such as a 24-hour batch API) released at a time, due by a deadline, placed in one
// datacenter. Its requests wait in the pools of the datacenter's balancer cells (split in proportion to
// the cells' replicas); a replica with room takes them (serving::BatchFeed) only when no chat request
// waits, into the batch slots and KV cache chat leaves free, and they are preempted first: chat keeps
// its priority, and pays only for sharing the steps (a step's time grows with its batch).
//
// A pool hands out the requests of the open job with the earliest deadline first (ties: the job
// released first). A job is open once released, during its allowed hours (BatchInstance::open);
// after its deadline it stays open, so that a late job still finishes, and is counted as missed.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "serving/replica.hpp"

namespace chatdc::operations {

/// One job's work released once (a job recurs every day of the run: one instance per day).
struct BatchInstance {
  std::string name;           // the job's name
  std::uint32_t day = 0;      // day of the run (0 first)
  std::uint32_t dc = 0;       // datacenter it is placed in
  std::uint64_t requests = 0;
  std::uint32_t prompt_tokens = 1, output_tokens = 1;  // per request
  double release_s = 0, deadline_s = 0;                // run time
  // Run-time intervals [from, to) in which it may run (sorted); it is always open after the deadline.
  std::vector<std::pair<double, double>> open;
  bool open_at(double t) const;
};

/// Ids of batch requests: kBatchIdBase + instance << 32 + sequence (chat request ids stay below it).
inline constexpr std::uint64_t kBatchIdBase = std::uint64_t{1} << 62;

/// A balancer cell's share of the released batch work.
class BatchPool final : public serving::BatchFeed {
 public:
  explicit BatchPool(const std::vector<BatchInstance>* instances, const std::vector<std::uint8_t>* open)
      : instances_(instances), open_(open) {}
  /// Adds `requests` requests of instance `inst` (released).
  void add(std::uint32_t inst, std::uint64_t requests);
  bool take(serving::Job& job) override;
  /// Requests not yet taken, of every instance / of instance `inst`.
  std::uint64_t left() const;
  std::uint64_t left(std::uint32_t inst) const;
  /// Whether an open instance has requests left.
  bool ready() const;

 private:
  struct Entry {
    std::uint32_t inst = 0;
    std::uint64_t left = 0, next = 0;
  };
  const std::vector<BatchInstance>* instances_;
  const std::vector<std::uint8_t>* open_;  // by instance, set between events by the serving system
  std::vector<Entry> entries_;             // by deadline, then release, then instance
};

/// Requests of `total` for each of `weights.size()` parts, in proportion to the weights, summing to
/// total exactly (cumulative rounding).
std::vector<std::uint64_t> split_proportionally(std::uint64_t total, const std::vector<double>& weights);

/// What became of one instance (summed over the cells).
struct BatchOutcome {
  std::uint64_t requests_done = 0;
  double prompt_tokens_done = 0, output_tokens_done = 0;
  double last_done_s = -1;  // when its last request completed (-1: none yet)
  BatchOutcome& operator+=(const BatchOutcome& o) {
    requests_done += o.requests_done;
    prompt_tokens_done += o.prompt_tokens_done;
    output_tokens_done += o.output_tokens_done;
    last_done_s = std::max(last_done_s, o.last_done_s);
    return *this;
  }
};

/// An instance's status at the end of a run of `simulated_s`: "met" (done by its deadline), "missed"
/// (done late, or not done by a deadline within the run) or "open" (not done, due after the run's end).
const char* batch_status(const BatchInstance& b, const BatchOutcome& o, double simulated_s);

}  // namespace chatdc::operations
