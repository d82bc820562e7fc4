#include "app/model_cmd.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <memory>
#include <nlohmann/json.hpp>

#include "config/catalog.hpp"
#include "core/error.hpp"
#include "model/calibration.hpp"
#include "model/step_model.hpp"
#include "model/step_table.hpp"
#include "model/pack.hpp"
#include "serving/pack_calibration.hpp"
#include "core/task_pool.hpp"

namespace chatdc::app {

namespace {

config::Catalog load(const std::string& dir_arg) {
  config::Catalog c;
  config::Diagnostics diag;
  const std::string dir = dir_arg.empty() ? config::default_catalog_dir() : dir_arg;
  config::load_catalog(dir, &c, diag);
  config::check_catalog_links(c, dir, diag);
  if (!diag.empty()) throw Error("invalid catalog:\n" + diag.report());
  return c;
}

template <class Map>
const typename Map::mapped_type& find(const Map& m, const std::string& id, const char* what) {
  const auto it = m.find(id);
  if (it != m.end()) return it->second;
  std::string ids;
  for (const auto& [k, _] : m) ids += (ids.empty() ? "" : ", ") + k;
  throw Error(fmt::format("unknown {} \"{}\" (catalog has: {})", what, id, ids));
}

model::StepShape prefill(int batch, int prompt) {
  model::StepShape s;
  s.prefill_seqs = static_cast<std::uint32_t>(batch);
  s.prefill_tokens = static_cast<double>(batch) * prompt;
  s.prefill_attention_pairs = batch * prompt * (prompt + 1.0) / 2;
  return s;
}

model::StepShape decode(int batch, double ctx) {
  model::StepShape s;
  s.decode_seqs = static_cast<std::uint32_t>(batch);
  s.decode_context_tokens = batch * ctx;
  return s;
}

void check_whole(const char* option, int v, int lo, int hi) {
  if (v < lo || v > hi) throw Error(fmt::format("{}: expected a whole number in [{}, {}], got {}", option, lo, hi, v));
}

/// A measurement table must be a regular file of a sensible size (a device or a huge file would never end).
void check_small_file(const char* option, const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) throw Error(fmt::format("{} {}: cannot open the file (does it exist?)", option, path));
  if (!std::filesystem::is_regular_file(st)) throw Error(fmt::format("{} {}: expected a regular file", option, path));
  if (std::filesystem::file_size(path, ec) > (64u << 20))
    throw Error(fmt::format("{} {}: larger than 64 MiB; a table of measurements is a few KB", option, path));
}

// A calibration pack CSV (the modern-engines schema) has a config_id column; the 2023 table does not.
bool is_pack_file(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error(fmt::format("{}: cannot open the calibration file", file));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') return line.rfind("config_id", 0) == 0 || line.find(",config_id,") != std::string::npos;
  return false;
}

nlohmann::ordered_json profile_json(const model::GpuSpec& g) {
  return {{"roofline", g.roofline == model::GpuSpec::Roofline::kKernel ? "kernel" : "step"},
          {"chunked_prefill", g.chunked_prefill},
          {"compute", g.compute_efficiency},
          {"compute_fp8", g.compute_efficiency_fp8},
          {"compute_fp4", g.compute_efficiency_fp4},
          {"memory", g.memory_efficiency},
          {"kv_memory", g.kv_memory_efficiency},
          {"attention_compute", g.attention_compute_efficiency},
          {"moe_compute", g.moe_compute_efficiency},
          {"layer_overhead_us", g.layer_overhead_us},
          {"moe_layer_overhead_us", g.moe_layer_overhead_us},
          {"moe_half_tokens", g.moe_half_tokens},
          {"attention_half_tokens", g.attention_half_tokens},
          {"basis", g.basis},
          {"allreduce_latency_us", g.allreduce_latency_us},
          {"interconnect", g.interconnect_efficiency},
          {"step_overhead_ms", g.step_overhead_ms},
          {"per_sequence_overhead_us", g.per_sequence_overhead_us},
          {"cpu_overlap", g.cpu_overlap},
          {"request_overhead_ms", g.request_overhead_ms}};
}

std::string profile_yaml(const std::string& gpu, const std::string& engine, const model::GpuSpec& g) {
  return fmt::format(
      "  {}:\n    efficiency:\n      {}:\n        roofline: kernel\n        chunked_prefill: {}\n        compute: {:.4f}\n"
      "        compute_fp8: {:.4f}\n        compute_fp4: {:.4f}\n        memory: {:.4f}\n        kv_memory: {:.4f}\n"
      "        attention_compute: {:.4f}\n        attention_half_tokens: {:.0f}\n        moe_compute: {:.4f}\n"
      "        moe_half_tokens: {:.1f}\n        layer_overhead_us: {:.2f}\n        moe_layer_overhead_us: {:.2f}\n"
      "        allreduce_latency_us: {:.2f}\n        interconnect: {:.4f}\n        step_overhead_ms: {:.3f}\n"
      "        per_sequence_overhead_us: {:.2f}\n        cpu_overlap: {:.4f}\n        request_overhead_ms: {:.3f}\n",
      gpu, engine, g.chunked_prefill ? "true" : "false", g.compute_efficiency, g.compute_efficiency_fp8,
      g.compute_efficiency_fp4, g.memory_efficiency, g.kv_memory_efficiency, g.attention_compute_efficiency,
      g.attention_half_tokens, g.moe_compute_efficiency, g.moe_half_tokens, g.layer_overhead_us, g.moe_layer_overhead_us,
      g.allreduce_latency_us, g.interconnect_efficiency, g.step_overhead_ms,
      g.per_sequence_overhead_us, g.cpu_overlap, g.request_overhead_ms);
}

}  // namespace

int cmd_model(const ModelArgs& a) {
  const config::Catalog cat = load(a.catalog_dir);
  find(cat.gpus, a.gpu, "GPU");
  const std::string engine = a.engine.empty() ? config::kDefaultEngine : a.engine;
  const model::GpuSpec* g = config::gpu_for_engine(cat, a.gpu, engine);
  if (!g) throw Error(fmt::format("--engine: {} has no efficiency profile for \"{}\" (profiles: {})", a.gpu, engine,
                                  config::engines_of(cat, a.gpu)));
  model::GpuSpec gpu = *g;
  model::LlmSpec llm = find(cat.llms, a.llm, "LLM");
  const std::string dtypes = fmt::format("{}", fmt::join(model::dtype_names(), ", "));
  if (!a.weight_dtype.empty() && !model::parse_dtype(a.weight_dtype, &llm.weight_dtype))
    throw Error(fmt::format("--weight-dtype: expected one of {}, got \"{}\"", dtypes, a.weight_dtype));
  if (!a.kv_dtype.empty() && !model::parse_dtype(a.kv_dtype, &llm.kv_dtype))
    throw Error(fmt::format("--kv-dtype: expected one of {}, got \"{}\"", dtypes, a.kv_dtype));
  check_whole("--tp", a.tp, 1, 64);
  check_whole("--ep", a.ep, 1, 1024);
  check_whole("--dp", a.dp, 1, 1024);
  check_whole("--batch", a.batch, 1, 1000000);
  check_whole("--prompt", a.prompt, 1, 1 << 24);
  check_whole("--output", a.output, 1, 1 << 24);
  if (!(a.headroom >= 0 && a.headroom < 1))
    throw Error(fmt::format("--headroom: expected a memory fraction in [0, 1), got {}", a.headroom));
  if (!a.table.empty()) check_small_file("--table", a.table);
  check_whole("--nodes", a.nodes, 1, 1024);
  check_whole("--redundant-experts", a.redundant_experts, 0, 1024);
  if (!(a.network_gbps_per_gpu > 0 && a.network_gbps_per_gpu <= 1e4))
    throw Error(fmt::format("--network-gbps: expected 0 < Gb/s <= 10,000 per GPU, got {}", a.network_gbps_per_gpu));
  if (!(a.rdma_efficiency > 0 && a.rdma_efficiency <= 1))
    throw Error(fmt::format("--rdma-efficiency: expected a share in (0, 1], got {}", a.rdma_efficiency));
  model::Parallelism par{a.tp, a.ep, a.dp};
  par.nodes = a.nodes;
  par.redundant_experts = a.redundant_experts;
  par.network_gb_per_s = a.network_gbps_per_gpu / 8 * a.rdma_efficiency;
  par.network_latency_us = 2 * 2.0;  // NIC to NIC in one rack, 2 us per hop (the platform's default)
  const int slots = llm.experts + a.redundant_experts;
  if (par.gpus() % a.ep != 0 || (llm.is_moe() && slots % a.ep != 0) || (!llm.is_moe() && a.ep > 1))
    throw Error(fmt::format("--ep {}: expert parallelism needs a mixture-of-experts LLM and must divide its experts ({} + {} "
                            "redundant) and the replica's tp x dp = {} GPUs", a.ep, llm.experts, a.redundant_experts, par.gpus()));
  if (a.nodes > 1 && (par.gpus() % a.nodes != 0 || par.gpus() / a.nodes < a.tp || a.ep != par.gpus() || !llm.is_moe()))
    throw Error(fmt::format("--nodes {}: a unit spanning servers needs a mixture-of-experts LLM, tp x dp GPUs ({}) split evenly "
                            "over the servers with tp inside one, and --ep = tp x dp", a.nodes, par.gpus()));
  const double kv = model::kv_capacity_tokens(gpu, llm, par, a.headroom);
  if (kv < a.prompt + a.output)
    throw Error(fmt::format("{} ({}, {:.1f} GB of weights) leaves room for {:.0f} KV tokens on {} x {}: not even one "
                            "sequence of {} tokens fits; raise --tp or quantise (--weight-dtype)",
                            llm.id, model::dtype_name(llm.weight_dtype), llm.weight_bytes() / 1e9, std::max(0.0, kv),
                            par.gpus(), gpu.name, a.prompt + a.output));
  const int fits = static_cast<int>(std::min(kv / (static_cast<double>(a.prompt) + a.output), 1e9));
  const int batch = a.max_batch ? fits : a.batch;
  const int gpus = par.gpus();

  auto roof = std::make_shared<model::RooflineStepModel>(gpu, llm, par);
  std::unique_ptr<model::StepModel> table;
  if (!a.table.empty()) {
    model::StepTable t = model::load_step_table(a.table);
    model::check_step_table_reach(t, batch, a.prompt + a.output, static_cast<double>(batch) * a.prompt,
                                  fmt::format("--batch {}", batch), fmt::format("--prompt + --output = {}", a.prompt + a.output),
                                  fmt::format("a prefill of --batch x --prompt = {} tokens", batch * a.prompt));
    table = std::make_unique<model::TableStepModel>(std::move(t), roof);
  }
  const model::StepModel& m = table ? *table : static_cast<const model::StepModel&>(*roof);

  const model::StepCost pre = m.cost(prefill(batch, a.prompt));
  double t_dec = 0, e_dec = 0;
  for (int j = 0; j + 1 < a.output; ++j) {
    const model::StepCost c = m.cost(decode(batch, a.prompt + 1.0 + j));
    t_dec += c.time_s;
    e_dec += c.energy_j;
  }
  const double tpot = a.output > 1 ? t_dec / (a.output - 1) : 0.0;
  const double dec_power = t_dec > 0 ? e_dec / t_dec / gpus : 0.0;
  // Two throughputs (README "chatdc model"): decoding only (batch / TPOT), and an offline batch with
  // its prefill (batch x output tokens / end-to-end time), what offline benchmarks report.
  const double decode_tokens_per_s = tpot > 0 ? batch / tpot : 0.0;
  const double req_s = gpu.request_overhead_ms * 1e-3;
  const double e2e = req_s + pre.time_s + t_dec;
  const double offline_tokens_per_s = static_cast<double>(batch) * a.output / e2e;
  const double j_per_token = (pre.energy_j + e_dec) / (static_cast<double>(batch) * a.output);
  const model::StepShape mid_shape = decode(batch, a.prompt + 1.0 + a.output / 2.0);
  const model::StepCost mid = m.cost(mid_shape);
  const bool kernel = !table && gpu.roofline == model::GpuSpec::Roofline::kKernel;
  const auto k = roof->kernels(mid_shape);

  nlohmann::ordered_json j;
  j["gpu"] = gpu.id;
  j["llm"] = llm.id;
  j["tensor_parallel"] = a.tp;
  j["expert_parallel"] = a.ep;
  j["attention_data_parallel"] = a.dp;
  j["nodes"] = a.nodes;
  j["gpus"] = gpus;
  j["engine"] = gpu.engine;
  j["profile_basis"] = gpu.basis;
  j["step_model"] = table ? "table" : kernel ? "kernel roofline" : "step roofline";
  j["weight_dtype"] = model::dtype_name(llm.weight_dtype);
  j["kv_dtype"] = model::dtype_name(llm.kv_dtype);
  j["weights_gb_per_gpu"] = model::weight_bytes_per_gpu(llm, par) / 1e9;  // attention and shared weights on every DP group
  j["kv_capacity_tokens"] = kv;
  j["max_batch_that_fits"] = fits;
  j["batch"] = batch;
  j["prompt_tokens"] = a.prompt;
  j["output_tokens"] = a.output;
  j["request_overhead_s"] = req_s;
  j["ttft_s"] = req_s + pre.time_s;
  j["tpot_s"] = tpot;
  j["e2e_s"] = e2e;
  j["decode_tokens_per_s"] = decode_tokens_per_s;
  j["offline_tokens_per_s"] = offline_tokens_per_s;
  j["output_tokens_per_s"] = decode_tokens_per_s;  // = decode_tokens_per_s (kept for scripts)
  j["output_tokens_per_s_per_gpu"] = decode_tokens_per_s / gpus;
  j["prefill_power_w_per_gpu"] = pre.energy_j / pre.time_s / gpus;
  j["decode_power_w_per_gpu"] = dec_power;
  j["energy_j_per_output_token"] = j_per_token;
  j["energy_wh_per_request"] = (pre.energy_j + e_dec) / batch / 3600.0;
  if (kernel) {
    j["decode_kernels_s"] = {{"linear", k.dense_s},       {"output_head", k.head_s},       {"experts", k.experts_s},
                             {"attention", k.decode_attention_s}, {"allreduce", k.allreduce_s}, {"alltoall", k.alltoall_s},
                             {"layer_latency", k.layers_s}, {"gpu", k.gpu_s}, {"cpu", k.cpu_s}, {"step", k.time_s}};
  } else if (!table) {
    j["prefill_breakdown_s"] = {{"compute", pre.compute_s}, {"memory", pre.memory_s}, {"comm", pre.comm_s}, {"overhead", pre.overhead_s}};
    j["decode_breakdown_s"] = {{"compute", mid.compute_s}, {"memory", mid.memory_s}, {"comm", mid.comm_s}, {"overhead", mid.overhead_s}};
  }
  if (a.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  const std::string layout = a.ep > 1 || a.dp > 1 ? fmt::format("tp {} x dp {}, ep {}", a.tp, a.dp, a.ep) : "tensor parallel";
  fmt::print("{} on {} x {} ({}), weights {} ({:.1f} GB per GPU), KV {}, {} step model, engine {} ({} profile)\n", llm.name,
             gpus, gpu.name, layout, model::dtype_name(llm.weight_dtype), model::weight_bytes_per_gpu(llm, par) / 1e9,
             model::dtype_name(llm.kv_dtype), table ? "measured-table" : kernel ? "kernel-roofline" : "step-roofline",
             gpu.engine, gpu.basis);
  fmt::print("  KV cache      {:.0f} tokens: {} sequences of {} + {} tokens fit\n", kv, fits, a.prompt, a.output);
  fmt::print("  batch         {}{}\n", batch, a.max_batch ? " (the largest that fits)" : "");
  fmt::print("  TTFT          {:.1f} ms  ({:.1f} ms request overhead + one prefill step of {} x {} tokens; {:.0f} W per GPU)\n",
             1e3 * (req_s + pre.time_s), 1e3 * req_s, batch, a.prompt, pre.energy_j / pre.time_s / gpus);
  fmt::print("  TPOT          {:.2f} ms  (mean over {} decode steps; {:.0f} W per GPU)\n", 1e3 * tpot, a.output - 1, dec_power);
  fmt::print("  decode rate   {:.0f} output tokens/s per replica, {:.0f} per GPU (batch / TPOT: while decoding)\n",
             decode_tokens_per_s, decode_tokens_per_s / gpus);
  fmt::print("  offline rate  {:.0f} output tokens/s per replica, {:.0f} per GPU (batch x output / end to end, prefill included)\n",
             offline_tokens_per_s, offline_tokens_per_s / gpus);
  fmt::print("  end to end    {:.2f} s for {} output tokens\n", e2e, a.output);
  fmt::print("  energy        {:.3f} J per output token, {:.4f} Wh per request (GPUs only)\n", j_per_token,
             (pre.energy_j + e_dec) / batch / 3600.0);
  if (kernel)
    fmt::print("  decode step   {:.2f} ms = GPU {:.2f} (linear {:.2f}, head {:.2f}, experts {:.2f}, attention {:.2f}, all-reduce "
               "{:.2f}, all-to-all {:.2f}{}, layer latency {:.2f}) with CPU {:.2f}, {:.0f}% overlapped\n",
               1e3 * k.time_s, 1e3 * k.gpu_s, 1e3 * k.dense_s, 1e3 * k.head_s, 1e3 * k.experts_s, 1e3 * k.decode_attention_s,
               1e3 * k.allreduce_s, 1e3 * k.alltoall_s,
               a.nodes > 1 ? fmt::format(" of {:.2f} overlapped", 1e3 * k.alltoall_total_s) : std::string(),
               1e3 * k.layers_s, 1e3 * k.cpu_s, 100 * gpu.cpu_overlap);
  else if (!table)
    fmt::print("  decode step   {:.2f} ms = overhead {:.2f} + all-reduce {:.2f} + max(compute {:.2f}, memory {:.2f}) + "
               "serial part\n",
               1e3 * mid.time_s, 1e3 * mid.overhead_s, 1e3 * mid.comm_s, 1e3 * mid.compute_s, 1e3 * mid.memory_s);
  return 0;
}

void calibrate_table(const CalibrateArgs& a, const config::Catalog& cat, const std::string& file, nlohmann::ordered_json* out) {
  const auto rows = model::load_calibration(file);
  std::map<std::pair<std::string, std::string>, std::vector<model::FitCase>> by_gpu;  // (gpu, engine) -> rows
  for (const auto& r : rows) {
    if (!a.gpu.empty() && r.gpu != a.gpu) continue;
    if (!cat.gpus.count(r.gpu)) throw Error(fmt::format("{}:{}: gpu: unknown GPU \"{}\"", file, r.line, r.gpu));
    if (!cat.llms.count(r.llm)) throw Error(fmt::format("{}:{}: llm: unknown LLM \"{}\"", file, r.line, r.llm));
    if (!config::gpu_for_engine(cat, r.gpu, r.engine))
      throw Error(fmt::format("{}:{}: engine: {} has no efficiency profile for \"{}\" (profiles: {})", file, r.line, r.gpu,
                              r.engine, config::engines_of(cat, r.gpu)));
    model::LlmSpec llm = cat.llms.at(r.llm);
    if (!r.weight_dtype.empty()) model::parse_dtype(r.weight_dtype, &llm.weight_dtype);
    by_gpu[{r.gpu, r.engine}].push_back({r, llm});
  }
  if (by_gpu.empty()) {
    if (!a.gpu.empty()) return;
    throw Error(fmt::format("{}: no rows", file));
  }
  for (const auto& [key, cases] : by_gpu) {
    const auto& [gid, engine] = key;
    const model::GpuSpec start = *config::gpu_for_engine(cat, gid, engine);
    const model::FitResult fit = a.fit ? model::fit_gpu(start, cases) : model::evaluate_gpu(start, cases);
    const model::GpuSpec& g = fit.gpu;
    if (!a.json) fmt::print("{} with {}: {} rows, rms log error {:.3f}, max |error| {:.1f}%{}\n", gid, engine, cases.size(),
                            fit.rms_log_error, 100 * fit.max_abs_error, a.fit ? " (after fitting)" : "");
    for (const auto& c : cases) {
      const double p = model::predict(c.row, model::RooflineStepModel(g, c.llm, c.row.tp), g.request_overhead_ms * 1e-3);
      const double err = p / c.row.measured - 1;
      out->push_back({{"gpu", gid}, {"engine", engine}, {"llm", c.row.llm}, {"tp", c.row.tp}, {"batch", c.row.batch},
                     {"prompt_tokens", c.row.prompt_tokens}, {"output_tokens", c.row.output_tokens},
                     {"metric", c.row.metric}, {"measured", c.row.measured}, {"predicted", p}, {"error", err},
                     {"source", c.row.source}});
      if (!a.json)
        fmt::print("  {:<14} tp{:<2} batch {:<4} prompt {:<6} {:<16} measured {:>9.1f} predicted {:>9.1f} {:>+6.1f}%\n",
                   c.row.llm, c.row.tp, c.row.batch, c.row.prompt_tokens, c.row.metric, c.row.measured, p, 100 * err);
    }
    if (a.fit && !a.json)
      fmt::print("  fitted efficiency for platforms/gpus.yaml ({}):\n    efficiency:\n      {}:\n        compute: {:.4f}\n"
                 "        memory: {:.4f}\n        attention_compute: {:.4f}\n        kv_memory: {:.4f}\n"
                 "        gemm_half_tokens: {:.1f}\n        allreduce_hop_latency_us: {:.2f}\n        step_overhead_ms: {:.3f}\n"
                 "        request_overhead_ms: {:.3f}\n"
                 "        per_sequence_overhead_us: {:.1f}\n        serial_fraction: {:.4f}\n        interconnect: {:.4f}\n",
                 gid, engine, g.compute_efficiency, g.memory_efficiency, g.attention_compute_efficiency, g.kv_memory_efficiency,
                 g.gemm_half_tokens, g.allreduce_hop_latency_us,
                 g.step_overhead_ms, g.request_overhead_ms, g.per_sequence_overhead_us, g.serial_fraction, g.interconnect_efficiency);
  }
}


namespace {

std::string pct(double v) { return fmt::format("{:.1f}%", 100 * v); }

struct CellKey {
  std::string engine, gpu, llm;
  bool operator<(const CellKey& o) const { return std::tie(engine, gpu, llm) < std::tie(o.engine, o.gpu, o.llm); }
};

// Acceptance thresholds (issue 12): median |error| on the test split, cells with >= 30 configurations.
constexpr double kTpotLimit = 0.10, kTtftLimit = 0.15, kThroughputLimit = 0.10;
constexpr std::size_t kCellMinConfigs = 30;

}  // namespace

void calibrate_pack(const CalibrateArgs& a, const config::Catalog& cat, const std::string& file, nlohmann::ordered_json* out) {
  const auto configs = model::load_pack(file);
  const serving::PackScope scope = serving::scope_pack(configs, cat.gpu_engines, cat.llms);
  TaskPool pool(static_cast<unsigned>(std::max(0, a.threads)));
  const serving::PackAssumptions assumptions;

  std::vector<const serving::PackCase*> cases;
  for (const auto& c : scope.cases)
    if ((a.gpu.empty() || c.gpu_id == a.gpu) && (a.engine.empty() || c.profile == a.engine)) cases.push_back(&c);

  // Profiles: the catalog's, or refitted per (GPU, engine) on the fit split.
  std::map<std::pair<std::string, std::string>, model::GpuSpec> profiles;
  for (const auto* c : cases) profiles.emplace(std::make_pair(c->gpu_id, c->profile), *config::gpu_for_engine(cat, c->gpu_id, c->profile));
  if (a.fit) {
    for (auto& [key, g] : profiles) {
      std::vector<const serving::PackCase*> train;
      for (const auto* c : cases)
        if (c->gpu_id == key.first && c->profile == key.second && !c->test) train.push_back(c);
      if (train.empty()) continue;
      const serving::PackFit f = serving::fit_pack_profile(g, train, pool, assumptions, a.replica_evaluations);
      g = f.gpu;
      if (!a.json)
        fmt::print(stderr, "fitted {} x {} on {} configurations ({} evaluations, objective {:.4f})\n", key.first, key.second,
                   train.size(), f.evaluations, f.objective);
    }
  }
  const auto preds = serving::predict_cases(
      cases, [&](const serving::PackCase& c) -> const model::GpuSpec& { return profiles.at({c.gpu_id, c.profile}); }, pool,
      assumptions);

  // Errors by (engine, GPU[, LLM]) x metric x split.
  struct Cell {
    std::size_t configs = 0, test_configs = 0;
    std::map<serving::PackMetric, std::array<std::vector<double>, 2>> abs;  // [fit, test]
  };
  std::map<CellKey, Cell> cells, models;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = *cases[i];
    const auto errs = serving::case_errors(c, preds[i]);
    for (auto* m : {&cells, &models}) {
      Cell& cell = (*m)[{c.profile, c.gpu_id, m == &models ? c.llm_id : ""}];
      ++cell.configs;
      cell.test_configs += c.test;
      for (const auto& [metric, e] : errs) cell.abs[metric][c.test ? 1 : 0].push_back(std::fabs(e));
    }
    if (out) {
      nlohmann::ordered_json j = {{"config_id", c.config->config_id}, {"line", c.config->line}, {"engine", c.profile},
                                  {"gpu", c.gpu_id}, {"llm", c.llm_id}, {"split", c.test ? "test" : "fit"},
                                  {"tp", c.par.tp}, {"ep", c.par.ep}, {"dp", c.par.dp},
                                  {"weight_dtype", model::dtype_name(c.llm.weight_dtype)},
                                  {"kv_dtype", model::dtype_name(c.llm.kv_dtype)},
                                  {"input_tokens", *c.config->input_tokens}, {"output_tokens", *c.config->output_tokens},
                                  {"load", c.offline ? "offline" : "closed_loop"}, {"concurrency", c.concurrency},
                                  {"fits", preds[i].ok}};
      if (!c.offline) {
        j["ttft_ms"] = {{"measured", c.ttft_ms}, {"predicted", preds[i].ttft_ms}};
        j["tpot_ms"] = {{"measured", c.tpot_ms}, {"predicted", preds[i].tpot_ms}};
      }
      j["output_tok_s"] = {{"measured", c.output_tok_s}, {"predicted", preds[i].output_tok_s}};
      (*out)["configurations"].push_back(j);
    }
  }
  const std::vector<serving::PackMetric> shown = {serving::PackMetric::kTpot, serving::PackMetric::kTtftLow,
                                                  serving::PackMetric::kThroughputHigh, serving::PackMetric::kTtftHigh,
                                                  serving::PackMetric::kThroughputLow};
  auto cell_json = [&](const CellKey& k, const Cell& cell) {
    nlohmann::ordered_json j = {{"engine", k.engine}, {"gpu", k.gpu}};
    if (!k.llm.empty()) j["llm"] = k.llm;
    j["configurations"] = cell.configs;
    j["test_configurations"] = cell.test_configs;
    for (const auto m : shown) {
      const auto it = cell.abs.find(m);
      if (it == cell.abs.end()) continue;
      for (int split = 0; split < 2; ++split) {
        const auto st = serving::error_stats(it->second[split]);
        j[serving::metric_name(m)][split ? "test" : "fit"] = {{"n", st.n}, {"median", st.median}, {"p90", st.p90}};
      }
    }
    return j;
  };
  std::map<std::string, std::size_t> reasons;
  for (const auto& o : scope.out) ++reasons[o.reason];
  if (out) {
    (*out)["file"] = file;
    (*out)["configurations"];
    (*out)["in_scope"] = scope.cases.size();
    for (const auto& [r, n] : reasons) (*out)["out_of_scope"][r] = n;
    for (const auto& [k, cell] : cells) (*out)["cells"].push_back(cell_json(k, cell));
    for (const auto& [k, cell] : models) (*out)["cells_by_llm"].push_back(cell_json(k, cell));
    if (a.out_of_scope)
      for (const auto& o : scope.out)
        (*out)["out_of_scope_configurations"].push_back(
            {{"config_id", o.config->config_id}, {"line", o.config->line}, {"reason", o.reason}, {"detail", o.detail}});
    for (const auto& [key, g] : profiles) (*out)["profiles"][key.first][key.second] = profile_json(g);
    return;
  }
  std::size_t test_total = 0;
  for (const auto& c : scope.cases) test_total += c.test;
  fmt::print("{}: {} configurations; {} in scope of the single-replica model ({} fit, {} test split: FNV-1a 64 of "
             "config_id mod 5 == 0), {} out of scope\n",
             file, configs.size(), scope.cases.size(), scope.cases.size() - test_total, test_total, scope.out.size());
  fmt::print("out of scope, by reason:\n");
  for (const auto& [r, n] : reasons) fmt::print("  {:>6}  {}\n", n, r);
  if (a.out_of_scope)
    for (const auto& o : scope.out)
      fmt::print("    {}:{} {}: {}{}\n", file, o.config->line, o.config->config_id, o.reason, o.detail.empty() ? "" : " (" + o.detail + ")");
  fmt::print("\n|predicted / measured - 1|, median / p90 (configurations), fit split | test split{}\n",
             a.fit ? " (profiles refitted on the fit split)" : " (the catalog's profiles)");
  auto print_cells = [&](const std::map<CellKey, Cell>& m) {
    fmt::print("{:<7} {:<15} {:<16} {:>5}", "engine", "GPU", "LLM", "cfgs");
    for (const auto metric : shown) fmt::print("  {:<33}", serving::metric_name(metric));
    fmt::print("\n");
    for (const auto& [k, cell] : m) {
      fmt::print("{:<7} {:<15} {:<16} {:>5}", k.engine, k.gpu, k.llm.empty() ? "all" : k.llm, cell.configs);
      for (const auto metric : shown) {
        const auto it = cell.abs.find(metric);
        if (it == cell.abs.end()) {
          fmt::print("  {:<33}", "-");
          continue;
        }
        const auto f = serving::error_stats(it->second[0]), t = serving::error_stats(it->second[1]);
        auto cellstr = [](const serving::ErrorStats& st) {
          return st.n ? fmt::format("{:.0f}/{:.0f}({})", 100 * st.median, 100 * st.p90, st.n) : std::string("-");
        };
        fmt::print("  {:<16}|{:<16}", cellstr(f), cellstr(t));
      }
      fmt::print("\n");
    }
  };
  print_cells(cells);
  if (a.by_model) {
    fmt::print("\n");
    print_cells(models);
  }
  // Acceptance: cells with >= 30 configurations in scope, on the test split.
  fmt::print("\nacceptance on the test split (cells with >= {} configurations: TPOT <= {}, TTFT at concurrency <= 8 <= {}, "
             "throughput at concurrency >= 64 <= {}, as median |error|):\n",
             kCellMinConfigs, pct(kTpotLimit), pct(kTtftLimit), pct(kThroughputLimit));
  for (const auto& [k, cell_] : cells) {
    const auto& cell = cell_;  // clang 14 lambdas cannot capture structured bindings
    if (cell.configs < kCellMinConfigs) continue;
    std::vector<std::string> misses;
    auto check = [&](serving::PackMetric m, double limit) {
      const auto it = cell.abs.find(m);
      if (it == cell.abs.end() || it->second[1].empty()) return;
      const auto st = serving::error_stats(it->second[1]);
      if (st.median > limit) misses.push_back(fmt::format("{} {} > {}", serving::metric_name(m), pct(st.median), pct(limit)));
    };
    check(serving::PackMetric::kTpot, kTpotLimit);
    check(serving::PackMetric::kTtftLow, kTtftLimit);
    check(serving::PackMetric::kThroughputHigh, kThroughputLimit);
    fmt::print("  {:<7} {:<15} {}\n", k.engine, k.gpu, misses.empty() ? "meets all three" : "MISSES: " + fmt::format("{}", fmt::join(misses, "; ")));
  }
  if (a.fit) {
    fmt::print("\nfitted profiles for platforms/gpus.yaml:\n");
    for (const auto& [key, g] : profiles) fmt::print("{}", profile_yaml(key.first, key.second, g));
  }
}

int cmd_calibrate(const CalibrateArgs& a) {
  const config::Catalog cat = load(a.catalog_dir);
  if (!a.gpu.empty() && !cat.gpus.count(a.gpu)) {  // else every file would skip all its rows and report nothing
    try {
      find(cat.gpus, a.gpu, "GPU");
    } catch (const Error& e) {
      throw Error(fmt::format("--gpu: {}", e.what()));
    }
  }
  std::vector<std::string> files = a.files;
  if (files.empty()) files = {cat.dir + "/calibration.csv", cat.dir + "/calibration/pack-subset.csv"};
  for (const auto& file : files) check_small_file(a.files.empty() ? "calibration file" : "--file", file);
  if (!a.gpu.empty()) {  // a catalog GPU without measured rows would report nothing: say so, and which GPUs have rows
    std::set<std::string> measured;
    for (const auto& file : files) {
      if (is_pack_file(file)) {
        for (const auto& c : serving::scope_pack(model::load_pack(file), cat.gpu_engines, cat.llms).cases)
          if (a.engine.empty() || c.profile == a.engine) measured.insert(c.gpu_id);
      } else if (a.engine.empty()) {
        for (const auto& r : model::load_calibration(file)) measured.insert(r.gpu);
      }
    }
    if (!measured.count(a.gpu))
      throw Error(fmt::format("--gpu: no measured rows for \"{}\"{} in {} (GPUs with rows: {})", a.gpu,
                              a.engine.empty() ? "" : " with --engine " + a.engine, fmt::join(files, ", "),
                              measured.empty() ? std::string("none") : fmt::format("{}", fmt::join(measured, ", "))));
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& file : files) {
    const bool pack = is_pack_file(file);
    if (!a.json && files.size() > 1) fmt::print("== {} ==\n", file);
    if (pack) {
      nlohmann::ordered_json j;
      calibrate_pack(a, cat, file, a.json ? &j : nullptr);
      if (a.json) out["packs"].push_back(j);
    } else {
      if (!a.engine.empty()) continue;
      nlohmann::ordered_json rows = nlohmann::ordered_json::array();
      calibrate_table(a, cat, file, &rows);
      if (a.json) out["tables"].push_back({{"file", file}, {"rows", rows}});
    }
    if (!a.json && files.size() > 1) fmt::print("\n");
  }
  if (a.json) fmt::print("{}\n", out.dump(2));
  return 0;
}

}  // namespace chatdc::app
