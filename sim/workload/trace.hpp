// Pure core: replay of recorded request traces as a streaming RequestSource.
//
// Formats (workloads/traces/README.md and ../shared/data/traces/README.md describe the files):
//   azure     CSV with header TIMESTAMP,ContextTokens,GeneratedTokens; TIMESTAMP "YYYY-MM-DD HH:MM:SS.fffffff"
//   mooncake  JSON lines {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}
//   servegen  per-client CSV without header: window start s, rate req/s, cv, Gamma|Weibull|"", shape, scale;
//             a folder means every chunk-<N>-trace.csv in it (one client each)
//   csv       any CSV with a header row; time, prompt and output columns chosen by name
//
// Trace time is seconds since the trace's origin: the first request's timestamp for the per-request
// formats (azure, mooncake, csv), t = 0 of the windows for servegen. A request at trace time t of
// pass l (l = 0 unless loop) plays at run time
//   start_offset_s + (t - skip_s + l * period_s) * time_scale
// where period_s is the played span (last request - skip_s) plus one mean gap between requests
// (servegen: end of the last window - skip_s). Requests at trace time < skip_s are dropped.
//
// Mooncake spreading (spread_same_timestamp): k >= 2 requests sharing timestamp T get k sorted uniform
// times in [T, T'), T' the next distinct timestamp (the last group uses the mean gap between distinct
// timestamps), in file order; so the first request may play up to one slot (~3 s) after start_offset_s.
// Every pass of a loop spreads alike (the same draws), so the period taken from the first pass holds.
// Token counts must be whole numbers >= 1 (prompt too: no real trace has an empty prompt; Azure's
// smallest is 2, Mooncake's 891), at most 2^32 - 1.
//
// Then, in this order: rate_scale thins (< 1) or adds copies (> 1) of each request, copies placed
// uniformly at random between it and the next request of the trace (the last request uses the mean
// gap); sample_fraction keeps each resulting request with that probability; each kept request gets
// a user region drawn by region_weights; nothing at or after duration_s is produced.
//
// ServeGen windows: a window [t0, t0 + w) (w = the gap to the client's next row; the last row reuses
// the previous w, 600 s for a one-row file) with rate r > 0 carries N = r * w requests (ServeGen's rates
// are whole counts / 600; a fractional r * w is rounded up with probability of its fractional part).
// As in ServeGen's own generator, N + 1 gaps are drawn from the fitted family (Gamma(shape) or
// Weibull(shape); the file's scale and cv are not used: only the shape sets the burstiness) and
// rescaled to fill the window, so the arrivals are at t0 + w * (g1 + ... + gi) / (g1 + ... + g(N+1)),
// i = 1..N. For shape 1 Gamma this is exactly a Poisson process conditioned on N arrivals. Token
// counts are drawn from servegen_prompt and servegen_output (the trace has none).
//
// Memory is O(1) in the trace length: files are read line by line; a mooncake timestamp group (about 10
// requests) and, for rate_scale > 1, the copies of one request are buffered; servegen keeps one open
// file and one window's state per client. The constructor reads the whole trace once to validate it
// (errors surface before the run starts) and to count requests for expected_requests().
//
// Deterministic for a given seed: every random draw comes from Rng::stream(seed, "trace/...").
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "workload/request_source.hpp"
#include "workload/token_sampler.hpp"

namespace chatdc::workload {

enum class TraceFormat { kAzure, kMooncake, kServeGen, kCsv };

/// Columns of a generic CSV trace, chosen by their header names.
struct CsvColumns {
  std::string time = "arrival_s";
  std::string prompt = "prompt_tokens";
  std::string output = "output_tokens";
  /// Unit of the time column; kDatetime is "YYYY-MM-DD HH:MM:SS[.fraction]" (no time zone).
  enum class TimeUnit { kSeconds, kMilliseconds, kMicroseconds, kDatetime } unit = TimeUnit::kSeconds;
};

struct TraceOptions {
  TraceFormat format = TraceFormat::kAzure;
  std::string path;              // a file; for ServeGen a folder of chunk-<N>-trace.csv files or one such file
  CsvColumns csv;                // generic CSV only
  double time_scale = 1.0;       // multiply trace time (2 = the trace plays twice as slowly, half the rate); > 0
  double rate_scale = 1.0;       // multiply the request rate keeping the time shape (thinning or copies); > 0
  double start_offset_s = 0;     // run time at which trace time 0 (its first request, or ServeGen t=0) plays; >= 0
  double skip_s = 0;             // drop the trace's first skip_s seconds (trace time, before scaling); >= 0
  bool loop = false;             // replay the trace again (shifted by its span + one mean gap) until the run ends
  double sample_fraction = 1.0;  // keep each request with this probability (independent of rate_scale); (0, 1]
  bool skip_malformed = false;   // count and skip bad lines instead of failing
  bool spread_same_timestamp = true;  // Mooncake: spread requests sharing a timestamp uniformly over the gap
                                      // to the next distinct timestamp; false keeps them simultaneous
  std::uint32_t hash_block_tokens = 512;  // Mooncake: tokens per block of hash_ids
  std::vector<double> region_weights{1.0};    // user region of each request: drawn by these weights
  TokenDist servegen_prompt, servegen_output;  // ServeGen has no token counts: draw them from these
  double duration_s = 86400;     // nothing at or after this run time is produced; > 0
  std::uint64_t seed = 1;
};

struct TraceStats {
  std::uint64_t lines = 0;              // lines read by the replay (all passes, header included)
  std::uint64_t requests = 0;           // requests handed out by pop()
  std::uint64_t skipped_malformed = 0;  // bad lines skipped by the replay (skip_malformed)
  std::uint64_t dropped_sampling = 0;   // requests dropped by rate_scale < 1 or sample_fraction
  std::uint64_t loops = 0;              // times the trace was started again (loop)
};

namespace detail {
/// One request of the played trace: t_s is played trace time, (trace time - skip_s) + pass * period.
struct PlayedRequest {
  double t_s = 0;
  std::uint32_t prompt_tokens = 0;
  std::uint32_t output_tokens = 1;
  std::uint64_t prefix = 0;  // RequestSpec::prefix (Mooncake: its line's block hashes)
};
/// The played trace of one format: skip and loop applied, nondecreasing t_s.
class PlayedStream {
 public:
  virtual ~PlayedStream() = default;
  /// The next request; false when the trace (all its passes) is over.
  virtual bool next(PlayedRequest& r) = 0;
};
}  // namespace detail

/// A RequestSource that streams a trace (all formats).
/// Bad input throws chatdc::Error naming file:line, the field, the value and what was expected. The
/// constructor validates the whole trace, so a bad line normally fails there, not in the middle of a run.
class TraceSource final : public RequestSource {
 public:
  explicit TraceSource(TraceOptions o);
  ~TraceSource() override;
  double peek_time() override;
  RequestSpec pop() override;
  /// Requests the run will receive, counted by the constructor's validation pass: the trace's requests
  /// that play before duration_s (a proportional share of a pass when loop wraps around, windows' r * w for
  /// ServeGen) times rate_scale times sample_fraction.
  double expected_requests() const override { return expected_; }
  const TraceStats& stats() const { return stats_; }
  /// Mooncake: the prompts' block hashes (hash_ids), which requests refer to by their prefix; else nullptr.
  const HashChains* hash_chains() const override { return chains_.get(); }

 private:
  bool fill_head();
  void expand();
  double run_time(double played_s) const { return o_.start_offset_s + played_s * o_.time_scale; }

  TraceOptions o_;
  TraceStats stats_;
  std::unique_ptr<detail::PlayedStream> stream_;
  std::shared_ptr<const HashChains> chains_;
  Rng rate_rng_, sample_rng_, region_rng_;
  std::vector<double> region_cum_;
  // rate_scale stage: the current original request and one lookahead.
  detail::PlayedRequest cur_, nxt_;
  bool have_cur_ = false, have_nxt_ = false;
  double first_t_s_ = 0, last_t_s_ = 0;
  std::uint64_t originals_ = 0;
  std::deque<detail::PlayedRequest> ready_;  // the current original and its copies, time-ordered
  RequestSpec head_;
  bool have_head_ = false, done_ = false;
  std::uint64_t next_id_ = 0;
  double expected_ = 0;
};

/// Display name of a format ("azure", "mooncake", "servegen", "csv").
const char* to_string(TraceFormat f);

}  // namespace chatdc::workload
