#include "app/model_cmd.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "config/catalog.hpp"
#include "core/error.hpp"
#include "model/calibration.hpp"
#include "model/step_model.hpp"
#include "model/step_table.hpp"

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
  if (!a.weight_dtype.empty() && !model::parse_dtype(a.weight_dtype, &llm.weight_dtype))
    throw Error(fmt::format("--weight-dtype: expected fp32, fp16, bf16, fp8, int8 or int4, got \"{}\"", a.weight_dtype));
  if (!a.kv_dtype.empty() && !model::parse_dtype(a.kv_dtype, &llm.kv_dtype))
    throw Error(fmt::format("--kv-dtype: expected fp32, fp16, bf16, fp8, int8 or int4, got \"{}\"", a.kv_dtype));
  check_whole("--tp", a.tp, 1, 64);
  check_whole("--batch", a.batch, 1, 1000000);
  check_whole("--prompt", a.prompt, 1, 1 << 24);
  check_whole("--output", a.output, 1, 1 << 24);
  if (!(a.headroom >= 0 && a.headroom < 1))
    throw Error(fmt::format("--headroom: expected a memory fraction in [0, 1), got {}", a.headroom));
  if (!a.table.empty()) check_small_file("--table", a.table);
  const double kv = model::kv_capacity_tokens(gpu, llm, a.tp, a.headroom);
  if (kv < a.prompt + a.output)
    throw Error(fmt::format("{} ({}, {:.1f} GB of weights) leaves room for {:.0f} KV tokens on {} x {}: not even one "
                            "sequence of {} tokens fits; raise --tp or quantise (--weight-dtype)",
                            llm.id, model::dtype_name(llm.weight_dtype), llm.weight_bytes() / 1e9, std::max(0.0, kv), a.tp,
                            gpu.name, a.prompt + a.output));
  const int fits = static_cast<int>(std::min(kv / (static_cast<double>(a.prompt) + a.output), 1e9));
  const int batch = a.max_batch ? fits : a.batch;

  auto roof = std::make_shared<model::RooflineStepModel>(gpu, llm, a.tp);
  std::unique_ptr<model::StepModel> table;
  if (!a.table.empty()) table = std::make_unique<model::TableStepModel>(model::load_step_table(a.table), roof);
  const model::StepModel& m = table ? *table : static_cast<const model::StepModel&>(*roof);

  const model::StepCost pre = m.cost(prefill(batch, a.prompt));
  double t_dec = 0, e_dec = 0;
  for (int j = 0; j + 1 < a.output; ++j) {
    const model::StepCost c = m.cost(decode(batch, a.prompt + 1.0 + j));
    t_dec += c.time_s;
    e_dec += c.energy_j;
  }
  const double tpot = a.output > 1 ? t_dec / (a.output - 1) : 0.0;
  const double dec_power = t_dec > 0 ? e_dec / t_dec / a.tp : 0.0;
  const double tokens_per_s = tpot > 0 ? batch / tpot : 0.0;
  const double j_per_token = (pre.energy_j + e_dec) / (static_cast<double>(batch) * a.output);
  const model::StepCost mid = m.cost(decode(batch, a.prompt + 1.0 + a.output / 2.0));

  nlohmann::ordered_json j;
  j["gpu"] = gpu.id;
  j["llm"] = llm.id;
  j["tensor_parallel"] = a.tp;
  j["engine"] = gpu.engine;
  j["step_model"] = table ? "table" : "roofline";
  j["weight_dtype"] = model::dtype_name(llm.weight_dtype);
  j["kv_dtype"] = model::dtype_name(llm.kv_dtype);
  j["weights_gb_per_gpu"] = llm.weight_bytes() / a.tp / 1e9;
  j["kv_capacity_tokens"] = kv;
  j["max_batch_that_fits"] = fits;
  j["batch"] = batch;
  j["prompt_tokens"] = a.prompt;
  j["output_tokens"] = a.output;
  const double req_s = gpu.request_overhead_ms * 1e-3;
  j["request_overhead_s"] = req_s;
  j["ttft_s"] = req_s + pre.time_s;
  j["tpot_s"] = tpot;
  j["e2e_s"] = req_s + pre.time_s + t_dec;
  j["output_tokens_per_s"] = tokens_per_s;
  j["output_tokens_per_s_per_gpu"] = tokens_per_s / a.tp;
  j["prefill_power_w_per_gpu"] = pre.energy_j / pre.time_s / a.tp;
  j["decode_power_w_per_gpu"] = dec_power;
  j["energy_j_per_output_token"] = j_per_token;
  j["energy_wh_per_request"] = (pre.energy_j + e_dec) / batch / 3600.0;
  if (!table) {
    j["prefill_breakdown_s"] = {{"compute", pre.compute_s}, {"memory", pre.memory_s}, {"comm", pre.comm_s}, {"overhead", pre.overhead_s}};
    j["decode_breakdown_s"] = {{"compute", mid.compute_s}, {"memory", mid.memory_s}, {"comm", mid.comm_s}, {"overhead", mid.overhead_s}};
  }
  if (a.json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("{} on {} x {} (tensor parallel), weights {} ({:.1f} GB per GPU), KV {}, {} step model, engine {}\n",
             llm.name, a.tp, gpu.name, model::dtype_name(llm.weight_dtype), llm.weight_bytes() / a.tp / 1e9,
             model::dtype_name(llm.kv_dtype), table ? "measured-table" : "roofline", gpu.engine);
  fmt::print("  KV cache      {:.0f} tokens: {} sequences of {} + {} tokens fit\n", kv, fits, a.prompt, a.output);
  fmt::print("  batch         {}{}\n", batch, a.max_batch ? " (the largest that fits)" : "");
  fmt::print("  TTFT          {:.1f} ms  ({:.1f} ms request overhead + one prefill step of {} x {} tokens; {:.0f} W per GPU)\n",
             1e3 * (req_s + pre.time_s), 1e3 * req_s, batch, a.prompt, pre.energy_j / pre.time_s / a.tp);
  fmt::print("  TPOT          {:.2f} ms  (mean over {} decode steps; {:.0f} W per GPU)\n", 1e3 * tpot, a.output - 1, dec_power);
  fmt::print("  throughput    {:.0f} output tokens/s per replica, {:.0f} per GPU\n", tokens_per_s, tokens_per_s / a.tp);
  fmt::print("  end to end    {:.2f} s for {} output tokens\n", req_s + pre.time_s + t_dec, a.output);
  fmt::print("  energy        {:.3f} J per output token, {:.4f} Wh per request (GPUs only)\n", j_per_token,
             (pre.energy_j + e_dec) / batch / 3600.0);
  if (!table)
    fmt::print("  decode step   {:.2f} ms = overhead {:.2f} + all-reduce {:.2f} + max(compute {:.2f}, memory {:.2f}) + "
               "serial part\n",
               1e3 * mid.time_s, 1e3 * mid.overhead_s, 1e3 * mid.comm_s, 1e3 * mid.compute_s, 1e3 * mid.memory_s);
  return 0;
}

int cmd_calibrate(const CalibrateArgs& a) {
  const config::Catalog cat = load(a.catalog_dir);
  const std::string file = a.file.empty() ? cat.dir + "/calibration.csv" : a.file;
  check_small_file(a.file.empty() ? "calibration file" : "--file", file);
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
  if (by_gpu.empty()) throw Error(fmt::format("{}: no rows for GPU \"{}\"", file, a.gpu));
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
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
      out.push_back({{"gpu", gid}, {"engine", engine}, {"llm", c.row.llm}, {"tp", c.row.tp}, {"batch", c.row.batch},
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
  if (a.json) fmt::print("{}\n", out.dump(2));
  return 0;
}

}  // namespace chatdc::app
