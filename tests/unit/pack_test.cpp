// The calibration pack: its reader, the scope rules, the test split and the benchmarks through the
// replica scheduler, checked by hand.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.hpp"
#include "model/pack.hpp"
#include "serving/benchmark.hpp"
#include "serving/pack_calibration.hpp"
#include "test_specs.hpp"
#include "scratch_dir.hpp"

using namespace chatdc;

namespace {

std::string write_pack(const std::string& name, const std::string& body) {
  const auto p = test::scratch_dir() / name;
  std::ofstream(p) << body;
  return p.string();
}

const char* kHeader =
    "source_id,config_id,engine,engine_version,gpu,gpus_per_replica,tp,pp,ep,dp_attention,serving_mode,model,model_arch,"
    "weight_dtype,kv_dtype,input_tokens,output_tokens,load_type,concurrency_or_rate,max_batch,spec_decoding,metric,statistic,"
    "value,notes\n";

std::string row(const std::string& id, const std::string& fields_after_id) { return "s," + id + "," + fields_after_id + "\n"; }

}  // namespace

TEST_CASE("pack: FNV-1a 64 and the fixed 20% test split", "[pack]") {
  CHECK(model::fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(model::fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(model::fnv1a64("foobar") == 0x85944171f73967e8ULL);
  int test = 0;
  for (int i = 0; i < 10000; ++i) test += model::in_test_split("cfg-" + std::to_string(i));
  CHECK(test > 1850);  // 20% of 10,000 = 2,000; a binomial's 4 sigma is 160
  CHECK(test < 2150);
}

TEST_CASE("pack: engine versions are pooled into today's profiles, or given a reason", "[pack]") {
  CHECK(model::engine_pool("vllm", "0.19.0").profile == "vllm");
  CHECK(model::engine_pool("vllm", "0.11.1").profile == "vllm");
  CHECK(model::engine_pool("vllm", "unrecorded").profile == "vllm");
  CHECK_THAT(model::engine_pool("vllm", "0.5.4").reason, Catch::Contains("before 0.6"));
  CHECK_THAT(model::engine_pool("vllm", "0.6.0").reason, Catch::Contains("V0 engine"));
  CHECK(model::engine_pool("sglang", "0.5.9").profile == "sglang");
  CHECK_THAT(model::engine_pool("sglang", "0.3.0").reason, Catch::Contains("before 0.5"));
  CHECK_THAT(model::engine_pool("sglang", "unrecorded").reason, Catch::Contains("not recorded"));
  CHECK(model::engine_pool("trtllm", "1.0.0rc3").profile == "trtllm");
  CHECK(model::engine_pool("trtllm", "0.20.0").profile == "trtllm");
  CHECK_THAT(model::engine_pool("trtllm", "0.17.0").reason, Catch::Contains("engine-builder"));
}

TEST_CASE("pack: rows group into configurations, bad rows are errors with file and line", "[pack]") {
  const std::string body =
      std::string(kHeader) +
      row("c1", "vllm,0.19.0,H,1,1,1,1,1,aggregated,m,dense,bf16,unspecified,100,10,closed_loop_concurrency,4,4,,ttft_ms,unspecified,50,x") +
      row("c1", "vllm,0.19.0,H,1,1,1,1,1,aggregated,m,dense,bf16,unspecified,100,10,closed_loop_concurrency,4,4,,tpot_ms,unspecified,5,x") +
      row("c1", "vllm,0.19.0,H,1,1,1,1,1,aggregated,m,dense,bf16,unspecified,100,10,closed_loop_concurrency,4,4,,tpot_ms,p99,9,x");
  const auto p = model::load_pack(write_pack("ok.csv", body));
  REQUIRE(p.size() == 1);
  CHECK(p[0].metrics.at("ttft_ms") == 50);
  CHECK(p[0].metrics.at("tpot_ms") == 5);  // the p99 row is not the mean
  CHECK(p[0].concurrency == 4);
  CHECK(p[0].line == 2);

  auto error_of = [](const std::string& text) {
    try {
      model::load_pack(write_pack("bad.csv", text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(error_of("config_id,engine\nx,vllm\n"), Catch::Contains("bad.csv:1: the header has no \"gpu\" column"));
  CHECK_THAT(error_of(std::string(kHeader) +
                      row("c1", "vllm,0.19.0,H,1,two,1,1,1,aggregated,m,dense,bf16,,100,10,closed_loop_concurrency,4,4,,ttft_ms,,50,x")),
             Catch::Contains("bad.csv:2: tp: expected a number >= 0, got \"two\""));
  CHECK_THAT(error_of(std::string(kHeader) +
                      row("c1", "vllm,0.19.0,H,1,1,1,1,1,aggregated,m,dense,bf16,,100,10,closed_loop_concurrency,4,4,,ttft_ms,,-5,x")),
             Catch::Contains("bad.csv:2: value: expected a number > 0, got \"-5\""));
  CHECK_THAT(error_of(std::string(kHeader) +
                      row("c1", "vllm,0.19.0,H,1,1,1,1,1,aggregated,m,dense,bf16,,100,10,closed_loop_concurrency,4,4,,ttft_ms,,5,x") +
                      row("c1", "vllm,0.19.0,H,1,2,1,1,1,aggregated,m,dense,bf16,,100,10,closed_loop_concurrency,4,4,,tpot_ms,,5,x")),
             Catch::Contains("bad.csv:3: tp, input_tokens or output_tokens differ from line 2 of the same config_id c1"));
  CHECK_THAT(error_of(std::string(kHeader) +
                      row("c1", "vllm,0.19.0,H,1,1,1,1,1,aggregated,m,dense,bf16,,100,10,closed_loop_concurrency,2.5,4,,ttft_ms,,5,x")),
             Catch::Contains("bad.csv:2: concurrency_or_rate: expected a whole number of clients"));
}

TEST_CASE("pack: the scope rules, each with its reason", "[pack]") {
  model::GpuSpec g = test::hand_gpu();
  g.pack_name = "HAND";
  g.roofline = model::GpuSpec::Roofline::kKernel;
  std::map<std::string, std::map<std::string, model::GpuSpec>> gpus = {{"hand", {{"vllm", g}, {"trtllm", g}}}};
  model::LlmSpec llm = test::hand_llm();
  llm.hf_ids = {"org/hand-10b"};
  std::map<std::string, model::LlmSpec> llms = {{"hand-10b", llm}};
  const std::string ok_tail = ",10,closed_loop_concurrency,4,4,,";
  auto config = [&](const std::string& id, const std::string& mid, const std::string& metrics_value = "50") {
    return row(id, mid + ok_tail + "ttft_ms,unspecified," + metrics_value + ",x") +
           row(id, mid + ok_tail + "tpot_ms,unspecified,5,x");
  };
  const std::string body =
      std::string(kHeader) +
      config("in", "vllm,0.19.0,HAND,1,1,1,1,1,aggregated,org/hand-10b,dense,fp8,unspecified,100") +
      config("dup", "vllm,0.19.0,HAND,1,1,1,1,1,aggregated,org/hand-10b,dense,fp8,unspecified,100") +
      config("disagg", "vllm,0.19.0,HAND,2,1,1,1,1,disaggregated,org/hand-10b,dense,fp8,unspecified,100") +
      config("old", "vllm,0.5.4,HAND,1,1,1,1,1,aggregated,org/hand-10b,dense,fp8,unspecified,100") +
      config("nolen", "vllm,0.19.0,HAND,1,1,1,1,1,aggregated,org/hand-10b,dense,fp8,unspecified,") +
      config("gpu", "vllm,0.19.0,OTHER,1,1,1,1,1,aggregated,org/hand-10b,dense,fp8,unspecified,100") +
      config("big", "vllm,0.19.0,HAND,16,16,1,1,1,aggregated,org/hand-10b,dense,fp8,unspecified,100") +
      config("llm", "vllm,0.19.0,HAND,1,1,1,1,1,aggregated,org/other,dense,fp8,unspecified,100") +
      config("trt", "trtllm,1.0.0,HAND,1,1,1,1,1,aggregated,org/hand-10b,dense,fp8,unspecified,100", "51");
  const auto configs = model::load_pack(write_pack("scope.csv", body));
  const auto s = serving::scope_pack(configs, gpus, llms);
  REQUIRE(s.cases.size() == 2);
  CHECK(s.cases[0].config->config_id == "in");
  CHECK(s.cases[0].llm.weight_dtype == model::Dtype::kFp8);
  CHECK(s.cases[0].llm.kv_dtype == model::Dtype::kFp16);  // vLLM keeps the model's KV dtype
  CHECK(s.cases[1].llm.kv_dtype == model::Dtype::kFp8);   // TensorRT-LLM with FP8 weights: FP8 KV
  // Derived closed-loop throughput: clients x output / (TTFT + (output - 1) x TPOT).
  CHECK(s.cases[0].output_tok_s == Approx(4 * 10 / (0.050 + 9 * 0.005)));
  std::map<std::string, std::string> reason;
  for (const auto& o : s.out) reason[o.config->config_id] = o.reason;
  CHECK_THAT(reason["dup"], Catch::Contains("duplicate"));
  CHECK_THAT(reason["disagg"], Catch::Contains("disaggregated"));
  CHECK_THAT(reason["old"], Catch::Contains("before 0.6"));
  CHECK_THAT(reason["nolen"], Catch::Contains("prompt lengths not published"));
  CHECK_THAT(reason["gpu"], Catch::Contains("GPU \"OTHER\" not in the catalog"));
  CHECK_THAT(reason["big"], Catch::Contains("16 GPUs per replica"));
  CHECK_THAT(reason["llm"], Catch::Contains("LLM \"org/other\" not in the catalog"));
  CHECK(s.out.size() == 7);
}

TEST_CASE("benchmark: one client by hand: TTFT = overhead + prefill, TPOT = the mean decode step", "[pack][benchmark]") {
  auto gpu = test::hand_gpu();
  gpu.roofline = model::GpuSpec::Roofline::kKernel;
  const model::RooflineStepModel m(gpu, test::hand_llm(), 1);
  serving::BenchmarkSpec b;
  b.clients = 1;
  b.requests = 3;
  b.prompt_tokens = 200;
  b.output_tokens = 5;
  b.request_overhead_s = 0.02;
  b.scheduler.max_batch_size = 8;
  b.scheduler.kv_capacity_tokens = 1e6;
  const auto r = serving::run_benchmark(m, b);
  model::StepShape pre;
  pre.prefill_seqs = 1;
  pre.prefill_tokens = 200;
  pre.prefill_attention_pairs = 200 * 201 / 2.0;
  const double prefill = m.cost(pre).time_s;
  double decode = 0;
  for (int j = 1; j <= 4; ++j) {  // the decode steps attend 201 .. 204 tokens
    model::StepShape d;
    d.decode_seqs = 1;
    d.decode_context_tokens = 200 + j;
    decode += m.cost(d).time_s;
  }
  CHECK(r.completed == 3);
  CHECK(r.ttft_s == Approx(0.02 + prefill).epsilon(1e-9));
  CHECK(r.tpot_s == Approx(decode / 4).epsilon(1e-9));
  CHECK(r.e2e_s == Approx(0.02 + prefill + decode).epsilon(1e-9));
  CHECK(r.makespan_s == Approx(3 * (0.02 + prefill + decode)).epsilon(1e-9));
  CHECK(r.output_tokens_per_s == Approx(5 / (r.ttft_s + 4 * r.tpot_s)).epsilon(1e-9));
}

TEST_CASE("benchmark: an offline run queues every request at once, lengths spread as InferenceX draws them",
          "[pack][benchmark]") {
  auto gpu = test::hand_gpu();
  gpu.roofline = model::GpuSpec::Roofline::kKernel;
  const model::RooflineStepModel m(gpu, test::hand_llm(), 1);
  serving::BenchmarkSpec b;
  b.load = serving::BenchmarkSpec::Load::kOffline;
  b.requests = 4;
  b.prompt_tokens = 100;
  b.output_tokens = 3;
  b.scheduler.max_batch_size = 8;
  b.scheduler.max_tokens_per_step = 8192;
  b.scheduler.kv_capacity_tokens = 1e6;
  const auto r = serving::run_benchmark(m, b);
  // The first prompt starts a prefill step alone (the replica schedules on the first arrival); the
  // other three share the next; then all four decode together.
  model::StepShape one, three;
  one.prefill_seqs = 1;
  one.prefill_tokens = 100;
  one.prefill_attention_pairs = 100 * 101 / 2.0;
  three = one;
  three.prefill_seqs = 3;
  three.prefill_tokens = 300;
  three.prefill_attention_pairs = 3 * one.prefill_attention_pairs;
  const double t1 = m.cost(one).time_s, t3 = m.cost(three).time_s;
  double last = t1 + t3;
  // Decode: the first sequence runs alone for a while? No: after the first prefill step the batch has
  // one sequence, but three prompts wait, so prefill-first runs them before any decode.
  for (int j = 0; j < 2; ++j) {
    model::StepShape d;
    d.decode_seqs = 4;
    d.decode_context_tokens = 4 * (101.0 + j);
    last += m.cost(d).time_s;
  }
  CHECK(r.completed == 4);
  CHECK(r.makespan_s == Approx(last).epsilon(1e-9));
  CHECK(r.output_tokens_per_s == Approx(4 * 3 / last).epsilon(1e-9));

  // Lengths uniform in [0.8 L, L]: every request within the range, the mean near 0.9 L.
  serving::BenchmarkSpec s = b;
  s.load = serving::BenchmarkSpec::Load::kClosedLoop;
  s.clients = 4;
  s.requests = 400;
  s.prompt_tokens = 1000;
  s.output_tokens = 100;
  s.length_spread = 0.8;
  const auto spread = serving::run_benchmark(m, s);
  CHECK(spread.completed == 400);
  const auto fixed = serving::run_benchmark(m, [&] { auto f = s; f.length_spread = 1; return f; }());
  CHECK(spread.e2e_s < fixed.e2e_s);  // shorter requests on average
}
