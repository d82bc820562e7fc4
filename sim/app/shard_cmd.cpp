#include "app/shard_cmd.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/report.hpp"
#include "config/assemble.hpp"
#include "core/csv.hpp"
#include "core/error.hpp"
#include "engine/day_engine.hpp"
#include "metrics/shard.hpp"
#include "serving/router.hpp"
#include "study/executor.hpp"

namespace chatdc::app {

namespace fs = std::filesystem;

std::pair<std::uint32_t, std::uint32_t> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  double i = -1, n = -1;
  if (slash == std::string::npos || !parse_number(text.substr(0, slash), &i) || !parse_number(text.substr(slash + 1), &n) ||
      i != std::floor(i) || n != std::floor(n))
    throw Error(fmt::format("--shard \"{}\": expected I/N, shard I (from 0) of N, e.g. --shard 0/4", text));
  if (!(n >= 1 && n <= 4096)) throw Error(fmt::format("--shard \"{}\": N must be 1 to 4,096 shards, got {}", text, n));
  if (!(i >= 0 && i < n))
    throw Error(fmt::format("--shard \"{}\": the shard index is out of range: I must be 0 to {} for N = {}", text, n - 1, n));
  return {static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(n)};
}

std::string cells_coupled(const config::Scenario& s) {
  if (s.run.engine == "fine")
    return "run.engine is fine: the fine engine runs every request through SimGrid in one global order (use run.engine: day)";
  if (s.workload.conversations)
    return "workload.conversations is set: a conversation's next turn is sent after its answer (closed loop), so every "
           "cell's answers shape the requests of all";
  if (s.operations.any_policy() != operations::Policy::kNone)
    return fmt::format("operations.autoscaling.policy is {}: a datacenter's servers are scaled together, over all its cells",
                       operations::policy_name(s.operations.any_policy()));
  if (s.routing.policy == "slo_spillover")
    return "routing.policy is slo_spillover: it routes on the latency the datacenters observe live";
  const config::Assembly a = config::assemble(s);
  const auto router = serving::make_router(a.routing, a.route_info);
  if (a.dcs.size() > 1 && router->reads_live_state())
    return fmt::format("routing.policy is {}{}: it routes on the datacenters' live load", s.routing.policy,
                       s.routing.policy == "least_loaded" ? "" : " with a capacity guard (routing.max_load_per_replica)");
  return "";
}

std::uint32_t cell_count(const config::Scenario& s) {
  return static_cast<std::uint32_t>(serving::cell_layout(config::assemble(s).system).size());
}

void check_shardable(const config::Scenario& s, std::uint32_t shards, const std::string& option) {
  const std::string why = cells_coupled(s);
  if (!why.empty())
    throw Error(fmt::format("{}: the scenario's balancer cells cannot run apart: {}. A day splits into shards only when "
                            "routing ignores live load and the workload is open loop (README \"Sharded days\")",
                            option, why));
  if (s.operations.any_outages())
    throw Error(fmt::format("{}: operations.failures (failures or maintenance windows) is set, which a day split into shards "
                            "does not support yet: run it in one process",
                            option));
  for (const auto& reg : s.regions)
    for (const auto& dc : reg.datacenters)
      if (s.operations.power_for(dc.name).hourly())
        throw Error(fmt::format("{}: datacenter {} has a GPU power cap or clock by the hour "
                                "(operations.power_capping.*_by_hour), which a day split into shards does not support yet: "
                                "run it in one process",
                                option, dc.name));
      else if (dc.decode)
        throw Error(fmt::format("{}: datacenter {} has a decode pool (prefill/decode disaggregation), which a day split "
                                "into shards does not support yet: run it in one process",
                                option, dc.name));
      else if (dc.unit_servers > 1)
        throw Error(fmt::format("{}: datacenter {} has deployment units spanning servers (unit_servers {}), which a day "
                                "split into shards does not support yet: run it in one process",
                                option, dc.name, dc.unit_servers));
  const std::uint32_t cells = cell_count(s);
  if (shards > cells)
    throw Error(fmt::format("{}: {} shards, but the scenario has {} balancer cell{} (each shard simulates whole cells; see "
                            "serving.cell_replicas)",
                            option, shards, cells, cells == 1 ? "" : "s"));
}

CLI::App* add_merge_subcommand(CLI::App& app, MergeArgs& a) {
  auto* c = app.add_subcommand("merge", "Merge the shards of one day (folders written by `chatdc run --shard I/N`) into the "
                                        "outputs one process would have written.");
  c->add_option("shards", a.shard_dirs, "Shard folders, one per shard 0..N-1 (any order)")->required();
  c->add_option("--out,-o", a.out, "Output folder for the merged day")->required();
  c->add_flag("--quiet,-q", a.quiet, "Print nothing on success");
  return c;
}

namespace {

/// requests.csv: the shards' rows, hand-over by hand-over, each hand-over's shard by shard (cells in order).
void merge_request_logs(const std::vector<fs::path>& parts, std::ofstream& out) {
  struct Reader {
    std::ifstream in;
    std::string line;
    std::uint64_t seq = 0;
    bool open = false;
    fs::path file;
    std::size_t line_no = 0;
    void next() {
      open = static_cast<bool>(std::getline(in, line));
      ++line_no;
      if (!open) return;
      const auto comma = line.find(',');
      char* end = nullptr;
      seq = std::strtoull(line.c_str(), &end, 10);
      if (comma == std::string::npos || end != line.c_str() + comma)
        throw Error(fmt::format("{}:{}: not a shard's request log row", file.string(), line_no));
    }
  };
  std::vector<Reader> r(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    r[i].file = parts[i];
    r[i].in.open(parts[i]);
    if (!r[i].in) throw Error(fmt::format("cannot read {}", parts[i].string()));
    r[i].next();
  }
  out << metrics::kRequestLogHeader;
  for (;;) {
    std::uint64_t seq = UINT64_MAX;
    for (const auto& x : r)
      if (x.open) seq = std::min(seq, x.seq);
    if (seq == UINT64_MAX) break;
    for (auto& x : r)
      while (x.open && x.seq == seq) {
        out.write(x.line.data() + x.line.find(',') + 1, static_cast<std::streamsize>(x.line.size() - x.line.find(',') - 1));
        out << '\n';
        x.next();
      }
  }
}

/// The timeline detail: per period, every shard's servers in order.
void merge_details(const metrics::MergedRun& m, const std::vector<const metrics::ShardState*>& shards,
                   const std::vector<fs::path>& parts, std::ofstream& out) {
  metrics::DetailRows rows(m.setup.detail_level, metrics::DetailRows::layout_of(m.setup), m.facts.clock_start_h);
  out << rows.header();
  std::vector<std::ifstream> in(parts.size());
  std::vector<std::size_t> line_no(parts.size(), 0);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    in[i].open(parts[i]);
    if (!in[i]) throw Error(fmt::format("cannot read {}", parts[i].string()));
  }
  const auto& timeline = m.acc->rows();
  const std::size_t dcs = m.acc->dcs().size();
  std::string line, buf;
  for (std::size_t p = 0; p * dcs < timeline.size(); ++p) {
    rows.begin(timeline[p * dcs].t0, timeline[p * dcs].t1);
    buf.clear();
    for (std::size_t i = 0; i < shards.size(); ++i) {
      const auto& cells = m.setup.cells;
      const std::uint32_t servers = cells[shards[i]->last_cell - 1].first_server + cells[shards[i]->last_cell - 1].servers -
                                    cells[shards[i]->first_cell].first_server;
      for (std::uint32_t k = 0; k < servers; ++k) {
        metrics::DetailRows::Server sv;
        ++line_no[i];
        if (!std::getline(in[i], line) || !metrics::DetailRows::parse_part_line(line, &sv))
          throw Error(fmt::format("{}:{}: a damaged or short timeline detail", parts[i].string(), line_no[i]));
        rows.add(sv, &buf);
      }
    }
    out << buf;
  }
}

}  // namespace

std::string merge_into(const std::vector<std::string>& dirs, const std::string& out_dir, double extra_wall_s,
                       const std::string& resolved) {
  const auto wall0 = std::chrono::steady_clock::now();
  std::vector<metrics::ShardState> shards;
  std::vector<std::string> files;
  for (const auto& d : dirs) {
    const fs::path f = fs::path(d) / "shard.cbor";
    if (!fs::is_regular_file(f))
      throw Error(fmt::format("{}: no shard.cbor here (not a folder written by `chatdc run --shard I/N`, or that run did "
                              "not finish)",
                              d));
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    shards.push_back(metrics::read_shard(ss.str(), f.string()));
    files.push_back(f.string());
  }
  metrics::MergedRun m = metrics::merge_shards(shards, files);
  // Shards in index order, with their folders.
  std::vector<const metrics::ShardState*> ordered(shards.front().shards);
  std::vector<fs::path> folder(ordered.size());
  for (std::size_t i = 0; i < shards.size(); ++i) {
    ordered[shards[i].shard] = &shards[i];
    folder[shards[i].shard] = dirs[i];
  }
  metrics::StagedOutputs out(out_dir, "--out " + out_dir);
  std::vector<std::string> extra;
  auto parts = [&](const std::string& name, bool* all, bool* none) {
    std::vector<fs::path> p;
    *all = *none = true;
    for (const auto& f : folder) {
      p.push_back(f / name);
      (fs::exists(p.back()) ? *none : *all) = false;
    }
    return p;
  };
  bool all = false, none = false;
  const auto logs = parts("requests.part.csv", &all, &none);
  if (!all && !none) throw Error("some shards wrote a request log (requests.part.csv) and others did not: not one day's shards");
  if (all) {
    merge_request_logs(logs, out.stream("requests.csv"));
    extra.push_back("requests.csv");
  }
  const auto details = parts("timeline_detail.part", &all, &none);
  if (m.setup.detail_level != "datacenter") {
    if (!all) throw Error("a shard lacks its timeline detail (timeline_detail.part): not one day's shards");
    const std::string name = m.setup.detail_level == "server" ? "timeline_servers.csv" : "timeline_racks.csv";
    merge_details(m, ordered, details, out.stream(name));
    extra.push_back(name);
  }
  const double merge_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  m.facts.wall_s += merge_s + extra_wall_s;
  const auto summary = metrics::build_summary(m.facts, *m.rec, *m.acc);
  out.add("summary.json", summary.dump(2) + "\n");
  out.add("timeline.csv", metrics::timeline_csv(*m.acc, m.facts.clock_start_h));
  out.add("hourly.csv", metrics::hourly_csv(*m.acc, *m.rec, m.facts.clock_start_h, m.facts.user_regions));
  if (!resolved.empty()) {
    out.add("scenario.resolved.yaml", resolved);
  } else {
    std::ifstream in(folder[0] / "scenario.resolved.yaml", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) throw Error(fmt::format("cannot read {}", (folder[0] / "scenario.resolved.yaml").string()));
    out.add("scenario.resolved.yaml", ss.str());
  }
  out.commit();
  engine::RunResult r;
  r.output_dir = out.dir();
  r.wall_s = m.facts.wall_s;
  r.simulated_s = m.facts.simulated_s;
  r.requests = m.facts.arrived;
  r.summary = summary;
  r.extra_files = extra;
  std::string text;
  for (const auto* s : ordered)
    text += fmt::format("chatdc merge: shard {}/{} (cells {}..{}): {:.2f} s wall\n", s->shard, s->shards, s->first_cell,
                        s->last_cell - 1, s->facts.wall_s);
  text += fmt::format("chatdc merge: merged {} shards in {:.2f} s wall\n", ordered.size(), merge_s);
  warn_about(r);
  return text + short_report(m.facts.scenario_name, r);
}

int cmd_run_sharded(const std::string& file, const std::vector<std::string>& sets, const std::string& out_opt, int shards,
                    const StudyArgs& ea) {
  const auto wall0 = std::chrono::steady_clock::now();
  if (shards < 1 || shards > 4096) throw Error(fmt::format("--shards {}: expected 1 to 4,096 shards", shards));
  if (ea.no_wait) throw Error("--no-wait: `chatdc run --shards` waits for its shards to merge them");
  const config::Scenario s = config::load_scenario(file, sets);
  const auto n = static_cast<std::uint32_t>(shards);
  check_shardable(s, n, fmt::format("--shards {}", shards));
  const fs::path out = out_opt.empty() ? fs::path(s.run.output_dir) : fs::path(out_opt);
  StudySettings st;
  st.cores = study::online_cores();
  st.jobs = st.cores;
  const auto exec = make_executor(ea, st, out, "run", false);
  std::vector<study::Job> jobs;
  std::vector<std::string> dirs;
  for (std::uint32_t i = 0; i < n; ++i) {
    const fs::path d = out / "shards" / fmt::format("{}", i);
    std::error_code ec;
    fs::remove_all(d, ec);
    fs::create_directories(d, ec);
    if (ec) throw Error(fmt::format("cannot create the output folder {}: {}", d.string(), ec.message()));
    study::Job j;
    j.label = fmt::format("shard {}/{}", i, n);
    j.run_args = {file, "--out", d.string(), "--shard", fmt::format("{}/{}", i, n)};
    for (const auto& x : sets) j.run_args.insert(j.run_args.end(), {"--set", x});
    j.out_dir = d.string();
    j.log = (d / "stderr.txt").string();
    jobs.push_back(j);
    dirs.push_back(d.string());
  }
  std::string failed;
  exec->run(jobs, [&](std::size_t i, const study::Outcome& o) {
    if (o.state == study::Outcome::State::kSucceeded) return;
    failed += fmt::format("\n  {}: {}; last lines of {}:", jobs[i].label, o.failure, jobs[i].log);
    for (const auto& l : o.stderr_tail) failed += "\n    " + l;
  });
  if (!failed.empty()) throw Error(fmt::format("the day's shards did not all finish; nothing merged:{}", failed));
  const double shards_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  // The resolved scenario as this process read it (the shards' carry the executor's run.threads).
  const std::string text = merge_into(dirs, out.string(), 0, config::resolved_yaml(s));
  if (!ea.quiet)
    fmt::print("chatdc run: {} shards ran with the {} executor in {:.2f} s wall\n{}", n, exec->name(), shards_s, text);
  std::fflush(stdout);
  return 0;
}

int cmd_merge(const MergeArgs& a) {
  const std::string text = merge_into(a.shard_dirs, a.out);
  if (!a.quiet) fmt::print("{}", text);
  std::fflush(stdout);
  return 0;
}

}  // namespace chatdc::app
