// Pure core: operating a datacenter's servers through the day. Autoscaling policies decide how many
// servers should be available (serving, or waking up to serve); the serving system applies the
// decision (sim/serving/system.*): it wakes servers that are off (boot and model load: they draw
// power and serve nothing until their wake completes), and drains servers to scale down (a draining
// server takes no new request, finishes what it holds, then powers off). No request is lost to
// scaling: requests are only ever sent to serving servers, and a drained server powers off empty.
//
//   schedule:  target = ceil(max(f[h(t)], f[h(t + wake)]) x servers)   f: share of servers on by local
//              hour; the look-ahead by the wake delay has the hour's servers serving when it starts
//   reactive:  load L = requests outstanding (delivered, not completed) + in flight to the datacenter,
//              per available replica; the target T requests per replica;
//              |L/T - 1| <= tolerance:  no change (hysteresis)
//              otherwise:  recommendation = ceil(available replicas x L/T / replicas per server)
//              scale-up at once (it pays the wake delay); scale-down to the largest recommendation of
//              the last cooldown_s (Kubernetes' horizontal pod autoscaler: tolerance 0.1, scale-down
//              stabilization window 300 s), so a dip shorter than the window does not power servers off
//   predictive: R = the demand the datacenter expects (requests/s), known ahead (the scenario's diurnal
//              curve, or the trace read ahead): the largest mean rate of the sample periods from now to
//              now + the wake delay + one period, so servers woken now serve in time and none is drained
//              that the demand before the next wake completes would need;
//              target = ceil(R x (1 + headroom) / (target_requests_per_s_per_replica x replicas per server))
//   all:       clamped to [min_servers, max_servers]
// Decisions are taken at the end of every sample period, with time and observed state as arguments.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

namespace chatdc::operations {

enum class Policy { kNone, kSchedule, kReactive, kPredictive };

/// Parses none | schedule | reactive | predictive (throws std::invalid_argument otherwise).
Policy parse_policy(const std::string& name);
const char* policy_name(Policy p);

struct AutoscalingConfig {
  Policy policy = Policy::kNone;
  std::array<double, 24> schedule_fraction{};  // schedule: share of the servers on, by local hour
  // schedule on a disaggregated datacenter: the decode pool's own shares (else schedule_fraction for both pools)
  bool has_decode_schedule = false;
  std::array<double, 24> decode_schedule_fraction{};
  double target_load_per_replica = 0;          // reactive: outstanding requests per available replica
  double tolerance = 0.1;                       // reactive: no change while |load/target - 1| <= tolerance
  double cooldown_s = 300;                      // reactive: scale down to the largest recommendation of this window
  double target_requests_per_s_per_replica = 0;  // predictive: the demand one replica should carry
  double headroom = 0.2;                         // predictive: extra capacity above the forecast demand
  std::uint32_t min_servers = 1;
  std::uint32_t max_servers = 0;  // 0: every server of the datacenter
};

/// What a datacenter's servers do, and how long a wake takes (sim/serving/system.* applies them).
struct ServerOps {
  AutoscalingConfig autoscaling;
  double off_power_w = 0;   // IT power of a server that is off (BMC and power supplies on standby)
  double wake_power_w = 0;  // IT power while waking (booting, loading the model)
  double training_power_w = 0;  // IT power while reserved for training (operations.training)
  bool train_while_off = false;  // operations.training.while_off: a server powered off trains instead, at training power
  double boot_s = 0;        // power-on to the operating system and the serving engine started
  double load_s = 0;        // model weights from storage into GPU memory (bytes / bandwidth)
  double wake_s() const { return boot_s + load_s; }
  bool enabled() const { return autoscaling.policy != Policy::kNone; }
  bool outages = false;  // failures or maintenance windows take servers down (operations/failures.hpp)
  /// Whether servers leave the serving state at all (autoscaling, failures or maintenance): then they draw
  /// off power while down, and a period's power may fall below idle.
  bool power_states() const { return enabled() || outages; }
};

/// A datacenter as the policy sees it at a decision.
struct Observation {
  double t = 0;
  double local_hour = 0;        // local hour of day at t
  double local_hour_ahead = 0;  // local hour of day at t + the wake delay
  std::uint32_t servers = 0;    // in the datacenter
  std::uint32_t available = 0;  // serving or waking
  std::uint32_t replicas_per_server = 1;
  double load_requests = 0;     // outstanding + in flight
  double forecast_requests_per_s = 0;  // predictive: the demand expected at the datacenter over the horizon
};

/// A datacenter's autoscaler: the policy and the recommendations it remembers (reactive's window).
class Autoscaler {
 public:
  explicit Autoscaler(AutoscalingConfig c = {}) : c_(c) {}
  const AutoscalingConfig& config() const { return c_; }
  /// Servers that should be available (serving or waking) after a decision at obs.t (times increasing).
  std::uint32_t decide(const Observation& obs);

 private:
  AutoscalingConfig c_;
  std::deque<std::pair<double, std::uint32_t>> recent_;  // reactive: (time, recommendation), last cooldown_s
};

}  // namespace chatdc::operations
