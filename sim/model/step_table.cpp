#include "model/step_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include "core/csv.hpp"
#include "core/error.hpp"

namespace chatdc::model {

StepTable load_step_table(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error(fmt::format("{}: cannot open the step-time table", file));
  StepTable t;
  t.file = file;
  std::string line;
  std::vector<std::string> f;
  int n = 0;
  bool header = false, has_power = false;
  std::set<std::pair<std::string, std::pair<double, double>>> seen;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    if (!split_csv_line(line, &f)) throw Error(fmt::format("{}:{}: unterminated quote", file, n));
    if (!header) {
      const std::vector<std::string> want = {"phase", "batch", "context_tokens", "step_ms"};
      if (f.size() < 4 || !std::equal(want.begin(), want.end(), f.begin()) || (f.size() == 5 && f[4] != "gpu_power_w") ||
          f.size() > 5)
        throw Error(fmt::format("{}:{}: expected the header phase,batch,context_tokens,step_ms[,gpu_power_w], got \"{}\"",
                                file, n, line));
      has_power = f.size() == 5;
      header = true;
      continue;
    }
    const std::size_t want = has_power ? 5 : 4;
    if (f.size() != want) throw Error(fmt::format("{}:{}: expected {} fields, got {}", file, n, want, f.size()));
    const std::string& phase = f[0];
    if (phase != "prefill" && phase != "decode")
      throw Error(fmt::format("{}:{}: phase: expected prefill or decode, got \"{}\"", file, n, phase));
    double batch, ctx, ms, power = -1;
    if (!parse_number(f[1], &batch) || batch < 1 || batch != std::floor(batch))
      throw Error(fmt::format("{}:{}: batch: expected a whole number >= 1, got \"{}\"", file, n, f[1]));
    if (!parse_number(f[2], &ctx) || ctx < 1)
      throw Error(fmt::format("{}:{}: context_tokens: expected a number >= 1, got \"{}\"", file, n, f[2]));
    if (!parse_number(f[3], &ms) || ms <= 0)
      throw Error(fmt::format("{}:{}: step_ms: expected a number > 0, got \"{}\"", file, n, f[3]));
    if (has_power && !f[4].empty() && (!parse_number(f[4], &power) || power <= 0))
      throw Error(fmt::format("{}:{}: gpu_power_w: expected a number > 0 or nothing, got \"{}\"", file, n, f[4]));
    if (!seen.insert({phase, {batch, ctx}}).second)
      throw Error(fmt::format("{}:{}: a second {} row for batch {} and context {}", file, n, phase, batch, ctx));
    if (phase == "prefill")
      t.prefill.push_back({batch * ctx, ms * 1e-3, power, n});
    else
      t.decode[static_cast<std::uint32_t>(batch)].push_back({ctx, ms * 1e-3, power, n});
  }
  if (!header) throw Error(fmt::format("{}: empty step-time table", file));
  if (t.prefill.empty() || t.decode.empty())
    throw Error(fmt::format("{}: needs at least one prefill row and one decode row", file));
  auto by_x = [](const StepTable::Point& a, const StepTable::Point& b) { return a.x < b.x; };
  std::sort(t.prefill.begin(), t.prefill.end(), by_x);
  for (auto& [b, pts] : t.decode) std::sort(pts.begin(), pts.end(), by_x);

  // Physical monotonicity (README "Measured step-time tables").
  for (std::size_t i = 1; i < t.prefill.size(); ++i) {
    const auto &a = t.prefill[i - 1], &b = t.prefill[i];
    if (b.time_s < a.time_s)
      throw Error(fmt::format("{}:{}: prefill step_ms {:.6g} for {} prompt tokens is below {:.6g} for {} tokens (line {}): a step "
                              "cannot get faster as prompts grow",
                              file, b.line, b.time_s * 1e3, b.x, a.time_s * 1e3, a.x, a.line));
  }
  for (const auto& [batch, pts] : t.decode)
    for (std::size_t i = 1; i < pts.size(); ++i)
      if (pts[i].time_s < pts[i - 1].time_s)
        throw Error(fmt::format("{}:{}: decode step_ms {:.6g} at batch {} and context {} is below {:.6g} at context {} (line {}): a "
                                "step cannot get faster as the context grows",
                                file, pts[i].line, pts[i].time_s * 1e3, batch, pts[i].x, pts[i - 1].time_s * 1e3, pts[i - 1].x,
                                pts[i - 1].line));
  // Across batch sizes: at every measured context of a larger batch, no smaller batch measured
  // around that context may be slower (linear interpolation of the smaller batch's points).
  for (auto hi = t.decode.begin(); hi != t.decode.end(); ++hi)
    for (auto lo = t.decode.begin(); lo != hi; ++lo)
      for (const auto& p : hi->second) {
        const auto& q = lo->second;
        if (p.x < q.front().x || p.x > q.back().x) continue;
        const auto up = std::lower_bound(q.begin(), q.end(), p.x, [](const auto& a, double v) { return a.x < v; });
        double t_lo = up->time_s;
        int line = up->line;
        if (up->x > p.x) {
          const auto dn = up - 1;
          t_lo = dn->time_s + (p.x - dn->x) / (up->x - dn->x) * (up->time_s - dn->time_s);
          line = dn->line;
        }
        if (p.time_s < t_lo * (1 - 1e-12))
          throw Error(fmt::format("{}:{}: decode step_ms {:.6g} at batch {} and context {} is below {:.6g} for the smaller batch {} "
                                  "at that context (line {}): a step cannot get faster as the batch grows",
                                  file, p.line, p.time_s * 1e3, hi->first, p.x, t_lo * 1e3, lo->first, line));
      }
  return t;
}

void check_step_table_reach(const StepTable& t, double max_batch, double max_context, double max_prefill,
                            const std::string& batch_source, const std::string& context_source,
                            const std::string& prefill_source) {
  const auto& [b_max, b_pts] = *t.decode.rbegin();
  if (max_batch > kStepTableReach * b_max)
    throw Error(fmt::format("{}:{}: the largest measured decode batch is {}; {} is more than {}x beyond it: measure larger "
                            "batches or lower it",
                            t.file, b_pts.front().line, b_max, batch_source, kStepTableReach));
  const StepTable::Point* widest = nullptr;
  for (const auto& [b, pts] : t.decode)
    if (!widest || pts.back().x > widest->x) widest = &pts.back();
  if (max_context > kStepTableReach * widest->x)
    throw Error(fmt::format("{}:{}: the longest measured decode context is {} tokens per sequence; {} is more than {}x beyond "
                            "it: measure longer contexts or shorten the workload",
                            t.file, widest->line, widest->x, context_source, kStepTableReach));
  const auto& p = t.prefill.back();
  if (max_prefill > kStepTableReach * p.x)
    throw Error(fmt::format("{}:{}: the largest measured prefill step is {} tokens; {} is more than {}x beyond it: measure "
                            "larger prefill steps or lower it",
                            t.file, p.line, p.x, prefill_source, kStepTableReach));
}

namespace {
// Piecewise-linear interpolation through points; outside them, lines of slope `left`/`right`.
template <class Get>
double interp(const std::vector<StepTable::Point>& pts, double x, double left_slope, double right_slope, Get get) {
  if (x <= pts.front().x) return get(pts.front()) + left_slope * (x - pts.front().x);
  if (x >= pts.back().x) return get(pts.back()) + right_slope * (x - pts.back().x);
  const auto hi = std::upper_bound(pts.begin(), pts.end(), x, [](double v, const auto& p) { return v < p.x; });
  const auto lo = hi - 1;
  const double w = (x - lo->x) / (hi->x - lo->x);
  return get(*lo) + w * (get(*hi) - get(*lo));
}
}  // namespace

TableStepModel::TableStepModel(StepTable table, std::shared_ptr<const RooflineStepModel> roofline)
    : t_(std::move(table)), roof_(std::move(roofline)) {
  for (const auto& [b, _] : t_.decode) batches_.push_back(b);
}

double TableStepModel::roof_power(const StepShape& s) const {
  const StepCost c = roof_->cost(s);
  return c.energy_j / (c.time_s * roof_->gpus());
}

double TableStepModel::decode_time(std::uint32_t b, double ctx) const {
  const auto& pts = t_.decode.at(b);
  // The roofline's slope of step time per token of context per sequence, at this batch size.
  const DecodeProfile prof = roof_->decode_profile(b);
  const double left = prof.piece_at(b * pts.front().x).time_s.b * b;
  const double right = prof.piece_at(b * pts.back().x).time_s.b * b;
  return interp(pts, ctx, left, right, [](const auto& p) { return p.time_s; });
}

double TableStepModel::decode_power(std::uint32_t b, double ctx) const {
  const auto& pts = t_.decode.at(b);
  StepShape s;
  s.decode_seqs = b;
  s.decode_context_tokens = b * ctx;
  if (std::none_of(pts.begin(), pts.end(), [](const auto& p) { return p.power_w > 0; })) return roof_power(s);
  return interp(pts, ctx, 0.0, 0.0, [&](const auto& p) {
    if (p.power_w > 0) return p.power_w;
    StepShape q;
    q.decode_seqs = b;
    q.decode_context_tokens = b * p.x;
    return roof_power(q);
  });
}

DecodeProfile TableStepModel::decode_profile(std::uint32_t batch) const {
  // The two measured batch sizes to blend, and the blend weight (w > 1 extrapolates upwards).
  std::uint32_t lo = batches_.front(), hi = batches_.front();
  double w = 0;
  if (batch >= batches_.back() && batches_.size() >= 2) {
    lo = batches_[batches_.size() - 2];
    hi = batches_.back();
    w = static_cast<double>(batch - lo) / (hi - lo);
  } else if (batch > batches_.front()) {
    const auto it = std::upper_bound(batches_.begin(), batches_.end(), batch);
    hi = *it;
    lo = *(it - 1);
    w = static_cast<double>(batch - lo) / (hi - lo);
  }
  auto time_at = [&](double c) { return (1 - w) * decode_time(lo, c) + w * decode_time(hi, c); };
  auto power_at = [&](double c) { return (1 - w) * decode_power(lo, c) + w * decode_power(hi, c); };

  std::vector<double> cs;
  for (const auto& p : t_.decode.at(lo)) cs.push_back(p.x);
  for (const auto& p : t_.decode.at(hi)) cs.push_back(p.x);
  std::sort(cs.begin(), cs.end());
  cs.erase(std::unique(cs.begin(), cs.end()), cs.end());

  const double B = batch, tp = roof_->gpus();
  DecodeProfile prof;
  // Below the first and above the last measured context the line continues with the blended slope
  // of the extensions; energy is the breakpoint's power times time (affine).
  auto slope_at = [&](double c) {  // d time / d context-per-sequence, from the blended extensions
    const double eps = 1.0;
    return (time_at(c + eps) - time_at(c)) / eps;
  };
  auto add_line = [&](double c_from, double c_anchor, double t_anchor, double slope_per_seq, double power) {
    DecodeProfile::Piece piece;
    piece.context_from = B * c_from;
    piece.time_s = {t_anchor - slope_per_seq * c_anchor, slope_per_seq / B};
    piece.energy_j = {tp * power * piece.time_s.a, tp * power * piece.time_s.b};
    prof.pieces.push_back(piece);
  };
  const double c0 = cs.front(), cn = cs.back();
  add_line(0.0, c0, time_at(c0), (time_at(c0) - time_at(c0 - 1.0)), power_at(c0));
  for (std::size_t k = 0; k + 1 < cs.size(); ++k) {
    const double ca = cs[k], cb = cs[k + 1];
    const double ta = time_at(ca), tb = time_at(cb);
    const double ea = tp * power_at(ca) * ta, eb = tp * power_at(cb) * tb;
    DecodeProfile::Piece piece;
    piece.context_from = B * ca;
    const double st = (tb - ta) / (B * (cb - ca)), se = (eb - ea) / (B * (cb - ca));
    piece.time_s = {ta - st * B * ca, st};
    piece.energy_j = {ea - se * B * ca, se};
    prof.pieces.push_back(piece);
  }
  add_line(cn, cn, time_at(cn), slope_at(cn), power_at(cn));
  return prof;
}

double TableStepModel::prefill_time(double tokens) const {
  const auto& pts = t_.prefill;
  if (tokens >= pts.front().x && tokens <= pts.back().x)
    return interp(pts, tokens, 0, 0, [](const auto& p) { return p.time_s; });
  // Outside the measured range: scale the nearest measurement by the roofline.
  const auto& edge = tokens < pts.front().x ? pts.front() : pts.back();
  auto roof_t = [&](double n) {
    StepShape s;
    s.prefill_seqs = 1;
    s.prefill_tokens = n;
    s.prefill_attention_pairs = n * (n + 1) / 2;
    return roof_->cost(s).time_s;
  };
  return edge.time_s * roof_t(tokens) / roof_t(edge.x);
}

double TableStepModel::prefill_power(const StepShape& s, double) const {
  const auto& pts = t_.prefill;
  if (std::any_of(pts.begin(), pts.end(), [](const auto& p) { return p.power_w > 0; }))
    return interp(pts, s.prefill_tokens, 0, 0, [&](const auto& p) { return p.power_w > 0 ? p.power_w : roof_power(s); });
  return roof_power(s);
}

StepCost TableStepModel::cost(const StepShape& s) const {
  StepCost c;
  const double tp = roof_->gpus();
  if (s.prefill_tokens <= 0) {
    const DecodeProfile prof = decode_profile(s.decode_seqs);
    c.time_s = prof.time_at(s.decode_context_tokens);
    c.energy_j = prof.energy_at(s.decode_context_tokens);
    return c;
  }
  StepShape pre = s;
  pre.decode_seqs = 0;
  pre.decode_context_tokens = 0;
  const double tp_time = prefill_time(s.prefill_tokens);
  if (s.decode_seqs == 0) {
    c.time_s = tp_time;
    c.energy_j = tp * prefill_power(pre, tp_time) * tp_time;
    return c;
  }
  // Mixed step: the decode step plus the prefill's time above the prefill line's intercept (weights
  // are read once).
  const double intercept = std::max(0.0, prefill_time(1.0) - (prefill_time(2.0) - prefill_time(1.0)));
  const double extra = std::max(0.0, tp_time - intercept);
  const DecodeProfile prof = decode_profile(s.decode_seqs);
  c.time_s = prof.time_at(s.decode_context_tokens) + extra;
  c.energy_j = prof.energy_at(s.decode_context_tokens) + tp * prefill_power(pre, tp_time) * extra;
  return c;
}

}  // namespace chatdc::model
