// Pure core: collects what happened to each request (latencies, SLO attainment, tokens), per
// datacenter and in total, in bounded memory when asked (Quantiles sketch mode).
//
// Definitions (README "Outputs"):
//   queue = admitted - delivered          (waiting in the replica's queue)
//   ttft  = first token at the user - sent
//   tpot  = (last token - first token) / (output tokens - 1), requests with >= 2 output tokens
//   e2e   = last token at the user - sent
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "metrics/quantiles.hpp"
#include "serving/system.hpp"

namespace chatdc::metrics {

struct SloTargets {
  double ttft_s = 2.0;
  double tpot_s = 0.2;
};

struct LatencySet {
  explicit LatencySet(Quantiles::Mode mode) : queue(mode), ttft(mode), tpot(mode), e2e(mode) {}
  Quantiles queue, ttft, tpot, e2e;
  std::uint64_t completed = 0;
  std::uint64_t rejected = 0;
  std::uint64_t rejected_over_context = 0;  // of rejected: prompt + output longer than the model's context
  std::uint64_t dropped = 0;
  std::uint64_t meet_ttft = 0, meet_tpot = 0, meet_both = 0;
  std::uint64_t preempted_requests = 0;
  double prompt_tokens = 0, output_tokens = 0;
  void add(const serving::RequestRecord& r, const SloTargets& slo);
  void merge(const LatencySet& o);
};

/// Latency of the requests sent in one hour at one datacenter (sketches: kSketchRelativeError).
struct HourStats {
  static constexpr double kMin = 1.0 / 8192, kMax = 131072;  // ~0.1 ms .. ~36 h
  HourStats()
      : ttft(Quantiles::Mode::kSketch, kMin, kMax), tpot(Quantiles::Mode::kSketch, kMin, kMax), e2e(Quantiles::Mode::kSketch, kMin, kMax) {}
  Quantiles ttft, tpot, e2e;
  std::uint64_t completed = 0, meet_both = 0;
};

class Recorder final : public serving::RequestObserver {
 public:
  Recorder(std::uint32_t dcs, Quantiles::Mode mode, SloTargets slo, double duration_s = 0);
  void on_done(const serving::RequestRecord& r) override;
  void on_rejected(const workload::RequestSpec& r, std::uint32_t dc) override;
  void on_dropped(const workload::RequestSpec& r, std::uint32_t dc) override;
  /// Rejections with prompt + output above this are counted as forced by the model's context.
  void set_max_context_tokens(std::uint64_t tokens) { max_context_tokens_ = tokens; }
  /// Every finished request is also passed to each sink (WAN accounting, request logs).
  void add_sink(std::function<void(const serving::RequestRecord&)> sink) { sinks_.push_back(std::move(sink)); }

  /// All datacenters together (merged on first use after the run).
  LatencySet& total();
  LatencySet& dc(std::uint32_t d) { return per_dc_[d]; }
  const SloTargets& slo() const { return slo_; }
  /// Per datacenter and hour of the run in which the requests were sent; nullptr for an empty hour.
  HourStats* hour(std::uint32_t d, std::size_t h) { return h < hours_[d].size() ? hours_[d][h].get() : nullptr; }
  std::size_t hour_count() const { return hour_count_; }

 private:
  SloTargets slo_;
  std::uint64_t max_context_tokens_ = UINT64_MAX;
  Quantiles::Mode mode_;
  LatencySet total_;
  bool merged_ = false;
  std::vector<LatencySet> per_dc_;
  std::size_t hour_count_ = 0;
  std::vector<std::vector<std::unique_ptr<HourStats>>> hours_;  // [dc][hour]
  std::vector<std::function<void(const serving::RequestRecord&)>> sinks_;
};

}  // namespace chatdc::metrics
