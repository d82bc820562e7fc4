#include "engine/day_engine.hpp"

#include <fmt/format.h>
#include <simgrid/plugins/energy.h>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include <chrono>
#include <cmath>
#include <exception>

#include "config/assemble.hpp"
#include "core/error.hpp"
#include "engine/platform.hpp"
#include "metrics/outputs.hpp"
#include "serving/router.hpp"

namespace chatdc::engine {

namespace {

metrics::Quantiles::Mode percentile_mode(const config::Scenario& s, double expected_requests) {
  if (s.run.percentiles == "exact") return metrics::Quantiles::Mode::kExact;
  if (s.run.percentiles == "sketch") return metrics::Quantiles::Mode::kSketch;
  return expected_requests <= 1e7 ? metrics::Quantiles::Mode::kExact : metrics::Quantiles::Mode::kSketch;
}

std::string clock_text(double t) {
  const auto s = static_cast<long long>(t);
  return fmt::format("day {} {:02d}:{:02d}", s / 86400 + 1, (s % 86400) / 3600, (s % 3600) / 60);
}

}  // namespace

RunResult run_scenario(const config::Scenario& s, const RunOptions& opt) {
  const auto wall0 = std::chrono::steady_clock::now();
  auto wall_since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count(); };

  int argc = 1;
  char name[] = "chatdc";
  char* argv[] = {name, nullptr};
  sg4::Engine engine(&argc, argv);
  xbt_log_control_set("root.thres:warning");
  sg4::Engine::set_config("network/model:CM02");  // LV08 would multiply latencies by 13.01 (SimGrid notes, pitfall 9)
  sg_host_energy_plugin_init();

  config::Assembly a = config::assemble(s);
  const Platform plat = build_platform(s, a);
  a.system.one_way_s = user_latencies(plat);

  config::Workload wl = config::make_workload(s, a);
  workload::RequestSource& source = *wl.source;
  auto router = serving::make_router(a.routing, a.route_info);
  const auto mode = percentile_mode(s, source.expected_requests());
  metrics::Recorder rec(static_cast<std::uint32_t>(a.dcs.size()), mode, {s.slo.ttft_s, s.slo.tpot_s}, s.run.duration_s);
  serving::ServingSystem sys(a.system, source, *router, rec);
  metrics::Accounting acc(a.accounting, a.wan);
  rec.add_sink([&](const serving::RequestRecord& r) {
    acc.add_traffic(r.user_region, r.dc, 1.0, static_cast<double>(r.prompt_tokens) + r.output_tokens);
  });
  metrics::StagedOutputs out(opt.output_dir.empty() ? s.run.output_dir : opt.output_dir);

  std::uint64_t activities = 0;
  std::exception_ptr failure;
  sg4::Actor::create("controller", plat.user_hosts.front(), [&] {
    try {
      const double dt = s.run.sample_period_s, end = s.run.duration_s;
      std::vector<std::vector<double>> carry_j(plat.dc_servers.size()), read_j(plat.dc_servers.size());
      for (std::size_t d = 0; d < plat.dc_servers.size(); ++d) {
        carry_j[d].assign(plat.dc_servers[d].size(), 0.0);
        read_j[d].assign(plat.dc_servers[d].size(), 0.0);
      }
      double last_report = 0;
      for (long k = 0;; ++k) {
        const double t0 = k * dt;
        if (t0 >= end) break;
        const double t1 = std::min(end, (k + 1) * dt);
        sys.advance_to(t1);
        const serving::EpochReport rep = sys.close_epoch(t0, t1);
        // Power level per server for [t0, t1): the one whose wattage integrates to the model's
        // energy, carrying the rounding error into the next period.
        for (std::size_t d = 0; d < plat.dc_servers.size(); ++d) {
          const PowerLevels& lv = plat.levels[d];
          const std::uint32_t first = sys.first_server(static_cast<std::uint32_t>(d));
          for (std::size_t i = 0; i < plat.dc_servers[d].size(); ++i) {
            const double want_j = rep.server_it_energy_j[first + i] + carry_j[d][i];
            const int level = lv.level_for(want_j / (t1 - t0));
            carry_j[d][i] = want_j - lv.watts(level) * (t1 - t0);
            plat.dc_servers[d][i]->set_pstate(level);
          }
        }
        sg4::this_actor::sleep_until(t1);
        ++activities;
        sg_host_energy_update_all();
        std::vector<double> it_j(plat.dc_servers.size(), 0.0);
        for (std::size_t d = 0; d < plat.dc_servers.size(); ++d)
          for (std::size_t i = 0; i < plat.dc_servers[d].size(); ++i) {
            const double e = sg_host_get_consumed_energy(plat.dc_servers[d][i]);
            it_j[d] += e - read_j[d][i];
            read_j[d][i] = e;
          }
        acc.add_epoch(rep, it_j);
        if (opt.progress && wall_since() - last_report >= 0.5) {
          last_report = wall_since();
          const double frac = t1 / end;
          fmt::print(stderr, "\r[chatdc] {} simulated ({:.0f}%), {} requests, {:.2f} M req/s, ETA {:.0f} s   ",
                     clock_text(t1), 100 * frac, sys.arrived(), sys.arrived() / last_report / 1e6,
                     last_report * (1 - frac) / std::max(frac, 1e-9));
        }
      }
      if (opt.progress) fmt::print(stderr, "\r{:80}\r", "");
    } catch (...) {
      failure = std::current_exception();
    }
  });
  engine.run();
  if (failure) std::rethrow_exception(failure);
  acc.finish(s.run.duration_s);

  metrics::RunFacts f;
  f.scenario_name = s.name;
  f.scenario_file = s.file;
  f.seed = s.run.seed;
  f.simulated_s = s.run.duration_s;
  f.arrived = sys.arrived();
  f.completed = sys.completed();
  f.rejected = sys.rejected();
  f.dropped = sys.dropped();
  for (std::uint32_t d = 0; d < sys.dc_count(); ++d) f.routed_per_dc.push_back(sys.dc_state(d).routed);
  f.currency = s.economics.currency;
  f.clock_utc_offset_h = s.run.clock_utc_offset_h;
  f.events = sys.events();
  f.steps = sys.steps_executed();
  f.preemptions = sys.preemptions();
  f.simgrid_activities = activities;
  f.percentiles = mode == metrics::Quantiles::Mode::kExact ? "exact" : "sketch";
  f.workload_source = s.workload.source;
  f.expected_requests = source.expected_requests();
  if (wl.conversations) f.follow_ups = wl.conversations->follow_ups();
  if (wl.trace) {
    f.trace_skipped_malformed = wl.trace->stats().skipped_malformed;
    f.trace_dropped_sampling = wl.trace->stats().dropped_sampling;
    f.trace_loops = wl.trace->stats().loops;
  }
  f.wall_s = wall_since();
  const auto summary = metrics::build_summary(f, rec, acc);
  out.add("summary.json", summary.dump(2) + "\n");
  out.add("timeline.csv", metrics::timeline_csv(acc));
  out.add("hourly.csv", metrics::hourly_csv(acc, rec));
  out.add("scenario.resolved.yaml", config::resolved_yaml(s));
  out.commit();

  RunResult r;
  r.output_dir = out.dir();
  r.wall_s = wall_since();
  r.simulated_s = s.run.duration_s;
  r.requests = sys.arrived();
  r.summary = summary;
  return r;
}

}  // namespace chatdc::engine
