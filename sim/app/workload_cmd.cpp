#include "app/workload_cmd.hpp"

#include <fmt/format.h>

#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/report.hpp"
#include "config/assemble.hpp"
#include "config/catalog.hpp"
#include "config/scenario.hpp"
#include "core/error.hpp"
#include "core/output_stage.hpp"
#include "metrics/quantiles.hpp"
#include "study/executor.hpp"
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

/// Most rows of the table (buckets): a bucket too small for the duration is an error, not a huge table.
constexpr double kMaxBuckets = 1e6;

/// Runs argv (no shell) with stdout and stderr into `log`; the exit status, or -1 if it could not start.
int run_process(const std::vector<std::string>& argv, const std::string& log) {
  std::string error;
  const int status = study::run_and_wait(argv, log, &error);
  if (status < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

nlohmann::ordered_json token_stats(metrics::Quantiles& q, double total) {
  return {{"mean", q.mean()}, {"p50", q.quantile(0.5)}, {"p90", q.quantile(0.9)}, {"p99", q.quantile(0.99)},
          {"max", q.max()}, {"total", total}};
}

}  // namespace

int cmd_workload(const WorkloadArgs& a) {
  if (a.scenario.empty() == a.trace.empty()) throw Error("give a scenario file, or --trace PATH --format FORMAT (not both)");
  if (!(a.bucket_s >= 1e-3 && a.bucket_s <= 3e7))
    throw Error(fmt::format("--bucket: expected seconds in [0.001, 3e+07], got {}", a.bucket_s));
  if (a.duration_given && !a.trace.empty() && !(a.duration_s > 0 && a.duration_s <= 1e8))
    throw Error(fmt::format("--duration: expected seconds in (0, 1e+08], got {}", a.duration_s));
  if (a.duration_given && a.trace.empty())
    throw Error("--duration applies to a bare --trace; a scenario's duration is run.duration_h (--set run.duration_h=...)");
  if (!a.format.empty() && a.trace.empty()) throw Error("--format applies to a bare --trace; a scenario names its format");
  if (!a.sets.empty() && !a.trace.empty()) throw Error("--set applies to a scenario, not to a bare --trace");
  // The PNG's folder is checked (and staged in) before any work.
  std::unique_ptr<OutputStage> png;
  if (!a.png.empty()) {
    const std::string ext = std::filesystem::path(a.png).extension().string();
    if (ext != ".png" && ext != ".PNG") throw Error(fmt::format("--png: expected a file name ending in .png, got \"{}\"", a.png));
    png = std::make_unique<OutputStage>(a.png, OutputStage::Kind::kFile, "--png " + a.png);
  }
  std::unique_ptr<workload::RequestSource> owned;
  config::Workload wl;
  std::vector<std::string> region_names;
  std::string label;
  double duration = 0;
  if (!a.scenario.empty()) {
    const config::Scenario s = config::load_scenario(a.scenario, a.sets);
    if (s.run.duration_s / a.bucket_s > kMaxBuckets)
      throw Error(fmt::format("--bucket {} s gives {:.3g} rows over the scenario's {} s, more than {:.0e}: use a larger bucket",
                              a.bucket_s, s.run.duration_s / a.bucket_s, s.run.duration_s, kMaxBuckets));
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
    o.duration_s = a.duration_given ? a.duration_s : 1e15;
    if (a.duration_given && a.duration_s / a.bucket_s > kMaxBuckets)
      throw Error(fmt::format("--bucket {} s gives {:.3g} rows over --duration {} s, more than {:.0e}: use a larger bucket",
                              a.bucket_s, a.duration_s / a.bucket_s, a.duration_s, kMaxBuckets));
    o.servegen_prompt.value = 1;  // ServeGen carries no token counts
    o.servegen_output.value = 1;
    auto t = std::make_unique<workload::TraceSource>(o);
    wl.trace = t.get();
    wl.source = std::move(t);
    region_names.push_back("all");
    label = std::filesystem::path(a.trace).filename().string();
    duration = a.duration_given ? a.duration_s : 0;
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
    const double bucket = r.time_s / a.bucket_s;
    if (!(bucket < kMaxBuckets))
      throw Error(fmt::format("--bucket {} s: a request at {} s would be in row {:.3g}, beyond {:.0e} rows: use a larger bucket",
                              a.bucket_s, r.time_s, bucket, kMaxBuckets));
    const auto b = static_cast<std::size_t>(bucket);
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

  if (png) {
    // The table and the plot are made inside the staging folder beside the PNG; only the PNG is put in place.
    const std::string csv = png->path("workload.csv"), log = png->path("plot.log");
    {
      std::ofstream out(csv);
      out << "start_s,requests,rate_per_s\n";
      for (std::size_t i = 0; i < per_bucket.size(); ++i) out << fmt::format("{},{},{}\n", i * a.bucket_s, per_bucket[i], rate[i]);
      if (!out) throw Error(fmt::format("--png {}: cannot write {}", a.png, csv));
    }
    const std::string script = config::data_dir() + "/analysis/plot_workload.py";
    const int rc = run_process({"/usr/bin/python3", script, csv, "--title", label, "--out", png->file()}, log);
    if (rc != 0 || !std::filesystem::exists(png->file())) {
      std::ifstream in(log);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string tail = ss.str();
      if (tail.size() > 600) tail = "..." + tail.substr(tail.size() - 600);
      throw Error(fmt::format("--png {}: plotting failed (/usr/bin/python3 {}, exit status {}): is python3-matplotlib "
                              "installed?\n{}", a.png, script, rc, tail));
    }
    png->commit();
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
