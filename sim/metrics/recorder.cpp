#include "metrics/recorder.hpp"

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

Recorder::Recorder(std::uint32_t dcs, Quantiles::Mode mode, SloTargets slo)
    : slo_(slo), total_(mode), per_dc_(dcs, LatencySet(mode)) {}

void Recorder::on_done(const serving::RequestRecord& r) {
  total_.add(r, slo_);
  per_dc_[r.dc].add(r, slo_);
  if (sink_) sink_(r);
}

void Recorder::on_rejected(const workload::RequestSpec&, std::uint32_t dc) {
  ++total_.rejected;
  ++per_dc_[dc].rejected;
}

}  // namespace chatdc::metrics
