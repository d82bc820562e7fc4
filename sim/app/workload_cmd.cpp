#include "app/workload_cmd.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "app/report.hpp"
#include "config/assemble.hpp"
#include "config/catalog.hpp"
#include "config/scenario.hpp"
#include "core/error.hpp"
#include "metrics/quantiles.hpp"
#include "workload/trace.hpp"

namespace chatdc::app {

namespace {

workload::TraceFormat parse_format(const std::string& f) {
  if (f == "azure") return workload::TraceFormat::kAzure;
  if (f == "mooncake") return workload::TraceFormat::kMooncake;
  if (f == "servegen") return workload::TraceFormat::kServeGen;
  if (f == "csv") return workload::TraceFormat::kCsv;
  throw Error(fmt::format("--format: expected azure, mooncake, servegen or csv, got \"{}\"", f));
}

nlohmann::ordered_json token_stats(metrics::Quantiles& q, double total) {
  return {{"mean", q.mean()}, {"p50", q.quantile(0.5)}, {"p90", q.quantile(0.9)}, {"p99", q.quantile(0.99)},
          {"max", q.max()}, {"total", total}};
}

}  // namespace

int cmd_workload(const WorkloadArgs& a) {
  if (a.scenario.empty() == a.trace.empty()) throw Error("give a scenario file, or --trace PATH --format FORMAT (not both)");
  if (!(a.bucket_s > 0)) throw Error("--bucket must be > 0 seconds");
  std::unique_ptr<workload::RequestSource> owned;
  config::Workload wl;
  std::vector<std::string> region_names;
  std::string label;
  double duration = 0;
  if (!a.scenario.empty()) {
    const config::Scenario s = config::load_scenario(a.scenario, a.sets);
    const config::Assembly as = config::assemble(s);
    wl = config::make_workload(s, as);
    for (const auto& u : s.workload.user_regions) region_names.push_back(u.name);
    label = s.name;
    duration = s.run.duration_s;
  } else {
    if (a.format.empty()) throw Error("--trace needs --format azure|mooncake|servegen|csv");
    workload::TraceOptions o;
    o.format = parse_format(a.format);
    o.path = a.trace;
    o.duration_s = a.duration_s > 0 ? a.duration_s : 1e15;
    o.servegen_prompt.value = 1;  // ServeGen carries no token counts
    o.servegen_output.value = 1;
    auto t = std::make_unique<workload::TraceSource>(o);
    wl.trace = t.get();
    wl.source = std::move(t);
    region_names.push_back("all");
    label = std::filesystem::path(a.trace).filename().string();
    duration = a.duration_s;
  }
  workload::RequestSource& src = *wl.source;
  const auto mode = src.expected_requests() <= 2e7 ? metrics::Quantiles::Mode::kExact : metrics::Quantiles::Mode::kSketch;
  metrics::Quantiles prompt(mode), output(mode);
  std::vector<std::uint64_t> per_bucket, per_region(region_names.size(), 0);
  double prompt_total = 0, output_total = 0, last_t = 0;
  std::uint64_t n = 0;
  while (src.peek_time() < workload::RequestSource::kNever) {
    const workload::RequestSpec r = src.pop();
    src.on_response(r.id, r.time_s);  // follow-up turns as if answered at once (no simulation here)
    const auto b = static_cast<std::size_t>(r.time_s / a.bucket_s);
    if (b >= per_bucket.size()) per_bucket.resize(b + 1, 0);
    ++per_bucket[b];
    if (r.user_region < per_region.size()) ++per_region[r.user_region];
    prompt.add(r.prompt_tokens);
    output.add(r.output_tokens);
    prompt_total += r.prompt_tokens;
    output_total += r.output_tokens;
    last_t = r.time_s;
    ++n;
  }
  if (duration <= 0) duration = std::max(a.bucket_s, std::ceil(last_t / a.bucket_s) * a.bucket_s);
  per_bucket.resize(static_cast<std::size_t>(std::ceil(duration / a.bucket_s)), 0);
  // Rates per bucket (the last bucket may be partial).
  std::vector<double> rate(per_bucket.size());
  for (std::size_t i = 0; i < per_bucket.size(); ++i)
    rate[i] = per_bucket[i] / std::min(a.bucket_s, duration - i * a.bucket_s);
  const auto peak = std::max_element(rate.begin(), rate.end()), trough = std::min_element(rate.begin(), rate.end());
  const double mean_rate = duration > 0 ? n / duration : 0.0;

  nlohmann::ordered_json j;
  j["workload"] = label;
  j["duration_s"] = duration;
  j["bucket_s"] = a.bucket_s;
  j["requests"] = n;
  j["rate_per_s"] = {{"mean", mean_rate},
                     {"peak", rate.empty() ? 0.0 : *peak},
                     {"trough", rate.empty() ? 0.0 : *trough},
                     {"peak_bucket", rate.empty() ? 0 : peak - rate.begin()},
                     {"trough_bucket", rate.empty() ? 0 : trough - rate.begin()},
                     {"peak_to_mean", mean_rate > 0 && !rate.empty() ? *peak / mean_rate : 0.0}};
  j["prompt_tokens"] = token_stats(prompt, prompt_total);
  j["output_tokens"] = token_stats(output, output_total);
  nlohmann::ordered_json regions = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < region_names.size(); ++i) regions[region_names[i]] = per_region[i];
  j["requests_by_user_region"] = regions;
  j["requests_per_bucket"] = per_bucket;
  if (wl.trace)
    j["trace"] = {{"skipped_malformed_lines", wl.trace->stats().skipped_malformed},
                  {"dropped_by_sampling", wl.trace->stats().dropped_sampling}, {"loops", wl.trace->stats().loops}};
  if (wl.conversations) j["follow_up_turns"] = wl.conversations->follow_ups();

  if (!a.png.empty()) {
    const auto tmp = std::filesystem::temp_directory_path() / fmt::format("chatdc-workload-{}.csv", static_cast<long>(::getpid()));
    {
      std::ofstream out(tmp);
      out << "start_s,requests,rate_per_s\n";
      for (std::size_t i = 0; i < per_bucket.size(); ++i) out << fmt::format("{},{},{}\n", i * a.bucket_s, per_bucket[i], rate[i]);
    }
    const std::string cmd = fmt::format("/usr/bin/python3 '{}/analysis/plot_workload.py' '{}' --title '{}' --out '{}'",
                                        config::data_dir(), tmp.string(), label, a.png);
    const int rc = std::system(cmd.c_str());
    std::filesystem::remove(tmp);
    if (rc != 0) throw Error(fmt::format("plotting failed ({}): is python3-matplotlib installed?", cmd));
  }
  if (a.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{}: {} requests over {:.1f} h (mean {:.2f} req/s; peak {:.2f} in bucket {}, trough {:.2f} in bucket {}; "
             "peak/mean {:.2f})\n",
             label, grouped(static_cast<double>(n)), duration / 3600.0, mean_rate, j["rate_per_s"]["peak"].get<double>(),
             j["rate_per_s"]["peak_bucket"].get<long>(), j["rate_per_s"]["trough"].get<double>(),
             j["rate_per_s"]["trough_bucket"].get<long>(), j["rate_per_s"]["peak_to_mean"].get<double>());
  fmt::print("  prompt tokens  mean {:.0f}, p50 {:.0f}, p90 {:.0f}, p99 {:.0f}, max {:.0f}; total {}\n", prompt.mean(),
             prompt.quantile(0.5), prompt.quantile(0.9), prompt.quantile(0.99), prompt.max(), grouped(prompt_total));
  fmt::print("  output tokens  mean {:.0f}, p50 {:.0f}, p90 {:.0f}, p99 {:.0f}, max {:.0f}; total {}\n", output.mean(),
             output.quantile(0.5), output.quantile(0.9), output.quantile(0.99), output.max(), grouped(output_total));
  for (std::size_t i = 0; i < region_names.size(); ++i)
    fmt::print("  user region    {}: {} requests\n", region_names[i], grouped(static_cast<double>(per_region[i])));
  fmt::print("  {:>8}  {:>10}  {:>9}\n", a.bucket_s == 3600 ? "hour" : "bucket", "requests", "req/s");
  for (std::size_t i = 0; i < per_bucket.size(); ++i)
    fmt::print("  {:>8}  {:>10}  {:>9.2f}\n", i, grouped(static_cast<double>(per_bucket[i])), rate[i]);
  return 0;
}

}  // namespace chatdc::app
