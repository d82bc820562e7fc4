#include "engine/run_context.hpp"

#include <fmt/format.h>
#include <simgrid/plugins/energy.h>
#include <xbt/log.h>

#include <yaml-cpp/yaml.h>

#include <fstream>

#include "core/error.hpp"
#include "core/interrupt.hpp"

namespace chatdc::engine {

namespace {
metrics::Quantiles::Mode percentile_mode(const config::Scenario& s, double expected_requests) {
  if (s.run.percentiles == "exact") return metrics::Quantiles::Mode::kExact;
  if (s.run.percentiles == "sketch") return metrics::Quantiles::Mode::kSketch;
  return expected_requests <= 1e7 ? metrics::Quantiles::Mode::kExact : metrics::Quantiles::Mode::kSketch;
}

}  // namespace

std::vector<metrics::DetailRows::DcLayout> detail_layout(const config::Scenario&, const config::Assembly& a) {
  metrics::ShardSetup setup;
  setup.accounting = a.accounting;
  for (const auto& d : a.dcs) {
    setup.servers_per_rack.push_back(static_cast<std::uint32_t>(d.spec->servers_per_rack));
    setup.gpus_per_server.push_back(static_cast<std::uint32_t>(d.spec->server.gpus_per_server));
  }
  return metrics::DetailRows::layout_of(setup);
}

std::string detail_file_name(const std::string& level) { return level == "server" ? "timeline_servers.csv" : "timeline_racks.csv"; }

namespace {
std::string clock_text(double t) {  // t: seconds since 00:00 of the run's first day
  const auto s = static_cast<long long>(t);
  return fmt::format("day {} {:02d}:{:02d}", s / 86400 + 1, (s % 86400) / 3600, (s % 3600) / 60);
}
}  // namespace

RunContext::RunContext(const config::Scenario& scenario, const RunOptions& options, int power_levels)
    : s(scenario), opt(options), wall0(std::chrono::steady_clock::now()) {
  // The output folder first: an unusable one is an error before any work, not after the simulation.
  out = opt.output_dir.empty()
            ? std::make_unique<metrics::StagedOutputs>(s.run.output_dir, "run.output_dir " + s.run.output_dir)
            : std::make_unique<metrics::StagedOutputs>(opt.output_dir, "--out " + opt.output_dir);
  static char name[] = "chatdc";
#ifdef CHATDC_SANITIZE
  // Sanitizer build: actors on threads (set before the Engine exists, or it is ignored). SimGrid's default
  // contexts switch stacks behind ASan's back (false reports) and LeakSanitizer cannot walk them (README "Tests").
  static char quiet[] = "--log=xbt_cfg.thres:warning", threads[] = "--cfg=contexts/factory:thread";
  static int argc = 3;
  static char* argv[] = {name, quiet, threads, nullptr};
#else
  static int argc = 1;
  static char* argv[] = {name, nullptr};
#endif
  {
    // SimGrid's Engine installs its own SIGINT handler (it prints and exits with 1): a signal arriving while
    // it is made waits, and reaches chatdc's handler, installed again when `held` ends.
    const InterruptsHeld held;
    engine = std::make_unique<sg4::Engine>(&argc, argv);
  }
  xbt_log_control_set("root.thres:warning");
  sg4::Engine::set_config("network/model:CM02");  // LV08 would multiply latencies by 13.01 (SimGrid notes, pitfall 9)
  sg_host_energy_plugin_init();

  a = config::assemble(s);
  plat = build_platform(s, a, power_levels);
  a.system.one_way_s = user_latencies(plat);
  wl = config::make_workload(s, a);
  a.system.forecast = config::make_forecast(s, a);
  router = serving::make_router(a.routing, a.route_info);
  mode = percentile_mode(s, wl.source->expected_requests());
  rec = std::make_unique<metrics::Recorder>(static_cast<std::uint32_t>(a.dcs.size()), mode,
                                            metrics::SloTargets{s.slo.ttft_s, s.slo.tpot_s}, s.run.duration_s,
                                            static_cast<std::uint32_t>(s.workload.user_regions.size()));
  for (const auto& u : s.workload.user_regions) region_names.push_back(u.name);
  for (const auto& d : a.dcs) dc_names.push_back(d.spec->name);
  rec->set_max_context_tokens(static_cast<std::uint64_t>(s.llm.max_context_tokens));
  if (opt.shards > 0 && !s.workload.batch.jobs.empty())
    throw chatdc::Error(fmt::format("{}: workload.batch: batch work runs in one process (a job's work spreads over every cell of its "
                            "datacenter); run it without --shard/--shards", s.file));
  if (opt.shards > 0) {
    sharded = true;
    const auto layout = serving::cell_layout(a.system);
    const auto [first, last] = serving::shard_cells(layout, opt.shard, opt.shards);
    a.system.shard_first_cell = first;
    a.system.shard_last_cell = last;
    shard.shard = opt.shard;
    shard.shards = opt.shards;
    shard.first_cell = first;
    shard.last_cell = last;
    shard.cells = static_cast<std::uint32_t>(layout.size());
    shard.dcs = static_cast<std::uint32_t>(a.dcs.size());
    shard.setup.accounting = a.accounting;
    shard.setup.wan = a.wan;
    shard.setup.cells = layout;
    shard.setup.slo = {s.slo.ttft_s, s.slo.tpot_s};
    shard.setup.user_regions = static_cast<std::uint32_t>(s.workload.user_regions.size());
    shard.setup.detail_level = s.run.timeline_detail;
    for (const auto& d : a.dcs) {
      shard.setup.servers_per_rack.push_back(static_cast<std::uint32_t>(d.spec->servers_per_rack));
      shard.setup.gpus_per_server.push_back(static_cast<std::uint32_t>(d.spec->server.gpus_per_server));
    }
    shard_first_server = layout[first].first_server;
    shard_last_server = layout[last - 1].first_server + layout[last - 1].servers;
  }
  sys = std::make_unique<serving::ServingSystem>(a.system, *wl.source, *router, *rec);
  acc = std::make_unique<metrics::Accounting>(a.accounting, a.wan);
  rec->add_sink([this](const serving::RequestRecord& r) {
    acc->add_traffic(r.user_region, r.dc, 1, std::uint64_t{r.prompt_tokens} + r.output_tokens);
  });
  if (s.run.request_log != "none") {
    const double fraction = s.run.request_log == "all" ? 1.0 : s.run.request_log_fraction;
    if (sharded) {  // each row after the hand-over it came in: the merge interleaves shards by it
      std::ofstream& log = out->stream("requests.part.csv");
      rec->add_sink([this, &log, fraction](const serving::RequestRecord& r) {
        if (metrics::logged(r.id, fraction)) log << sys->hand_overs() << ',' << metrics::request_log_row(r, region_names, dc_names);
      });
    } else {
      std::ofstream& log = out->stream("requests.csv");
      log << metrics::kRequestLogHeader;
      rec->add_sink([this, &log, fraction](const serving::RequestRecord& r) {
        if (metrics::logged(r.id, fraction)) log << metrics::request_log_row(r, region_names, dc_names);
      });
    }
  }
  if (a.system.server_detail) {
    server_it_j.assign(sys->server_count(), 0.0);
    if (sharded) {
      detail_out = &out->stream("timeline_detail.part");
    } else {
      detail = std::make_unique<metrics::DetailRows>(s.run.timeline_detail, detail_layout(s, a), s.run.start_h);
      detail_out = &out->stream(detail_file_name(s.run.timeline_detail));
      *detail_out << detail->header();
    }
  }
  read_j.resize(plat.dc_servers.size());
  for (std::size_t d = 0; d < plat.dc_servers.size(); ++d) read_j[d].assign(plat.dc_servers[d].size(), 0.0);
}

void RunContext::record_epoch(const serving::EpochReport& rep) {
  acc->add_epoch(rep, read_it_energy_j());
  if (sharded) shard.add_period(rep, cell_it_j);
  if (!detail_out) return;
  std::string buf;
  auto server = [&](std::uint32_t g) {
    return metrics::DetailRows::Server{rep.server_busy_gpu_s[g], rep.server_running[g], rep.server_queued[g], server_it_j[g]};
  };
  if (sharded) {
    for (std::uint32_t g = shard_first_server; g < shard_last_server; ++g) buf += metrics::DetailRows::part_line(server(g));
  } else {
    detail->begin(rep.t0, rep.t1);
    for (std::uint32_t g = 0; g < sys->server_count(); ++g) detail->add(server(g), &buf);
  }
  *detail_out << buf;
}

double RunContext::wall_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count(); }

std::vector<double> RunContext::read_it_energy_j() {
  sg_host_energy_update_all();
  // Per cell (its servers in order), then per datacenter (its cells in order): the same sums a day
  // split into shards adds up when they are merged.
  std::vector<double> it_j(plat.dc_servers.size(), 0.0);
  cell_it_j.assign(sys->cells(), 0.0);
  for (std::uint32_t k = 0; k < sys->cells(); ++k) {
    const serving::CellInfo c = sys->cell_info(k);
    const std::uint32_t first = sys->first_server(c.dc);
    double cell_j = 0;
    for (std::uint32_t g = c.first_server; g < c.first_server + c.servers; ++g) {
      const std::uint32_t i = g - first;
      const double e = sg_host_get_consumed_energy(plat.dc_servers[c.dc][i]);
      const double de = e - read_j[c.dc][i];
      read_j[c.dc][i] = e;
      cell_j += de;
      if (!server_it_j.empty()) server_it_j[g] = de;
    }
    cell_it_j[k] = cell_j;
    it_j[c.dc] += cell_j;
  }
  return it_j;
}

void RunContext::progress(double t) {
  if (!opt.progress || wall_s() - last_report_ < 0.5) return;
  last_report_ = wall_s();
  const double frac = t / s.run.duration_s;
  fmt::print(stderr, "\r[chatdc] {} simulated ({:.0f}%), {} requests, {:.2f} M req/s, ETA {:.0f} s   ", clock_text(t + s.run.start_h * 3600),
             100 * frac, sys->arrived(), sys->arrived() / last_report_ / 1e6, last_report_ * (1 - frac) / std::max(frac, 1e-9));
}

RunResult RunContext::finish(std::uint64_t activities) {
  if (opt.progress) fmt::print(stderr, "\r{:80}\r", "");
  acc->finish(s.run.duration_s);
  metrics::StagedOutputs& out = *this->out;
  // What every run reports once its outputs are in place (a shard's or a whole day's).
  const auto committed = [&] {
    RunResult r;
    r.output_dir = out.dir();
    r.wall_s = wall_s();
    r.simulated_s = s.run.duration_s;
    r.requests = sys->arrived();
    return r;
  };
  metrics::RunFacts f;
  f.scenario_name = s.name;
  f.scenario_file = s.file;
  f.seed = s.run.seed;
  f.simulated_s = s.run.duration_s;
  f.arrived = sys->arrived();
  f.completed = sys->completed();
  f.rejected = sys->rejected();
  f.dropped = sys->dropped();
  for (std::uint32_t d = 0; d < sys->dc_count(); ++d) f.routed_per_dc.push_back(sys->dc_state(d).routed);
  f.currency = s.economics.currency;
  f.clock_utc_offset_h = s.run.clock_utc_offset_h;
  f.clock_start_h = s.run.start_h;
  f.engine = s.run.engine;
  f.events = sys->events();
  f.steps = sys->steps_executed();
  f.preemptions = sys->preemptions();
  f.simgrid_activities = activities;
  for (std::uint32_t d = 0; d < sys->dc_count(); ++d) f.cells += sys->cell_count(d);
  f.windows = sys->windowed();
  f.percentiles = mode == metrics::Quantiles::Mode::kExact ? "exact" : "sketch";
  f.workload_source = s.workload.source;
  f.expected_requests = wl.source->expected_requests();
  if (wl.conversations) f.follow_ups = wl.conversations->follow_ups();
  if (wl.trace) {
    f.trace_skipped_malformed = wl.trace->stats().skipped_malformed;
    f.trace_dropped_sampling = wl.trace->stats().dropped_sampling;
    f.trace_loops = wl.trace->stats().loops;
  }
  f.user_regions = region_names;
  f.batch = sys->setup().batch;
  f.batch_outcomes = sys->batch_outcomes();
  for (const auto& d : s.defaults_to_review) f.defaults_to_review.push_back({d.key, d.value, d.unit, d.source});
  f.wall_s = wall_s();
  if (sharded) {
    shard.facts = f;
    {  // run.threads set aside: results do not depend on it
      YAML::Node n = YAML::Clone(s.resolved);
      if (n.IsMap() && n["run"].IsMap()) n["run"].remove("threads");
      YAML::Emitter e;
      e << n;
      shard.resolved = e.c_str();
    }
    rec->save(&shard.recorder_words, &shard.recorder_values);
    shard.traffic = acc->traffic();
    out.add("shard.cbor", metrics::write_shard(shard));
    out.add("scenario.resolved.yaml", config::resolved_yaml(s));
    out.commit();
    RunResult r = committed();
    r.first_cell = shard.first_cell;
    r.last_cell = shard.last_cell;
    return r;
  }
  const auto summary = metrics::build_summary(f, *rec, *acc);
  out.add("summary.json", summary.dump(2) + "\n");
  out.add("timeline.csv", metrics::timeline_csv(*acc, s.run.start_h));
  out.add("hourly.csv", metrics::hourly_csv(*acc, *rec, s.run.start_h, region_names));
  out.add("scenario.resolved.yaml", config::resolved_yaml(s));
  out.commit();

  RunResult r = committed();
  r.summary = summary;
  if (s.run.request_log != "none") r.extra_files.push_back("requests.csv");
  if (detail) r.extra_files.push_back(detail_file_name(s.run.timeline_detail));
  return r;
}

RunResult run_scenario(const config::Scenario& s, const RunOptions& opt) {
  const bool fine = s.run.engine == "fine";
  RunContext ctx(s, opt, fine ? 1001 : 256);
  std::uint64_t activities = 0;
  if (fine)
    run_fine(ctx, &activities);
  else
    run_day(ctx, &activities);
  return ctx.finish(activities);
}

}  // namespace chatdc::engine
