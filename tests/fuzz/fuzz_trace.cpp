// libFuzzer harness: one trace format (CHATDC_FUZZ_FORMAT: azure, mooncake, servegen, csv) through
// TraceSource, the validation scan and the replay (README "Tests", "Fuzzing").
// Input: the trace file; if it starts with '@', its first line picks the options (loop, skip_s,
// time_scale, rate_scale, sample_fraction, skip_malformed, spreading, duration, time unit, user regions).
// Findings: any exception other than chatdc::Error, a crash or sanitizer error, and a replay that breaks
// TraceSource's promises (times in order, in [0, duration), token counts >= 1).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.hpp"
#include "workload/trace.hpp"

namespace {

namespace fs = std::filesystem;
using chatdc::workload::TraceFormat;

TraceFormat format() {
  const std::string f = CHATDC_FUZZ_FORMAT;
  return f == "mooncake" ? TraceFormat::kMooncake : f == "servegen" ? TraceFormat::kServeGen : f == "csv" ? TraceFormat::kCsv : TraceFormat::kAzure;
}

/// A private folder for this process's trace file (in memory when /dev/shm is there).
const fs::path& folder() {
  static const fs::path dir = [] {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    const fs::path d = base / ("chatdc-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  static const struct Cleanup {
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup;
  return dir;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_trace: broken promise: %s\n", what);
    std::abort();
  }
}

}  // namespace

// Throughput: a small quarantine and short allocation stacks; every error is still caught.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16:malloc_context_size=4:max_malloc_fill_size=0"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  chatdc::workload::TraceOptions o;
  o.format = format();
  o.duration_s = 3600;
  o.seed = 7;
  o.servegen_prompt.value = 100;
  o.servegen_output.value = 10;
  if (!input.empty() && input[0] == '@') {  // options, one byte each, within the ranges the scenario reader allows
    const auto nl = input.find('\n');
    const std::string opt = input.substr(1, nl == std::string::npos ? std::string::npos : nl - 1);
    input.erase(0, nl == std::string::npos ? input.size() : nl + 1);
    auto b = [&](std::size_t i) { return i < opt.size() ? static_cast<unsigned char>(opt[i]) : 0u; };
    o.loop = b(0) & 1;
    o.skip_malformed = b(0) & 2;
    o.spread_same_timestamp = !(b(0) & 4);
    o.skip_s = b(1) % 8 == 0 ? 0.0 : std::pow(10.0, static_cast<double>(b(1) % 16) - 6);
    o.time_scale = std::pow(10.0, static_cast<double>(b(2) % 13) - 6);           // 1e-6 .. 1e6
    // Thinning is kept mild (>= 1/4 and >= 1/10 kept), so that 500 requests never take millions of steps.
    o.rate_scale = b(3) == 0 ? 1.0 : std::clamp(b(3) / 16.0, 0.25, 1000.0);
    o.sample_fraction = b(4) == 0 ? 1.0 : 0.1 + 0.9 * b(4) / 255.0;
    o.duration_s = std::pow(10.0, 1 + static_cast<double>(b(5) % 7));            // 10 s .. 28 days
    o.start_offset_s = std::fmod(b(6) * 37.0, o.duration_s);
    o.csv.unit = static_cast<chatdc::workload::CsvColumns::TimeUnit>(b(7) % 4);
    if (b(8) % 3) o.region_weights = {1.0, static_cast<double>(b(8) % 5)};
  }
  fs::path path = folder() / "trace";
  if (o.format == TraceFormat::kServeGen) {
    fs::create_directories(folder() / "sg");
    path = folder() / "sg" / "chunk-0-trace.csv";
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << input;
  }
  o.path = o.format == TraceFormat::kServeGen ? (folder() / "sg").string() : path.string();
  try {
    chatdc::workload::TraceSource src(o);
    check(std::isfinite(src.expected_requests()) && src.expected_requests() >= 0, "expected_requests finite and >= 0");
    double last = 0;
    for (int n = 0; n < 500 && src.peek_time() < chatdc::workload::RequestSource::kNever; ++n) {
      const double t = src.peek_time();
      const auto r = src.pop();
      check(r.time_s == t, "pop() at peek_time()");
      check(t >= last && t >= 0 && t < o.duration_s, "times in order, in [0, duration)");
      check(r.prompt_tokens >= 1 && r.output_tokens >= 1, "token counts >= 1");
      check(r.user_region < o.region_weights.size(), "a user region that exists");
      last = t;
    }
  } catch (const chatdc::Error&) {
  }
  return 0;
}
