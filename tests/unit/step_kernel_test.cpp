// The kernel-level roofline (today's engines), by hand: each class of kernel is its own roofline,
// the step is their sum, and the CPU overlaps the GPU by cpu_overlap.
#include <catch2/catch.hpp>

#include <cmath>

#include "model/step_model.hpp"
#include "test_specs.hpp"

using namespace chatdc;
using model::StepShape;
using test::kernel_gpu;
constexpr auto decode = test::decode_shape;
constexpr auto prefill = test::prefill_shape;

namespace {

constexpr double kKv = 819200.0;  // hand LLM: 2 x 40 layers x 40 heads x 128 x 2 B per token
constexpr double kHead = 32000.0 * 5120;  // output head parameters
constexpr double kDense = 10e9 - 2 * kHead;  // 10 B total minus input embedding and head

}  // namespace

TEST_CASE("kernel roofline: a decode step by hand, dense model, one GPU", "[step][kernel]") {
  const model::RooflineStepModel m(kernel_gpu(), test::hand_llm(), 1);
  const auto k = m.kernels(decode(1, 1000));
  // Linear layers: 9.67 B parameters read at 80% of 2 TB/s (plus the new token's KV) beat 2 x 9.67 GFLOP at 50% of 300 TF.
  CHECK(k.dense_s == Approx((kDense * 2 + kKv) / 1.6e12).epsilon(1e-12));
  CHECK(k.head_s == Approx(kHead * 2 / 1.6e12).epsilon(1e-12));
  // Decode attention: 1000 tokens of KV at the KV efficiency (0.8 here).
  CHECK(k.decode_attention_s == Approx(1000 * kKv / 1.6e12).epsilon(1e-12));
  CHECK(k.experts_s == 0.0);
  CHECK(k.allreduce_s == 0.0);
  CHECK(k.layers_s == Approx(40 * 5e-6).epsilon(1e-12));
  const double gpu = k.dense_s + k.head_s + k.decode_attention_s + k.layers_s;
  CHECK(k.gpu_s == Approx(gpu).epsilon(1e-12));
  CHECK(k.cpu_s == Approx(1e-3).epsilon(1e-12));  // step overhead 1 ms, no per-sequence cost
  CHECK(k.time_s == Approx(gpu + 1e-3).epsilon(1e-12));  // no overlap: CPU then GPU
  // Energy: every roofline kernel is memory-bound here (P_mem plus the compute share at P_comp - P_mem),
  // the fixed layer time at P_mem, and the CPU's millisecond at idle power.
  const double compute = 2 * kDense / 1.5e14 + 2 * kHead / 1.5e14 + 4.0 * 40 * 5120 * 1000 / 1.5e14;
  const double energy = 250 * (k.dense_s + k.head_s + k.decode_attention_s) + 150 * compute + 250 * k.layers_s + 60 * 1e-3;
  CHECK(m.cost(decode(1, 1000)).energy_j == Approx(energy).epsilon(1e-9));
}

TEST_CASE("kernel roofline: FP8 weights halve the bytes and run at the FP8 peak and efficiency", "[step][kernel]") {
  auto llm = test::hand_llm();
  llm.weight_dtype = model::Dtype::kFp8;
  const model::RooflineStepModel m(kernel_gpu(), llm, 1);
  // A 4096-token prefill is compute-bound: 2 x 9.67 GFLOP per token at 40% of 600 TF/s.
  const auto k = m.kernels(prefill(4096));
  CHECK(k.dense_s == Approx(2 * kDense * 4096 / (600e12 * 0.4)).epsilon(1e-12));
  // The output head stays at 16 bits and runs on the one sampled token: memory-bound.
  CHECK(k.head_s == Approx(kHead * 2 / 1.6e12).epsilon(1e-12));
  // Decoding one token reads the FP8 weights: half the bytes of the 16-bit model.
  CHECK(m.kernels(decode(1, 100)).dense_s == Approx((kDense * 1 + kKv) / 1.6e12).epsilon(1e-12));
  // FP8 KV halves the KV read.
  llm.kv_dtype = model::Dtype::kFp8;
  const model::RooflineStepModel m8(kernel_gpu(), llm, 1);
  CHECK(m8.kernels(decode(1, 1000)).decode_attention_s == Approx(1000 * kKv / 2 / 1.6e12).epsilon(1e-12));
}

TEST_CASE("kernel roofline: FP4 weights (NVFP4, MXFP4): their bytes, the FP4 peak, or the 16-bit peak without FP4 cores",
          "[step][kernel]") {
  auto llm = test::hand_llm();
  llm.weight_dtype = model::Dtype::kFp4;
  auto gpu = kernel_gpu();
  gpu.fp4_dense_tflops = 1200;
  gpu.compute_efficiency_fp4 = 0.3;
  const model::RooflineStepModel m(gpu, llm, 1);
  // Prefill: 2 x 9.67 GFLOP per token at 30% of 1,200 TF/s.
  CHECK(m.kernels(prefill(4096)).dense_s == Approx(2 * kDense * 4096 / (1200e12 * 0.3)).epsilon(1e-12));
  // Decode reads 4.5 bits per NVFP4 weight (e2m1 + an FP8 scale per 16 values).
  CHECK(m.kernels(decode(1, 100)).dense_s == Approx((kDense * 4.5 / 8 + kKv) / 1.6e12).epsilon(1e-12));
  // MXFP4: 4.25 bits (an 8-bit scale per 32 values).
  llm.weight_dtype = model::Dtype::kMxfp4;
  CHECK(model::RooflineStepModel(gpu, llm, 1).kernels(decode(1, 100)).dense_s ==
        Approx((kDense * 4.25 / 8 + kKv) / 1.6e12).epsilon(1e-12));
  // A GPU without FP4 tensor cores (Hopper) dequantises: the 16-bit peak at the 16-bit efficiency (50% of 300 TF/s).
  gpu.fp4_dense_tflops = 0;
  CHECK(model::RooflineStepModel(gpu, llm, 1).kernels(prefill(4096)).dense_s ==
        Approx(2 * kDense * 4096 / (300e12 * 0.5)).epsilon(1e-12));
}

TEST_CASE("kernel roofline: mixture of experts, by hand", "[step][kernel][moe]") {
  auto llm = test::hand_llm();
  llm.experts = 8;
  llm.experts_per_token = 2;
  llm.expert_params_b = 8;  // 40 layers x 8 experts x 25 M parameters
  const double per_expert = 8e9 / 8;  // all layers of one expert
  SECTION("one GPU: one token reads 2 of 8 experts; 64 tokens compute 128 expert assignments") {
    const model::RooflineStepModel m(kernel_gpu(), llm, 1);
    CHECK(m.kernels(decode(1, 100)).experts_s == Approx(2 * per_expert * 2 / 1.6e12).epsilon(1e-12));
    // Two tokens touch 1 - (3/4)^2 = 7/16 of the experts on average.
    CHECK(m.kernels(decode(2, 200)).experts_s == Approx(8 * 7.0 / 16 * per_expert * 2 / 1.6e12).epsilon(1e-12));
    // A 4096-token prefill touches all experts and computes 4096 x 2 assignments of 2 x 25 M x 40 FLOPs.
    const double flops = 2 * per_expert * 4096 * 2;
    const double bytes = 8 * per_expert * 2 * (1 - std::pow(0.75, 4096));
    CHECK(m.kernels(prefill(4096)).experts_s == Approx(std::max(flops / 1.5e14, bytes / 1.6e12)).epsilon(1e-12));
  }
  SECTION("expert parallelism over two GPUs: each holds 4 experts; the busiest GPU's tokens set the time") {
    auto gpu = kernel_gpu();
    gpu.moe_compute_efficiency = 0.5;  // grouped GEMMs at half the dense efficiency
    const model::RooflineStepModel m(gpu, llm, model::Parallelism{2, 2, 1});
    // 4096 tokens x 2 assignments over 2 GPUs: mean 4096, expected max 4096 + sqrt(4096 x 0.5 x 2 ln 2).
    const double load = 4096 + std::sqrt(4096 * 0.5 * 2 * std::log(2.0));
    const double flops = 2 * per_expert * load;  // whole experts per GPU (expert slices = 2 GPUs / 2)
    CHECK(m.kernels(prefill(4096)).experts_s == Approx(flops / (1.5e14 * 0.5)).epsilon(1e-12));
    // One decode token: 4 experts per GPU, each touched with probability 1/4.
    CHECK(m.kernels(decode(1, 100)).experts_s == Approx(4 * 0.25 * per_expert * 2 / 1.6e12).epsilon(1e-12));
  }
}

TEST_CASE("kernel roofline: grouped GEMMs ramp with tokens per expert, MoE layers add kernel latency", "[step][kernel][moe]") {
  auto llm = test::hand_llm();
  llm.experts = 8;
  llm.experts_per_token = 2;
  llm.expert_params_b = 8;
  llm.moe_layers = 20;  // half the 40 layers route to experts
  auto gpu = kernel_gpu();
  gpu.moe_half_tokens = 32;
  gpu.moe_layer_overhead_us = 20;
  const model::RooflineStepModel m(gpu, llm, 1);
  // 4096 tokens touch all 8 experts: each costs 32 extra assignments of compute (Hockney n_1/2 per expert).
  const double per_expert = 8e9 / 8;  // all MoE layers of one expert
  const double flops = 2 * per_expert * (4096 * 2 + 32 * 8 * (1 - std::pow(0.75, 4096)));
  CHECK(m.kernels(prefill(4096)).experts_s == Approx(flops / 1.5e14).epsilon(1e-12));
  // Fixed time: 40 layers x 5 us + 20 MoE layers x 20 us.
  CHECK(m.kernels(prefill(4096)).layers_s == Approx(40 * 5e-6 + 20 * 20e-6).epsilon(1e-12));
}

TEST_CASE("kernel roofline: tensor parallelism splits the weights and adds two all-reduces per layer", "[step][kernel]") {
  const model::RooflineStepModel m(kernel_gpu(), test::hand_llm(), 4);
  const auto k = m.kernels(decode(8, 8000));
  CHECK(k.dense_s == Approx((kDense * 2 / 4 + 8 * kKv / 4) / 1.6e12).epsilon(1e-12));
  // 2 all-reduces x 40 layers, each 5 us + 2 (tp - 1) / tp x 8 tokens x 5120 x 2 B over 300 GB/s.
  CHECK(k.allreduce_s == Approx(2 * 40 * (5e-6 + 2 * 3 / 4.0 * 8 * 5120 * 2.0 / 300e9)).epsilon(1e-12));
  CHECK(k.decode_attention_s == Approx(8000 * kKv / 4 / 1.6e12).epsilon(1e-12));
}

TEST_CASE("kernel roofline: a latent KV cache (one KV head) is replicated across tensor-parallel GPUs", "[step][kernel]") {
  auto llm = test::hand_llm();
  llm.kv_heads = 1;
  llm.kv_elements_per_token_per_layer = 576;  // MLA: 512 latent + 64 rope elements
  const double kv = 40 * 576 * 2.0;
  const model::RooflineStepModel m(kernel_gpu(), llm, 4);
  CHECK(m.kernels(decode(8, 8000)).decode_attention_s == Approx(8000 * kv / 1.6e12).epsilon(1e-12));
  // KV capacity: each GPU holds the whole latent of every token, after its quarter of the weights.
  const double per_gpu = 80e9 * 0.9 - 20e9 / 4;
  CHECK(model::kv_capacity_tokens(kernel_gpu(), llm, model::Parallelism{4, 1, 1}, 0.1) == std::floor(per_gpu / kv));
  // With as many KV heads as GPUs the two capacity formulas agree.
  CHECK(model::kv_capacity_tokens(kernel_gpu(), test::hand_llm(), model::Parallelism{4, 1, 1}, 0.1) ==
        model::kv_capacity_tokens(kernel_gpu(), test::hand_llm(), 4, 0.1));
}

TEST_CASE("kernel roofline: asynchronous scheduling hides the CPU behind the GPU", "[step][kernel]") {
  auto gpu = kernel_gpu();
  gpu.step_overhead_ms = 4;
  gpu.per_sequence_overhead_us = 20;
  gpu.cpu_overlap = 1;
  const model::RooflineStepModel m(gpu, test::hand_llm(), 1);
  // Batch 256 at short context: CPU 4 ms + 256 x 20 us = 9.12 ms; the step is the longer of the two.
  const auto k = m.kernels(decode(256, 256 * 100.0));
  CHECK(k.cpu_s == Approx(9.12e-3).epsilon(1e-12));
  CHECK(k.time_s == Approx(std::max(k.cpu_s, k.gpu_s)).epsilon(1e-12));
  // Half overlap: the sum less half the shorter.
  gpu.cpu_overlap = 0.5;
  const auto h = model::RooflineStepModel(gpu, test::hand_llm(), 1).kernels(decode(256, 256 * 100.0));
  CHECK(h.time_s == Approx(h.gpu_s + h.cpu_s - 0.5 * std::min(h.gpu_s, h.cpu_s)).epsilon(1e-12));
}

TEST_CASE("kernel roofline: decode profiles are exact, with kinks where the CPU meets the GPU and at the sliding window",
          "[step][kernel]") {
  auto gpu = kernel_gpu();
  gpu.step_overhead_ms = 15;
  gpu.per_sequence_overhead_us = 30;
  gpu.cpu_overlap = 0.8;
  auto llm = test::hand_llm();
  llm.sliding_window_layers = 20;
  llm.sliding_window_tokens = 128;
  for (int tp : {1, 4})
    for (std::uint32_t b : {1u, 16u, 256u}) {
      const model::RooflineStepModel m(gpu, llm, tp);
      const auto prof = m.decode_profile(b);
      for (double ctx : {0.0, 1.0, 64.0 * b, 128.0 * b, 129.0 * b, 1e3 * b, 1e4 * b, 1e5 * b, 1e7})
        for (double c : {ctx, ctx * 1.001 + 0.5}) {
          REQUIRE(prof.time_at(c) == Approx(m.cost(decode(b, c)).time_s).epsilon(1e-9));
          REQUIRE(prof.energy_at(c) == Approx(m.cost(decode(b, c)).energy_j).epsilon(1e-9));
        }
    }
  // Batch 16: the window's kink at 16 x 128 tokens and the CPU/GPU crossing further out.
  CHECK(model::RooflineStepModel(gpu, llm, 1).decode_profile(16).pieces.size() == 3);
}
