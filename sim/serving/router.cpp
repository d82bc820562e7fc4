#include "serving/router.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace chatdc::serving {

namespace {
double load_per_replica(const DcState& s) { return static_cast<double>(s.inflight + s.outstanding) / s.replicas; }
}  // namespace

std::uint32_t NearestRouter::route(const workload::RequestSpec& r, const ServingSystem& sys) {
  std::uint32_t best = 0;
  for (std::uint32_t d = 1; d < sys.dc_count(); ++d)
    if (sys.one_way_s(r.user_region, d) < sys.one_way_s(r.user_region, best)) best = d;
  return best;
}

std::uint32_t LeastLoadedRouter::route(const workload::RequestSpec& r, const ServingSystem& sys) {
  std::uint32_t best = 0;
  double best_load = 0;
  for (std::uint32_t d = 0; d < sys.dc_count(); ++d) {
    const double load = load_per_replica(sys.dc_state(d));
    if (d == 0 || load < best_load ||
        (load == best_load && sys.one_way_s(r.user_region, d) < sys.one_way_s(r.user_region, best))) {
      best = d;
      best_load = load;
    }
  }
  return best;
}

CostRouter::CostRouter(Signal signal, std::vector<RouteInfo> info, double max_load_per_replica)
    : signal_(signal), info_(std::move(info)), max_load_(max_load_per_replica) {}

std::uint32_t CostRouter::route(const workload::RequestSpec& r, const ServingSystem& sys) {
  const double t = r.time_s;
  std::uint32_t best = sys.dc_count();
  double best_value = 0;
  for (std::uint32_t d = 0; d < sys.dc_count(); ++d) {
    if (max_load_ > 0 && load_per_replica(sys.dc_state(d)) >= max_load_) continue;
    const RouteInfo& i = info_[d];
    const double value = (signal_ == Signal::kPrice ? i.price_per_kwh.at(t, i.offset_s) : i.carbon_kg_per_kwh.at(t, i.offset_s)) *
                         i.pue.at(t, i.offset_s);
    if (best == sys.dc_count() || value < best_value ||
        (value == best_value && sys.one_way_s(r.user_region, d) < sys.one_way_s(r.user_region, best))) {
      best = d;
      best_value = value;
    }
  }
  if (best == sys.dc_count()) return LeastLoadedRouter().route(r, sys);  // every datacenter is at the guard
  return best;
}

double SloSpilloverRouter::predicted_ttft_s(std::uint32_t u, std::uint32_t d, const ServingSystem& sys) {
  const DcState& s = sys.dc_state(d);
  const double server = s.inflight + s.outstanding > 0 ? s.server_ttft_s : 0.0;  // an empty datacenter answers at once
  return 2 * sys.one_way_s(u, d) + server;
}

std::uint32_t SloSpilloverRouter::route(const workload::RequestSpec& r, const ServingSystem& sys) {
  std::vector<std::uint32_t> order(sys.dc_count());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return sys.one_way_s(r.user_region, a) < sys.one_way_s(r.user_region, b);
  });
  std::uint32_t fallback = order.front();
  double fallback_ttft = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const double p = predicted_ttft_s(r.user_region, order[k], sys);
    const bool room = load_limit_.empty() || load_limit_[order[k]] <= 0 ||
                      load_per_replica(sys.dc_state(order[k])) < load_limit_[order[k]];
    if (p <= margin_ * target_s_ && room) return order[k];
    if (k == 0 || p < fallback_ttft) {
      fallback = order[k];
      fallback_ttft = p;
    }
  }
  return fallback;
}

SplitRouter::SplitRouter(std::vector<double> shares, std::uint64_t seed) : rng_(Rng::stream(seed, "routing/split")) {
  double sum = 0;
  for (double s : shares) cumulative_.push_back(sum += s);
  for (double& c : cumulative_) c /= sum;
}

std::uint32_t SplitRouter::route(const workload::RequestSpec&, const ServingSystem&) {
  const double u = rng_.uniform();
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  return static_cast<std::uint32_t>(std::min<std::size_t>(it - cumulative_.begin(), cumulative_.size() - 1));
}

std::uint32_t batch_within_step_time(const model::StepModel& m, std::uint32_t max_batch, double context_per_seq, double step_s) {
  std::uint32_t lo = 1, hi = max_batch;  // step time grows with the batch: bisect
  auto fits = [&](std::uint32_t b) {
    model::StepShape s;
    s.decode_seqs = b;
    s.decode_context_tokens = b * context_per_seq;
    return m.cost(s).time_s <= step_s;
  };
  if (!fits(1)) return 1;
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid))
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

std::unique_ptr<Router> make_router(const RoutingConfig& cfg, std::vector<RouteInfo> info) {
  if (cfg.policy == "nearest") return std::make_unique<NearestRouter>();
  if (cfg.policy == "least_loaded") return std::make_unique<LeastLoadedRouter>();
  if (cfg.policy == "lowest_price")
    return std::make_unique<CostRouter>(CostRouter::Signal::kPrice, std::move(info), cfg.max_load_per_replica);
  if (cfg.policy == "lowest_carbon")
    return std::make_unique<CostRouter>(CostRouter::Signal::kCarbon, std::move(info), cfg.max_load_per_replica);
  if (cfg.policy == "slo_spillover")
    return std::make_unique<SloSpilloverRouter>(cfg.ttft_target_s, cfg.spill_margin, cfg.slo_load_limit);
  if (cfg.policy == "split") return std::make_unique<SplitRouter>(cfg.split, cfg.seed);
  throw Error("unknown routing policy \"" + cfg.policy + "\"");
}

}  // namespace chatdc::serving
