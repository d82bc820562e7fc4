// Shared fixtures for serving-system unit tests: a scripted request source and an observer that keeps
// what became of every request.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

#include "serving/system.hpp"
#include "workload/request_source.hpp"

namespace chatdc::test {

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

}  // namespace chatdc::test
