#include "config/catalog.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#ifndef CHATDC_DATA_DIR
#define CHATDC_DATA_DIR "."
#endif

namespace chatdc::config {

std::string data_dir() {
  if (const char* env = std::getenv("CHATDC_DATA_DIR"); env && *env) return env;
  return CHATDC_DATA_DIR;
}

std::string default_catalog_dir() { return data_dir() + "/platforms"; }

namespace {

model::Dtype read_dtype(Reader& r, const std::string& key, const std::string& def) {
  model::Dtype d = model::Dtype::kFp16;
  model::parse_dtype(r.text(key, def, model::dtype_names()), &d);
  return d;
}

model::GpuSpec read_gpu(Reader& r, const std::string& id) {
  model::GpuSpec g;
  g.id = id;
  g.name = r.text("name", id);
  g.memory_gb = r.required_number("memory_gb", Range{0, 1e4, true, false});
  g.memory_bandwidth_gb_per_s = r.required_number("memory_bandwidth_gb_per_s", Range{0, 1e6, true, false});
  g.bf16_dense_tflops = r.required_number("bf16_dense_tflops", Range{0, 1e6, true, false});
  g.fp8_dense_tflops = r.number("fp8_dense_tflops", 0, Range::between(0, 1e6));
  g.int8_dense_tops = r.number("int8_dense_tops", 0, Range::between(0, 1e6));
  g.fp4_dense_tflops = r.number("fp4_dense_tflops", 0, Range::between(0, 1e6));
  g.pack_name = r.text("pack_name", "");
  g.interconnect_gb_per_s = r.required_number("interconnect_gb_per_s", Range{0, 1e5, true, false});
  g.idle_power_w = r.required_number("idle_power_w", Range::between(0, 1e5));
  g.tdp_w = r.required_number("tdp_w", Range{0, 1e5, true, false});
  g.compute_bound_power_w = r.required_number("compute_bound_power_w", Range{0, 1e5, true, false});
  g.memory_bound_power_w = r.required_number("memory_bound_power_w", Range{0, 1e5, true, false});
  if (g.tdp_w <= g.idle_power_w) r.error("tdp_w", fmt::format("must exceed idle_power_w ({} W)", g.idle_power_w));
  for (const char* k : {"compute_bound_power_w", "memory_bound_power_w"}) {
    const double p = std::string(k) == "compute_bound_power_w" ? g.compute_bound_power_w : g.memory_bound_power_w;
    if (p < g.idle_power_w || p > g.tdp_w)
      r.error(k, fmt::format("must lie between idle_power_w ({} W) and tdp_w ({} W), got {}", g.idle_power_w, g.tdp_w, p));
  }
  return g;
}

// The efficiency profile of one serving engine, over the GPU's defaults.
void read_efficiency(Reader& e, model::GpuSpec* g) {
  g->compute_efficiency = e.required_number("compute", Range::open_fraction());
  g->memory_efficiency = e.required_number("memory", Range::open_fraction());
  g->attention_compute_efficiency = e.number("attention_compute", g->compute_efficiency, Range::open_fraction());
  g->kv_memory_efficiency = e.number("kv_memory", g->memory_efficiency, Range::open_fraction());
  g->gemm_half_tokens = e.number("gemm_half_tokens", 0, Range::between(0, 1e6));
  g->allreduce_hop_latency_us = e.number("allreduce_hop_latency_us", 0, Range::between(0, 1e6));
  g->step_overhead_ms = e.number("step_overhead_ms", 0, Range::between(0, 1e4));
  g->request_overhead_ms = e.number("request_overhead_ms", 0, Range::between(0, 1e5));
  g->per_sequence_overhead_us = e.number("per_sequence_overhead_us", 0, Range::between(0, 1e6));
  g->serial_fraction = e.number("serial_fraction", 0, Range::fraction());
  g->interconnect_efficiency = e.number("interconnect", 1, Range::open_fraction());
  g->roofline = e.text("roofline", "step", {"step", "kernel"}) == "kernel" ? model::GpuSpec::Roofline::kKernel
                                                                          : model::GpuSpec::Roofline::kStep;
  g->compute_efficiency_fp8 = e.number("compute_fp8", g->compute_efficiency, Range::open_fraction());
  g->compute_efficiency_fp4 = e.number("compute_fp4", g->compute_efficiency_fp8, Range::open_fraction());
  g->moe_compute_efficiency = e.number("moe_compute", 1, Range::open_fraction());
  g->layer_overhead_us = e.number("layer_overhead_us", 0, Range::between(0, 1000));
  g->moe_layer_overhead_us = e.number("moe_layer_overhead_us", 0, Range::between(0, 1000));
  g->moe_half_tokens = e.number("moe_half_tokens", 0, Range::between(0, 10000));
  g->allreduce_latency_us = e.number("allreduce_latency_us", 5, Range::between(0, 1000));
  g->attention_half_tokens = e.number("attention_half_tokens", 0, Range::between(0, 100000));
  g->cpu_overlap = e.number("cpu_overlap", 0, Range::fraction());
  g->chunked_prefill = e.boolean("chunked_prefill", false);
  g->basis = e.text("basis", "fitted", {"fitted", "ruled"});
  e.finish();
}

// A GPU entry: the hardware, then one spec per serving engine profile under `efficiency`.
std::map<std::string, model::GpuSpec> read_gpu_engines(Reader& r, const std::string& id) {
  const model::GpuSpec base = read_gpu(r, id);
  std::map<std::string, model::GpuSpec> out;
  Reader eff = r.child("efficiency", true);
  for (const std::string& engine : eff.keys()) {
    model::GpuSpec g = base;
    g.engine = engine;
    Reader e = eff.child(engine);
    read_efficiency(e, &g);
    out[engine] = g;
  }
  if (eff.valid() && r.has("efficiency") && out.empty())
    eff.error("", "needs at least one serving engine profile, e.g. vllm-2023: {compute: ..., memory: ...}");
  eff.finish();
  r.finish();
  return out;
}

model::ServerSpec read_server(Reader& r, const std::string& id) {
  model::ServerSpec s;
  s.id = id;
  s.name = r.text("name", id);
  s.gpu = r.required_text("gpu");
  s.gpus_per_server = static_cast<int>(r.required_integer("gpus_per_server", Range::between(1, 64)));
  s.max_power_w = r.required_number("max_power_w", Range{0, 1e6, true, false});
  s.non_gpu_max_power_w = r.required_number("non_gpu_max_power_w", Range::between(0, 1e6));
  s.non_gpu_idle_power_w = r.required_number("non_gpu_idle_power_w", Range::between(0, 1e6));
  if (s.non_gpu_idle_power_w > s.non_gpu_max_power_w)
    r.error("non_gpu_idle_power_w", fmt::format("must not exceed non_gpu_max_power_w ({} W), got {}",
                                                s.non_gpu_max_power_w, s.non_gpu_idle_power_w));
  s.capex_usd = r.required_number("capex_usd", Range::between(0, 1e8));
  s.nic_gbps = r.number("nic_gbps", s.nic_gbps, Range{0, 1e5, true, false});
  r.finish();
  return s;
}

model::LlmSpec read_llm(Reader& r, const std::string& id) {
  model::LlmSpec m;
  m.id = id;
  m.name = r.text("name", id);
  m.total_params_b = r.required_number("total_params_b", Range{0, 1e5, true, false});
  m.layers = static_cast<int>(r.required_integer("layers", Range::between(1, 10000)));
  m.hidden_size = static_cast<int>(r.required_integer("hidden_size", Range::between(1, 1e6)));
  m.attention_heads = static_cast<int>(r.required_integer("attention_heads", Range::between(1, 1e5)));
  m.kv_heads = static_cast<int>(r.required_integer("kv_heads", Range::between(1, 1e5)));
  m.head_dim = static_cast<int>(r.required_integer("head_dim", Range::between(1, 1e5)));
  m.vocab_size = static_cast<int>(r.required_integer("vocab_size", Range::between(1, 1e8)));
  m.max_context_tokens = static_cast<int>(r.required_integer("max_context_tokens", Range::between(1, 1 << 24)));
  m.experts = static_cast<int>(r.integer("experts", 0, Range::between(0, 1e5)));
  m.experts_per_token = static_cast<int>(r.integer("experts_per_token", 0, Range::between(0, 1e5)));
  m.expert_params_b = r.number("expert_params_b", 0, Range::between(0, 1e5));
  m.kv_elements_per_token_per_layer = r.number("kv_elements_per_token_per_layer", 0, Range::between(0, 1e7));
  m.attention_dim = r.number("attention_dim", 0, Range::between(0, 1e7));
  m.weight_dtype = read_dtype(r, "weight_dtype", "fp16");
  m.kv_dtype = read_dtype(r, "kv_dtype", "fp16");
  if (auto d = r.optional_text("dense_weight_dtype", model::dtype_names())) {
    model::Dtype dd;
    model::parse_dtype(*d, &dd);
    m.dense_weight_dtype = dd;
  }
  m.tied_embeddings = r.boolean("tied_embeddings", false);
  m.moe_layers = static_cast<int>(r.integer("moe_layers", 0, Range::between(0, 10000)));
  m.sliding_window_layers = static_cast<int>(r.integer("sliding_window_layers", 0, Range::between(0, 10000)));
  m.sliding_window_tokens = static_cast<int>(r.integer("sliding_window_tokens", 0, Range::between(0, 1 << 24)));
  if (auto ids = r.texts("hf_ids", 0)) m.hf_ids = *ids;
  if (m.moe_layers > m.layers) r.error("moe_layers", fmt::format("must not exceed layers ({}), got {}", m.layers, m.moe_layers));
  if (m.sliding_window_layers > m.layers)
    r.error("sliding_window_layers", fmt::format("must not exceed layers ({}), got {}", m.layers, m.sliding_window_layers));
  if ((m.sliding_window_layers > 0) != (m.sliding_window_tokens > 0))
    r.error("sliding_window_tokens", "sliding_window_layers and sliding_window_tokens go together (both > 0, or both 0)");
  if (m.kv_heads > m.attention_heads || m.attention_heads % m.kv_heads != 0)
    r.error("kv_heads", fmt::format("must divide attention_heads ({}), got {}", m.attention_heads, m.kv_heads));
  if (m.experts > 0) {
    if (m.experts_per_token < 1 || m.experts_per_token > m.experts)
      r.error("experts_per_token", fmt::format("must be in [1, experts = {}] for a mixture-of-experts model, got {}",
                                               m.experts, m.experts_per_token));
    if (m.expert_params_b <= 0 || m.expert_params_b >= m.total_params_b)
      r.error("expert_params_b", fmt::format("must be > 0 and < total_params_b ({}) for a mixture-of-experts model, got {}",
                                             m.total_params_b, m.expert_params_b));
  } else if (m.experts_per_token != 0 || m.expert_params_b != 0) {
    r.error("experts", "experts_per_token and expert_params_b need experts > 0");
  }
  double active_default = m.total_params_b;
  if (m.experts > 0 && m.expert_params_b > 0)
    active_default = m.total_params_b - m.expert_params_b * (1.0 - static_cast<double>(m.experts_per_token) / m.experts);
  m.active_params_b = r.number("active_params_b", active_default, Range{0, 1e5, true, false});
  if (m.active_params_b > m.total_params_b * (1 + 1e-9))
    r.error("active_params_b", fmt::format("must not exceed total_params_b ({}), got {}", m.total_params_b, m.active_params_b));
  r.finish();
  return m;
}

void read_gpus(Reader& parent, Catalog* c) {
  if (!parent.has("gpus")) {
    parent.accept("gpus");
    return;
  }
  Reader sec = parent.child("gpus");
  for (const std::string& id : sec.keys()) {
    Reader entry = sec.child(id);
    auto engines = read_gpu_engines(entry, id);
    c->gpu_yaml[id] = YAML::Clone(entry.resolved());
    if (engines.empty()) continue;
    c->gpus[id] = engines.count(kDefaultEngine) ? engines.at(kDefaultEngine) : engines.begin()->second;
    c->gpu_engines[id] = std::move(engines);
  }
  sec.finish();
}

template <class Spec, class Fn>
void read_entries(Reader& parent, const std::string& section, std::map<std::string, Spec>* out,
                  std::map<std::string, YAML::Node>* yaml_out, Fn read_one) {
  if (!parent.has(section)) {
    parent.accept(section);
    return;
  }
  Reader sec = parent.child(section);
  for (const std::string& id : sec.keys()) {
    Reader entry = sec.child(id);
    (*out)[id] = read_one(entry, id);
    (*yaml_out)[id] = YAML::Clone(entry.resolved());
  }
  sec.finish();
}

void load_one(const std::string& file, const std::string& section, Catalog* c, Diagnostics& diag) {
  Document doc;
  if (!load_shared_document(file, &doc, &diag)) return;
  YAML::Node scratch(YAML::NodeType::Map);
  Reader root(doc, diag, scratch);
  root.required_integer("schema_version", Range::between(1, 1));
  if (!root.has(section)) root.error(section, "missing required section");
  read_catalog_sections(root, c);
  root.finish();
}

}  // namespace

void read_catalog_sections(Reader& r, Catalog* c) {
  read_gpus(r, c);
  read_entries(r, "servers", &c->servers, &c->server_yaml, read_server);
  read_entries(r, "llms", &c->llms, &c->llm_yaml, read_llm);
}

void load_catalog(const std::string& dir, Catalog* c, Diagnostics& diag) {
  // Read once per process while the three files stay as they are (a fuzzer loads thousands of scenarios).
  struct Entry {
    std::string stamp;
    Catalog catalog;
    Diagnostics problems;
  };
  static std::map<std::string, Entry> cache;
  std::string stamp;
  for (const char* f : {"/gpus.yaml", "/servers.yaml", "/llms.yaml"}) {
    std::error_code ec;
    const auto t = std::filesystem::last_write_time(dir + f, ec).time_since_epoch().count();
    const auto n = ec ? 0 : std::filesystem::file_size(dir + f, ec);
    stamp += ec ? std::string("-;") : fmt::format("{}:{};", t, n);
  }
  auto it = cache.find(dir);
  if (it == cache.end() || it->second.stamp != stamp) {
    Entry e;
    e.stamp = stamp;
    e.catalog.dir = dir;
    load_one(dir + "/gpus.yaml", "gpus", &e.catalog, e.problems);
    load_one(dir + "/servers.yaml", "servers", &e.catalog, e.problems);
    load_one(dir + "/llms.yaml", "llms", &e.catalog, e.problems);
    it = cache.insert_or_assign(dir, std::move(e)).first;
  }
  *c = it->second.catalog;
  diag.append(it->second.problems);
}

const model::GpuSpec* gpu_for_engine(const Catalog& c, const std::string& gpu, const std::string& engine) {
  const auto it = c.gpu_engines.find(gpu);
  if (it == c.gpu_engines.end()) return nullptr;
  const auto e = it->second.find(engine);
  return e == it->second.end() ? nullptr : &e->second;
}

std::string engines_of(const Catalog& c, const std::string& gpu) {
  std::string out;
  if (const auto it = c.gpu_engines.find(gpu); it != c.gpu_engines.end())
    for (const auto& [e, _] : it->second) out += (out.empty() ? "" : ", ") + e;
  return out;
}

void check_catalog_links(const Catalog& c, const std::string& where, Diagnostics& diag) {
  for (const auto& [id, s] : c.servers) {
    if (!c.gpus.count(s.gpu)) {
      diag.add(where, "servers." + id + ".gpu", fmt::format("unknown GPU \"{}\" (not in the GPU catalog)", s.gpu));
      continue;
    }
    const auto& g = c.gpus.at(s.gpu);
    const double peak = s.gpus_per_server * g.tdp_w + s.non_gpu_max_power_w;
    if (peak > s.max_power_w * 1.05)
      diag.add(where, "servers." + id + ".max_power_w",
               fmt::format("{} GPUs x {} W + non_gpu_max_power_w {} W = {} W exceeds max_power_w {} W by more than 5%",
                           s.gpus_per_server, g.tdp_w, s.non_gpu_max_power_w, peak, s.max_power_w));
  }
}

}  // namespace chatdc::config
