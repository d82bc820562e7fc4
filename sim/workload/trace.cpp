// Pure core: TraceSource, the replay pipeline shared by all trace formats (see trace.hpp):
// played stream (format reader, skip, loop) -> rate_scale (thinning or copies) -> sample_fraction
// -> run time (start_offset_s + played * time_scale) -> duration_s cut -> user region.
#include "workload/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>

#include "core/error.hpp"
#include "workload/trace_formats.hpp"

namespace chatdc::workload {

namespace {

void require(bool ok, const char* option, const char* expected, double got) {
  if (!ok) throw Error(fmt::format("trace: {}: expected {}, got {}", option, expected, got));
}

void validate(const TraceOptions& o) {
  if (o.path.empty()) throw Error("trace: path: expected a trace file (or a ServeGen folder), got \"\"");
  require(std::isfinite(o.time_scale) && o.time_scale > 0, "time_scale", "a number > 0", o.time_scale);
  require(std::isfinite(o.rate_scale) && o.rate_scale > 0, "rate_scale", "a number > 0", o.rate_scale);
  require(std::isfinite(o.start_offset_s) && o.start_offset_s >= 0, "start_offset_s", "a number >= 0",
          o.start_offset_s);
  require(std::isfinite(o.skip_s) && o.skip_s >= 0, "skip_s", "a number >= 0", o.skip_s);
  require(o.sample_fraction > 0 && o.sample_fraction <= 1, "sample_fraction", "a number in (0, 1]",
          o.sample_fraction);
  require(std::isfinite(o.duration_s) && o.duration_s > 0, "duration_s", "a number > 0", o.duration_s);
  if (o.region_weights.empty()) throw Error("trace: region_weights: expected at least one weight, got none");
  double sum = 0;
  for (double w : o.region_weights) {
    require(std::isfinite(w) && w >= 0, "region_weights", "weights >= 0", w);
    sum += w;
  }
  require(sum > 0, "region_weights", "a positive sum", sum);
}

}  // namespace

const char* to_string(TraceFormat f) {
  switch (f) {
    case TraceFormat::kAzure: return "azure";
    case TraceFormat::kMooncake: return "mooncake";
    case TraceFormat::kServeGen: return "servegen";
    case TraceFormat::kCsv: return "csv";
  }
  return "?";
}

TraceSource::TraceSource(TraceOptions o)
    : o_(std::move(o)),
      rate_rng_(Rng::stream(o_.seed, "trace/rate_scale")),
      sample_rng_(Rng::stream(o_.seed, "trace/sample")),
      region_rng_(Rng::stream(o_.seed, "trace/region")) {
  validate(o_);
  double cum = 0;
  for (double w : o_.region_weights) region_cum_.push_back(cum += w);
  const double cutoff_played_s = (o_.duration_s - o_.start_offset_s) / o_.time_scale;
  const auto scan = detail::scan_trace(o_, cutoff_played_s);
  expected_ = std::max(0.0, scan.expected_requests) * o_.rate_scale * o_.sample_fraction;
  const double days = std::max(1.0, o_.duration_s / 86400.0);
  if (!(expected_ <= kMaxRequestsPerDay * days))
    throw Error(fmt::format("{}: the trace would play {:.3g} requests a day{}, more than the {:.0e} a day chatdc simulates: "
                            "check time_scale, rate_scale and the trace's timestamps",
                            o_.path, expected_ / days, o_.loop ? " (loop: the trace is replayed until the run ends)" : "",
                            kMaxRequestsPerDay));
  stream_ = detail::make_played_stream(o_, stats_, scan, cutoff_played_s);
  if (scan.chains && !scan.chains->empty()) chains_ = scan.chains;
  have_cur_ = stream_->next(cur_);
  if (have_cur_) have_nxt_ = stream_->next(nxt_);
}

TraceSource::~TraceSource() = default;

// Turns the current original request into 0 (thinned), 1, or more (copies) ready requests.
void TraceSource::expand() {
  std::vector<double> u;
  while (ready_.empty() && have_cur_) {
    if (run_time(cur_.t_s) >= o_.duration_s) {  // copies are never earlier than their original
      have_cur_ = false;
      return;
    }
    if (originals_ == 0) first_t_s_ = cur_.t_s;
    last_t_s_ = cur_.t_s;
    ++originals_;
    std::uint64_t m = 1;
    if (o_.rate_scale != 1.0) {
      const double whole = std::floor(o_.rate_scale), frac = o_.rate_scale - whole;
      m = static_cast<std::uint64_t>(whole) + (frac > 0 && rate_rng_.uniform() < frac ? 1 : 0);
    }
    if (m == 0) {
      ++stats_.dropped_sampling;
    } else {
      ready_.push_back(cur_);
      if (m > 1) {
        // Copies go uniformly at random into the gap to the next original (the last one uses the mean gap).
        const double gap = have_nxt_ ? nxt_.t_s - cur_.t_s
                           : originals_ > 1 ? (last_t_s_ - first_t_s_) / static_cast<double>(originals_ - 1)
                                            : 0.0;
        u.resize(m - 1);
        for (auto& x : u) x = rate_rng_.uniform();
        std::sort(u.begin(), u.end());
        for (double x : u) {
          auto c = cur_;
          c.t_s = cur_.t_s + x * gap;
          c.prefix = 0;  // another user's request like it: its prompt is its own
          ready_.push_back(c);
        }
      }
    }
    cur_ = nxt_;
    have_cur_ = have_nxt_;
    if (have_cur_) have_nxt_ = stream_->next(nxt_);
  }
}

bool TraceSource::fill_head() {
  while (!have_head_ && !done_) {
    if (ready_.empty()) expand();
    if (ready_.empty()) {
      done_ = true;
      break;
    }
    const auto p = ready_.front();
    ready_.pop_front();
    const double t = run_time(p.t_s);
    if (t >= o_.duration_s) {
      done_ = true;
      break;
    }
    if (o_.sample_fraction < 1.0 && !(sample_rng_.uniform() < o_.sample_fraction)) {
      ++stats_.dropped_sampling;
      continue;
    }
    head_ = RequestSpec{};
    head_.time_s = t;
    head_.prompt_tokens = p.prompt_tokens;
    head_.output_tokens = std::max<std::uint32_t>(1, p.output_tokens);
    head_.prefix = p.prefix;
    if (region_cum_.size() > 1) {
      const double x = region_rng_.uniform() * region_cum_.back();
      const auto it = std::upper_bound(region_cum_.begin(), region_cum_.end(), x);
      head_.user_region = static_cast<std::uint32_t>(
          std::min<std::size_t>(static_cast<std::size_t>(it - region_cum_.begin()), region_cum_.size() - 1));
    }
    have_head_ = true;
  }
  if (done_ && !have_head_) {
    ready_.clear();
    stream_.reset();  // closes the files
  }
  return have_head_;
}

double TraceSource::peek_time() { return fill_head() ? head_.time_s : kNever; }

RequestSpec TraceSource::pop() {
  const bool ok = fill_head();
  assert(ok && "pop() after the trace ended");
  (void)ok;
  have_head_ = false;
  head_.id = next_id_++;
  ++stats_.requests;
  return head_;
}

}  // namespace chatdc::workload
