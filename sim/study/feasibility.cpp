#include "study/feasibility.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace chatdc::study {

std::string grouped(double v) {
  const long long n = std::llround(v);
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string percent(double share) {
  if (!std::isfinite(share)) return "–";
  // One decimal unless the share is within a tenth of a percent of 0 or 1.
  const double p = 100 * share;
  if (p >= 99.9 && p < 100) return fmt::format("{:.3f}%", std::floor(p * 1000) / 1000);
  if (p > 0 && p < 0.1) return fmt::format("{:.3f}%", p);
  return fmt::format("{:.1f}%", p);
}

double backlog_limit(double rate, double ttft_s, double tpot_s, double mean_output) {
  const double w = ttft_s + tpot_s * std::max(0.0, mean_output - 1);
  const double l = std::max(0.0, rate) * w;
  return l + 5 * std::sqrt(l) + 5;
}

Feasibility judge(const RunFigures& f, double target) {
  Feasibility r;
  std::vector<std::string> why;
  // An idle run meets its SLO vacuously; a run that completed nothing while requests arrived does not.
  r.slo_met = f.completed > 0 ? f.attainment >= target : f.arrived - f.rejected_over_context <= 0;
  if (!r.slo_met)
    why.push_back(f.completed > 0 ? fmt::format("SLO {:.2f}% < {:g}%", std::floor(f.attainment * 1e4) / 100, 100 * target)
                                  : "no request completed");
  auto share = [&](double n) { return f.arrived > 0 ? fmt::format(" ({})", percent(n / f.arrived)) : std::string(); };
  if (f.dropped > 0) why.push_back(fmt::format("{} dropped{}", grouped(f.dropped), share(f.dropped)));
  const double by_fleet = f.rejected - f.rejected_over_context;
  if (by_fleet > 0) why.push_back(fmt::format("{} rejected by the fleet (KV cache){}", grouped(by_fleet), share(by_fleet)));
  r.backlog_limit = backlog_limit(f.end_arrival_rate_per_s, f.ttft_target_s, f.tpot_target_s, f.mean_output_tokens);
  if (f.unfinished > r.backlog_limit)
    why.push_back(fmt::format("backlog: {} unfinished at the end{} > {} in flight at most", grouped(f.unfinished),
                              share(f.unfinished), grouped(std::floor(r.backlog_limit))));
  r.feasible = why.empty();
  for (const auto& w : why) r.why += (r.why.empty() ? "" : "; ") + w;
  return r;
}

}  // namespace chatdc::study
