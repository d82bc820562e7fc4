// Deployment units spanning servers, by hand: the all-to-all of expert parallelism over the servers'
// network and NVLink, the busiest GPU after the expert-parallel balancer, redundant experts, and the
// all-to-all hidden behind the other kernels (README "Deployment units spanning servers").
#include <catch2/catch.hpp>

#include <cmath>

#include "config/assemble.hpp"
#include "model/expert_parallel.hpp"
#include "model/step_model.hpp"
#include "test_specs.hpp"

using namespace chatdc;
using model::StepShape;
using test::kernel_gpu;
constexpr auto decode = test::decode_shape;
constexpr auto prefill = test::prefill_shape;

namespace {

model::LlmSpec moe_llm() {
  auto llm = test::hand_llm();  // 40 layers, hidden 5120
  llm.experts = 8;
  llm.experts_per_token = 2;
  llm.expert_params_b = 8;  // 40 layers x 8 experts x 25 M parameters
  return llm;
}

// Two servers of one GPU each: tp 1, attention data parallel 2, experts over both, 10 GB/s achieved per GPU.
model::Parallelism two_node_unit() {
  model::Parallelism p{1, 2, 2};
  p.nodes = 2;
  p.network_gb_per_s = 10;
  p.network_latency_us = 4;
  return p;
}

}  // namespace

TEST_CASE("expert parallelism: remote servers per token and the busiest GPU, by hand", "[ep]") {
  // Two servers, two experts per token: the other server is needed unless both experts are local (1/4).
  CHECK(model::remote_nodes_per_token(2, 2) == Approx(0.75).epsilon(1e-15));
  CHECK(model::remote_nodes_per_token(1, 8) == 0.0);
  // DeepSeek's decode unit: 18 servers, 8 experts per token: 17 x (1 - (17/18)^8) = 6.24 servers.
  CHECK(model::remote_nodes_per_token(18, 8) == Approx(17 * (1 - std::pow(17.0 / 18, 8))).epsilon(1e-15));
  CHECK(model::remote_nodes_per_token(18, 8) == Approx(6.24).margin(0.005));
  // 4096 tokens x 2 experts over 2 GPUs: mean 4096, expected maximum 4096 + sqrt(4096 x 1/2 x 2 ln 2).
  CHECK(model::busiest_gpu_assignments(4096, 2, 2) == Approx(4096 + std::sqrt(4096 * std::log(2.0))).epsilon(1e-15));
  CHECK(model::busiest_gpu_assignments(10, 2, 1) == 20.0);
}

TEST_CASE("expert parallelism: one layer's dispatch and combine over the network and NVLink, by hand", "[ep]") {
  model::AllToAllSpec s;
  s.nodes = 2;
  s.gpus = 2;  // one GPU per server: no NVLink forwarding
  s.experts_per_token = 2;
  s.hidden = 1000;
  s.dispatch_bytes_per_elt = 1 + 4.0 / 128;  // FP8 with a 4-byte scale per 128
  s.combine_bytes_per_elt = 2;               // BF16
  s.network_bytes_per_s = 10e9;
  s.nvlink_bytes_per_s = 100e9;
  s.latency_s = 5e-6;
  // 100 tokens per GPU, each sent once to the other server with probability 3/4, 3.03125 bytes per element.
  const auto a = model::all_to_all(s, 100, 1.0);
  CHECK(a.network_bytes == Approx(100 * 0.75 * 1000 * 3.03125).epsilon(1e-15));  // 227,343.75 B
  CHECK(a.nvlink_bytes == 0.0);
  CHECK(a.time_s == Approx(2 * 5e-6 + 227343.75 / 10e9).epsilon(1e-12));         // 32.73 us
  // The busiest receiver at 1.2 x the mean moves 1.2 x the bytes.
  CHECK(model::all_to_all(s, 100, 1.2).network_bytes == Approx(1.2 * 227343.75).epsilon(1e-12));
  // Two servers of 4 GPUs: 3/4 of the 2 copies go over NVLink (to a GPU other than where they landed).
  s.gpus = 8;
  const auto b = model::all_to_all(s, 100, 1.0);
  CHECK(b.nvlink_bytes == Approx(100 * 2 * 0.75 * 1000 * 3.03125).epsilon(1e-15));
  CHECK(b.time_s == Approx(2 * 5e-6 + std::max(b.network_bytes / 10e9, b.nvlink_bytes / 100e9)).epsilon(1e-12));
  CHECK(model::all_to_all(s, 0, 1.0).time_s == 0.0);
}

TEST_CASE("a 2-server expert-parallel unit: all-to-all bytes and time in the step, hidden behind compute", "[ep][step]") {
  const auto llm = moe_llm();
  const model::RooflineStepModel m(kernel_gpu(), llm, two_node_unit());
  // A 4096-token prefill split over the two attention groups: 2048 tokens per GPU.
  const auto k = m.kernels(prefill(4096));
  const double mean = 4096.0 * 2 / 2, load = mean + std::sqrt(mean * 0.5 * 2 * std::log(2.0));
  const double bytes = 2048 * 0.75 * 5120 * (1 + 4.0 / 128 + 2) * (load / mean);  // per GPU per layer
  const double per_layer = 2 * (5e-6 + 4e-6) + bytes / 10e9;
  CHECK(k.alltoall_total_s == Approx(40 * per_layer).epsilon(1e-12));
  // The other kernels of the step run meanwhile (two micro-batches): only what exceeds them shows.
  const double rest = k.dense_s + k.head_s + k.experts_s + k.decode_attention_s + k.prefill_attention_s + k.allreduce_s + k.layers_s;
  CHECK(k.alltoall_s == Approx(std::max(0.0, k.alltoall_total_s - rest)).epsilon(1e-12));
  CHECK(k.gpu_s == Approx(std::max(rest, k.alltoall_total_s)).epsilon(1e-12));
  // With a slow network the all-to-all dominates the step.
  auto slow = two_node_unit();
  slow.network_gb_per_s = 0.1;
  const auto ks = model::RooflineStepModel(kernel_gpu(), llm, slow).kernels(prefill(4096));
  CHECK(ks.alltoall_s > 0);
  CHECK(ks.gpu_s == Approx(ks.alltoall_total_s).epsilon(1e-12));
  // One scheduler per attention group, in parallel: each handles half the sequences.
  auto gpu = kernel_gpu();
  gpu.per_sequence_overhead_us = 20;
  CHECK(model::RooflineStepModel(gpu, llm, two_node_unit()).kernels(decode(64, 6400)).cpu_s ==
        Approx(1e-3 + 20e-6 * 64 / 2).epsilon(1e-12));
  // Each GPU computes its own attention group: half the dense tokens of one GPU holding the whole batch.
  const model::RooflineStepModel one(kernel_gpu(), llm, 1);
  CHECK(k.dense_s < one.kernels(prefill(4096)).dense_s);
}

TEST_CASE("units spanning servers: decode profiles stay exact across the kink where compute outlasts the all-to-all",
          "[ep][step]") {
  auto gpu = kernel_gpu();
  gpu.step_overhead_ms = 2;
  gpu.cpu_overlap = 1;
  auto par = two_node_unit();
  par.network_gb_per_s = 1;
  const model::RooflineStepModel m(gpu, moe_llm(), par);
  for (std::uint32_t b : {1u, 16u, 256u}) {
    const auto prof = m.decode_profile(b);
    for (double ctx : {0.0, 1.0, 100.0 * b, 1e3 * b, 1e4 * b, 1e5 * b, 1e7})
      for (double c : {ctx, ctx * 1.001 + 0.5}) {
        REQUIRE(prof.time_at(c) == Approx(m.cost(decode(b, c)).time_s).epsilon(1e-9));
        REQUIRE(prof.energy_at(c) == Approx(m.cost(decode(b, c)).energy_j).epsilon(1e-9));
      }
  }
  // Batch 256 at short context: the all-to-all is the longer; at long context attention hides it.
  const auto short_ctx = m.kernels(decode(256, 256 * 10));
  const auto long_ctx = m.kernels(decode(256, 256 * 1e5));
  CHECK(short_ctx.alltoall_s > 0);
  CHECK(long_ctx.alltoall_s == 0.0);
}

TEST_CASE("redundant experts: extra expert slots take memory and spread the touched experts", "[ep]") {
  auto llm = moe_llm();
  llm.kv_heads = 1;  // a latent cache: every GPU of a group holds its sequences' whole KV
  model::Parallelism p = two_node_unit();
  // Per GPU: the 2 B non-expert parameters (fp16) and half of 8 + 2 redundant expert slots of 1 B each.
  CHECK(model::weight_bytes_per_gpu(llm, p) == Approx(2e9 * 2 + 8e9 * 2 / 2).epsilon(1e-12));
  p.redundant_experts = 2;
  CHECK(model::weight_bytes_per_gpu(llm, p) == Approx(2e9 * 2 + 8e9 * 2 * 10.0 / 8 / 2).epsilon(1e-12));
  const double free_bytes = 80e9 * 0.9 - (4e9 + 10e9);
  const double kv_token = llm.kv_bytes_per_token();  // one KV head: not split
  CHECK(model::kv_capacity_tokens(test::hand_gpu(), llm, p, 0.1) == Approx(2 * std::floor(free_bytes / kv_token)).epsilon(1e-12));
  // One decode token touches 5 slots per GPU, each with probability 2/10.
  const model::RooflineStepModel m(kernel_gpu(), llm, p);
  CHECK(m.kernels(decode(1, 100)).experts_s == Approx(5 * 0.2 * 1e9 * 2 / 1.6e12).epsilon(1e-12));
}

TEST_CASE("a unit's all-to-all runs over the platform's links: each GPU's NIC share, or its rack uplink's across racks",
          "[ep][config]") {
  const std::string file = std::string(CHATDC_SOURCE_DIR) + "/tests/fixtures/ds_unit.yaml";  // 8 x H800, units of 4, 3,200 Gb/s
  auto par_of = [&](const std::vector<std::string>& sets) {
    const config::Scenario s = config::load_scenario(file, sets);
    return config::unit_parallelism(s, s.regions[0].datacenters[0]);
  };
  // Units inside a rack of 4: 3,200 Gb/s / 8 GPUs = 50 GB/s per GPU at 86%; the route is NIC, NIC (2 x 2 us).
  const auto in_rack = par_of({});
  CHECK(in_rack.nodes == 4);
  CHECK(in_rack.dp == 32);
  CHECK(in_rack.ep == 32);
  CHECK(in_rack.redundant_experts == 32);
  CHECK(in_rack.network_gb_per_s == Approx(50 * 0.86).epsilon(1e-12));
  CHECK(in_rack.network_latency_us == Approx(4).epsilon(1e-12));
  // Racks of 2 servers: a unit of 4 spans two racks; 2/3 of a GPU's remote traffic leaves its rack, whose
  // 3,200 Gb/s uplink carries 16 GPUs: 3200 / 8 / 16 / (2/3) = 37.5 GB/s per GPU, below the NIC's 50.
  const auto spans = par_of({"platform.regions[0].datacenters[0].racks=4", "platform.regions[0].datacenters[0].servers_per_rack=2"});
  CHECK(spans.network_gb_per_s == Approx(37.5 * 0.86).epsilon(1e-12));
  CHECK(spans.network_latency_us == Approx(10).epsilon(1e-12));  // NIC, uplink, spine, uplink, NIC
}
