// Unit tests of the trace replay (sim/workload/trace.*): exact replay of the in-tree samples
// (workloads/traces/), the replay options, bad input with its messages, and the full real traces in
// ../shared/data/traces when that folder exists (otherwise those cases WARN and return).
// Statistical checks state their bound and its false-failure probability; every seed is fixed.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "workload/trace.hpp"
#include "scratch_dir.hpp"

using namespace chatdc;
using workload::RequestSpec;
using workload::TraceFormat;
using workload::TraceOptions;
using workload::TraceSource;
using Catch::Matchers::Contains;

namespace {

std::string samples() { return std::string(CHATDC_SOURCE_DIR) + "/workloads/traces/"; }
std::string real_traces() { return std::string(CHATDC_SOURCE_DIR) + "/../shared/data/traces/"; }

TraceOptions opts(TraceFormat f, const std::string& path) {
  TraceOptions o;
  o.format = f;
  o.path = path;
  o.duration_s = 1e7;
  return o;
}

std::vector<RequestSpec> drain(TraceSource& s) {
  std::vector<RequestSpec> v;
  while (std::isfinite(s.peek_time())) v.push_back(s.pop());
  return v;
}

std::vector<RequestSpec> drain(const TraceOptions& o) {
  TraceSource s(o);
  return drain(s);
}

std::string scratch(const std::string& name, const std::string& content) {
  const auto path = (test::scratch_dir() / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

bool nondecreasing(const std::vector<RequestSpec>& v) {
  for (std::size_t i = 1; i < v.size(); ++i)
    if (v[i].time_s < v[i - 1].time_s) return false;
  return true;
}

const char* kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";

}  // namespace

// ------------------------------------------------------------------------------------------------
// Exact replay of the in-tree samples

TEST_CASE("azure sample: exact replay of times and tokens", "[trace]") {
  auto o = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  o.start_offset_s = 100;
  TraceSource src(o);
  CHECK(src.expected_requests() == 200);
  const auto v = drain(src);
  REQUIRE(v.size() == 200);
  CHECK(v[0].time_s == 100.0);
  CHECK(v[0].prompt_tokens == 374);
  CHECK(v[0].output_tokens == 44);
  CHECK(v[1].prompt_tokens == 396);
  CHECK(v[1].output_tokens == 109);
  // Row 10: 18:15:55.1455750 - 18:15:46.6805900 = 8.4649850 s.
  CHECK(v[9].time_s == Approx(100 + 8.4649850).margin(1e-9));
  CHECK(v[9].prompt_tokens == 209);
  CHECK(v[9].output_tokens == 152);
  // Last row (200): 18:16:47.9441270 - 18:15:46.6805900 = 61.2635370 s.
  CHECK(v[199].time_s == Approx(100 + 61.2635370).margin(1e-9));
  CHECK(v[199].prompt_tokens == 1143);
  CHECK(v[199].output_tokens == 409);
  CHECK(nondecreasing(v));
  for (std::size_t i = 0; i < v.size(); ++i) {
    CHECK(v[i].id == i);
    CHECK(v[i].user_region == 0);
  }
  CHECK(src.stats().requests == 200);
  CHECK(src.stats().lines == 201);
  CHECK(src.stats().skipped_malformed == 0);
}

TEST_CASE("mooncake sample: timestamps kept or spread over their 3-s slot", "[trace]") {
  auto o = opts(TraceFormat::kMooncake, samples() + "mooncake_conv_sample.jsonl");
  o.spread_same_timestamp = false;
  const auto keep = drain(o);
  REQUIRE(keep.size() == 200);
  CHECK(keep[0].time_s == 0);
  CHECK(keep[0].prompt_tokens == 6758);
  CHECK(keep[0].output_tokens == 500);
  CHECK(keep[9].time_s == 0);   // the first 10 requests share timestamp 0
  CHECK(keep[10].time_s == 3.0);  // then 3000 ms
  CHECK(keep[10].prompt_tokens == 13544);
  CHECK(keep[199].time_s == 72.0);

  o.spread_same_timestamp = true;
  o.start_offset_s = 10;
  const auto spread = drain(o);
  REQUIRE(spread.size() == 200);
  CHECK(nondecreasing(spread));
  // Spreading moves requests within [T, next distinct T) and keeps the file's order and tokens. The last
  // group (72 s) spreads over the mean gap between distinct timestamps.
  std::vector<double> distinct;
  for (const auto& r : keep)
    if (distinct.empty() || r.time_s != distinct.back()) distinct.push_back(r.time_s);
  const double mean_gap = distinct.back() / static_cast<double>(distinct.size() - 1);
  std::size_t simultaneous = 0;
  for (std::size_t i = 0; i < 200; ++i) {
    const double t = keep[i].time_s;
    const auto it = std::upper_bound(distinct.begin(), distinct.end(), t);
    const double next = it == distinct.end() ? t + mean_gap : *it;
    CHECK(spread[i].time_s >= 10 + t);
    CHECK(spread[i].time_s < 10 + next);
    CHECK(spread[i].prompt_tokens == keep[i].prompt_tokens);
    CHECK(spread[i].output_tokens == keep[i].output_tokens);
    if (i > 0 && spread[i].time_s == spread[i - 1].time_s) ++simultaneous;
  }
  CHECK(simultaneous == 0);
  // Same seed, same spreading; another seed, another one.
  const auto again = drain(o);
  CHECK(again[5].time_s == spread[5].time_s);
  o.seed = 2;
  CHECK(drain(o)[5].time_s != spread[5].time_s);
}

TEST_CASE("generic csv sample: columns by name, seconds", "[trace]") {
  auto o = opts(TraceFormat::kCsv, samples() + "generic_sample.csv");
  o.csv.prompt = "prompt";
  o.csv.output = "completion";
  const auto v = drain(o);
  REQUIRE(v.size() == 8);
  CHECK(v[1].time_s == Approx(0.35));
  CHECK(v[1].prompt_tokens == 1024);
  CHECK(v[1].output_tokens == 256);
  CHECK(v[4].output_tokens == 1);
  CHECK(v[5].time_s == v[6].time_s);  // simultaneous requests stay simultaneous in csv
  CHECK(v[7].time_s == Approx(4.5));
}

TEST_CASE("generic csv: millisecond, microsecond and date-time units, time is since the first row", "[trace]") {
  const auto ms = scratch("ms.csv", "id,t_ms,in,out\na,1000,10,5\nb,1250.5,20,6\nc,4000,30,7\n");
  auto o = opts(TraceFormat::kCsv, ms);
  o.csv = {"t_ms", "in", "out", workload::CsvColumns::TimeUnit::kMilliseconds};
  auto v = drain(o);
  REQUIRE(v.size() == 3);
  CHECK(v[0].time_s == 0);
  CHECK(v[1].time_s == Approx(0.2505));
  CHECK(v[2].time_s == Approx(3.0));
  CHECK(v[2].prompt_tokens == 30);

  const auto us = scratch("us.csv", "t,in,out\n5000000,10,5\n5000250,20,6\n");
  o = opts(TraceFormat::kCsv, us);
  o.csv = {"t", "in", "out", workload::CsvColumns::TimeUnit::kMicroseconds};
  v = drain(o);
  CHECK(v[1].time_s == Approx(250e-6));

  const auto dt = scratch("dt.csv", "when,in,out\r\n2024-02-28 23:59:59.5,10,5\r\n2024-02-29 00:00:01,20,6\r\n"
                                    "2024-03-01T00:00:00.25,1,1");  // leap day, CRLF, no final newline
  o = opts(TraceFormat::kCsv, dt);
  o.csv = {"when", "in", "out", workload::CsvColumns::TimeUnit::kDatetime};
  v = drain(o);
  REQUIRE(v.size() == 3);
  CHECK(v[1].time_s == Approx(1.5));
  CHECK(v[2].time_s == Approx(86400 + 0.75));
}

TEST_CASE("servegen sample: each window carries exactly rate x 600 requests", "[trace]") {
  // Two clients, 288 windows (2 days). rate x 600 is a whole number in ServeGen's files.
  std::vector<double> per_window(288, 0.0);
  for (const char* f : {"chunk-0-trace.csv", "chunk-1-trace.csv"}) {
    std::ifstream in(samples() + "servegen_sample/" + f);
    std::string line;
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::string ts, rate;
      std::getline(ss, ts, ',');
      std::getline(ss, rate, ',');
      per_window[static_cast<std::size_t>(std::stod(ts) / 600)] += std::round(std::stod(rate) * 600);
    }
  }
  double total = 0;
  for (double n : per_window) total += n;
  REQUIRE(total == 156806);

  auto o = opts(TraceFormat::kServeGen, samples() + "servegen_sample");
  o.duration_s = 2 * 86400;
  o.servegen_prompt.value = 700;
  o.servegen_output.kind = workload::TokenDist::Kind::kLognormal;
  o.servegen_output.median = 200;
  o.servegen_output.sigma = 1;
  TraceSource src(o);
  CHECK(src.expected_requests() == Approx(total));
  std::vector<double> got(288, 0.0);
  double last = 0;
  std::uint64_t n = 0, out_sum = 0;
  bool ordered = true;
  while (std::isfinite(src.peek_time())) {
    const auto r = src.pop();
    ordered = ordered && r.time_s >= last;
    last = r.time_s;
    got[static_cast<std::size_t>(r.time_s / 600)] += 1;
    REQUIRE(r.prompt_tokens == 700);
    out_sum += r.output_tokens;
    ++n;
  }
  CHECK(ordered);
  CHECK(n == total);
  CHECK(got == per_window);
  // Lognormal(200, 1) output has mean 200 e^0.5 = 329.7; sd 432 / sqrt(156806) = 1.1: 10 sd = 11.
  CHECK(std::abs(static_cast<double>(out_sum) / n - 329.7) < 11);
  CHECK(src.stats().lines == 576);
}

TEST_CASE("servegen sample: skip_s and loop replay whole windows", "[trace]") {
  // The sample holds 2 days (172,800 s, 156,806 requests). Skip the first 10 windows (1,229 requests) and
  // loop: the period is 172,800 - 6,000 s and each pass carries 155,577 requests.
  auto o = opts(TraceFormat::kServeGen, samples() + "servegen_sample");
  o.skip_s = 6000;
  const double period = 172800 - 6000;
  o.duration_s = 2 * period;
  o.loop = true;
  TraceSource src(o);
  const auto v = drain(src);
  std::size_t first = 0, second = 0;
  for (const auto& r : v) (r.time_s < period ? first : second) += 1;
  CHECK(first == 155577);  // every window carries its exact count in each pass
  CHECK(second == 155577);
  CHECK(src.expected_requests() == Approx(2.0 * first));
  CHECK(src.stats().loops == 1);
  CHECK(nondecreasing(v));
  CHECK(v.front().time_s >= 0);
  o.loop = false;
  o.skip_s = 0;
  o.duration_s = 6000;
  CHECK(drain(o).size() == 1229);
}

TEST_CASE("servegen: gaps within a window follow the fitted family's shape", "[trace]") {
  // One window of 60,000 requests. The gaps are N+1 draws rescaled to fill the window, so their CV is the
  // family's: Gamma shape 0.25 -> CV 2; Weibull shape 2 -> CV sqrt(G(2)/G(1.5)^2 - 1) = 0.5227.
  // Sampling error of the CV (delta method, the gamma's excess kurtosis 6/k = 24): sd 0.021 at CV 2 and
  // 0.0014 at CV 0.52 (Weibull kurtosis 3.25); bounds 0.15 and 0.02 are > 7 sd (false failure < 1e-11).
  for (const auto& [pattern, shape, cv, tol] :
       {std::tuple{"Gamma", 0.25, 2.0, 0.15}, std::tuple{"Weibull", 2.0, 0.52272, 0.02}}) {
    const auto f = scratch(std::string("chunk-7-") + pattern + ".csv",
                           fmt::format("0,100,9,{},{},123\n600,0,0,,0,0\n", pattern, shape));
    auto o = opts(TraceFormat::kServeGen, f);
    const auto v = drain(o);
    REQUIRE(v.size() == 60000);
    double s = 0, s2 = 0;
    for (std::size_t i = 1; i < v.size(); ++i) {
      const double g = v[i].time_s - v[i - 1].time_s;
      s += g;
      s2 += g * g;
    }
    const double m = s / (v.size() - 1), sd = std::sqrt(s2 / (v.size() - 1) - m * m);
    CHECK(std::abs(sd / m - cv) < tol);
    CHECK(v.front().time_s > 0);
    CHECK(v.back().time_s < 600);
  }
}

// ------------------------------------------------------------------------------------------------
// Options

TEST_CASE("time_scale, start_offset_s and skip_s map trace time to run time", "[trace]") {
  auto o = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  o.time_scale = 2;
  o.start_offset_s = 50;
  auto v = drain(o);
  REQUIRE(v.size() == 200);
  CHECK(v[0].time_s == 50);
  CHECK(v[9].time_s == Approx(50 + 2 * 8.4649850).margin(1e-9));

  // skip_s = 5 drops rows 1-4 (at 0, 4.31, 4.54, 4.71 s); row 5 (5.892655 s) plays 0.892655 s after the offset.
  o.skip_s = 5;
  o.time_scale = 1;
  v = drain(o);
  REQUIRE(v.size() == 196);
  CHECK(v[0].time_s == Approx(50 + 0.8926550).margin(1e-9));
  CHECK(v[0].prompt_tokens == 91);

  // duration_s: nothing at or after it.
  o = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  o.duration_s = 8.4649850;  // row 10 plays exactly at the end: excluded
  TraceSource src(o);
  CHECK(src.expected_requests() == 9);
  CHECK(drain(src).size() == 9);
}

TEST_CASE("loop fills a 2-hour run, times increase strictly across the seams", "[trace]") {
  auto o = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  o.loop = true;
  o.duration_s = 7200;
  TraceSource src(o);
  const auto v = drain(src);
  // Period = span 61.263537 s + one mean gap 61.263537 / 199 = 61.571395 s; 7200 / 61.571395 = 116.94 passes.
  const double period = 61.2635370 * 200 / 199;
  CHECK(src.stats().loops == 116);
  CHECK(std::abs(static_cast<double>(v.size()) - 200 * 7200 / period) <= 200);
  CHECK(src.expected_requests() == Approx(200 * 7200 / period));
  CHECK(v.back().time_s < 7200);
  CHECK(v.back().time_s > 7200 - 5);
  CHECK(nondecreasing(v));
  for (std::size_t k = 1; k < 116; ++k) {
    const auto& last = v[200 * k - 1];
    const auto& first = v[200 * k];
    CHECK(first.prompt_tokens == 374);  // the trace starts again
    CHECK(first.time_s > last.time_s);
    CHECK(first.time_s - last.time_s == Approx(61.2635370 / 199).epsilon(1e-6));
    CHECK(first.time_s == Approx(k * period).epsilon(1e-12));
  }
  // Mooncake with spreading: the last group spreads past the last timestamp; the seam still increases.
  auto m = opts(TraceFormat::kMooncake, samples() + "mooncake_conv_sample.jsonl");
  m.loop = true;
  m.duration_s = 600;
  const auto w = drain(m);
  CHECK(nondecreasing(w));
  CHECK(w.size() > 1400);
}

TEST_CASE("loop: every pass plays the same requests, from memory, with the same line counts", "[trace]") {
  // A Mooncake trace whose last group (two requests at 9 s) spreads over the mean gap between distinct
  // timestamps (4.5 s) while a pass lasts only 9 s + one mean request gap (2.25 s): each pass must spread
  // alike, or a later pass ends after the next one starts (found by fuzzing).
  auto m = opts(TraceFormat::kMooncake, scratch("groups.jsonl",
                                                "{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1}\n"
                                                "{\"timestamp\": 0, \"input_length\": 2, \"output_length\": 1}\n"
                                                "not json\n"
                                                "{\"timestamp\": 9000, \"input_length\": 3, \"output_length\": 1}\n"
                                                "{\"timestamp\": 9000, \"input_length\": 4, \"output_length\": 1}\n"));
  m.loop = true;
  m.skip_malformed = true;
  m.duration_s = 3600;
  TraceSource src(m);
  const auto v = drain(src);
  CHECK(nondecreasing(v));
  const std::uint64_t passes = src.stats().loops + 1;
  REQUIRE(passes > 100);
  REQUIRE(v.size() == 4 * passes - (v.size() % 4 ? 4 - v.size() % 4 : 0));
  for (std::size_t i = 4; i < v.size(); ++i) {
    CHECK(v[i].prompt_tokens == v[i - 4].prompt_tokens);
    CHECK(v[i].time_s - v[i - 4].time_s == Approx(v[4].time_s - v[0].time_s).epsilon(1e-9));  // same spread
  }
  // Line counts as if every pass read the file: 5 lines and 1 skipped each (the last pass may stop early).
  CHECK(src.stats().skipped_malformed >= passes - 1);
  CHECK(src.stats().skipped_malformed <= passes);
  CHECK(src.stats().lines >= 5 * (passes - 1));
}

TEST_CASE("rate_scale thins below 1 and adds copies within the gaps above 1", "[trace]") {
  auto o = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  o.loop = true;
  o.duration_s = 7200;
  const auto base = drain(o);
  const double n0 = static_cast<double>(base.size());  // 23,383

  // 0.5: Binomial(n0, 0.5), sd = 76; 6 sd bound (two-sided false failure 2e-9).
  o.rate_scale = 0.5;
  TraceSource half(o);
  const auto h = drain(half);
  CHECK(std::abs(h.size() - 0.5 * n0) < 6 * std::sqrt(n0 * 0.25));
  CHECK(half.stats().dropped_sampling == base.size() - h.size());
  CHECK(half.expected_requests() == Approx(0.5 * n0).epsilon(0.01));

  // 2.5: 2 per original + Bernoulli(0.5); copies go between the original and the next one.
  o.rate_scale = 2.5;
  const auto x = drain(o);
  CHECK(nondecreasing(x));
  CHECK(std::abs(x.size() - 2.5 * n0) < 6 * std::sqrt(n0 * 0.25) + 3);

  // 3 with no loop: exactly 3 x 200, each original followed by 2 copies with its tokens.
  auto e = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  e.rate_scale = 3;
  const auto t = drain(e);
  const auto one = drain(opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv"));
  REQUIRE(t.size() == 600);
  CHECK(nondecreasing(t));
  for (std::size_t i = 0; i + 1 < one.size(); ++i) {
    CHECK(t[3 * i].time_s == one[i].time_s);
    for (int c = 1; c <= 2; ++c) {
      CHECK(t[3 * i + c].prompt_tokens == one[i].prompt_tokens);
      CHECK(t[3 * i + c].time_s >= one[i].time_s);
      CHECK(t[3 * i + c].time_s <= one[i + 1].time_s);
    }
  }
}

TEST_CASE("sample_fraction and region_weights", "[trace]") {
  auto o = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  o.loop = true;
  o.duration_s = 7200;
  const double n0 = static_cast<double>(drain(o).size());
  o.sample_fraction = 0.3;
  o.region_weights = {1, 0, 3};
  TraceSource src(o);
  const auto v = drain(src);
  // Binomial(n0, 0.3): sd = 70; 6 sd (false failure 2e-9).
  CHECK(std::abs(v.size() - 0.3 * n0) < 6 * std::sqrt(n0 * 0.21));
  CHECK(src.stats().dropped_sampling + v.size() == n0);
  CHECK(src.expected_requests() == Approx(0.3 * n0).epsilon(0.01));
  // Region 2 with probability 0.75: sd = sqrt(0.1875 n) = 37 of ~7000; 6 sd.
  std::size_t r2 = 0;
  for (const auto& r : v) {
    REQUIRE(r.user_region != 1);
    r2 += r.user_region == 2;
  }
  CHECK(std::abs(r2 - 0.75 * v.size()) < 6 * std::sqrt(0.1875 * v.size()));
}

TEST_CASE("option values are checked", "[trace]") {
  auto o = opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv");
  o.time_scale = 0;
  CHECK_THROWS_WITH(TraceSource(o), Contains("time_scale") && Contains("> 0"));
  o.time_scale = 1;
  o.sample_fraction = 1.5;
  CHECK_THROWS_WITH(TraceSource(o), Contains("sample_fraction"));
  o.sample_fraction = 1;
  o.region_weights = {0, 0};
  CHECK_THROWS_WITH(TraceSource(o), Contains("region_weights"));
  o.region_weights = {1};
  o.skip_s = 1e6;
  CHECK_THROWS_WITH(TraceSource(o), Contains("no requests at or after skip_s"));
}

// ------------------------------------------------------------------------------------------------
// Bad input

TEST_CASE("bad azure/csv lines are reported with file:line, field and value", "[trace]") {
  const std::string good = "2023-11-16 18:15:46.6805900,374,44\n";
  auto azure = [&](const std::string& name, const std::string& bad_line) {
    return opts(TraceFormat::kAzure, scratch(name, kAzureHeader + good + bad_line + "\n" + good));
  };
  auto o = azure("trunc.csv", "2023-11-16 18:15:50.9951690,396");
  CHECK_THROWS_WITH(TraceSource(o), Contains("trunc.csv:3: line: expected at least 3 comma-separated fields"));
  o = azure("nonnum.csv", "2023-11-16 18:15:50.9951690,396,abc");
  CHECK_THROWS_WITH(TraceSource(o), Contains("nonnum.csv:3: GeneratedTokens: expected a whole number >= 1, got \"abc\""));
  o = azure("neg.csv", "2023-11-16 18:15:50.9951690,-5,10");
  CHECK_THROWS_WITH(TraceSource(o), Contains("neg.csv:3: ContextTokens: expected a whole number >= 1, got \"-5\""));
  o = azure("zero.csv", "2023-11-16 18:15:50.9951690,5,0");
  CHECK_THROWS_WITH(TraceSource(o), Contains("zero.csv:3: GeneratedTokens: expected a whole number >= 1, got \"0\""));
  o = azure("date.csv", "2023-11-31 18:15:50.9951690,5,1");
  CHECK_THROWS_WITH(TraceSource(o), Contains("date.csv:3: TIMESTAMP: expected a date-time YYYY-MM-DD HH:MM:SS"));
  o = opts(TraceFormat::kAzure,
           scratch("order.csv", std::string(kAzureHeader) + "2023-11-16 18:15:46.6,1,1\n2023-11-16 18:15:45.9,1,1\n"));
  CHECK_THROWS_WITH(TraceSource(o), Contains("order.csv:3: TIMESTAMP: expected a time at or after the previous "
                                             "request's \"2023-11-16 18:15:46.6\"") &&
                                        Contains("got \"2023-11-16 18:15:45.9\""));
  o = opts(TraceFormat::kAzure, scratch("empty.csv", ""));
  CHECK_THROWS_WITH(TraceSource(o), Contains("empty.csv: no requests"));
  o = opts(TraceFormat::kAzure, scratch("header_only.csv", kAzureHeader));
  CHECK_THROWS_WITH(TraceSource(o), Contains("header_only.csv: no requests"));
  o = opts(TraceFormat::kAzure, scratch("no_such_dir_marker", "") + ".missing.csv");
  CHECK_THROWS_WITH(TraceSource(o), Contains(".missing.csv: trace file not found"));
  o = opts(TraceFormat::kAzure, scratch("wrong_header.csv", "time,ContextTokens,GeneratedTokens\n1,2,3\n"));
  CHECK_THROWS_WITH(TraceSource(o), Contains("wrong_header.csv:1: header: expected a column named \"TIMESTAMP\""));
  o = opts(TraceFormat::kCsv, scratch("gen.csv", "arrival_s,prompt_tokens,output_tokens\n1.5,10,2\n1.x,10,2\n"));
  CHECK_THROWS_WITH(TraceSource(o), Contains("gen.csv:3: arrival_s: expected a number (seconds), got \"1.x\""));
}

TEST_CASE("bad mooncake and servegen lines are reported", "[trace]") {
  const std::string ok = R"({"timestamp": 0, "input_length": 10, "output_length": 5, "hash_ids": [1, 2]})" "\n";
  auto mc = [&](const std::string& name, const std::string& line) {
    return opts(TraceFormat::kMooncake, scratch(name, ok + line + "\n"));
  };
  auto o = mc("trunc.jsonl", R"({"timestamp": 3000, "input_length": 10, "output_len)");
  CHECK_THROWS_WITH(TraceSource(o), Contains("trunc.jsonl:2: line: expected a JSON object") &&
                                        Contains("truncated line?"));
  o = mc("missing.jsonl", R"({"timestamp": 3000, "input_length": 10})");
  CHECK_THROWS_WITH(TraceSource(o), Contains("missing.jsonl:2: output_length: expected a field of that name"));
  o = mc("neg.jsonl", R"({"timestamp": 3000, "input_length": -4, "output_length": 5})");
  CHECK_THROWS_WITH(TraceSource(o), Contains("neg.jsonl:2: input_length: expected a whole number >= 1, got \"-4\""));
  o = mc("str.jsonl", R"({"timestamp": "soon", "input_length": 4, "output_length": 5})");
  CHECK_THROWS_WITH(TraceSource(o), Contains("str.jsonl:2: timestamp: expected a number (milliseconds), got \"soon\""));
  o = opts(TraceFormat::kMooncake,
           scratch("back.jsonl", R"({"timestamp": 6000, "input_length": 1, "output_length": 1})"
                                 "\n" R"({"timestamp": 3000, "input_length": 1, "output_length": 1})"));
  CHECK_THROWS_WITH(TraceSource(o), Contains("back.jsonl:2: timestamp: expected a time at or after the previous "
                                             "request's 6000 ms") &&
                                        Contains("got \"3000\""));
  o = opts(TraceFormat::kMooncake, scratch("empty.jsonl", "\n"));
  CHECK_THROWS_WITH(TraceSource(o), Contains("empty.jsonl: no requests"));
  o = mc("hashes.jsonl", R"({"timestamp": 3000, "input_length": 4, "output_length": 5, "hash_ids": [3, -1]})");
  CHECK_THROWS_WITH(TraceSource(o), Contains("hashes.jsonl:2: hash_ids: expected a list of whole numbers >= 0, got \"-1\""));
  o = mc("hashes2.jsonl", R"({"timestamp": 3000, "input_length": 4, "output_length": 5, "hash_ids": 7})");
  CHECK_THROWS_WITH(TraceSource(o), Contains("hashes2.jsonl:2: hash_ids: expected a list of whole numbers >= 0, got \"7\""));

  auto sg = [&](const std::string& name, const std::string& rows) {
    return opts(TraceFormat::kServeGen, scratch(name, rows));
  };
  o = sg("chunk-1-trace.csv", "0,1,1,Gamma,1,1\n600,1,1,Gamma,1\n");
  CHECK_THROWS_WITH(TraceSource(o), Contains("chunk-1-trace.csv:2: line: expected 6 comma-separated fields"));
  o = sg("chunk-2-trace.csv", "0,fast,1,Gamma,1,1\n");
  CHECK_THROWS_WITH(TraceSource(o), Contains("chunk-2-trace.csv:1: rate: expected a rate in requests/s >= 0, got \"fast\""));
  o = sg("chunk-3-trace.csv", "0,1,1,Pareto,1,1\n");
  CHECK_THROWS_WITH(TraceSource(o), Contains("chunk-3-trace.csv:1: pattern: expected Gamma or Weibull"));
  o = sg("chunk-4-trace.csv", "600,1,1,Gamma,1,1\n0,1,1,Gamma,1,1\n");
  CHECK_THROWS_WITH(TraceSource(o), Contains("chunk-4-trace.csv:2: timestamp: expected a window start after the "
                                             "previous row's 600 s"));
  o = sg("chunk-5-trace.csv", "0,0,0,,0,0\n600,0,0,,0,0\n");
  CHECK_THROWS_WITH(TraceSource(o), Contains("chunk-5-trace.csv: no requests"));
  o = opts(TraceFormat::kServeGen, scratch("x", "") + "_no_folder");
  CHECK_THROWS_WITH(TraceSource(o), Contains("_no_folder: ServeGen trace file or folder not found"));
}

TEST_CASE("skip_malformed counts and skips bad lines", "[trace]") {
  auto o = opts(TraceFormat::kAzure,
                scratch("mixed.csv", std::string(kAzureHeader) +
                                         "2023-11-16 18:15:46.0,10,1\n"
                                         "2023-11-16 18:15:47.0,x,1\n"  // non-numeric
                                         "2023-11-16 18:15:48.0,10\n"   // truncated
                                         "2023-11-16 18:15:45.0,10,1\n"  // backwards
                                         "2023-11-16 18:15:49.0,20,2\n"
                                         "\n"
                                         "2023-11-16 18:15:50.5,30,3"));
  o.skip_malformed = true;
  TraceSource src(o);
  const auto v = drain(src);
  REQUIRE(v.size() == 3);
  CHECK(v[1].time_s == 3.0);
  CHECK(v[2].time_s == 4.5);
  CHECK(v[2].output_tokens == 3);
  CHECK(src.stats().skipped_malformed == 3);
  CHECK(src.stats().lines == 8);

  o = opts(TraceFormat::kMooncake, scratch("allbad.jsonl", "{\n{\"timestamp\": 1}\n"));
  o.skip_malformed = true;
  CHECK_THROWS_WITH(TraceSource(o), Contains("allbad.jsonl: no requests (2 malformed lines skipped)"));
}

// ------------------------------------------------------------------------------------------------
// The full real traces (../shared/data/traces), when present

TEST_CASE("real azure and mooncake traces replay in full", "[trace]") {
  if (!std::filesystem::exists(real_traces())) {
    WARN("skipped: " << real_traces() << " not found");
    return;
  }
  auto o = opts(TraceFormat::kAzure, real_traces() + "AzureLLMInferenceTrace_conv.csv");
  TraceSource az(o);
  CHECK(az.expected_requests() == 19366);
  auto v = drain(az);
  REQUIRE(v.size() == 19366);
  double p = 0, q = 0;
  for (const auto& r : v) p += r.prompt_tokens, q += r.output_tokens;
  CHECK(p / v.size() == Approx(1155).margin(1));
  CHECK(q / v.size() == Approx(211).margin(1));
  CHECK(v.back().time_s == Approx(3501.7).margin(0.05));  // 18:15:46.68 to 19:14:08.40
  CHECK(nondecreasing(v));

  o = opts(TraceFormat::kMooncake, real_traces() + "conversation_trace.jsonl");
  TraceSource mc(o);
  v = drain(mc);
  REQUIRE(v.size() == 12031);
  p = 0;
  for (const auto& r : v) p += r.prompt_tokens;
  CHECK(p / v.size() == Approx(12035).margin(1));
  CHECK(v.back().time_s == Approx(3537).margin(3.1));  // last timestamp 3,536,999 ms, spread over its slot
  CHECK(nondecreasing(v));
}

TEST_CASE("real servegen folder: the first 600 s carry the first windows' rate x 600", "[trace]") {
  const auto dir = real_traces() + "servegen/language/m-large";
  if (!std::filesystem::exists(dir)) {
    WARN("skipped: " << dir << " not found");
    return;
  }
  double first_window = 0;
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path());
    std::string line;
    std::getline(in, line);
    std::stringstream ss(line);
    std::string ts, rate;
    std::getline(ss, ts, ',');
    std::getline(ss, rate, ',');
    REQUIRE(ts == "0");
    first_window += std::round(std::stod(rate) * 600);
    ++files;
  }
  REQUIRE(files == 162);
  auto o = opts(TraceFormat::kServeGen, dir);
  o.duration_s = 600;
  TraceSource src(o);
  CHECK(src.expected_requests() == Approx(first_window));
  const auto v = drain(src);
  CHECK(static_cast<double>(v.size()) == first_window);  // 127,668: windows carry exact counts
  CHECK(nondecreasing(v));
  CHECK(v.back().time_s < 600);
}

TEST_CASE("mooncake sample: every request keeps its prompt's block hashes, copies are other users' prompts", "[trace]") {
  auto o = opts(TraceFormat::kMooncake, samples() + "mooncake_conv_sample.jsonl");
  TraceSource src(o);
  const workload::HashChains* chains = src.hash_chains();
  REQUIRE(chains != nullptr);
  CHECK(chains->block_tokens() == 512);
  CHECK(chains->lines() == 200);
  // The file's first two lines: hash_ids [0, 1, ..., 13] and [0, 14, 15, ..., 27].
  const auto v = drain(src);
  REQUIRE(v.size() == 200);
  const auto line = [](const RequestSpec& r) { return workload::prefix::chain_index(r.prefix); };
  std::vector<std::uint64_t> first(chains->data(line(v[0])), chains->data(line(v[0])) + chains->size(line(v[0])));
  std::vector<std::uint64_t> expect(14);
  for (std::uint64_t i = 0; i < 14; ++i) expect[i] = i;
  // Requests sharing a timestamp are spread within their slot, so find the file's first two lines.
  std::size_t a = 0, b = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    CHECK(workload::prefix::kind(v[i].prefix) == workload::prefix::Kind::kChain);
    if (line(v[i]) == 0) a = i;
    if (line(v[i]) == 1) b = i;
  }
  CHECK(v[a].prompt_tokens == 6758);
  CHECK(std::vector<std::uint64_t>(chains->data(0), chains->data(0) + chains->size(0)) == expect);
  REQUIRE(chains->size(1) == 15);
  CHECK(chains->data(1)[0] == 0);
  CHECK(chains->data(1)[1] == 14);
  CHECK(v[b].prompt_tokens == 7322);
  // Doubling the rate adds copies: other users' requests, whose prompts share nothing known.
  o.rate_scale = 2;
  const auto w = drain(o);
  std::size_t with_chain = 0;
  for (const auto& r : w) with_chain += r.prefix != 0;
  CHECK(with_chain == 200);
  CHECK(w.size() > 300);
  // Formats without hashes carry none.
  CHECK(TraceSource(opts(TraceFormat::kAzure, samples() + "azure_conv_sample.csv")).hash_chains() == nullptr);
}
