#include "serving/pack_calibration.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.hpp"
#include "core/nelder_mead.hpp"

namespace chatdc::serving {

namespace {

const model::GpuSpec* any_profile(const std::map<std::string, model::GpuSpec>& engines) {
  return engines.empty() ? nullptr : &engines.begin()->second;
}

}  // namespace

PackScope scope_pack(const std::vector<model::PackConfig>& configs,
                     const std::map<std::string, std::map<std::string, model::GpuSpec>>& gpu_engines,
                     const std::map<std::string, model::LlmSpec>& llms) {
  std::map<std::string, std::string> gpu_of;  // pack name -> catalog id
  for (const auto& [id, engines] : gpu_engines)
    if (const auto* g = any_profile(engines); g && !g->pack_name.empty()) gpu_of[g->pack_name] = id;
  std::map<std::string, std::string> llm_of;  // Hugging Face id -> catalog id
  for (const auto& [id, m] : llms)
    for (const auto& hf : m.hf_ids) llm_of[hf] = id;

  PackScope s;
  // The same measurement can appear under several source tags (a benchmark-database dump and the
  // sweep files it came from) with different config_ids: keep the first, so that no measurement sits
  // in both the fit and the test split.
  std::map<std::string, std::string> seen;
  for (const auto& c : configs) {
    auto out = [&](std::string why) { s.out.push_back({&c, std::move(why), {}}); };
    {
      std::string key = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", c.engine, c.engine_version, c.gpu,
                                    c.serving_mode, c.gpus_per_replica.value_or(0), c.tp, c.pp, c.ep, c.dp, c.model, c.weight_dtype,
                                    c.kv_dtype, c.input_tokens.value_or(0), c.output_tokens.value_or(0), c.load_type,
                                    c.concurrency_text, c.max_batch.value_or(0), c.spec_decoding);
      for (const auto& [m, v] : c.metrics) key += fmt::format("|{}={}", m, v);
      const auto [it, fresh] = seen.emplace(key, c.config_id);
      if (!fresh) {
        s.out.push_back({&c, "duplicate: the same measurement as a configuration above, under another source tag", it->second});
        continue;
      }
    }
    if (c.serving_mode == "disaggregated") {
      out("disaggregated prefill and decode workers (issue 17)");
      continue;
    }
    if (c.serving_mode != "aggregated" && c.serving_mode != "offline") {
      out(fmt::format("serving_mode \"{}\" is neither aggregated nor offline", c.serving_mode));
      continue;
    }
    if (!c.spec_decoding.empty()) {
      out("speculative decoding");
      continue;
    }
    const model::EnginePool pool = model::engine_pool(c.engine, c.engine_version);
    if (pool.profile.empty()) {
      out(pool.reason);
      continue;
    }
    if (!c.input_tokens || !c.output_tokens) {
      out("prompt lengths not published (variable dataset prompts)");
      continue;
    }
    const bool closed = c.load_type == "closed_loop_concurrency", offline = c.load_type == "offline_max_throughput";
    if (!closed && !offline) {
      out(fmt::format("load \"{}\": neither a closed-loop nor an offline benchmark", c.load_type));
      continue;
    }
    if (closed && c.concurrency < 1) {
      out("closed loop without a number of clients");
      continue;
    }
    const auto g = gpu_of.find(c.gpu);
    if (g == gpu_of.end()) {
      out(fmt::format("GPU \"{}\" not in the catalog", c.gpu));
      continue;
    }
    if (c.pp > 1) {
      out("pipeline parallelism");
      continue;
    }
    const int gpus = c.tp * c.dp;
    if (gpus > 8) {
      out(fmt::format("{} GPUs per replica: more than one 8-GPU server", gpus));
      continue;
    }
    if (c.gpus_per_replica && *c.gpus_per_replica != gpus) {
      out(fmt::format("topology fields disagree: tp x dp = {}, gpus_per_replica = {}", gpus, *c.gpus_per_replica));
      continue;
    }
    const auto l = llm_of.find(c.model);
    if (l == llm_of.end()) {
      out(fmt::format("LLM \"{}\" not in the catalog", c.model));
      continue;
    }
    const model::LlmSpec& base = llms.at(l->second);
    if (!c.gpus_per_replica && base.is_moe()) {
      out("mixture of experts with inconsistent topology fields in the source (gpus_per_replica blank)");
      continue;
    }
    if (c.ep > gpus || gpus % c.ep != 0 || (base.is_moe() && base.experts % c.ep != 0)) {
      out(fmt::format("expert parallelism {} does not divide the replica's {} GPUs or the experts", c.ep, gpus));
      continue;
    }
    const auto& engines = gpu_engines.at(g->second);
    const auto prof = engines.find(pool.profile);
    if (prof == engines.end()) {
      out(fmt::format("no {} profile for {}", pool.profile, g->second));
      continue;
    }
    PackCase k;
    k.config = &c;
    k.gpu_id = g->second;
    k.llm_id = l->second;
    k.profile = pool.profile;
    k.llm = base;
    // Weights: "unspecified" is the base checkpoint (the catalog's dtype). 4-bit mixture-of-experts
    // checkpoints quantise the routed experts only; the rest keeps the base checkpoint's precision.
    if (c.weight_dtype != "unspecified" && !c.weight_dtype.empty()) {
      model::Dtype d;
      if (!model::parse_dtype(c.weight_dtype, &d)) {
        out(fmt::format("weight dtype \"{}\" not modelled", c.weight_dtype));
        continue;
      }
      if (model::is_4bit(d) && base.is_moe())
        k.llm.dense_weight_dtype = base.dense_dtype();
      else
        k.llm.dense_weight_dtype.reset();
      k.llm.weight_dtype = d;
    }
    // KV cache: the row's dtype, else TensorRT-LLM's FP8 cache with 8-bit or smaller weights, else the model's.
    model::Dtype kv;
    if ((c.kv_dtype == "fp8" || c.kv_dtype == "bf16" || c.kv_dtype == "fp16") && model::parse_dtype(c.kv_dtype, &kv))
      k.llm.kv_dtype = kv;
    else if (pool.profile == "trtllm" && model::dtype_bytes(k.llm.weight_dtype) <= 1)
      k.llm.kv_dtype = model::Dtype::kFp8;
    k.par = model::Parallelism{c.tp, c.ep, c.dp};
    k.test = model::in_test_split(c.config_id);
    k.offline = offline;
    k.concurrency = c.concurrency;
    auto metric = [&](const char* m) {
      const auto it = c.metrics.find(m);
      return it == c.metrics.end() ? 0.0 : it->second;
    };
    k.ttft_ms = metric("ttft_ms");
    k.tpot_ms = metric("tpot_ms");
    k.output_tok_s = metric("output_tok_s_per_replica");
    if (closed && (k.ttft_ms <= 0 || k.tpot_ms <= 0)) {
      out("closed loop without both TTFT and TPOT");
      continue;
    }
    if (offline && k.output_tok_s <= 0) {
      out("offline run without output throughput per replica");
      continue;
    }
    if (closed) k.output_tok_s = k.concurrency * *c.output_tokens / (k.ttft_ms + (*c.output_tokens - 1) * k.tpot_ms) * 1e3;
    s.cases.push_back(std::move(k));
  }
  return s;
}

namespace {

SchedulerConfig scheduler_for(const PackCase& c, const model::GpuSpec& gpu, const PackAssumptions& a, double kv) {
  SchedulerConfig cfg;
  // The source's batch cap is per attention data-parallel group (its batch_size = concurrency / dp).
  const double cap = c.offline ? a.offline_max_batch
                               : (c.config->max_batch ? *c.config->max_batch * c.par.dp : c.concurrency);
  cfg.max_batch_size = static_cast<std::uint32_t>(std::max(1.0, cap));
  cfg.max_tokens_per_step = std::max(a.max_tokens_per_step, cfg.max_batch_size);
  cfg.chunked_prefill = gpu.chunked_prefill;
  cfg.kv_capacity_tokens = kv;
  return cfg;
}


}  // namespace

Prediction predict_case(const PackCase& c, const model::GpuSpec& gpu, const PackAssumptions& a) {
  Prediction p;
  // KV capacity is linear in the memory left for it, so TensorRT-LLM's share of the free memory is
  // the capacity without headroom times that share.
  const double kv = c.profile == "trtllm"
                        ? model::kv_capacity_tokens(gpu, c.llm, c.par, 0.0) * a.trtllm_free_memory_fraction
                        : model::kv_capacity_tokens(gpu, c.llm, c.par, a.memory_headroom_fraction);
  const double in = *c.config->input_tokens, outp = *c.config->output_tokens;
  if (kv < in + outp) return p;
  const model::RooflineStepModel m(gpu, c.llm, c.par);
  BenchmarkSpec b;
  b.prompt_tokens = static_cast<std::uint32_t>(in);
  b.output_tokens = static_cast<std::uint32_t>(outp);
  b.request_overhead_s = gpu.request_overhead_ms * 1e-3;
  b.scheduler = scheduler_for(c, gpu, a, kv);
  if (c.config->harness == "inferencex") b.length_spread = a.inferencex_length_spread;
  b.seed = model::fnv1a64(c.config->config_id);
  if (c.offline) {
    b.load = BenchmarkSpec::Load::kOffline;
    b.requests = a.offline_requests;
  } else {
    b.load = BenchmarkSpec::Load::kClosedLoop;
    b.clients = static_cast<std::uint32_t>(c.concurrency);
    b.requests = std::min<std::uint32_t>(b.clients * a.requests_per_client, std::max(a.max_closed_loop_requests, b.clients * 2));
  }
  const BenchmarkResult r = run_benchmark(m, b);
  p.ok = r.completed > 0;
  p.ttft_ms = r.ttft_s * 1e3;
  p.tpot_ms = r.tpot_s * 1e3;
  p.output_tok_s = r.output_tokens_per_s;
  return p;
}

std::vector<Prediction> predict_cases(const std::vector<const PackCase*>& cases,
                                      const std::function<const model::GpuSpec&(const PackCase&)>& profile_of,
                                      TaskPool& pool, const PackAssumptions& a) {
  std::vector<Prediction> out(cases.size());
  pool.run(static_cast<std::uint32_t>(cases.size()), [&](std::uint32_t i) { out[i] = predict_case(*cases[i], profile_of(*cases[i]), a); });
  return out;
}

const char* metric_name(PackMetric m) {
  switch (m) {
    case PackMetric::kTpot: return "TPOT";
    case PackMetric::kTtftLow: return "TTFT (concurrency <= 8)";
    case PackMetric::kThroughputHigh: return "throughput (concurrency >= 64, offline)";
    case PackMetric::kTtftHigh: return "TTFT (concurrency > 8)";
    case PackMetric::kThroughputLow: return "throughput (concurrency < 64)";
  }
  return "?";
}

std::vector<std::pair<PackMetric, double>> case_errors(const PackCase& c, const Prediction& p) {
  std::vector<std::pair<PackMetric, double>> e;
  auto err = [&](double pred, double meas) { return p.ok ? pred / meas - 1.0 : 1.0; };
  const bool high = c.offline || c.concurrency >= 64;
  e.push_back({high ? PackMetric::kThroughputHigh : PackMetric::kThroughputLow, err(p.output_tok_s, c.output_tok_s)});
  if (!c.offline) {
    e.push_back({PackMetric::kTpot, err(p.tpot_ms, c.tpot_ms)});
    e.push_back({c.concurrency <= 8 ? PackMetric::kTtftLow : PackMetric::kTtftHigh, err(p.ttft_ms, c.ttft_ms)});
  }
  return e;
}

ErrorStats error_stats(std::vector<double> v) {
  ErrorStats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto q = [&](double f) {  // linear interpolation between order statistics
    const double x = f * (v.size() - 1);
    const std::size_t i = static_cast<std::size_t>(std::floor(x));
    const double w = x - i;
    return i + 1 < v.size() ? v[i] * (1 - w) + v[i + 1] * w : v[i];
  };
  s.median = q(0.5);
  s.p90 = q(0.9);
  return s;
}

namespace {

struct Param {
  double model::GpuSpec::*field;
  double lo, hi;
};
// Physical ranges (README "Calibration"): GEMMs reach 30-90% of their peak (FP8 and FP4 kernels less
// of theirs), weight streaming 50-95% of HBM bandwidth, KV reads 30-95%, attention 10-90%; grouped
// expert GEMMs 5-100% of the dense efficiency, reaching half of it at up to 200 tokens per expert;
// kernel latencies up to 120 us per layer and 150 us more per MoE layer; CPU time per
// step up to 30 ms and per sequence up to 0.5 ms; request overhead up to 200 ms.
constexpr std::array<Param, 16> kParams = {{
    {&model::GpuSpec::compute_efficiency, 0.30, 0.90},
    {&model::GpuSpec::compute_efficiency_fp8, 0.20, 0.90},
    {&model::GpuSpec::compute_efficiency_fp4, 0.15, 0.90},
    {&model::GpuSpec::memory_efficiency, 0.50, 0.95},
    {&model::GpuSpec::kv_memory_efficiency, 0.30, 0.95},
    {&model::GpuSpec::attention_compute_efficiency, 0.10, 0.90},
    {&model::GpuSpec::moe_compute_efficiency, 0.05, 1.0},
    {&model::GpuSpec::layer_overhead_us, 0.0, 120.0},
    {&model::GpuSpec::moe_layer_overhead_us, 0.0, 150.0},
    {&model::GpuSpec::moe_half_tokens, 0.0, 200.0},
    {&model::GpuSpec::step_overhead_ms, 0.0, 30.0},
    {&model::GpuSpec::per_sequence_overhead_us, 0.0, 500.0},
    {&model::GpuSpec::cpu_overlap, 0.0, 1.0},
    {&model::GpuSpec::request_overhead_ms, 0.0, 200.0},
    {&model::GpuSpec::allreduce_latency_us, 0.0, 30.0},
    {&model::GpuSpec::interconnect_efficiency, 0.20, 1.0},
}};
constexpr int kN = static_cast<int>(kParams.size());
using Vec = std::array<double, kN>;

double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double logit(double p) { return std::log(p / (1 - p)); }

model::GpuSpec with_params(const model::GpuSpec& start, const Vec& x) {
  model::GpuSpec g = start;
  for (int k = 0; k < kN; ++k) g.*kParams[k].field = kParams[k].lo + (kParams[k].hi - kParams[k].lo) * logistic(x[k]);
  return g;
}

Vec extract(const model::GpuSpec& g) {
  Vec v{};
  for (int k = 0; k < kN; ++k)
    v[k] = logit(std::clamp((g.*kParams[k].field - kParams[k].lo) / (kParams[k].hi - kParams[k].lo), 1e-3, 1 - 1e-3));
  return v;
}

template <class Predict>
double objective(const model::GpuSpec& g, const std::vector<const PackCase*>& cases, Predict predict, TaskPool& pool) {
  std::vector<Prediction> preds(cases.size());
  pool.run(static_cast<std::uint32_t>(cases.size()), [&](std::uint32_t i) { preds[i] = predict(*cases[i], g); });
  std::array<double, 5> sum{}, count{};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    for (const auto& [m, e] : case_errors(*cases[i], preds[i])) {
      sum[static_cast<int>(m)] += std::fabs(std::log1p(std::max(e, -0.99)));
      count[static_cast<int>(m)] += 1;
    }
  }
  const std::array<double, 5> weight = {1, 1, 1, 0.3, 0.3};
  double f = 0, w = 0;
  for (int m = 0; m < 5; ++m)
    if (count[m] > 0) {
      f += weight[m] * sum[m] / count[m];
      w += weight[m];
    }
  return w > 0 ? f / w : 0;
}

}  // namespace

PackFit fit_pack_profile(const model::GpuSpec& start, const std::vector<const PackCase*>& train, TaskPool& pool,
                         const PackAssumptions& a, int replica_evaluations) {
  PackFit fit;
  model::GpuSpec s = start;
  s.roofline = model::GpuSpec::Roofline::kKernel;
  auto replica = [&](const PackCase& c, const model::GpuSpec& g) { return predict_case(c, g, a); };
  auto cost = [&](const Vec& x) { return objective(with_params(s, x), train, replica, pool); };
  // Nelder-Mead through the replica scheduler from the starting profile, restarted with a fresh
  // simplex around the best point whenever it converges, until the budget is spent (deterministic).
  Vec best = extract(s);
  double best_f = cost(best);
  fit.evaluations = 1;
  double step = 1.0;
  while (fit.evaluations < replica_evaluations) {
    NelderMeadLimits limits;
    limits.max_evaluations = replica_evaluations;
    limits.tolerance = 1e-7;
    const Vec x = nelder_mead(cost, best, kN, step, limits, &fit.evaluations).first;
    const double f = cost(x);
    ++fit.evaluations;
    if (f < best_f - 1e-6) {
      best_f = f;
      best = x;
    } else {
      step *= 0.5;
      if (step < 0.05) break;
    }
  }
  fit.objective = best_f;
  fit.gpu = with_params(s, best);
  return fit;
}

}  // namespace chatdc::serving
