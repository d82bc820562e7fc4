// Pure core: unexpected server failures and planned maintenance (README "Failures and maintenance").
//
//   failures:     each server fails independently, as a Poisson process in calendar time: the time to
//                 its next failure is exponential with mean server_mtbf (rate = 1/MTBF per server, so a
//                 datacenter of N servers fails N/MTBF times an hour on average), and each repair takes
//                 an exponential time of mean mttr; the next failure is drawn from the end of the repair.
//                 A deployment unit of k servers fails when any of its servers does: mean k-fold shorter.
//   maintenance:  planned windows [start, start + duration) taking given servers of a datacenter down.
// The draws use their own stream of the scenario seed ("failures/<datacenter>"), so enabling failures
// does not reshuffle the requests. The serving system applies outages (sim/serving/system.*): a failed
// server loses what it holds (retried elsewhere), a server due for maintenance drains first; both come
// back through a cold start (boot and model load).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace chatdc::operations {

/// One outage of one server of a datacenter (index in its pool, in units where units span servers).
struct Outage {
  double start_s = 0;
  double duration_s = 0;  // the repair (failure) or the window (maintenance)
  std::uint32_t dc = 0;
  std::uint32_t server = 0;
  bool planned = false;   // maintenance (drains first) rather than a failure
  bool training = false;  // planned: a training reservation (the servers train at training power, not down)
};

/// Failures of `servers` servers of datacenter `dc` over [0, horizon_s), each with mean time between
/// failures mtbf_s and mean repair mttr_s, from the stream "failures/<dc_name>" of `seed`; sorted by
/// start time, then server.
std::vector<Outage> draw_failures(std::uint32_t dc, const std::string& dc_name, std::uint32_t servers, double mtbf_s,
                                  double mttr_s, double horizon_s, std::uint64_t seed);

/// A maintenance window of `count` of a datacenter's `servers` servers (0 < count <= servers), spread
/// evenly over them (server floor(k x servers / count), k = 0 .. count-1) so that balancer cells keep
/// serving where they can.
std::vector<Outage> maintenance_window(std::uint32_t dc, std::uint32_t servers, std::uint32_t count, double start_s,
                                       double duration_s);

}  // namespace chatdc::operations
