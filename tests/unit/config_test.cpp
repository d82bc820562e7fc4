#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <unistd.h>

#include "config/assemble.hpp"
#include "config/scenario.hpp"
#include "core/error.hpp"
#include "scratch_dir.hpp"

using namespace chatdc;
namespace fs = std::filesystem;

namespace {

const char* kBase = R"(schema_version: 1
name: t
model:
  llm: llama-2-70b
  tensor_parallel: 4
platform:
  regions:
    - name: east
      utc_offset_h: 8
      pue: 1.25
      carbon_kg_per_kwh: 0.55
      datacenters:
        - name: east-1
          server: dgx-a100-80gb
          racks: 2
          servers_per_rack: 2
workload:
  requests_per_day: 1000
  prompt_tokens: {distribution: fixed, value: 100}
  output_tokens: {distribution: fixed, value: 10}
economics:
  electricity_price_usd_per_kwh: 0.08
)";

std::string write(const std::string& name, const std::string& text) {
  const fs::path p = test::scratch_dir() / name;
  std::ofstream(p) << text;
  return p.string();
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// The error text of loading `text` (with --set overrides), or "" if it loads.
std::string error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    config::load_scenario(write("s.yaml", text), sets);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the base scenario loads, with defaults resolved") {
  const auto s = config::load_scenario(write("ok.yaml", kBase));
  CHECK(s.regions.size() == 1);
  CHECK(s.regions[0].datacenters[0].servers() == 4);
  CHECK(s.run.duration_s == 86400);
  CHECK(s.run.clock_utc_offset_h == 8);  // follows the first region
  CHECK(s.economics.currency == "USD");
  CHECK(s.workload.user_regions.size() == 1);
  CHECK(s.resolved["serving"]["max_batch_size"].as<int>() == 256);
  CHECK(s.resolved["catalog"]["servers"]["dgx-a100-80gb"]["capex_usd"].as<double>() == 199000);
  CHECK(s.regions[0].price_per_kwh.at(0, 0) == Approx(0.08));
}

TEST_CASE("config error: unknown key names file, line, key path and the nearest valid key") {
  const std::string e = error_of(replace(kBase, "  requests_per_day: 1000", "  requests_per_dya: 1000"));
  CHECK_THAT(e, Catch::Contains("s.yaml:18:3: workload.requests_per_dya: unknown key (did you mean \"requests_per_day\"?)"));
}

TEST_CASE("config error: wrong type") {
  const std::string e = error_of(replace(kBase, "racks: 2", "racks: two"));
  CHECK_THAT(e, Catch::Contains("s.yaml:15:18: platform.regions[0].datacenters[0].racks: expected a number, got \"two\""));
}

TEST_CASE("config error: negative count") {
  const std::string e = error_of(replace(kBase, "servers_per_rack: 2", "servers_per_rack: -3"));
  CHECK_THAT(e, Catch::Contains("platform.regions[0].datacenters[0].servers_per_rack: expected a whole number in [1, 1024], got -3"));
}

TEST_CASE("config error: a fraction where a whole number is needed") {
  const std::string e = error_of(replace(kBase, "racks: 2", "racks: 2.5"));
  CHECK_THAT(e, Catch::Contains("racks: expected a whole number in [1, 100000], got \"2.5\""));
}

TEST_CASE("config error: missing file") {
  try {
    config::load_scenario("/nonexistent/nowhere.yaml");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/nowhere.yaml: cannot open the file"));
  }
}

TEST_CASE("config error: YAML syntax error names line and column") {
  const std::string e = error_of(replace(kBase, "  tensor_parallel: 4", "  tensor_parallel: [4"));
  CHECK_THAT(e, Catch::Contains("s.yaml:"));
  CHECK_THAT(e, Catch::Contains("YAML syntax error"));
}

TEST_CASE("config error: every problem is reported at once") {
  std::string text = replace(kBase, "racks: 2", "racks: 0");
  text = replace(text, "pue: 1.25", "pue: 0.9");
  text = replace(text, "llm: llama-2-70b", "llm: llama-9");
  const std::string e = error_of(text);
  CHECK_THAT(e, Catch::Contains("racks: expected a whole number in [1, 100000], got 0"));
  CHECK_THAT(e, Catch::Contains("pue: expected a number in [1, 5], got 0.9"));
  CHECK_THAT(e, Catch::Contains("model.llm: unknown LLM \"llama-9\" (catalog has: "));
}

TEST_CASE("config error: a model that does not fit its GPUs") {
  const std::string e = error_of(replace(kBase, "tensor_parallel: 4", "tensor_parallel: 1"));
  CHECK_THAT(e, Catch::Contains("less than one 4096-token context: raise tensor_parallel"));
}

TEST_CASE("overrides (--set) are validated like the file and located as --set") {
  CHECK(error_of(kBase, {"workload.requests_per_day=5e5"}).empty());
  const auto s = config::load_scenario(write("ok2.yaml", kBase), {"platform.regions[east].datacenters[0].racks=7"});
  CHECK(s.regions[0].datacenters[0].racks == 7);
  CHECK_THAT(error_of(kBase, {"platform.regions[0].datacenters[0].racks=-1"}),
             Catch::Contains("--set platform.regions[0].datacenters[0].racks=-1: platform.regions[0].datacenters[0].racks: "
                             "expected a whole number in [1, 100000], got -1"));
  CHECK_THAT(error_of(kBase, {"workload.requests_per_dy=5"}), Catch::Contains("--set workload.requests_per_dy=5: "
                                                                             "workload.requests_per_dy: unknown key"));
}

TEST_CASE("config error: bad --set syntax and missing list items") {
  CHECK_THAT(error_of(kBase, {"workload.requests_per_day"}), Catch::Contains("expected KEY.PATH=VALUE"));
  CHECK_THAT(error_of(kBase, {"platform.regions[3].pue=1.1"}), Catch::Contains("platform.regions: has 1 item(s); no item [3]"));
  CHECK_THAT(error_of(kBase, {"platform.regions[west].pue=1.1"}), Catch::Contains("no item [west]"));
  CHECK_THAT(error_of(kBase, {"workload.hourly_profile=[1, 2"}), Catch::Contains("the value is not valid YAML"));
}

TEST_CASE("config error: missing required sections and keys") {
  CHECK_THAT(error_of(replace(kBase, "  llm: llama-2-70b\n", "")), Catch::Contains("model.llm: missing required key"));
  CHECK_THAT(error_of(replace(kBase, "schema_version: 1\n", "")), Catch::Contains("schema_version: missing required key"));
  CHECK_THAT(error_of(replace(kBase, "schema_version: 1", "schema_version: 2")),
             Catch::Contains("schema_version: expected a whole number in [1, 1], got 2"));
}

TEST_CASE("config error: prices, shares and regions that do not add up") {
  CHECK_THAT(error_of(replace(kBase, "  electricity_price_usd_per_kwh: 0.08\n", "  currency: CNY\n")),
             Catch::Contains("no electricity price"));
  CHECK_THAT(error_of(std::string(kBase) + "  electricity_price_cny_per_kwh: 0.6\n"),
             Catch::Contains("give either electricity_price_usd_per_kwh or electricity_price_cny_per_kwh, not both"));
  const std::string users = std::string(kBase) +
                            "routing: {policy: nearest}\n";
  CHECK(error_of(users).empty());
  CHECK_THAT(error_of(replace(kBase, "  requests_per_day: 1000\n",
                              "  requests_per_day: 1000\n  user_regions:\n    - {name: a, share: 0.5, network_region: east}\n"
                              "    - {name: b, share: 0.2, network_region: mars}\n")),
             Catch::Contains("\"mars\" is not a region under platform.regions"));
  CHECK_THAT(error_of(replace(kBase, "  requests_per_day: 1000\n",
                              "  requests_per_day: 1000\n  user_regions:\n    - {name: a, share: 0.5, network_region: east}\n"
                              "    - {name: b, share: 0.2, network_region: east}\n")),
             Catch::Contains("the shares must add up to 1, got 0.7"));
}

TEST_CASE("time-of-use tariffs: windows, wrap past midnight, overlaps") {
  const std::string tou = replace(kBase, "      carbon_kg_per_kwh: 0.55\n",
                                  "      carbon_kg_per_kwh: 0.55\n"
                                  "      tariff:\n"
                                  "        type: time_of_use\n"
                                  "        prices_cny_per_kwh: {peak: 1.0, flat: 0.6, valley: 0.3}\n"
                                  "        default_period: flat\n"
                                  "        windows:\n"
                                  "          - {period: valley, from_h: 23, to_h: 7}\n"
                                  "          - {period: peak, from_h: 10, to_h: 12}\n");
  const auto s = config::load_scenario(write("tou.yaml", tou));
  const auto& p = s.regions[0].price_per_kwh;  // CNY converted to USD at 7.2
  CHECK(p.at_local_hour(23.5) == Approx(0.3 / 7.2));
  CHECK(p.at_local_hour(3) == Approx(0.3 / 7.2));
  CHECK(p.at_local_hour(8) == Approx(0.6 / 7.2));
  CHECK(p.at_local_hour(11) == Approx(1.0 / 7.2));
  CHECK_THAT(error_of(replace(tou, "from_h: 10, to_h: 12", "from_h: 6, to_h: 12")), Catch::Contains("overlaps window 0 at 06:00"));
  CHECK_THAT(error_of(replace(tou, "period: peak", "period: top")), Catch::Contains("\"top\" is not a period listed under prices"));
}

TEST_CASE("the resolved scenario reloads to the same scenario") {
  const auto a = config::load_scenario(write("r1.yaml", kBase), {"serving.max_batch_size=64"});
  const std::string again = write("r2.yaml", config::resolved_yaml(a));
  const auto b = config::load_scenario(again);
  CHECK(config::resolved_yaml(b).substr(config::resolved_yaml(b).find("catalog:")) ==
        config::resolved_yaml(a).substr(config::resolved_yaml(a).find("catalog:")));
  CHECK(b.scheduler.max_batch_size == 64);
}

TEST_CASE("workload: per-region demand, profiles, time zones, day of week") {
  const std::string text = replace(kBase, "  requests_per_day: 1000\n",
                                   "  day_of_week: [1, 1, 1, 1, 1, 0.5, 0.5]\n"
                                   "  user_regions:\n"
                                   "    - {name: east, requests_per_day: 3000, network_region: east}\n"
                                   "    - {name: west, daily_users: 100, queries_per_user: 10, network_region: east, utc_offset_h: -5,\n"
                                   "       hourly_profile: flat}\n");
  const auto s = config::load_scenario(write("regions.yaml", text));
  REQUIRE(s.workload.user_regions.size() == 2);
  CHECK(s.workload.user_regions[0].requests_per_day == 3000);
  CHECK(s.workload.user_regions[1].requests_per_day == 1000);
  CHECK(s.workload.user_regions[1].utc_offset_h == -5);
  CHECK(s.workload.user_regions[1].hourly_profile[3] == 1);
  CHECK(s.workload.day_of_week[6] == 0.5);
  CHECK(s.workload.requests_per_day == 4000);
  CHECK_THAT(error_of(replace(text, "requests_per_day: 3000", "share: 0.5")), Catch::Contains("a share needs the workload's total demand"));
}

TEST_CASE("workload: a trace source, its options and what does not go with it") {
  const std::string trace = replace(kBase,
                                    "  requests_per_day: 1000\n  prompt_tokens: {distribution: fixed, value: 100}\n"
                                    "  output_tokens: {distribution: fixed, value: 10}\n",
                                    "  source: trace\n  trace: {format: azure, path: " CHATDC_SOURCE_DIR
                                    "/workloads/traces/azure_conv_sample.csv, rate_scale: 2, loop: true}\n");
  const auto s = config::load_scenario(write("trace.yaml", trace));
  CHECK(s.workload.source == "trace");
  CHECK(s.workload.trace.rate_scale == 2);
  CHECK(s.workload.trace.duration_s == 86400);
  const std::string in_workload = "/workloads/traces/azure_conv_sample.csv, rate_scale: 2, loop: true}\n";
  CHECK_THAT(error_of(replace(trace, in_workload, in_workload + "  prompt_tokens: {distribution: fixed, value: 1}\n")),
             Catch::Contains("workload.prompt_tokens: not used: a azure trace carries its own token counts"));
  CHECK_THAT(error_of(replace(trace, "format: azure", "format: parquet")), Catch::Contains("expected one of azure, mooncake, servegen, csv"));
  CHECK_THAT(error_of(replace(trace, "rate_scale: 2", "rate_scale: -1")), Catch::Contains("workload.trace.rate_scale"));
  CHECK_THAT(error_of(replace(trace, in_workload, in_workload + "  conversations: {turns_mean: 2}\n")),
             Catch::Contains("conversations apply to synthetic workloads"));
}

TEST_CASE("workload: empirical token lengths from a trace file") {
  const std::string text = replace(kBase, "  prompt_tokens: {distribution: fixed, value: 100}\n",
                                   "  prompt_tokens: {distribution: empirical, format: azure, file: " CHATDC_SOURCE_DIR
                                   "/workloads/traces/azure_conv_sample.csv}\n");
  const auto s = config::load_scenario(write("emp.yaml", text));
  CHECK(s.workload.prompt.kind == workload::TokenDist::Kind::kEmpirical);
  CHECK(s.workload.prompt.samples.size() == 200);
  CHECK_THAT(error_of(replace(text, "azure_conv_sample.csv", "missing.csv")), Catch::Contains("missing.csv"));
}

TEST_CASE("regions: presets fill in what the scenario leaves out, and are validated") {
  const std::string text = replace(kBase, "    - name: east\n      utc_offset_h: 8\n      pue: 1.25\n      carbon_kg_per_kwh: 0.55\n",
                                   "    - name: east\n      preset: cn-west-ningxia-zhongwei\n      pue: 1.15\n");
  const auto s = config::load_scenario(write("preset.yaml", text));
  CHECK(s.regions[0].utc_offset_h == 8);
  CHECK(s.regions[0].pue.at(0, 0) == 1.15);  // the scenario's value wins
  CHECK(s.regions[0].carbon_kg_per_kwh.at(0, 0) == Approx(0.5857));
  CHECK(s.regions[0].demand_charge_per_kw_month > 0);
  CHECK(!s.regions[0].price_per_kwh.is_constant());  // a time-of-use tariff
  CHECK_THAT(error_of(replace(text, "cn-west-ningxia-zhongwei", "cn-west-atlantis")),
             Catch::Contains("unknown region preset \"cn-west-atlantis\""));
  // Every shipped preset loads.
  for (const char* id : {"cn-east-bth-beijing", "cn-east-bth-tianjin", "cn-east-bth-hebei-zhangjiakou", "cn-east-yrd-shanghai",
                         "cn-east-yrd-jiangsu", "cn-east-gba-guangdong", "cn-west-ningxia-zhongwei",
                         "cn-west-ningxia-zhongwei-dc-deal", "cn-west-guizhou-guian", "cn-west-guizhou-guian-dc-deal",
                         "cn-west-innermongolia-horinger", "cn-west-innermongolia-horinger-dc-deal", "cn-west-gansu-qingyang",
                         "cn-west-gansu-qingyang-dc-deal", "us-va", "us-tx", "us-or"}) {
    INFO(id);
    CHECK(error_of(replace(text, "cn-west-ningxia-zhongwei", id)).empty());
  }
}

TEST_CASE("engines: a serving engine the GPU has no profile for is an error") {
  CHECK(error_of(kBase + std::string("serving: {engine: trtllm-0.5}\n")).empty());
  CHECK_THAT(error_of(kBase + std::string("serving: {engine: sglang-2025}\n")),
             Catch::Contains("has no efficiency profile for serving engine \"sglang-2025\""));
}

TEST_CASE("routing: split shares name datacenters and add up to 1") {
  CHECK(error_of(kBase + std::string("routing: {policy: split, split: {east-1: 1}}\n")).empty());
  CHECK_THAT(error_of(kBase + std::string("routing: {policy: split, split: {east-9: 1}}\n")), Catch::Contains("\"east-9\" is not a datacenter"));
  CHECK_THAT(error_of(kBase + std::string("routing: {policy: split, split: {east-1: 0.5}}\n")), Catch::Contains("the shares must add up to 1"));
}

TEST_CASE("balancer cells and threads: defaults, and bad values named with their range") {
  const config::Scenario s = config::load_scenario(write("cells.yaml", kBase), {});
  CHECK(s.cell_replicas == 128);
  CHECK(s.run.threads == 0);
  CHECK_THAT(error_of(kBase, {"serving.cell_replicas=-4"}),
             Catch::Contains("serving.cell_replicas: expected a whole number in [0, 1e9], got -4"));
  CHECK_THAT(error_of(kBase, {"run.threads=1.5"}), Catch::Contains("run.threads: expected a whole number in [0, 1024], got \"1.5\""));
  CHECK_THAT(error_of(kBase, {"run.threads=5000"}), Catch::Contains("run.threads: expected a whole number in [0, 1024], got 5000"));
}

namespace {
std::vector<std::pair<std::string, config::Range>> g_ranges;
void record_range(const std::string& path, const config::Range& r) { g_ranges.emplace_back(path, r); }
}  // namespace

TEST_CASE("every quantity a scenario or catalog gives has an upper bound (checked before any work)") {
  // Every number the shipped scenarios, the fixtures and a scenario using every optional section read
  // (defaults included, catalogs included) is checked against a range with a finite upper end.
  const std::string everything = kBase + std::string(R"(run: {duration_h: 2, request_log: sample, request_log_fraction: 0.5}
serving: {chunked_prefill: true, kv_policy: reserve, max_waiting_per_replica: 10}
slo: {ttft_s: 1, tpot_s: 0.1}
routing: {policy: split, split: {east-1: 1}, max_load_per_replica: 10, spill_margin: 0.5, signal_half_life_s: 10}
catalog:
  llms:
    tiny: {total_params_b: 1, layers: 2, hidden_size: 64, attention_heads: 8, kv_heads: 8, head_dim: 8, vocab_size: 10,
           max_context_tokens: 100, experts: 4, experts_per_token: 2, expert_params_b: 0.5}
)");
  std::string text = replace(everything, "  requests_per_day: 1000\n",
                             "  conversations: {turns_mean: 2, think_time_s: {median: 5, sigma: 1, max: 60}}\n"
                             "  arrival: {process: gamma, cv: 2}\n  day_of_week: [1, 1, 1, 1, 1, 0.5, 0.5]\n"
                             "  user_regions: [{name: a, requests_per_day: 500, network_region: east}, "
                             "{name: b, daily_users: 10, queries_per_user: 50, network_region: west, access_latency_ms: 9}]\n");
  text = replace(text, "      pue: 1.25\n",
                 "      pue: 1.25\n      capacity_charge_usd_per_kw_month: 5\n      tariff: {type: time_of_use, "
                 "prices_cny_per_kwh: {peak: 1, valley: 0.3}, default_period: valley, windows: [{period: peak, from_h: 8, to_h: 12}]}\n");
  text = replace(text, "workload:\n", "    - {name: west, utc_offset_h: 7, pue: 1.2, carbon_kg_per_kwh: 0.6, datacenters: []}\n"
                                      "  wan_links: [{between: [east, west], latency_ms: 10, cost_usd_per_gb: 0.01, cost_usd_per_day: 5}]\n"
                                      "  wan_bytes_per_token: 4\nworkload:\n");
  text = replace(text, "economics:\n", "economics:\n  facility_capex_usd_per_kw: 100\n  carbon_price_usd_per_t: 10\n");
  g_ranges.clear();
  config::set_range_observer(record_range);
  CHECK(error_of(text).empty());
  std::vector<std::string> files;
  for (const auto& dir : {"/scenarios", "/tests/fixtures"})
    for (const auto& e : fs::directory_iterator(std::string(CHATDC_SOURCE_DIR) + dir))
      if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  for (const auto& f : files) {
    INFO(f);
    CHECK_NOTHROW(config::load_scenario(f));
  }
  config::set_range_observer(nullptr);
  std::set<std::string> paths, unbounded;
  for (const auto& [path, r] : g_ranges) {
    paths.insert(path);
    if (!std::isfinite(r.hi) || !std::isfinite(r.lo)) unbounded.insert(path + " (" + r.describe() + ")");
  }
  INFO("keys read: " << paths.size());
  CHECK(paths.size() > 150);
  for (const auto& u : unbounded) {
    INFO("a quantity without a finite range: " << u);
    CHECK(false);
  }
}

TEST_CASE("a datacenter's measured step-time table: used in run, checked at load") {
  // Splitwise's A100 TP4-like table, as a user would record it (contexts and batches beyond the
  // workload's 110-token sequences and the batch cap below).
  write("table.csv",
        "phase,batch,context_tokens,step_ms\nprefill,1,512,90\nprefill,1,8192,1400\ndecode,1,513,40\ndecode,64,513,60\n");
  const std::string dc = "          servers_per_rack: 2\n";
  const std::string with_table = replace(kBase, dc, dc + "          step_table: table.csv\n");
  const auto s = config::load_scenario(write("t.yaml", with_table), {"serving.max_batch_size=128"});
  REQUIRE(s.regions[0].datacenters[0].step_table);
  CHECK(s.regions[0].datacenters[0].step_table->decode.size() == 2);
  CHECK_THAT(config::resolved_yaml(s), Catch::Contains("table.csv"));
  // Beyond reach: batch 256 is more than 2x the largest measured batch (64, line 5 of the table).
  CHECK_THAT(error_of(with_table, {"serving.max_batch_size=256"}),
             Catch::Contains("table.csv:5: the largest measured decode batch is 64; serving.max_batch_size 256 is more than 2x"));
  // An unphysical table is an error naming its line, reported at the scenario key.
  write("bad_table.csv", "phase,batch,context_tokens,step_ms\nprefill,1,512,90\ndecode,1,513,40\ndecode,64,513,30\n");
  const std::string bad = replace(kBase, dc, dc + "          step_table: bad_table.csv\n");
  const std::string e = error_of(bad, {"serving.max_batch_size=64"});
  CHECK_THAT(e, Catch::Contains("step_table"));
  CHECK_THAT(e, Catch::Contains("bad_table.csv:4: decode step_ms 30 at batch 64 and context 513 is below 40"));
  CHECK_THAT(error_of(replace(kBase, dc, dc + "          step_table: missing.csv\n")), Catch::Contains("cannot open"));
}

TEST_CASE("serving.chunked_prefill defaults to the engine's scheduling") {
  // vllm-2023 (2023 profile): prefill-first; vllm (today's V1 engine): chunked prefill.
  const auto old = config::load_scenario(write("e1.yaml", kBase), {"serving.engine=vllm-2023"});
  CHECK_FALSE(old.scheduler.chunked_prefill);
  const auto now = config::load_scenario(write("e2.yaml", kBase), {"serving.engine=vllm"});
  CHECK(now.scheduler.chunked_prefill);
  const auto sg = config::load_scenario(write("e3.yaml", kBase), {"serving.engine=sglang"});
  CHECK_FALSE(sg.scheduler.chunked_prefill);
  // Given explicitly, it wins; decode_first needs prefill-only steps and says why.
  CHECK_FALSE(config::load_scenario(write("e4.yaml", kBase), {"serving.chunked_prefill=false"}).scheduler.chunked_prefill);
  CHECK_THAT(error_of(kBase, {"serving.priority=decode_first"}),
             Catch::Contains("serving.engine vllm schedules chunked prefill"));
}

TEST_CASE("model.expert_parallel: a mixture-of-experts model only, dividing the experts and the replica's GPUs") {
  const std::string moe = replace(replace(kBase, "llm: llama-2-70b", "llm: mixtral-8x7b"), "tensor_parallel: 4", "tensor_parallel: 4\n  expert_parallel: 4");
  CHECK(config::load_scenario(write("ep.yaml", moe)).expert_parallel == 4);
  CHECK_THAT(error_of(replace(kBase, "tensor_parallel: 4", "tensor_parallel: 4\n  expert_parallel: 2")),
             Catch::Contains("model.expert_parallel") && Catch::Contains("mixture-of-experts"));
  CHECK_THAT(error_of(moe, {"model.expert_parallel=3"}), Catch::Contains("whose experts it divides"));
  CHECK_THAT(error_of(moe, {"model.tensor_parallel=2", "model.expert_parallel=4"}),
             Catch::Contains("model.expert_parallel 4 must divide the replica's GPUs, got tensor_parallel 2"));
}

TEST_CASE("run.start_h: part of a day at its true clock, workload.demand_multiplier scales the demand") {
  const std::string text = replace(kBase, "  requests_per_day: 1000\n",
                                   "  requests_per_day: 2400\n"
                                   "  hourly_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 1, 1]\n");
  // The clock follows the region (UTC+8); a run starting at 19:00 sees the 19:00 hour's weight first.
  const auto day = config::load_scenario(write("day.yaml", text));
  const auto evening = config::load_scenario(write("evening.yaml", text), {"run.start_h=19", "run.duration_h=2"});
  CHECK(day.run.start_h == 0);
  CHECK(evening.run.start_h == 19);
  CHECK(evening.resolved["run"]["start_h"].as<double>() == 19);
  const auto a_day = config::assemble(day), a_evening = config::assemble(evening);
  const double per_weight = 2400.0 / 28 / 3600;  // requests/s for a weight of 1 (weights sum to 28)
  CHECK(a_day.workload.regions[0].rate_at(19 * 3600 + 10) == Approx(5 * per_weight));
  CHECK(a_evening.workload.regions[0].rate_at(10) == Approx(5 * per_weight));
  CHECK(a_evening.workload.regions[0].rate_at(3600 + 10) == Approx(per_weight));
  CHECK(a_evening.workload.regions[0].expected(0, 7200) == Approx(a_day.workload.regions[0].expected(19 * 3600, 21 * 3600)));
  // Prices and PUE by local hour follow the same clock.
  CHECK(a_evening.accounting[0].offset_s == Approx(a_day.accounting[0].offset_s + 19 * 3600));

  const auto doubled = config::load_scenario(write("double.yaml", text), {"workload.demand_multiplier=1.5"});
  CHECK(doubled.workload.requests_per_day == Approx(3600));
  CHECK(doubled.workload.user_regions[0].requests_per_day == Approx(3600));
  CHECK(doubled.resolved["workload"]["requests_per_day"].as<double>() == 2400);  // the base demand, and the multiplier
  CHECK(doubled.resolved["workload"]["demand_multiplier"].as<double>() == 1.5);

  CHECK_THAT(error_of(text, {"run.start_h=24"}), Catch::Contains("run.start_h") && Catch::Contains("24"));
  CHECK_THAT(error_of(text, {"run.start_h=-1"}), Catch::Contains("run.start_h"));
  CHECK_THAT(error_of(text, {"workload.demand_multiplier=0"}), Catch::Contains("workload.demand_multiplier"));
  CHECK_THAT(error_of(text, {"workload.demand_multiplier=101"}), Catch::Contains("workload.demand_multiplier"));
}

TEST_CASE("prefix caching: on by default with engines that cache by default, resolved, bad values named") {
  const config::Scenario old = config::load_scenario(write("pc.yaml", kBase), {"serving.engine=vllm-2023"});
  CHECK(old.engine == "vllm-2023");
  CHECK(old.scheduler.prefix_block_tokens == 0);  // the 2023 engines had no prefix caching
  CHECK(old.resolved["serving"]["prefix_caching"].as<std::string>() == "false");
  const config::Scenario on = config::load_scenario(write("pc.yaml", kBase), {"serving.prefix_caching=true"});
  CHECK(on.scheduler.prefix_block_tokens == 16);
  CHECK(on.resolved["serving"]["prefix_caching"].as<std::string>() == "true");
  CHECK(on.resolved["serving"]["kv_block_tokens"].as<int>() == 16);
  const config::Scenario routed = config::load_scenario(
      write("pc.yaml", kBase), {"serving.prefix_caching=true", "serving.prefix_routing=true", "serving.kv_block_tokens=32"});
  CHECK(routed.prefix_routing);
  CHECK(routed.prefix_routing_slack == 32);
  CHECK(routed.prefix_routing_min_match == 0.5);
  CHECK_THAT(error_of(kBase, {"serving.prefix_caching=true", "serving.prefix_routing_min_match=2"}),
             Catch::Contains("serving.prefix_routing_min_match: expected a number in [0, 1], got 2"));
  CHECK(routed.scheduler.prefix_block_tokens == 32);
  CHECK_THAT(error_of(kBase, {"serving.prefix_caching=sometimes"}),
             Catch::Contains("serving.prefix_caching: expected one of auto, true, false"));
  CHECK_THAT(error_of(kBase, {"serving.prefix_caching=true", "serving.kv_block_tokens=0"}),
             Catch::Contains("serving.kv_block_tokens: expected a whole number in [1, 4096], got 0"));
  const config::Scenario today = config::load_scenario(write("pc.yaml", kBase), {});
  CHECK(today.engine == "vllm");  // today's default engine caches prefixes
  CHECK(today.resolved["serving"]["prefix_caching"].as<std::string>() == "true");
  CHECK_THAT(error_of(kBase, {"serving.prefix_caching=false", "serving.prefix_routing=true"}),
             Catch::Contains("serving.prefix_routing: routes requests to the replica caching their prefix, but prefix "
                             "caching is off") && Catch::Contains("set serving.prefix_caching: true"));
  CHECK_THAT(error_of(kBase, {"serving.prefix_caching=true", "serving.prefix_routing_slack=-1"}),
             Catch::Contains("serving.prefix_routing_slack: expected a whole number in [0, 1000000], got -1"));
}

TEST_CASE("workload: system prompts, validated, not with traces, trace hash blocks only for Mooncake") {
  const config::Scenario s = config::load_scenario(
      write("sys.yaml", kBase), {"workload.system_prompt_tokens=800", "workload.system_prompt_share=0.5", "workload.system_prompts=3"});
  CHECK(s.workload.system_prompt_tokens == 800);
  CHECK(s.workload.system_prompt_share == 0.5);
  CHECK(s.workload.system_prompts == 3);
  CHECK(config::load_scenario(write("sys.yaml", kBase), {}).resolved["workload"]["system_prompt_tokens"].as<int>() == 0);
  CHECK_THAT(error_of(kBase, {"workload.system_prompt_tokens=5000"}),
             Catch::Contains("workload.system_prompt_tokens: expected a whole number in [0, 4096], got 5000"));
  CHECK_THAT(error_of(kBase, {"workload.system_prompt_share=1.5"}), Catch::Contains("workload.system_prompt_share"));
  CHECK_THAT(error_of(kBase, {"workload.system_prompts=0"}),
             Catch::Contains("workload.system_prompts: expected a whole number in [1, 4095], got 0"));
  const std::string trace = replace(kBase,
                                    "  requests_per_day: 1000\n  prompt_tokens: {distribution: fixed, value: 100}\n"
                                    "  output_tokens: {distribution: fixed, value: 10}\n",
                                    "  source: trace\n  trace: {format: mooncake, path: " CHATDC_SOURCE_DIR
                                    "/workloads/traces/mooncake_conv_sample.jsonl}\n");
  CHECK(config::load_scenario(write("mc.yaml", trace), {}).workload.trace.hash_block_tokens == 512);
  CHECK(config::load_scenario(write("mc.yaml", trace), {"workload.trace.hash_block_tokens=256"}).workload.trace.hash_block_tokens == 256);
  CHECK_THAT(error_of(trace, {"workload.system_prompt_tokens=10"}),
             Catch::Contains("workload.system_prompt_tokens: applies to synthetic workloads"));
  CHECK_THAT(error_of(replace(trace, "format: mooncake, path: " CHATDC_SOURCE_DIR "/workloads/traces/mooncake_conv_sample.jsonl",
                              "format: azure, path: " CHATDC_SOURCE_DIR "/workloads/traces/azure_conv_sample.csv, hash_block_tokens: 64")),
             Catch::Contains("workload.trace.hash_block_tokens: only Mooncake traces carry block hashes"));
}

namespace {
const config::DefaultToReview* reviewed(const config::Scenario& s, const std::string& key) {
  for (const auto& d : s.defaults_to_review)
    if (d.key == key) return &d;
  return nullptr;
}
}  // namespace

TEST_CASE("cost defaults: platforms/costs.yaml fills facility capex, network gear and WAN leases, listed for review") {
  const std::string two = replace(kBase, "workload:\n",
                                  "    - {name: west, utc_offset_h: 8, pue: 1.2, carbon_kg_per_kwh: 0.6, datacenters: []}\n"
                                  "  wan_links: [{between: [east, west], latency_ms: 10}]\nworkload:\n");
  const auto s = config::load_scenario(write("costs.yaml", two));
  // The shipped defaults (platforms/costs.yaml), in USD.
  CHECK(s.economics.facility_capex_per_kw == 9500);
  CHECK(s.economics.facility_depreciation_years == 20);
  CHECK(s.economics.network_capex_fraction == 0.14);
  CHECK(s.wan[0].cost_per_day == Approx(10 * 300 / 30.4375));  // 10 Gb/s at USD 300 per Gbps-month
  // Listed with value, unit and source, and written to the resolved scenario.
  for (const char* key : {"economics.cny_per_usd", "economics.depreciation_years", "economics.maintenance_fraction_per_year",
                          "economics.network_capex_fraction", "economics.facility_capex_usd_per_kw",
                          "economics.facility_depreciation_years", "platform.wan_links[0].lease_gbps",
                          "platform.wan_links[0].lease_usd_per_gbps_month",
                          "platform.regions[east].datacenters[east-1].server_capex_usd"}) {
    INFO(key);
    const auto* d = reviewed(s, key);
    REQUIRE(d);
    CHECK(!d->unit.empty());
    CHECK(!d->source.empty());
  }
  CHECK(reviewed(s, "economics.facility_capex_usd_per_kw")->value == 9500);
  CHECK(reviewed(s, "platform.regions[east].datacenters[east-1].server_capex_usd")->value == 199000);
  CHECK(reviewed(s, "economics.network_capex_fraction")->source.find("platforms/costs.yaml") == 0);
  CHECK(s.resolved["economics"]["facility_capex_usd_per_kw"].as<double>() == 9500);
  CHECK(s.resolved["platform"]["wan_links"][0]["lease_gbps"].as<double>() == 10);
  CHECK(s.resolved["platform"]["wan_links"][0]["lease_usd_per_gbps_month"].as<double>() == 300);
  // The region's electricity price, PUE and carbon were given in the file: nothing to review there.
  CHECK(!reviewed(s, "platform.regions[east].pue"));
  CHECK(!reviewed(s, "platform.regions[east].tariff"));

  // CNY scenarios convert the USD defaults at the exchange rate, as every money key.
  const auto c = config::load_scenario(write("costs-cny.yaml", replace(two, "economics:\n", "economics:\n  currency: CNY\n  cny_per_usd: 7\n")));
  CHECK(c.economics.facility_capex_per_kw == Approx(9500 * 7));
  CHECK(c.wan[0].cost_per_day == Approx(10 * 300 * 7 / 30.4375));
  CHECK(reviewed(c, "economics.facility_capex_cny_per_kw")->value == Approx(9500 * 7));
  CHECK(reviewed(c, "platform.wan_links[0].lease_cny_per_gbps_month"));
  CHECK(!reviewed(c, "economics.cny_per_usd"));  // set

  // Set explicitly: used, and not listed.
  const std::string set = replace(replace(two, "latency_ms: 10}", "latency_ms: 10, lease_gbps: 2, lease_cny_per_gbps_month: 720}"),
                                  "economics:\n",
                                  "economics:\n  cny_per_usd: 7.2\n  depreciation_years: 4\n  maintenance_fraction_per_year: 0.03\n"
                                  "  network_capex_fraction: 0.1\n  facility_capex_usd_per_kw: 8000\n  facility_depreciation_years: 15\n");
  const auto e = config::load_scenario(write("costs-set.yaml", replace(set, "servers_per_rack: 2\n",
                                                                       "servers_per_rack: 2\n          server_capex_usd: 150000\n")));
  CHECK(e.economics.facility_capex_per_kw == 8000);
  CHECK(e.economics.network_capex_fraction == 0.1);
  CHECK(e.wan[0].cost_per_day == Approx(2 * 100 / 30.4375));  // CNY 720 = USD 100 per Gbps-month
  CHECK(e.defaults_to_review.empty());

  // A leased line's cost per day replaces the lease; both at once is an error, as a lease above the link.
  const auto d = config::load_scenario(write("costs-day.yaml", replace(two, "latency_ms: 10}", "latency_ms: 10, cost_usd_per_day: 5}")));
  CHECK(d.wan[0].cost_per_day == 5);
  CHECK(!reviewed(d, "platform.wan_links[0].lease_gbps"));
  CHECK_THAT(error_of(replace(two, "latency_ms: 10}", "latency_ms: 10, cost_usd_per_day: 5, lease_gbps: 1}")),
             Catch::Contains("give the leased line's cost per day or its lease"));
  CHECK_THAT(error_of(replace(two, "latency_ms: 10}", "latency_ms: 10, bandwidth_gbps: 1, lease_gbps: 10}")),
             Catch::Contains("lease_gbps: expected at most the link's bandwidth_gbps (1), got 10"));
  // A link slower than the default lease leases all of it.
  const auto slow = config::load_scenario(write("costs-slow.yaml", replace(two, "latency_ms: 10}", "latency_ms: 10, bandwidth_gbps: 1}")));
  CHECK(slow.wan[0].cost_per_day == Approx(1 * 300 / 30.4375));

  // Renting: capex, maintenance and the servers' price are the provider's, not to review; the WAN lease is.
  const auto r = config::load_scenario(write("costs-rent.yaml", replace(two, "economics:\n",
                                                                         "economics:\n  ownership: rent\n  rent_usd_per_gpu_hour: 2\n")));
  CHECK(!reviewed(r, "economics.facility_capex_usd_per_kw"));
  CHECK(!reviewed(r, "economics.network_capex_fraction"));
  CHECK(!reviewed(r, "platform.regions[east].datacenters[east-1].server_capex_usd"));
  CHECK(reviewed(r, "platform.wan_links[0].lease_gbps"));
}

TEST_CASE("cost defaults: a region preset's tariff, PUE and capacity charge are listed for review with the preset") {
  const std::string text = replace(kBase, "      pue: 1.25\n      carbon_kg_per_kwh: 0.55\n", "      preset: cn-east-yrd-shanghai\n");
  const auto s = config::load_scenario(write("preset.yaml", text));
  const auto* tariff = reviewed(s, "platform.regions[east].tariff");
  REQUIRE(tariff);
  CHECK(tariff->source == "platforms/regions.yaml preset cn-east-yrd-shanghai");
  CHECK(tariff->value == Approx(s.regions[0].price_per_kwh.mean(0, 86400, 0)));
  const auto* pue = reviewed(s, "platform.regions[east].pue");
  REQUIRE(pue);
  CHECK(pue->value == Approx(s.regions[0].pue.mean(0, 86400, 0)));
  // Given in the file, a preset's key is not a default.
  const auto given = config::load_scenario(write("preset-pue.yaml", replace(text, "preset: cn-east-yrd-shanghai\n",
                                                                            "preset: cn-east-yrd-shanghai\n      pue: 1.3\n")));
  CHECK(!reviewed(given, "platform.regions[east].pue"));
  CHECK(reviewed(given, "platform.regions[east].tariff"));
}

TEST_CASE("defaults to review: with autoscaling, the servers' assumed off power and wake times are listed") {
  CHECK(!reviewed(config::load_scenario(write("ops-none.yaml", kBase)), "operations.servers.off_power_w"));
  const std::string scaled = std::string(kBase) + "operations: {autoscaling: {policy: schedule, schedule: [" +
                             "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]}}\n";
  const auto s = config::load_scenario(write("ops.yaml", scaled));
  for (const char* key : {"operations.servers.off_power_w", "operations.servers.boot_s", "operations.servers.model_load_gb_per_s"}) {
    INFO(key);
    CHECK(reviewed(s, key));
  }
  CHECK(reviewed(s, "operations.servers.off_power_w")->value == 50);
  const auto set = config::load_scenario(
      write("ops-set.yaml", replace(scaled, "operations: {", "operations: {servers: {off_power_w: 40, boot_s: 120}, ")));
  CHECK(!reviewed(set, "operations.servers.off_power_w"));
  CHECK(!reviewed(set, "operations.servers.boot_s"));
  CHECK(reviewed(set, "operations.servers.model_load_gb_per_s"));
}

TEST_CASE("cost defaults: a costs.yaml entry without a source or out of range is an error located in costs.yaml") {
  const fs::path dir = test::scratch_dir() / "costs-catalog";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(std::string(CHATDC_SOURCE_DIR) + "/platforms"))
    if (e.path().extension() == ".yaml") fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
  std::ifstream in(dir / "costs.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  text = replace(text, "    value: 9500\n", "    value: 5e6\n");
  text = replace(text, "    source: \"networking is", "    sorce: \"networking is");
  std::ofstream(dir / "costs.yaml") << text;
  const std::string err = error_of(replace(kBase, "name: t\n", "name: t\ncatalog_dir: " + dir.string() + "\n"));
  CHECK_THAT(err, Catch::Contains("costs.yaml:") && Catch::Contains("costs.facility_capex_usd_per_kw.value: expected a number in [0, 1000000], got 5e6"));
  CHECK_THAT(err, Catch::Contains("costs.network_capex_fraction.source: missing required key"));
  CHECK_THAT(err, Catch::Contains("costs.network_capex_fraction.sorce: unknown key"));
}

TEST_CASE("defaults to review: an on-disk KV tier's assumed read bandwidth and latency are listed when not set") {
  const auto s = config::load_scenario(write("disk.yaml", std::string(kBase) + "serving: {disk_kv_cache: {hit_share: 0.5}}\n"));
  CHECK(reviewed(s, "serving.disk_kv_cache.read_gb_per_s_per_server"));
  CHECK(reviewed(s, "serving.disk_kv_cache.latency_ms"));
  const auto set = config::load_scenario(
      write("disk-set.yaml", std::string(kBase) + "serving: {disk_kv_cache: {hit_share: 0.5, read_gb_per_s_per_server: 10, latency_ms: 2}}\n"));
  CHECK(!reviewed(set, "serving.disk_kv_cache.read_gb_per_s_per_server"));
  CHECK(!reviewed(set, "serving.disk_kv_cache.latency_ms"));
}

TEST_CASE("defaults to review: failures' assumed MTBF and MTTR are listed when failures are on and they are not set") {
  const auto off = config::load_scenario(write("fail-off.yaml", kBase));
  CHECK(!reviewed(off, "operations.failures.server_mtbf_h"));
  const auto on = config::load_scenario(write("fail-on.yaml", std::string(kBase) + "operations: {failures: {enabled: true}}\n"));
  CHECK(reviewed(on, "operations.failures.server_mtbf_h"));
  CHECK(reviewed(on, "operations.failures.mttr_h"));
  const auto set = config::load_scenario(
      write("fail-set.yaml", std::string(kBase) + "operations: {failures: {server_mtbf_h: 1000, mttr_h: 4}}\n"));
  CHECK(!reviewed(set, "operations.failures.server_mtbf_h"));
  CHECK(!reviewed(set, "operations.failures.mttr_h"));
}
