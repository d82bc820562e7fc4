#include "app/report.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

namespace chatdc::app {

std::string grouped(double v) {
  const long long n = std::llround(v);
  std::string digits = std::to_string(std::llabs(n)), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (n < 0 ? "-" : "") + out;
}

std::string short_report(const std::string& name, const engine::RunResult& r) {
  const auto& j = r.summary;
  const auto& lat = j["latency_s"];
  const auto& cost = j["cost"];
  const std::string cur = cost["currency"].get<std::string>();
  std::string out;
  out += fmt::format("chatdc: {} — {:.1f} h simulated in {:.2f} s wall ({} requests, {:.2f} M requests per wall-second)\n",
                     name, r.simulated_s / 3600.0, r.wall_s, grouped(static_cast<double>(r.requests)),
                     r.wall_s > 0 ? r.requests / r.wall_s / 1e6 : 0.0);
  out += fmt::format("  requests  {} arrived, {} completed, {} unfinished, {} rejected, {} dropped\n",
                     grouped(j["requests"]["arrived"].get<double>()), grouped(j["requests"]["completed"].get<double>()),
                     grouped(j["requests"]["unfinished"].get<double>()), grouped(j["requests"]["rejected"].get<double>()),
                     grouped(j["requests"]["dropped"].get<double>()));
  out += fmt::format("  latency   TTFT p50 {:.3f} s, p99 {:.3f} s; TPOT p50 {:.1f} ms, p99 {:.1f} ms; SLO met by {:.1f}%\n",
                     lat["ttft"]["p50"].get<double>(), lat["ttft"]["p99"].get<double>(),
                     1e3 * lat["tpot"]["p50"].get<double>(), 1e3 * lat["tpot"]["p99"].get<double>(),
                     100 * j["slo"]["attainment"].get<double>());
  const auto& u = j["utilization"];
  out += fmt::format("  GPUs      {} in {} servers: busy {:.1f}% of the time (peak {:.1f}%); batch slots used {:.1f}% "
                     "(peak {:.1f}%), KV cache used {:.1f}% (peak {:.1f}%)\n",
                     grouped(j["fleet"]["gpus"].get<double>()), grouped(j["fleet"]["servers"].get<double>()),
                     100 * u["gpu_mean"].get<double>(), 100 * u["gpu_peak"].get<double>(),
                     100 * u["batch_occupancy_mean"].get<double>(), 100 * u["batch_occupancy_peak"].get<double>(),
                     100 * u["kv_cache_mean"].get<double>(), 100 * u["kv_cache_peak"].get<double>());
  out += fmt::format("  work      compute (MFU) {:.1f}% of peak (peak {:.1f}%), HBM bandwidth (MBU) {:.1f}% (peak {:.1f}%)\n",
                     100 * u["mfu_mean"].get<double>(), 100 * u["mfu_peak"].get<double>(), 100 * u["mbu_mean"].get<double>(),
                     100 * u["mbu_peak"].get<double>());
  out += fmt::format("  energy    IT {:.2f} MWh, facility {:.2f} MWh, {:.2f} Wh per request, {:.1f} t CO2{}\n",
                     j["energy_kwh"]["it"].get<double>() / 1e3, j["energy_kwh"]["facility"].get<double>() / 1e3,
                     j["wh_per_request"].get<double>(), j["carbon_kg"].get<double>() / 1e3,
                     j["green_energy_kwh"].get<double>() > 0
                         ? fmt::format(" location-based, {:.1f} t market-based ({:.0f}% green supply)",
                                       j["carbon_kg_market"].get<double>() / 1e3,
                                       100 * j["green_energy_kwh"].get<double>() / j["energy_kwh"]["facility"].get<double>())
                         : "");
  {
    const auto& ps = j["power_states"];
    const auto& h = ps["server_hours"];
    const auto& e = ps["it_energy_kwh"];
    if (h["draining"].get<double>() + h["waking"].get<double>() + h["off"].get<double>() > 0)  // servers were scaled
      out += fmt::format("  servers   server-hours serving {:.0f}, draining {:.0f}, waking {:.0f}, off {:.0f}; {} wake-ups; "
                         "IT kWh serving {:.0f}, draining {:.0f}, waking {:.0f}, off {:.0f}\n",
                         h["serving"].get<double>(), h["draining"].get<double>(), h["waking"].get<double>(),
                         h["off"].get<double>(), grouped(ps["wake_ups"].get<double>()), e["serving"].get<double>(),
                         e["draining"].get<double>(), e["waking"].get<double>(), e["off"].get<double>());
  }
  if (cost["rental"].get<double>() > 0)
    out += fmt::format("  cost      {} {} = GPU rental {} (+ WAN {}, carbon {}) ({} {:.4f} per 1k requests)\n", cur,
                       grouped(cost["total"].get<double>()), grouped(cost["rental"].get<double>()),
                       grouped(cost["wan"].get<double>()), grouped(cost["carbon"].get<double>()), cur,
                       cost["per_1k_requests"].get<double>());
  else
    out += fmt::format("  cost      {} {} = electricity {} + capex {}{} + maintenance {}{} ({} {:.4f} per 1k requests)\n", cur,
                       grouped(cost["total"].get<double>()), grouped(cost["electricity"].get<double>()),
                       grouped(cost["capex"].get<double>()),
                       cost["capex_network"].get<double>() + cost["capex_facility"].get<double>() > 0
                           ? fmt::format(" (servers {}, network {}, facility {})", grouped(cost["capex_servers"].get<double>()),
                                         grouped(cost["capex_network"].get<double>()),
                                         grouped(cost["capex_facility"].get<double>()))
                           : "",
                       grouped(cost["maintenance"].get<double>()),
                       cost["total"].get<double>() - cost["electricity"].get<double>() - cost["capex"].get<double>() -
                                   cost["maintenance"].get<double>() > 0.5
                           ? fmt::format(" + other {}", grouped(cost["total"].get<double>() - cost["electricity"].get<double>() -
                                                                cost["capex"].get<double>() - cost["maintenance"].get<double>()))
                           : "",
                       cur, cost["per_1k_requests"].get<double>());
  if (j.contains("defaults_to_review") && !j["defaults_to_review"].empty()) {
    // The defaults a planner should check: the first few here, all of them with their sources in summary.json.
    const auto& review = j["defaults_to_review"];
    constexpr std::size_t kShown = 8;
    out += fmt::format("  review    {} default{} the scenario did not set (sources: summary.json defaults_to_review):\n",
                       review.size(), review.size() == 1 ? "" : "s");
    for (std::size_t i = 0; i < review.size() && i < kShown; ++i) {
      const double v = review[i]["value"].get<double>();
      out += fmt::format("            {} = {} {}\n", review[i]["key"].get<std::string>(),
                         std::fabs(v) >= 1000 ? grouped(v) : fmt::format("{:.4g}", v), review[i]["unit"].get<std::string>());
    }
    if (review.size() > kShown) out += fmt::format("            ... and {} more\n", review.size() - kShown);
  }
  std::string files = "summary.json, timeline.csv, hourly.csv, scenario.resolved.yaml";
  for (const auto& f : r.extra_files) files += ", " + f;
  out += fmt::format("  outputs   {}/{{{}}}\n", r.output_dir, files);
  return out;
}

}  // namespace chatdc::app

namespace chatdc::app {

void warn_about(const engine::RunResult& r) {
  const auto& q = r.summary["requests"];
  const double arrived = q["arrived"].get<double>();
  if (arrived <= 0) return;
  const double rejected = q["rejected"].get<double>(), unfinished = q["unfinished"].get<double>();
  if (rejected > 0)
    spdlog::warn("{} requests ({:.2f}%) were rejected: prompt + output longer than the model's context or the KV "
                 "cache of a replica (see workload.*_tokens.max and model.tensor_parallel)",
                 grouped(rejected), 100 * rejected / arrived);
  const double dropped = q["dropped"].get<double>();
  if (dropped > 0)
    spdlog::warn("{} requests ({:.2f}%) were dropped: they found serving.max_waiting_per_replica requests already "
                 "waiting (the fleet is overloaded)", grouped(dropped), 100 * dropped / arrived);
  if (unfinished > 0.01 * arrived)
    spdlog::warn("{} requests ({:.1f}%) were still waiting or running when the run ended: the fleet did not keep up, "
                 "so latency figures cover only the requests that finished",
                 grouped(unfinished), 100 * unfinished / arrived);
}

}  // namespace chatdc::app
