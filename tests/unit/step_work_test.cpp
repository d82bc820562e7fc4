// The work of a step (FLOPs, HBM bytes) by hand, its closed-form sums over decode runs, and MFU / MBU.
#include <catch2/catch.hpp>

#include "metrics/accounting.hpp"
#include "model/step_work.hpp"
#include "serving/replica.hpp"
#include "test_specs.hpp"

using namespace chatdc;

// hand-10b: 10e9 parameters (fp16: 20 GB of weights), 40 layers, 40 heads (and KV heads) of 128:
//   2 * 10e9 = 2e10 FLOPs per token; 4 * 40 * 5120 = 819,200 FLOPs per query-key pair;
//   40 layers * 2 * 40 * 128 elements * 2 B = 819,200 KV bytes per token.

TEST_CASE("step work: a decode step and a prefill step by hand") {
  const auto llm = test::hand_llm();
  model::StepShape dec;
  dec.decode_seqs = 4;
  dec.decode_context_tokens = 1000;
  const auto d = model::step_work(llm, dec);
  CHECK(d.flops == Approx(4 * 2e10 + 819200.0 * 1000).epsilon(1e-14));
  CHECK(d.hbm_bytes == Approx(20e9 + 819200.0 * (4 + 1000)).epsilon(1e-14));  // weights, KV written, KV read

  model::StepShape pre;  // 100 prompt tokens after 300 cached ones: 100 * (300 + 101/2) pairs
  pre.prefill_seqs = 1;
  pre.prefill_tokens = 100;
  pre.prefill_attention_pairs = 100 * (300 + 50.5);
  pre.prefill_context_tokens = 300;
  const auto p = model::step_work(llm, pre);
  CHECK(p.flops == Approx(100 * 2e10 + 819200.0 * 35050).epsilon(1e-14));
  CHECK(p.hbm_bytes == Approx(20e9 + 819200.0 * (100 + 300)).epsilon(1e-14));
}

TEST_CASE("step work: a mixture of experts reads only the experts its tokens touch") {
  auto llm = test::hand_llm();
  llm.experts = 8;
  llm.experts_per_token = 2;
  llm.expert_params_b = 8;  // of 10: 2e9 shared parameters
  // One token touches 2 of 8 experts: 2e9 + 8e9 * 1/4 parameters; two tokens 1 - (3/4)^2 = 7/16 of them.
  CHECK(model::weights_read_bytes(llm, 1) == Approx(2 * (2e9 + 2e9)));
  CHECK(model::weights_read_bytes(llm, 2) == Approx(2 * (2e9 + 8e9 * 7 / 16)));
  CHECK(model::weights_read_bytes(test::hand_llm(), 5) == Approx(20e9));
}

TEST_CASE("step work: decode is affine in the context, and a run's sum is closed-form") {
  const model::StepWorkModel w(test::hand_llm());
  const model::DecodeWork dw = w.decode(2);
  model::StepShape s;
  s.decode_seqs = 2;
  for (double c : {0.0, 100.0, 12345.0}) {
    s.decode_context_tokens = c;
    CHECK(dw.at(c).flops == Approx(w.work(s).flops).epsilon(1e-14));
    CHECK(dw.at(c).hbm_bytes == Approx(w.work(s).hbm_bytes).epsilon(1e-14));
  }
  // Three steps of a batch of 2 from context 100: 100, 102, 104.
  const auto run = dw.sum_run(100, 2, 3);
  CHECK(run.flops == Approx(3 * 4e10 + 819200.0 * 306).epsilon(1e-14));
  CHECK(run.hbm_bytes == Approx(3 * (20e9 + 819200.0 * 2) + 819200.0 * 306).epsilon(1e-14));
  CHECK(dw.sum_run(100, 2, 0).flops == 0);
}

namespace {
struct Quiet final : serving::ReplicaListener {
  void on_first_token(std::uint32_t, const serving::Job&, double) override {}
  void on_complete(std::uint32_t, const serving::Job&, const serving::JobTimes&) override {}
};
}  // namespace

TEST_CASE("a replica accrues the work of its steps exactly, however its time is cut") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 1);
  const model::StepWorkModel w(test::hand_llm());
  const serving::DecodeProfiles prof(m, 8, &w);
  serving::SchedulerConfig cfg;
  cfg.max_batch_size = 8;
  cfg.kv_capacity_tokens = 10000;
  // A prompt of 100 tokens and 5 output tokens: a prefill step, then decodes attending 101..104.
  model::StepWork expect = w.work([] {
    model::StepShape s;
    s.prefill_seqs = 1;
    s.prefill_tokens = 100;
    s.prefill_attention_pairs = 100 * 101 / 2.0;
    return s;
  }());
  for (int k = 0; k < 4; ++k) {
    model::StepShape s;
    s.decode_seqs = 1;
    s.decode_context_tokens = 101 + k;
    expect += w.work(s);
  }
  const double cut = GENERATE(0.01, 0.037, 0.1, 1.0);  // accrue and take at these intervals
  Quiet quiet;
  serving::Replica r(0, m, prof, cfg, &quiet);
  serving::Job j;
  j.prompt_tokens = 100;
  j.output_tokens = 5;
  r.deliver(j, 0.0);
  model::StepWork got;
  for (double t = cut;; t += cut) {
    while (r.next_event_time() <= t) r.on_event();
    r.accrue(t);
    got += r.take_work();
    if (r.next_event_time() == serving::Replica::kNever) break;
  }
  CHECK(got.flops == Approx(expect.flops).epsilon(1e-12));
  CHECK(got.hbm_bytes == Approx(expect.hbm_bytes).epsilon(1e-12));
}

TEST_CASE("MFU and MBU: work over the GPUs' peaks for the period") {
  metrics::DcAccountingSetup s;
  s.gpus = 8;
  s.peak_flops_per_gpu = 1e15;
  s.hbm_bytes_per_s_per_gpu = 2e12;
  serving::DcEpoch e;
  e.flops = 8e15 * 60 * 0.25;  // a quarter of 8 GPUs' peak for a minute
  e.hbm_bytes = 16e12 * 60 * 0.5;
  CHECK(metrics::mfu(e, s, 60) == Approx(0.25));
  CHECK(metrics::mbu(e, s, 60) == Approx(0.5));
  s.gpus = 0;
  CHECK(metrics::mfu(e, s, 60) == 0);
}
