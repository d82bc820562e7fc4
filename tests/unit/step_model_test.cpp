#include <catch2/catch.hpp>

#include "model/step_model.hpp"
#include "test_specs.hpp"

using namespace chatdc;
using model::StepShape;

TEST_CASE("decode step by hand: batch 1, context 1000, one GPU") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  StepShape s;
  s.decode_seqs = 1;
  s.decode_context_tokens = 1000;
  const auto c = m.cost(s);
  // compute: 2 * 10e9 FLOP / (300e12 * 0.5) + attention 4 * 40 layers * 5120 * 1000 / (300e12 * 0.5)
  const double compute = 2e10 / 1.5e14 + 4.0 * 40 * 5120 * 1000 / 1.5e14;
  // memory: 20 GB of fp16 weights + KV (2 * 40 * 40 * 128 * 2 B = 819,200 B/token) read for 1000 tokens, written for 1
  const double memory = (2e10 + 819200.0 * 1001) / (2000e9 * 0.8);
  CHECK(c.compute_s == Approx(compute).epsilon(1e-12));
  CHECK(c.memory_s == Approx(memory).epsilon(1e-12));
  CHECK(c.comm_s == 0.0);
  CHECK(c.time_s == Approx(1e-3 + memory).epsilon(1e-12));  // memory-bound, plus 1 ms overhead
  // energy: idle power during the overhead, memory-bound power while streaming, extra for the compute part
  CHECK(c.energy_j == Approx(60 * 1e-3 + 250 * memory + (400 - 250) * compute).epsilon(1e-12));
}

TEST_CASE("prefill step by hand: 512-token prompt is compute-bound") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  StepShape s;
  s.prefill_seqs = 1;
  s.prefill_tokens = 512;
  s.prefill_attention_pairs = 512 * 513 / 2.0;
  const auto c = m.cost(s);
  const double compute = 2e10 * 512 / 1.5e14 + 4.0 * 40 * 5120 * (512 * 513 / 2.0) / 1.5e14;
  const double memory = (2e10 + 819200.0 * 512) / 1.6e12;
  CHECK(compute > memory);
  CHECK(c.time_s == Approx(1e-3 + compute).epsilon(1e-12));
  CHECK(c.energy_j == Approx(60 * 1e-3 + 400 * compute).epsilon(1e-12));
}

TEST_CASE("tensor parallelism splits work and adds ring all-reduces") {
  const model::RooflineStepModel one(test::hand_gpu(), test::hand_llm(), 1), two(test::hand_gpu(), test::hand_llm(), 2);
  StepShape s;
  s.decode_seqs = 4;
  s.decode_context_tokens = 4000;
  const auto a = one.cost(s), b = two.cost(s);
  CHECK(b.memory_s == Approx(a.memory_s / 2).epsilon(1e-12));
  CHECK(b.compute_s == Approx(a.compute_s / 2).epsilon(1e-12));
  // 2 all-reduces per layer, 2 (tp - 1) hops each: 10 us + 4 tokens * 5120 * 2 B / (2 * 300 GB/s)
  const double hop = 10e-6 + 4 * 5120 * 2.0 / (2 * 300e9);
  CHECK(b.comm_s == Approx(2 * 40 * 2 * 1 * hop).epsilon(1e-12));
}

TEST_CASE("decode profile pieces equal the step cost on both sides of the roofline ridge") {
  auto gpu = test::hand_gpu();
  for (int tp : {1, 2, 8}) {
    const model::RooflineStepModel m(gpu, test::hand_llm(), tp);
    for (std::uint32_t b : {1u, 16u, 256u, 2048u}) {
      const auto prof = m.decode_profile(b);
      for (double ctx : {0.0, 1.0, 100.0, 5e3, 1e5, 1e6, 1e7}) {
        StepShape s;
        s.decode_seqs = b;
        s.decode_context_tokens = ctx;
        const auto c = m.cost(s);
        REQUIRE(prof.time_at(ctx) == Approx(c.time_s).epsilon(1e-9));
        REQUIRE(prof.energy_at(ctx) == Approx(c.energy_j).epsilon(1e-9));
      }
    }
  }
  // A large batch starts compute-bound; the KV reads overtake at long contexts: two pieces.
  const model::RooflineStepModel m(gpu, test::hand_llm(), 1);
  CHECK(m.decode_profile(2048).pieces.size() == 2);
}

TEST_CASE("step time grows with batch and context") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 2);
  double prev = 0;
  for (std::uint32_t b = 1; b <= 512; b *= 2) {
    StepShape s;
    s.decode_seqs = b;
    s.decode_context_tokens = 1000.0 * b;
    const double t = m.cost(s).time_s;
    REQUIRE(t > prev);
    prev = t;
  }
}

TEST_CASE("mixture of experts reads only the experts its tokens touch") {
  auto llm = test::hand_llm();
  llm.experts = 8;
  llm.experts_per_token = 2;
  llm.expert_params_b = 8;  // 2 B shared
  const model::RooflineStepModel m(test::hand_gpu(), llm, 1);
  // One token touches 2 of 8 experts per layer: 2 GB shared + 8 GB * 1/4, in fp16.
  CHECK(m.weight_bytes_read(1) == Approx((2e9 + 8e9 * 0.25) * 2).epsilon(1e-12));
  // Two tokens: 1 - (3/4)^2 = 7/16 of the experts on average.
  CHECK(m.weight_bytes_read(2) == Approx((2e9 + 8e9 * 7.0 / 16) * 2).epsilon(1e-12));
  CHECK(m.weight_bytes_read(1e4) == Approx(llm.weight_bytes()).epsilon(1e-9));
}

TEST_CASE("KV capacity is the memory left after weights and headroom") {
  // 2 GPUs x 80 GB x 0.9 = 144 GB, minus 20 GB of weights, / 819,200 B per token
  CHECK(model::kv_capacity_tokens(test::hand_gpu(), test::hand_llm(), 2, 0.1) == std::floor(124e9 / 819200.0));
  auto big = test::hand_llm();
  big.total_params_b = 100;  // 200 GB does not fit on one 80 GB GPU
  CHECK(model::kv_capacity_tokens(test::hand_gpu(), big, 1, 0.1) < 0);
  big.kv_dtype = model::Dtype::kFp8;
  CHECK(big.kv_bytes_per_token() == 2.0 * 40 * 40 * 128 * 1);
}

TEST_CASE("attention kernels have their own efficiencies: prefill attention FLOPs and decode KV reads") {
  auto gpu = test::hand_gpu();
  gpu.attention_compute_efficiency = 0.25;
  gpu.kv_memory_efficiency = 0.4;
  const model::RooflineStepModel m(gpu, test::hand_llm(), 1);
  StepShape d;
  d.decode_seqs = 1;
  d.decode_context_tokens = 1000;
  // Weights and the new token's KV stream at 80% of 2 TB/s; the 1000 tokens of KV read at 40%.
  CHECK(m.cost(d).memory_s == Approx((2e10 + 819200.0) / 1.6e12 + 819200.0 * 1000 / 0.8e12).epsilon(1e-12));
  StepShape p;
  p.prefill_seqs = 1;
  p.prefill_tokens = 512;
  p.prefill_attention_pairs = 512 * 513 / 2.0;
  CHECK(m.cost(p).compute_s == Approx(2e10 * 512 / 1.5e14 + 4.0 * 40 * 5120 * (512 * 513 / 2.0) / 0.75e14).epsilon(1e-12));
}

TEST_CASE("serial fraction: compute and memory overlap only partly") {
  auto gpu = test::hand_gpu();
  gpu.serial_fraction = 0.5;
  const model::RooflineStepModel m(gpu, test::hand_llm(), 1);
  StepShape s;
  s.decode_seqs = 64;
  s.decode_context_tokens = 64 * 800;
  const auto c = m.cost(s);
  CHECK(c.time_s == Approx(c.overhead_s + std::max(c.compute_s, c.memory_s) + 0.5 * std::min(c.compute_s, c.memory_s)).epsilon(1e-12));
  // The closed-form profile carries it too.
  CHECK(m.decode_profile(64).time_at(64 * 800) == Approx(c.time_s).epsilon(1e-12));
}
