#include <catch2/catch.hpp>
#include <unistd.h>

#include "e2e/harness.hpp"

using namespace chatdc::test;

TEST_CASE("chatdc --help and run --help explain every option") {
  const Proc top = run("--help");
  CHECK(top.code == 0);
  CHECK_THAT(top.out, Catch::Contains("run"));
  const Proc r = run("run --help");
  CHECK(r.code == 0);
  for (const char* opt : {"--out", "--set", "--no-progress", "--quiet", "scenario"}) CHECK_THAT(r.out, Catch::Contains(opt));
}

TEST_CASE("CLI errors: missing scenario file, unknown option, no subcommand") {
  const Proc missing = run("run no/such/file.yaml");
  CHECK(missing.code == 2);
  CHECK_THAT(missing.err, Catch::Contains("no/such/file.yaml: cannot open the file"));
  const Proc unknown = run("run " + fixture("tiny.yaml") + " --frobnicate");
  CHECK(unknown.code != 0);
  CHECK_THAT(unknown.err, Catch::Contains("--frobnicate"));
  CHECK(run("").code != 0);
}

TEST_CASE("CLI error: a malformed --set names itself") {
  const Proc p = run("run " + fixture("tiny.yaml") + " --set workload");
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("--set workload: expected KEY.PATH=VALUE"));
}

TEST_CASE("a run prints its wall time and simulated requests per wall-second") {
  const auto out = scratch("cli-run");
  const Proc p = run("run " + fixture("tiny.yaml") + " --set run.duration_h=1 --out " + out.string());
  CHECK(p.code == 0);
  CHECK_THAT(p.out, Catch::Contains("s wall ("));
  CHECK_THAT(p.out, Catch::Contains("M requests per wall-second"));
  CHECK_THAT(p.out, Catch::Contains(out.string()));
}

TEST_CASE("chatdc model: decode rate and offline rate, each as the README defines it") {
  const Proc p = run("model --gpu h100-sxm --llm llama-3.1-70b --tp 4 --batch 32 --prompt 2048 --output 128 --json");
  REQUIRE(p.code == 0);
  const auto j = nlohmann::json::parse(p.out);
  const double batch = 32, output = 128;
  CHECK(j["engine"] == "vllm");  // today's vLLM is the default
  CHECK(j["profile_basis"] == "fitted");
  // e2e = request overhead + one prefill step + (output - 1) decode steps of TPOT each.
  CHECK(j["e2e_s"].get<double>() == Approx(j["ttft_s"].get<double>() + (output - 1) * j["tpot_s"].get<double>()).epsilon(1e-9));
  // decode rate = batch / TPOT; offline rate = batch x output / e2e, prefill included, so lower.
  CHECK(j["decode_tokens_per_s"].get<double>() == Approx(batch / j["tpot_s"].get<double>()).epsilon(1e-9));
  CHECK(j["offline_tokens_per_s"].get<double>() == Approx(batch * output / j["e2e_s"].get<double>()).epsilon(1e-9));
  CHECK(j["offline_tokens_per_s"].get<double>() < j["decode_tokens_per_s"].get<double>());
  // The text output prints both, and a ruled GPU says so.
  const Proc h20 = run("model --gpu h20 --llm llama-3.1-70b --tp 4 --batch 32 --prompt 1024 --output 256");
  REQUIRE(h20.code == 0);
  CHECK_THAT(h20.out, Catch::Contains("decode rate") && Catch::Contains("offline rate") && Catch::Contains("(ruled profile)"));
  // Expert parallelism needs a mixture-of-experts LLM: a clear error, exit 2.
  const Proc bad = run("model --gpu h100-sxm --llm llama-3.1-70b --tp 4 --ep 2");
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--ep 2: expert parallelism needs a mixture-of-experts LLM"));
}
