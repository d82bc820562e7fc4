#include "metrics/recorder.hpp"

#include <cmath>

namespace chatdc::metrics {

void LatencySet::add(const serving::RequestRecord& r, const SloTargets& slo) {
  ++completed;
  prompt_tokens += r.prompt_tokens;
  output_tokens += r.output_tokens;
  if (r.preemptions > 0) ++preempted_requests;
  const double t_ttft = r.first_token_s - r.sent_s;
  queue.add(r.admitted_s - r.delivered_s);
  ttft.add(t_ttft);
  e2e.add(r.done_s - r.sent_s);
  bool ok_tpot = true;
  if (r.output_tokens >= 2) {
    const double t = (r.done_s - r.first_token_s) / (r.output_tokens - 1);
    tpot.add(t);
    ok_tpot = t <= slo.tpot_s;
  }
  const bool ok_ttft = t_ttft <= slo.ttft_s;
  meet_ttft += ok_ttft;
  meet_tpot += ok_tpot;
  meet_both += ok_ttft && ok_tpot;
}

void LatencySet::merge(const LatencySet& o) {
  queue.merge(o.queue);
  ttft.merge(o.ttft);
  tpot.merge(o.tpot);
  e2e.merge(o.e2e);
  completed += o.completed;
  rejected += o.rejected;
  rejected_over_context += o.rejected_over_context;
  dropped += o.dropped;
  meet_ttft += o.meet_ttft;
  meet_tpot += o.meet_tpot;
  meet_both += o.meet_both;
  preempted_requests += o.preempted_requests;
  prompt_tokens += o.prompt_tokens;
  output_tokens += o.output_tokens;
}

LatencySet& Recorder::total() {
  if (per_dc_.size() == 1) return per_dc_[0];  // nothing to merge
  if (!merged_) {
    for (const auto& d : per_dc_) total_.merge(d);
    merged_ = true;
  }
  return total_;
}

Recorder::Recorder(std::uint32_t dcs, Quantiles::Mode mode, SloTargets slo, double duration_s)
    : slo_(slo), mode_(mode), total_(mode), per_dc_(dcs, LatencySet(mode)) {
  hour_count_ = static_cast<std::size_t>(std::ceil(duration_s / 3600.0));
  hours_.resize(dcs);
  for (auto& h : hours_) h.resize(hour_count_);
}

void Recorder::on_done(const serving::RequestRecord& r) {
  per_dc_[r.dc].add(r, slo_);
  const auto h = static_cast<std::size_t>(r.sent_s / 3600.0);
  if (h < hour_count_) {
    auto& slot = hours_[r.dc][h];
    if (!slot) slot = std::make_unique<HourStats>();
    const double ttft = r.first_token_s - r.sent_s;
    slot->ttft.add(ttft);
    slot->e2e.add(r.done_s - r.sent_s);
    bool ok = ttft <= slo_.ttft_s;
    if (r.output_tokens >= 2) {
      const double tpot = (r.done_s - r.first_token_s) / (r.output_tokens - 1);
      slot->tpot.add(tpot);
      ok = ok && tpot <= slo_.tpot_s;
    }
    ++slot->completed;
    slot->meet_both += ok;
  }
  for (const auto& sink : sinks_) sink(r);
}

void Recorder::on_dropped(const workload::RequestSpec&, std::uint32_t dc) { ++per_dc_[dc].dropped; }

void Recorder::on_rejected(const workload::RequestSpec& r, std::uint32_t dc) {
  ++per_dc_[dc].rejected;
  if (static_cast<std::uint64_t>(r.prompt_tokens) + r.output_tokens > max_context_tokens_) ++per_dc_[dc].rejected_over_context;
}

}  // namespace chatdc::metrics
