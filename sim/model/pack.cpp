#include "model/pack.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <unordered_map>

#include "core/csv.hpp"
#include "core/error.hpp"

namespace chatdc::model {

std::uint64_t fnv1a64(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool in_test_split(const std::string& config_id) { return fnv1a64(config_id) % 5 == 0; }

namespace {

// "0.19.0" -> (0, 19); false when the version does not start with two numbers.
bool major_minor(const std::string& v, int* major, int* minor) {
  int a = 0, b = 0;
  char dot = 0;
  if (std::sscanf(v.c_str(), "%d%c%d", &a, &dot, &b) != 3 || dot != '.') return false;
  *major = a;
  *minor = b;
  return true;
}

}  // namespace

EnginePool engine_pool(const std::string& engine, const std::string& version) {
  int major = 0, minor = 0;
  const bool numbered = major_minor(version, &major, &minor);
  if (engine == "vllm") {
    if (numbered && major == 0 && minor < 6) return {"", "vLLM before 0.6 (the pre-2024 CPU-bound engine; ML.ENERGY v2 legacy rows)"};
    if (numbered && major == 0 && minor < 10) return {"", "vLLM 0.6-0.9 (V0 engine, multi-step scheduling): not pooled with the V1 engine"};
    return {"vllm", ""};  // 0.10 and later (V1), nightlies, and unrecorded InferenceX images (late 2025 and after)
  }
  if (engine == "sglang") {
    if (numbered && major == 0 && minor < 5) return {"", "SGLang before 0.5 (2024): not pooled with 0.5 and later"};
    // InferenceX recorded no image before 2025-12-08; its SGLang runs then used 0.4.9-0.4.10 images.
    if (version == "unrecorded") return {"", "SGLang image not recorded (InferenceX before 2025-12-08 ran SGLang 0.4.x): not pooled with 0.5"};
    return {"sglang", ""};
  }
  if (engine == "trtllm") {
    if (numbered && major == 0 && minor < 20)
      return {"", "TensorRT-LLM before 0.20 (TensorRT engine-builder flow): not pooled with the PyTorch-backend 0.20 and 1.x"};
    return {"trtllm", ""};
  }
  return {"", fmt::format("engine \"{}\" has no profile family (vllm, sglang, trtllm)", engine)};
}

std::vector<PackConfig> load_pack(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw Error(fmt::format("{}: cannot open the calibration pack", file));
  std::string line;
  std::vector<std::string> f;
  std::unordered_map<std::string, int> col;
  const std::vector<std::string> required = {"config_id", "engine", "gpu", "tp", "serving_mode", "model", "weight_dtype",
                                             "input_tokens", "output_tokens", "load_type", "concurrency_or_rate", "metric",
                                             "value"};
  std::vector<PackConfig> out;
  std::unordered_map<std::string, std::size_t> index;
  std::unordered_map<std::string, std::string> stat_of;  // config|metric -> statistic used
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    if (!split_csv_line(line, &f)) throw Error(fmt::format("{}:{}: unterminated quote", file, n));
    if (col.empty()) {
      for (std::size_t i = 0; i < f.size(); ++i) col[f[i]] = static_cast<int>(i);
      for (const auto& r : required)
        if (!col.count(r)) throw Error(fmt::format("{}:{}: the header has no \"{}\" column (the pack's schema)", file, n, r));
      continue;
    }
    auto get = [&](const char* name) -> std::string {
      const auto it = col.find(name);
      if (it == col.end() || it->second >= static_cast<int>(f.size())) return "";
      return f[static_cast<std::size_t>(it->second)];
    };
    if (f.size() != col.size())
      throw Error(fmt::format("{}:{}: expected {} fields, got {}", file, n, col.size(), f.size()));
    auto number = [&](const char* name, bool required_field, double lo) -> std::optional<double> {
      const std::string v = get(name);
      if (v.empty()) {
        if (required_field) throw Error(fmt::format("{}:{}: {}: expected a number, got nothing", file, n, name));
        return std::nullopt;
      }
      double x;
      if (!parse_number(v, &x) || x < lo)
        throw Error(fmt::format("{}:{}: {}: expected a number >= {}, got \"{}\"", file, n, name, lo, v));
      return x;
    };
    auto whole = [&](const char* name, int def) {
      const auto x = number(name, false, 0);
      if (!x) return def;
      if (*x != std::floor(*x) || *x > 4096) throw Error(fmt::format("{}:{}: {}: expected a whole number, got \"{}\"", file, n, name, get(name)));
      return static_cast<int>(*x);
    };
    PackConfig c;
    c.file = file;
    c.line = n;
    c.config_id = get("config_id");
    if (c.config_id.empty()) throw Error(fmt::format("{}:{}: config_id: expected an identifier, got nothing", file, n));
    c.source_id = get("source_id");
    c.engine = get("engine");
    c.engine_version = get("engine_version");
    c.gpu = get("gpu");
    c.serving_mode = get("serving_mode");
    c.model = get("model");
    c.model_arch = get("model_arch");
    c.weight_dtype = get("weight_dtype");
    c.kv_dtype = get("kv_dtype");
    c.load_type = get("load_type");
    c.spec_decoding = get("spec_decoding");
    {
      const std::string notes = get("notes");
      for (const char* tag : {"tag 'db-dump/", "tag '2026-03-25.csv'", "tag '2026-04-06.csv'"})
        if (notes.find(tag) != std::string::npos) c.harness = "inferencex";
    }
    c.tp = whole("tp", 1);
    if (c.tp < 1) throw Error(fmt::format("{}:{}: tp: expected a whole number >= 1, got \"{}\"", file, n, get("tp")));
    c.pp = std::max(1, whole("pp", 1));
    c.ep = std::max(1, whole("ep", 1));
    c.dp = std::max(1, whole("dp_attention", 1));
    c.gpus_per_replica = number("gpus_per_replica", false, 1);
    c.input_tokens = number("input_tokens", false, 1);
    c.output_tokens = number("output_tokens", false, 1);
    c.max_batch = number("max_batch", false, 1);
    c.concurrency_text = get("concurrency_or_rate");
    double conc;
    if (!c.concurrency_text.empty() && parse_number(c.concurrency_text, &conc)) {
      if (conc < 1 || conc != std::floor(conc))
        throw Error(fmt::format("{}:{}: concurrency_or_rate: expected a whole number of clients >= 1, \"X req/s\" or \"inf\", got \"{}\"",
                                file, n, c.concurrency_text));
      c.concurrency = conc;
    }
    const std::string metric = get("metric");
    if (metric.empty()) throw Error(fmt::format("{}:{}: metric: expected a metric name, got nothing", file, n));
    const std::string stat = get("statistic");
    double value;
    if (!parse_number(get("value"), &value) || value <= 0)
      throw Error(fmt::format("{}:{}: value: expected a number > 0, got \"{}\"", file, n, get("value")));

    auto it = index.find(c.config_id);
    if (it == index.end()) {
      index[c.config_id] = out.size();
      out.push_back(c);
      it = index.find(c.config_id);
    } else {
      const PackConfig& first = out[it->second];
      auto differs = [&](const char* name, const std::string& a, const std::string& b) {
        if (a != b)
          throw Error(fmt::format("{}:{}: {}: \"{}\" differs from line {} (\"{}\") of the same config_id {}", file, n, name, a,
                                  first.line, b, c.config_id));
      };
      differs("engine", c.engine, first.engine);
      differs("gpu", c.gpu, first.gpu);
      differs("model", c.model, first.model);
      differs("weight_dtype", c.weight_dtype, first.weight_dtype);
      differs("concurrency_or_rate", c.concurrency_text, first.concurrency_text);
      if (c.tp != first.tp || c.input_tokens != first.input_tokens || c.output_tokens != first.output_tokens)
        throw Error(fmt::format("{}:{}: tp, input_tokens or output_tokens differ from line {} of the same config_id {}", file, n,
                                first.line, c.config_id));
    }
    // One value per metric: mean, else the unstated statistic, else the median.
    if (stat != "mean" && stat != "unspecified" && stat != "median" && !stat.empty()) continue;
    auto rank = [](const std::string& s) { return s == "mean" || s.empty() ? 0 : s == "unspecified" ? 1 : 2; };
    const std::string key = c.config_id + "|" + metric;
    const auto st = stat_of.find(key);
    if (st != stat_of.end() && rank(st->second) <= rank(stat)) continue;
    stat_of[key] = stat;
    out[it->second].metrics[metric] = value;
  }
  if (col.empty()) throw Error(fmt::format("{}: empty calibration pack (no header)", file));
  if (out.empty()) throw Error(fmt::format("{}: no rows", file));
  return out;
}

}  // namespace chatdc::model
