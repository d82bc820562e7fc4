// Deferrable batch work (operations/batch.*, applied by the replica and the serving system): a job's
// completion time and energy by hand, chat's priority (batch work preempted for chat), conservation of
// chat requests, an overloaded job missing its deadline, and hours that open and close the work.
#include <catch2/catch.hpp>

#include <memory>

#include "model/step_model.hpp"
#include "operations/batch.hpp"
#include "serving/router.hpp"
#include "serving/system.hpp"
#include "test_sources.hpp"
#include "test_specs.hpp"

using namespace chatdc;

namespace {

using test::ListSource;
using test::Sink;

// One datacenter, one server with one TP2 replica (6 spare GPUs), no network delay.
serving::SystemSetup one_replica(std::uint32_t max_batch, std::uint32_t batch_fill) {
  serving::SystemSetup s;
  serving::PoolSetup p;
  p.name = "west";
  p.servers = 1;
  p.gpus_per_server = 8;
  p.replicas_per_server = 1;
  p.step_model = std::make_shared<model::RooflineStepModel>(test::hand_gpu(), test::hand_llm(), 2);
  p.scheduler.max_batch_size = max_batch;
  p.scheduler.kv_capacity_tokens = 50000;
  p.scheduler.batch_max_seqs = batch_fill;
  p.server_power = {8, 60, 400, 1000, 3000};
  s.dcs.push_back(p);
  s.user_regions = 1;
  s.one_way_s = {{0.0}};
  s.max_context_tokens = 4096;
  return s;
}

operations::BatchInstance job(std::uint64_t requests, std::uint32_t prompt, std::uint32_t output, double release_s,
                              double deadline_s) {
  operations::BatchInstance b;
  b.name = "eval";
  b.requests = requests;
  b.prompt_tokens = prompt;
  b.output_tokens = output;
  b.release_s = release_s;
  b.deadline_s = deadline_s;
  b.open = {{release_s, deadline_s}};
  return b;
}

struct Driver {
  serving::ServingSystem& sys;
  std::vector<serving::EpochReport> reps;
  void run(double end, double dt) {
    for (double t0 = 0; t0 < end; t0 += dt) {
      sys.advance_to(t0 + dt);
      reps.push_back(sys.close_epoch(t0, t0 + dt));
      sys.operate(t0 + dt);
    }
  }
};

workload::RequestSpec chat(std::uint64_t id, double t, std::uint32_t prompt, std::uint32_t output) {
  workload::RequestSpec r;
  r.id = id;
  r.time_s = t;
  r.prompt_tokens = prompt;
  r.output_tokens = output;
  return r;
}

}  // namespace

TEST_CASE("batch work: a job alone finishes, and draws energy, exactly as computed by hand") {
  ListSource src;  // no chat
  auto setup = one_replica(8, 4);  // batch work fills the batch up to 4 sequences
  setup.batch = {job(8, 100, 10, 0, 3600)};
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  Driver drv{sys, {}};
  drv.run(600, 600);  // one period: all the work and its energy in it

  // By hand: two rounds of 4 (the fill limit): a prefill step of 4 x 100 tokens, then 9 decode steps at
  // batch 4 whose context is 400 + 4 (j + 1) tokens (prompts plus the tokens so far).
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 2);
  model::StepShape pf;
  pf.prefill_seqs = 4;
  pf.prefill_tokens = 400;
  pf.prefill_attention_pairs = 4 * 100 * 50.5;
  double round_s = m.cost(pf).time_s, round_j = m.cost(pf).energy_j;
  for (int j = 0; j < 9; ++j) {
    model::StepShape d;
    d.decode_seqs = 4;
    d.decode_context_tokens = 400 + 4 * (j + 1);
    round_s += m.cost(d).time_s;
    round_j += m.cost(d).energy_j;
  }
  const auto out = sys.batch_outcomes();
  REQUIRE(out.size() == 1);
  CHECK(out[0].requests_done == 8);
  CHECK(out[0].prompt_tokens_done == 800);
  CHECK(out[0].output_tokens_done == 80);
  CHECK(out[0].last_done_s == Approx(2 * round_s).epsilon(1e-9));
  CHECK(std::string(operations::batch_status(setup.batch[0], out[0], 600)) == "met");
  operations::BatchInstance tight = setup.batch[0];
  tight.deadline_s = 1.999 * round_s;  // the same work due a little earlier: missed, reported
  CHECK(std::string(operations::batch_status(tight, out[0], 600)) == "missed");

  // Energy: every step is batch work, so batch work gets the server's on-energy x step energy / GPU energy.
  const serving::DcEpoch& e = drv.reps[0].dcs[0];
  const double steps_j = 2 * round_j, busy_s = 2 * round_s;
  const double gpu_j = steps_j + 2 * 60.0 * (600 - busy_s) + 6 * 60.0 * 600;
  const double on_j = setup.dcs[0].server_power.server_energy_j(gpu_j, 600);
  CHECK(e.it_energy_j == Approx(on_j).epsilon(1e-9));
  CHECK(e.batch_it_energy_j == Approx(on_j * steps_j / gpu_j).epsilon(1e-9));
  CHECK(e.batch_requests_done == 8);
  CHECK(e.completions == 0);  // chat counts are chat's
  CHECK(sys.completed() == 0);
}

TEST_CASE("batch work: chat goes first (batch sequences preempted for it), chat requests are conserved, an overloaded job misses its deadline") {
  auto run = [](bool with_batch, Sink& sink, std::vector<operations::BatchOutcome>* out, std::uint64_t* preemptions) {
    ListSource src;
    for (int i = 0; i < 20; ++i) src.reqs.push_back(chat(i, 5.0 + i, 50, 20));
    auto setup = one_replica(8, 8);  // batch work may fill every slot
    if (with_batch) setup.batch = {job(1000, 100, 200, 0, 60)};
    serving::NearestRouter router;
    serving::ServingSystem sys(setup, src, router, sink);
    Driver drv{sys, {}};
    drv.run(120, 60);
    CHECK(sys.arrived() == 20);
    CHECK(sys.arrived() == sys.completed() + sys.rejected() + sys.dropped());  // nothing lost, nothing unfinished
    *out = sys.batch_outcomes();
    *preemptions = sys.preemptions();
  };
  Sink alone, shared;
  std::vector<operations::BatchOutcome> o_alone, o_shared;
  std::uint64_t p_alone = 0, p_shared = 0;
  run(false, alone, &o_alone, &p_alone);
  run(true, shared, &o_shared, &p_shared);
  REQUIRE(shared.done.size() == 20);
  CHECK(p_alone == 0);
  CHECK(p_shared >= 20);  // each chat request found the batch full of batch work and took a batch sequence's slot
  double ttft_alone = 0, ttft_shared = 0, tpot_alone = 0, tpot_shared = 0;
  for (const auto& [id, r] : alone.done) {
    ttft_alone = std::max(ttft_alone, r.first_token_s - r.sent_s);
    tpot_alone = std::max(tpot_alone, (r.done_s - r.first_token_s) / 19);
  }
  for (const auto& [id, r] : shared.done) {
    ttft_shared = std::max(ttft_shared, r.first_token_s - r.sent_s);
    tpot_shared = std::max(tpot_shared, (r.done_s - r.first_token_s) / 19);
    CHECK(r.preemptions == 0);  // chat is never preempted for batch work
  }
  // Chat shares its steps with up to 7 batch sequences: slower decode steps (the cost of valley filling),
  // but it waits at most for the step in progress and one more.
  CHECK(tpot_shared > tpot_alone);
  CHECK(ttft_shared < 0.5);
  // 1,000 requests of 200 tokens at batch 8 cannot be done in 60 s: missed, reported.
  REQUIRE(o_shared.size() == 1);
  CHECK(o_shared[0].requests_done > 0);
  CHECK(o_shared[0].requests_done < 1000);
  CHECK(std::string(operations::batch_status(job(1000, 100, 200, 0, 60), o_shared[0], 120)) == "missed");
  CHECK(std::string(operations::batch_status(job(1000, 100, 200, 0, 600), o_shared[0], 120)) == "open");
}

TEST_CASE("batch work runs only in its open hours (checked at every sample period) and always after its deadline") {
  ListSource src;
  auto setup = one_replica(8, 4);
  operations::BatchInstance b = job(100000, 100, 10, 0, 3600);
  b.open = {{120, 180}};  // e.g. the valley of a tariff
  setup.batch = {b};
  CHECK_FALSE(b.open_at(60));
  CHECK(b.open_at(120));
  CHECK_FALSE(b.open_at(180));
  CHECK(b.open_at(3600));  // late: it runs to finish
  Sink sink;
  serving::NearestRouter router;
  serving::ServingSystem sys(setup, src, router, sink);
  Driver drv{sys, {}};
  drv.run(600, 60);
  std::vector<std::uint64_t> done;
  for (const auto& r : drv.reps) done.push_back(r.dcs[0].batch_requests_done);
  CHECK(done[0] == 0);
  CHECK(done[1] == 0);
  CHECK(done[2] > 0);  // opened at 120 s
  CHECK(done[4] == 0);  // what was held at 180 s finished within the period (a round takes well under a second)
  CHECK(done[9] == 0);
  CHECK(drv.reps[9].dcs[0].batch_running == 0);
}

TEST_CASE("batch work: requests split over cells in proportion, summing exactly, ids stay above chat's") {
  const auto s = operations::split_proportionally(10, {1, 1, 1});
  CHECK(s == std::vector<std::uint64_t>{3, 4, 3});
  CHECK(operations::split_proportionally(7, {2, 0, 5}) == std::vector<std::uint64_t>{2, 0, 5});
  std::vector<operations::BatchInstance> inst = {job(3, 10, 5, 0, 100), job(2, 20, 5, 0, 50)};
  std::vector<std::uint8_t> open = {1, 1};
  operations::BatchPool pool(&inst, &open);
  pool.add(0, 3);
  pool.add(1, 2);
  serving::Job j;
  REQUIRE(pool.take(j));
  CHECK(j.tag == 1);  // earliest deadline first
  CHECK(j.batch);
  CHECK(j.id >= operations::kBatchIdBase);
  open[1] = 0;  // closed: the other job's work
  REQUIRE(pool.take(j));
  CHECK(j.tag == 0);
  CHECK(pool.left() == 3);
  CHECK(pool.left(1) == 1);
}

TEST_CASE("batch work: a step carrying a batch prompt stays within the step limit, one prompt per step if need be") {
  const model::RooflineStepModel m(test::hand_gpu(), test::hand_llm(), 2);
  model::StepShape one;
  one.prefill_seqs = 1;
  one.prefill_tokens = 100;
  one.prefill_attention_pairs = 100 * 50.5;
  const double one_s = m.cost(one).time_s;
  auto run = [&](double limit_s) {
    ListSource src;
    auto setup = one_replica(8, 4);
    setup.dcs[0].scheduler.batch_step_limit_s = limit_s;
    setup.batch = {job(4, 100, 2, 0, 3600)};
    Sink sink;
    serving::NearestRouter router;
    serving::ServingSystem sys(setup, src, router, sink);
    Driver drv{sys, {}};
    drv.run(60, 60);
    return sys.batch_outcomes()[0];
  };
  CHECK(run(0.5 * one_s).requests_done == 0);  // no prompt's prefill fits: batch work never runs (its deadline is missed, reported)
  const auto single = run(one_s * 1.0000001);   // one prompt per prefill step
  const auto free = run(0);                     // all four in one prefill step
  CHECK(single.requests_done == 4);
  CHECK(free.requests_done == 4);
  CHECK(single.last_done_s > free.last_done_s);
}
