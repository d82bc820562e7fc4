#include "operations/autoscaling.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace chatdc::operations {

Policy parse_policy(const std::string& name) {
  if (name == "none") return Policy::kNone;
  if (name == "schedule") return Policy::kSchedule;
  if (name == "reactive") return Policy::kReactive;
  if (name == "predictive") return Policy::kPredictive;
  throw std::invalid_argument("unknown autoscaling policy " + name);
}

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::kSchedule: return "schedule";
    case Policy::kReactive: return "reactive";
    case Policy::kPredictive: return "predictive";
    default: return "none";
  }
}

namespace {
std::uint32_t ceil_servers(double x) {
  // 1e-9 guards against 0.5 x 4 servers coming out as 2.0000000001 and rounding up to 3
  return static_cast<std::uint32_t>(std::max(0.0, std::ceil(x - 1e-9)));
}
int hour_index(double h) { return static_cast<int>(std::floor(h)) % 24; }
}  // namespace

std::uint32_t Autoscaler::decide(const Observation& o) {
  const AutoscalingConfig& c = c_;
  const std::uint32_t hi = c.max_servers == 0 ? o.servers : std::min(c.max_servers, o.servers);
  const std::uint32_t lo = std::min(c.min_servers, hi);
  std::uint32_t want = o.available;
  switch (c.policy) {
    case Policy::kNone:
      return o.servers;
    case Policy::kSchedule: {
      const double f = std::max(c.schedule_fraction[hour_index(o.local_hour)], c.schedule_fraction[hour_index(o.local_hour_ahead)]);
      want = ceil_servers(f * o.servers);
      break;
    }
    case Policy::kReactive: {
      const double replicas = static_cast<double>(o.available) * o.replicas_per_server;
      const double ratio = replicas > 0 ? o.load_requests / (replicas * c.target_load_per_replica) : (o.load_requests > 0 ? 2.0 : 0.0);
      if (replicas > 0 && std::abs(ratio - 1.0) <= c.tolerance) break;
      want = ceil_servers(o.load_requests / (c.target_load_per_replica * o.replicas_per_server));
      break;
    }
    case Policy::kPredictive:
      want = ceil_servers(o.forecast_requests_per_s * (1 + c.headroom) /
                          (c.target_requests_per_s_per_replica * o.replicas_per_server));
      break;
  }
  want = std::clamp(want, lo, hi);
  if (c.policy == Policy::kReactive) {
    // Down only to the largest recommendation of the window (the current one included).
    while (!recent_.empty() && recent_.front().first <= o.t - c.cooldown_s) recent_.pop_front();
    while (!recent_.empty() && recent_.back().second <= want) recent_.pop_back();  // a monotone queue of maxima
    recent_.emplace_back(o.t, want);
    if (want < o.available) want = std::min(o.available, recent_.front().second);
  }
  return want;
}

}  // namespace chatdc::operations
