#include "config/batch_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "config/assemble.hpp"
#include "model/step_model.hpp"
#include "workload/request_source.hpp"

namespace chatdc::config {

BatchBounds batch_bounds(const Scenario& s, const DatacenterSpec& dc, const BatchJobSpec& job) {
  const model::Parallelism par{dc.tensor_parallel, s.expert_parallel, 1};
  const model::RooflineStepModel m(dc.gpu, s.llm, par);
  BatchBounds b;
  model::StepShape prefill;
  prefill.prefill_seqs = 1;
  prefill.prefill_tokens = job.prompt_tokens;
  prefill.prefill_attention_pairs = job.prompt_tokens * (job.prompt_tokens + 1.0) / 2;
  b.one_request_s = m.cost(prefill).time_s;
  model::StepShape first = prefill;  // the replica admits a prompt (or a chunk) of at most max_tokens_per_step
  first.prefill_tokens = std::min<std::uint32_t>(job.prompt_tokens, std::max<std::uint32_t>(1, s.scheduler.max_tokens_per_step));
  first.prefill_attention_pairs = first.prefill_tokens * (first.prefill_tokens + 1.0) / 2;
  b.prompt_step_s = m.cost(first).time_s;
  for (std::uint32_t k = 1; k < job.output_tokens; ++k) {  // decode steps at batch 1, context growing
    model::StepShape d;
    d.decode_seqs = 1;
    d.decode_context_tokens = job.prompt_tokens + k + 1.0;
    b.one_request_s += m.cost(d).time_s;
    if (k > 4096) {  // long answers: the rest at the last step's time (a lower bound: steps grow)
      b.one_request_s += (job.output_tokens - 1 - k) * m.cost(d).time_s;
      break;
    }
  }
  const double kv = model::kv_capacity_tokens(dc.gpu, s.llm, par, s.memory_headroom_fraction);
  const double per_seq = static_cast<double>(job.prompt_tokens) + job.output_tokens;
  const double fit = kv / per_seq;  // NaN or negative when the replica holds no KV: a batch of one
  b.batch = static_cast<std::uint32_t>(fit >= 1 ? std::min(std::floor(fit), std::max(1.0, static_cast<double>(s.scheduler.max_batch_size))) : 1.0);
  model::StepShape d;  // the shortest context of a request's decode: a lower bound on the step time
  d.decode_seqs = b.batch;
  d.decode_context_tokens = b.batch * (job.prompt_tokens + 1.0);
  const double replicas = static_cast<double>(dc.servers()) * (dc.server.gpus_per_server / dc.tensor_parallel);
  const double tokens_per_s = replicas * b.batch / m.cost(d).time_s;
  b.volume_s = job.output_tokens_per_day / tokens_per_s;
  return b;
}

namespace {

// Mean of price x PUE over run times [t0, t1) at a region (minute by minute).
double window_price(const RegionSpec& reg, double offset_s, double t0, double t1) {
  double sum = 0;
  int n = 0;
  for (double t = t0; t < t1; t += 60, ++n) sum += reg.price_per_kwh.at(t, offset_s) * reg.pue.at(t, offset_s);
  return n > 0 ? sum / n : 0.0;
}

}  // namespace

void read_batch(Reader r, Scenario& s) {
  BatchSpec& b = s.workload.batch;
  const std::string fill = r.text("fill_seqs_per_replica", "auto");
  if (fill != "auto") {
    char* end = nullptr;
    const double v = std::strtod(fill.c_str(), &end);
    if (fill.empty() || *end != '\0' || !(v >= 1 && v <= s.scheduler.max_batch_size) || v != std::floor(v))
      r.error("fill_seqs_per_replica",
              fmt::format("expected \"auto\" or a whole number of sequences from 1 to serving.max_batch_size ({}), got \"{}\"",
                          s.scheduler.max_batch_size, fill));
    else
      b.fill_seqs_per_replica = static_cast<std::uint32_t>(v);
  }
  b.fill_tpot_fraction = r.number("fill_tpot_fraction", 0.8, Range{0, 1, true, false});

  // Datacenters, flat, with their regions.
  std::vector<std::pair<const RegionSpec*, const DatacenterSpec*>> dcs;
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters) dcs.push_back({&reg, &dc});
  std::set<std::string> names;
  const double max_tokens = s.llm.max_context_tokens;
  // The physics checks below (a deadline no fleet could meet, a prompt too long to ever run) need a sound model and
  // platform: after an earlier problem (an unknown LLM or server, a bad tensor_parallel) they would divide by the
  // zeros of an unfilled spec, so they wait until those problems are fixed.
  const bool sound = r.diagnostics().empty() && !s.llm.id.empty();
  for (Reader& j : r.children("jobs")) {
    BatchJobSpec job;
    job.name = j.required_text("name");
    if (!job.name.empty() && !names.insert(job.name).second)
      j.error("name", fmt::format("\"{}\" names another job already", job.name));
    job.input_tokens_per_day = j.required_number("input_tokens_per_day", Range{0, 1e15, true, false});
    job.output_tokens_per_day = j.required_number("output_tokens_per_day", Range{0, 1e15, true, false});
    job.prompt_tokens = static_cast<std::uint32_t>(j.integer("prompt_tokens", 1024, Range::between(1, max_tokens)));
    job.release_h = j.number("release_h", 0, Range{0, 24, false, true});
    job.deadline_h = j.number("deadline_h", 24, Range{0, 168, true, false});
    job.hours = j.text("hours", "any", {"any", "valley"});
    if (auto list = j.texts("datacenters", 0)) job.datacenters = *list;
    j.accept("datacenters");
    j.finish();
    if (job.input_tokens_per_day <= 0 || job.output_tokens_per_day <= 0 || job.prompt_tokens == 0) continue;
    const double requests = std::ceil(job.input_tokens_per_day / job.prompt_tokens);
    if (requests > workload::kMaxRequestsPerDay) {
      j.error("input_tokens_per_day", fmt::format("{:.4g} requests of {} prompt tokens a day, more than the {:.0e} a day chatdc "
                                                  "simulates", requests, job.prompt_tokens, workload::kMaxRequestsPerDay));
      continue;
    }
    job.requests = static_cast<std::uint64_t>(requests);
    job.output_tokens = static_cast<std::uint32_t>(std::max(1.0, std::round(job.output_tokens_per_day / requests)));
    if (static_cast<double>(job.prompt_tokens) + job.output_tokens > max_tokens) {
      j.error("output_tokens_per_day",
              fmt::format("{} output tokens per request ({:.4g} a day over {} requests) after a {}-token prompt exceed {}'s "
                          "context of {} tokens", job.output_tokens, job.output_tokens_per_day, job.requests,
                          job.prompt_tokens, s.llm.id, max_tokens));
      continue;
    }
    // Candidates, and the cheapest of them over the job's first window (price x PUE, local hours).
    std::vector<std::uint32_t> cand;
    for (const auto& n : job.datacenters) {
      std::uint32_t k = 0;
      while (k < dcs.size() && dcs[k].second->name != n) ++k;
      if (k == dcs.size()) {
        std::string all;
        for (const auto& d : dcs) all += (all.empty() ? "" : ", ") + d.second->name;
        j.error("datacenters", fmt::format("\"{}\" is not a datacenter (datacenters: {})", n, all));
      } else if (dcs[k].second->decode) {
        j.error("datacenters", fmt::format("\"{}\" has a decode pool (prefill/decode disaggregation): batch work is not "
                                           "modelled on disaggregated datacenters; expected an aggregated datacenter", n));
      } else {
        cand.push_back(k);
      }
    }
    if (job.datacenters.empty()) {  // every aggregated datacenter (batch work is not modelled on a decode pool)
      for (std::uint32_t k = 0; k < dcs.size(); ++k)
        if (!dcs[k].second->decode) cand.push_back(k);
      if (cand.empty() && !dcs.empty())
        j.error("name", fmt::format("job \"{}\": every datacenter has a decode pool (prefill/decode disaggregation), and "
                                    "batch work is not modelled on disaggregated datacenters; expected at least one "
                                    "aggregated datacenter", job.name));
    }
    if (cand.empty()) continue;
    if (!sound) {  // the scenario is refused already; the job still counts for the checks after the loop
      b.jobs.push_back(job);
      continue;
    }
    const double t0 = (job.release_h - s.run.start_h) * 3600.0, t1 = t0 + job.deadline_h * 3600.0;
    double best = 1e300;
    for (const std::uint32_t k : cand) {
      const double p = window_price(*dcs[k].first, local_offset_s(s, dcs[k].first->utc_offset_h), t0, t1);
      if (p < best) {
        best = p;
        job.dc = k;
      }
    }
    job.window_price = best;
    // A deadline no fleet could meet: the physics of the site it is placed in.
    const BatchBounds lb = batch_bounds(s, *dcs[job.dc].second, job);
    const double deadline_s = job.deadline_h * 3600.0;
    const double step_limit_s = b.fill_tpot_fraction * s.slo.tpot_s;
    if (lb.one_request_s > deadline_s)
      j.error("deadline_h",
              fmt::format("{} h is shorter than one of its requests takes alone at {} ({:.4g} h: a {}-token prompt, then {} "
                          "decode steps); expected at least that", format_number(job.deadline_h), dcs[job.dc].second->name,
                          lb.one_request_s / 3600.0, job.prompt_tokens, job.output_tokens));
    else if (lb.volume_s > deadline_s)
      j.error("deadline_h",
              fmt::format("{} h is shorter than its {:.4g} output tokens a day need at {} even if every replica did nothing "
                          "else ({:.4g} h at a batch of {}, the most its KV cache holds up to serving.max_batch_size); expected "
                          "at least that, or more datacenters", format_number(job.deadline_h), job.output_tokens_per_day,
                          dcs[job.dc].second->name, lb.volume_s / 3600.0, lb.batch));
    else if (lb.prompt_step_s > step_limit_s)
      j.error("prompt_tokens",
              fmt::format("a {}-token batch prompt takes {:.3g} s to prefill alone at {} (roofline step model), longer than the "
                          "longest step that may carry batch work (workload.batch.fill_tpot_fraction {} x slo.tpot_s {} = "
                          "{:.3g} s): no batch work could ever run; expected a shorter prompt or a larger fill_tpot_fraction",
                          job.prompt_tokens, lb.prompt_step_s, dcs[job.dc].second->name, format_number(b.fill_tpot_fraction),
                          format_number(s.slo.tpot_s), step_limit_s));
    b.jobs.push_back(job);
  }
  if (!b.jobs.empty() && s.run.engine == "fine")
    r.error("jobs", "batch work needs run.engine: day (the fine engine runs no batch work)");
  r.finish();
}

}  // namespace chatdc::config
