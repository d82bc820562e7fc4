#include "serving/router.hpp"

#include "core/error.hpp"

namespace chatdc::serving {

std::uint32_t NearestRouter::route(const workload::RequestSpec& r, const ServingSystem& sys) {
  std::uint32_t best = 0;
  for (std::uint32_t d = 1; d < sys.dc_count(); ++d)
    if (sys.one_way_s(r.user_region, d) < sys.one_way_s(r.user_region, best)) best = d;
  return best;
}

std::uint32_t LeastLoadedRouter::route(const workload::RequestSpec& r, const ServingSystem& sys) {
  std::uint32_t best = 0;
  double best_load = 0;
  for (std::uint32_t d = 0; d < sys.dc_count(); ++d) {
    const DcState& s = sys.dc_state(d);
    const double load = static_cast<double>(s.inflight + s.outstanding) / s.replicas;
    if (d == 0 || load < best_load ||
        (load == best_load && sys.one_way_s(r.user_region, d) < sys.one_way_s(r.user_region, best))) {
      best = d;
      best_load = load;
    }
  }
  return best;
}

std::unique_ptr<Router> make_router(const std::string& policy) {
  if (policy == "nearest") return std::make_unique<NearestRouter>();
  if (policy == "least_loaded") return std::make_unique<LeastLoadedRouter>();
  throw Error("unknown routing policy \"" + policy + "\"");
}

}  // namespace chatdc::serving
