// Shared fixtures for serving-system unit tests: a scripted request source and an observer that keeps
// what became of every request.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <memory>

#include "model/step_model.hpp"
#include "serving/system.hpp"
#include "test_specs.hpp"
#include "workload/request_source.hpp"

namespace chatdc::test {

/// A pool of `servers` 8-GPU servers holding one TP2 replica of hand_llm() on hand_gpu() each (6 spare
/// GPUs), 50,000 KV tokens per replica; idle power 8 x 60 + 1000 = 1480 W per server.
inline serving::PoolSetup tp2_pool(const std::string& name, std::uint32_t servers, std::uint32_t max_batch) {
  serving::PoolSetup p;
  p.name = name;
  p.servers = servers;
  p.gpus_per_server = 8;
  p.replicas_per_server = 1;
  p.step_model = std::make_shared<model::RooflineStepModel>(hand_gpu(), hand_llm(), 2);
  p.scheduler.max_batch_size = max_batch;
  p.scheduler.kv_capacity_tokens = 50000;
  p.server_power = {8, 60, 400, 1000, 3000};
  return p;
}

/// Requests at given times, in order.
struct ListSource final : workload::RequestSource {
  std::vector<workload::RequestSpec> reqs;
  std::size_t next = 0;
  double peek_time() override { return next < reqs.size() ? reqs[next].time_s : kNever; }
  workload::RequestSpec pop() override { return reqs[next++]; }
  double expected_requests() const override { return static_cast<double>(reqs.size()); }
};

/// Completed requests by id; rejections and drops counted.
struct Sink final : serving::RequestObserver {
  std::map<std::uint64_t, serving::RequestRecord> done;
  int rejected = 0, dropped = 0;
  void on_done(const serving::RequestRecord& r) override { done[r.id] = r; }
  void on_rejected(const workload::RequestSpec&, std::uint32_t) override { ++rejected; }
  void on_dropped(const workload::RequestSpec&, std::uint32_t) override { ++dropped; }
};

/// One datacenter of `servers` servers, one TP2 replica each of hand_llm() on hand_gpu() (6 spare GPUs),
/// no network delay; a server idles at 8 x 60 + 1000 = 1480 W.
inline serving::SystemSetup one_dc(std::uint32_t servers, std::uint32_t max_batch) {
  serving::SystemSetup s;
  s.dcs.push_back(tp2_pool("west", servers, max_batch));
  s.user_regions = 1;
  s.one_way_s = {{0.0}};
  s.max_context_tokens = 4096;
  return s;
}

/// Drives a system as the day engine does: advance, close the period, decide; keeps every period's report.
struct Driver {
  serving::ServingSystem& sys;
  std::vector<serving::EpochReport> reps;
  void run(double end, double dt = 60) {
    for (double t0 = 0; t0 < end; t0 += dt) {
      sys.advance_to(t0 + dt);
      reps.push_back(sys.close_epoch(t0, t0 + dt));
      sys.operate(t0 + dt);
    }
  }
  /// Datacenter dc's figures summed over the periods.
  serving::DcEpoch total(std::uint32_t dc = 0) const {
    serving::DcEpoch e;
    for (const auto& r : reps) e += r.dcs[dc];
    return e;
  }
};

}  // namespace chatdc::test
