#include "engine/day_engine.hpp"

#include <simgrid/s4u.hpp>

#include <exception>

#include "engine/run_context.hpp"

namespace chatdc::engine {

void run_day(RunContext& ctx, std::uint64_t* activities) {
  std::exception_ptr failure;
  const Platform& plat = ctx.plat;
  sg4::Actor::create("controller", plat.user_hosts.front(), [&] {
    try {
      const double dt = ctx.s.run.sample_period_s, end = ctx.s.run.duration_s;
      std::vector<std::vector<double>> carry_j(plat.dc_servers.size());
      for (std::size_t d = 0; d < plat.dc_servers.size(); ++d) carry_j[d].assign(plat.dc_servers[d].size(), 0.0);
      for (long k = 0;; ++k) {
        const double t0 = k * dt;
        if (t0 >= end) break;
        const double t1 = std::min(end, (k + 1) * dt);
        ctx.sys->advance_to(t1);
        const serving::EpochReport rep = ctx.sys->close_epoch(t0, t1);
        // Power level per server for [t0, t1): the one whose wattage integrates to the model's
        // energy, carrying the rounding error into the next period.
        for (std::size_t d = 0; d < plat.dc_servers.size(); ++d) {
          const PowerLevels& lv = plat.levels[d];
          const std::uint32_t first = ctx.sys->first_server(static_cast<std::uint32_t>(d));
          for (std::size_t i = 0; i < plat.dc_servers[d].size(); ++i) {
            const double want_j = rep.server_it_energy_j[first + i] + carry_j[d][i];
            const int level = lv.level_for(want_j / (t1 - t0));
            carry_j[d][i] = want_j - lv.watts(level) * (t1 - t0);
            plat.dc_servers[d][i]->set_pstate(level);
          }
        }
        sg4::this_actor::sleep_until(t1);
        ++*activities;
        ctx.record_epoch(rep);
        ctx.progress(t1);
      }
    } catch (...) {
      failure = std::current_exception();
    }
  });
  ctx.engine->run();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace chatdc::engine
