#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <unistd.h>

#include "core/error.hpp"
#include "model/step_table.hpp"
#include "serving/replica.hpp"
#include "test_specs.hpp"
#include "scratch_dir.hpp"

using namespace chatdc;

namespace {

std::string write_table(const std::string& name, const std::string& text) {
  const auto& dir = test::scratch_dir();
  std::ofstream(dir / name) << text;
  return (dir / name).string();
}

// Splitwise's A100 TP2 Llama-2-70B profile, as a user would record it from their own engine.
const char* kProfile =
    "phase,batch,context_tokens,step_ms\n"
    "prefill,1,512,197\n"
    "prefill,1,2048,688\n"
    "prefill,1,8192,2990\n"
    "decode,1,513,54.9\n"
    "decode,16,513,65.5\n"
    "decode,32,513,72.2\n";

std::shared_ptr<model::RooflineStepModel> roof() {
  return std::make_shared<model::RooflineStepModel>(test::hand_gpu(), test::hand_llm(), 2);
}

model::StepShape decode(std::uint32_t b, double ctx) {
  model::StepShape s;
  s.decode_seqs = b;
  s.decode_context_tokens = b * ctx;
  return s;
}

}  // namespace

TEST_CASE("step table: measured points are reproduced exactly", "[table]") {
  const model::TableStepModel m(model::load_step_table(write_table("p.csv", kProfile)), roof());
  model::StepShape pre;
  pre.prefill_seqs = 1;
  pre.prefill_tokens = 2048;
  pre.prefill_attention_pairs = 2048 * 2049 / 2.0;
  CHECK(m.cost(pre).time_s == Approx(0.688).epsilon(1e-12));
  CHECK(m.cost(decode(1, 513)).time_s == Approx(0.0549).epsilon(1e-12));
  CHECK(m.cost(decode(16, 513)).time_s == Approx(0.0655).epsilon(1e-12));
  CHECK(m.cost(decode(32, 513)).time_s == Approx(0.0722).epsilon(1e-12));
}

TEST_CASE("step table: interpolation between batch sizes and prompt lengths", "[table]") {
  const model::TableStepModel m(model::load_step_table(write_table("p.csv", kProfile)), roof());
  // Batch 8 at the measured context: linear between batch 1 and 16.
  CHECK(m.cost(decode(8, 513)).time_s == Approx(0.0549 + (0.0655 - 0.0549) * 7 / 15).epsilon(1e-12));
  model::StepShape pre;
  pre.prefill_seqs = 1;
  pre.prefill_tokens = 1280;
  CHECK(m.cost(pre).time_s == Approx((0.197 + 0.688) / 2).epsilon(1e-12));
  // Longer contexts cost more (the roofline's slope continues the measured line), and more sequences too.
  CHECK(m.cost(decode(16, 2000)).time_s > m.cost(decode(16, 513)).time_s);
  double prev = 0;
  for (std::uint32_t b = 1; b <= 64; ++b) {
    const double t = m.cost(decode(b, 513)).time_s;
    REQUIRE(t >= prev);
    prev = t;
  }
}

TEST_CASE("step table: decode profiles agree with cost() and keep runs exact", "[table]") {
  const model::TableStepModel m(model::load_step_table(write_table("p.csv", kProfile)), roof());
  for (std::uint32_t b : {1u, 5u, 16u, 20u, 32u, 48u}) {
    const auto prof = m.decode_profile(b);
    for (double ctx : {100.0, 513.0, 900.0, 4000.0}) {
      REQUIRE(prof.time_at(b * ctx) == Approx(m.cost(decode(b, ctx)).time_s).epsilon(1e-12));
      REQUIRE(prof.energy_at(b * ctx) > 0);
    }
  }
}

TEST_CASE("step table: bad tables are reported with file and line", "[table]") {
  auto error_of = [](const std::string& text) {
    try {
      model::load_step_table(write_table("bad.csv", text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(error_of("phase,batch,ctx,step_ms\n"), Catch::Contains("bad.csv:1: expected the header phase,batch,context_tokens,step_ms"));
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\nprefill,1,512,-3\ndecode,1,512,5\n"),
             Catch::Contains("bad.csv:2: step_ms: expected a number > 0, got \"-3\""));
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\nprefil,1,512,3\n"), Catch::Contains("bad.csv:2: phase: expected prefill or decode"));
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\ndecode,1,512,3\ndecode,1,512,4\n"),
             Catch::Contains("bad.csv:3: a second decode row for batch 1 and context 512"));
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\ndecode,1,512,3\n"), Catch::Contains("needs at least one prefill row"));
}

TEST_CASE("step table: a table whose step time falls as the work grows is an error naming the line", "[table]") {
  auto error_of = [](const std::string& text) {
    try {
      model::load_step_table(write_table("unphysical.csv", text));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // Batch 32 faster than batch 16 at the same context: extrapolating above 32 would give negative
  // step times (before this check, `chatdc model --table` printed a negative TPOT for batch 256).
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\nprefill,1,512,50\ndecode,16,513,60\ndecode,32,513,40\n"),
             Catch::Contains("unphysical.csv:4: decode step_ms 40 at batch 32 and context 513 is below 60 for the smaller batch "
                             "16 at that context (line 3)"));
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\nprefill,1,512,50\ndecode,8,1000,30\ndecode,8,4000,20\n"),
             Catch::Contains("unphysical.csv:4: decode step_ms 20 at batch 8 and context 4000 is below 30 at context 1000 (line 3)"));
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\nprefill,1,2048,400\nprefill,1,512,500\ndecode,1,512,30\n"),
             Catch::Contains("unphysical.csv:2: prefill step_ms 400 for 2048 prompt tokens is below 500 for 512 tokens (line 3)"));
  // A smaller batch measured between two contexts of the larger one is interpolated for the comparison.
  CHECK_THAT(error_of("phase,batch,context_tokens,step_ms\nprefill,1,512,50\ndecode,1,500,10\ndecode,1,1500,30\n"
                      "decode,4,1000,19\n"),
             Catch::Contains("unphysical.csv:5: decode step_ms 19 at batch 4 and context 1000 is below 20"));
  // The Splitwise profile is physical.
  CHECK(error_of(kProfile).empty());
}

TEST_CASE("step table: use far beyond the measurements is an error naming the measured edge", "[table]") {
  const auto t = model::load_step_table(write_table("p.csv", kProfile));
  auto error_of = [&](double batch, double context, double prefill) {
    try {
      model::check_step_table_reach(t, batch, context, prefill, "batch X", "context X", "prefill X");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of(64, 1026, 16384).empty());  // exactly 2x the measured batch, context and prefill
  CHECK_THAT(error_of(65, 1000, 8192), Catch::Contains("p.csv:7: the largest measured decode batch is 32; batch X is more than 2x"));
  CHECK_THAT(error_of(32, 1027, 8192), Catch::Contains("p.csv:5: the longest measured decode context is 513 tokens per sequence; context X"));
  CHECK_THAT(error_of(32, 1000, 16385), Catch::Contains("p.csv:4: the largest measured prefill step is 8192 tokens; prefill X"));
}
