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

Recorder::Recorder(std::uint32_t dcs, Quantiles::Mode mode, SloTargets slo, double duration_s, std::uint32_t user_regions)
    : slo_(slo), mode_(mode), total_(mode), per_dc_(dcs, LatencySet(mode)), per_region_(user_regions, LatencySet(mode)) {
  hour_count_ = static_cast<std::size_t>(std::ceil(duration_s / 3600.0));
  hours_.resize(dcs);
  for (auto& h : hours_) h.resize(hour_count_);
  region_hours_.resize(user_regions);
  for (auto& h : region_hours_) h.resize(hour_count_);
}

void HourStats::add(const serving::RequestRecord& r, const SloTargets& slo) {
  const double t_ttft = r.first_token_s - r.sent_s;
  ttft.add(t_ttft);
  e2e.add(r.done_s - r.sent_s);
  bool ok = t_ttft <= slo.ttft_s;
  if (r.output_tokens >= 2) {
    const double t = (r.done_s - r.first_token_s) / (r.output_tokens - 1);
    tpot.add(t);
    ok = ok && t <= slo.tpot_s;
  }
  ++completed;
  meet_both += ok;
}

void Recorder::on_done(const serving::RequestRecord& r) {
  per_dc_[r.dc].add(r, slo_);
  const bool by_region = r.user_region < per_region_.size();
  if (by_region) per_region_[r.user_region].add(r, slo_);
  const auto h = static_cast<std::size_t>(r.sent_s / 3600.0);
  if (h < hour_count_) {
    auto& slot = hours_[r.dc][h];
    if (!slot) slot = std::make_unique<HourStats>();
    slot->add(r, slo_);
    if (by_region) {
      auto& rs = region_hours_[r.user_region][h];
      if (!rs) rs = std::make_unique<HourStats>();
      rs->add(r, slo_);
    }
  }
  for (const auto& sink : sinks_) sink(r);
}

void Recorder::on_dropped(const workload::RequestSpec&, std::uint32_t dc) { ++per_dc_[dc].dropped; }

void Recorder::on_rejected(const workload::RequestSpec& r, std::uint32_t dc) {
  ++per_dc_[dc].rejected;
  if (static_cast<std::uint64_t>(r.prompt_tokens) + r.output_tokens > max_context_tokens_) ++per_dc_[dc].rejected_over_context;
}

}  // namespace chatdc::metrics

namespace chatdc::metrics {

namespace {
constexpr std::uint64_t kRecorderMagic = 0x63686174'64637231ULL;  // "chatdcr1"
}

void LatencySet::save(std::vector<std::uint64_t>* w, std::vector<float>* values) const {
  w->insert(w->end(), {completed, rejected, rejected_over_context, dropped, meet_ttft, meet_tpot, meet_both,
                       preempted_requests, static_cast<std::uint64_t>(prompt_tokens), static_cast<std::uint64_t>(output_tokens)});
  for (const Quantiles* q : {&queue, &ttft, &tpot, &e2e}) q->save(w, values);
}

bool LatencySet::add_saved(const std::vector<std::uint64_t>& w, std::size_t* pos, const std::vector<float>& values,
                           std::size_t* vpos) {
  if (*pos + 10 > w.size()) return false;
  const std::uint64_t* p = &w[*pos];
  completed += p[0];
  rejected += p[1];
  rejected_over_context += p[2];
  dropped += p[3];
  meet_ttft += p[4];
  meet_tpot += p[5];
  meet_both += p[6];
  preempted_requests += p[7];
  prompt_tokens += static_cast<double>(p[8]);
  output_tokens += static_cast<double>(p[9]);
  *pos += 10;
  for (Quantiles* q : {&queue, &ttft, &tpot, &e2e})
    if (!q->add_saved(w, pos, values, vpos)) return false;
  return true;
}

void Recorder::save(std::vector<std::uint64_t>* w, std::vector<float>* values) const {
  w->insert(w->end(), {kRecorderMagic, per_dc_.size(), per_region_.size(), hour_count_});
  for (const auto& s : per_dc_) s.save(w, values);
  for (const auto& s : per_region_) s.save(w, values);
  for (const auto* table : {&hours_, &region_hours_})
    for (const auto& row : *table)
      for (const auto& h : row) {
        w->push_back(h ? 1 : 0);
        if (!h) continue;
        w->insert(w->end(), {h->completed, h->meet_both});
        for (const Quantiles* q : {&h->ttft, &h->tpot, &h->e2e}) q->save(w, values);
      }
}

bool Recorder::add_saved(const std::vector<std::uint64_t>& w, const std::vector<float>& values) {
  std::size_t pos = 0, vpos = 0;
  if (w.size() < 4 || w[0] != kRecorderMagic || w[1] != per_dc_.size() || w[2] != per_region_.size() || w[3] != hour_count_)
    return false;
  pos = 4;
  merged_ = false;
  total_ = LatencySet(mode_);
  for (auto& s : per_dc_)
    if (!s.add_saved(w, &pos, values, &vpos)) return false;
  for (auto& s : per_region_)
    if (!s.add_saved(w, &pos, values, &vpos)) return false;
  for (auto* table : {&hours_, &region_hours_})
    for (auto& row : *table)
      for (auto& h : row) {
        if (pos >= w.size()) return false;
        if (w[pos++] == 0) continue;
        if (!h) h = std::make_unique<HourStats>();
        if (pos + 2 > w.size()) return false;
        h->completed += w[pos];
        h->meet_both += w[pos + 1];
        pos += 2;
        for (Quantiles* q : {&h->ttft, &h->tpot, &h->e2e})
          if (!q->add_saved(w, &pos, values, &vpos)) return false;
      }
  return pos == w.size() && vpos == values.size();
}

}  // namespace chatdc::metrics
