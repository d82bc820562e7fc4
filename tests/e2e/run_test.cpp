#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e2e/harness.hpp"

using namespace chatdc::test;
using nlohmann::json;

TEST_CASE("an all-idle day draws idle power x 24 h x PUE") {
  const auto out = scratch("idle");
  const Proc p = run("run " + fixture("tiny.yaml") + " --set workload.requests_per_day=0 --quiet --out " + out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  // Two DGX A100 at idle: 8 x 63 W + 1,000 W each (platforms/*.yaml), for 24 h, PUE 1.25.
  const double idle_kw = 2 * (8 * 63 + 1000) / 1000.0;
  CHECK(s["energy_kwh"]["it"].get<double>() == Approx(idle_kw * 24).epsilon(1e-9));
  CHECK(s["energy_kwh"]["facility"].get<double>() == Approx(idle_kw * 24 * 1.25).epsilon(1e-9));
  CHECK(s["cost"]["electricity"].get<double>() == Approx(idle_kw * 24 * 1.25 * 0.1).epsilon(1e-9));
  CHECK(s["carbon_kg"].get<double>() == Approx(idle_kw * 24 * 1.25 * 0.5).epsilon(1e-9));
  CHECK(s["requests"]["arrived"] == 0);
  CHECK(s["utilization"]["gpu_mean"] == 0);
}

TEST_CASE("requests are conserved: arrived = completed + unfinished + rejected, in total and per datacenter") {
  const auto out = scratch("conserve");
  // 3 h at 400 k requests/day: busy, with some requests still running at the end.
  const Proc p = run("run " + fixture("tiny.yaml") + " --set run.duration_h=3 --set workload.requests_per_day=4e5 --quiet --out " +
                     out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const auto& r = s["requests"];
  CHECK(r["arrived"].get<long>() > 10000);
  CHECK(r["completed"].get<long>() > 0);
  CHECK(r["unfinished"].get<long>() > 0);
  CHECK(r["arrived"].get<long>() == r["completed"].get<long>() + r["unfinished"].get<long>() + r["rejected"].get<long>());
  long arrived = 0;
  for (const auto& d : s["datacenters"]) {
    const auto& q = d["requests"];
    CHECK(q["arrived"].get<long>() == q["completed"].get<long>() + q["unfinished"].get<long>() + q["rejected"].get<long>());
    arrived += q["arrived"].get<long>();
  }
  CHECK(arrived == r["arrived"].get<long>());
  // Percentiles are ordered in every latency block, in total and per datacenter.
  auto ordered = [](const json& block) {
    for (const char* m : {"queue", "ttft", "tpot", "e2e"}) {
      const auto& q = block["latency_s"][m];
      INFO(m);
      CHECK(q["p50"].get<double>() <= q["p90"].get<double>());
      CHECK(q["p90"].get<double>() <= q["p99"].get<double>());
      CHECK(q["p99"].get<double>() <= q["max"].get<double>() + 1e-9);
      CHECK(q["mean"].get<double>() <= q["max"].get<double>() + 1e-9);
    }
  };
  ordered(s);
  for (const auto& d : s["datacenters"]) ordered(d);
}

TEST_CASE("the same seed gives a byte-identical summary apart from wall time") {
  auto once = [](const std::string& name, const std::string& extra) {
    const auto out = scratch(name);
    const Proc p = run("run " + fixture("tiny.yaml") + " --set run.duration_h=2 --quiet --out " + out.string() + extra);
    REQUIRE(p.code == 0);
    std::string text = slurp(out / "summary.json");
    const auto at = text.find("\"wall_s\"");
    text.erase(at, text.find('\n', at) - at);
    return std::make_pair(text, slurp(out / "timeline.csv"));
  };
  const auto a = once("det-a", ""), b = once("det-b", ""), c = once("det-c", " --set run.seed=8");
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
  CHECK(a.first != c.first);
  // Balancer cells run on any number of threads with the same results.
  const std::string cells = " --set serving.cell_replicas=1";
  const auto one = once("det-t1", cells + " --set run.threads=1"), two = once("det-t2", cells + " --set run.threads=2");
  CHECK(one == two);
  CHECK(one.first != a.first);  // four cells of one replica: not the single balancer's day
}

TEST_CASE("SimGrid's energy plugin agrees with the serving model's energy within the power-level rounding") {
  const auto out = scratch("plugin");
  const Proc p = run("run " + fixture("tiny.yaml") + " --set run.duration_h=6 --quiet --out " + out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const double plugin = s["energy_kwh"]["it"], model = s["energy_kwh"]["it_model"];
  // Error diffusion bounds the difference by one power level held for one sample period, per server:
  // (6,500 - 1,504) W / 255 levels x 300 s, for 2 servers.
  const double bound_kwh = 2 * (6500.0 - 1504.0) / 255 * 300 / 3.6e6;
  CHECK(std::fabs(plugin - model) <= bound_kwh);
  CHECK(plugin > 2 * 1.504 * 6);  // busier than idle
}

TEST_CASE("load: batch slots and KV cache used, per period in the timeline and as means and peaks") {
  const auto out = scratch("load");
  const Proc p = run("run " + fixture("tiny.yaml") + " --set serving.max_batch_size=32 --quiet --out " + out.string());
  REQUIRE(p.code == 0);
  const auto s = summary(out);
  const double replicas = s["fleet"]["replicas"].get<double>();
  const auto split = [](const std::string& line) {
    std::vector<std::string> f;
    for (std::size_t a = 0, b; a <= line.size(); a = b + 1) {
      b = std::min(line.find(',', a), line.size());
      f.push_back(line.substr(a, b - a));
    }
    return f;
  };
  std::istringstream in(slurp(out / "timeline.csv"));
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split(line);
  const auto col = [&](const char* name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  const std::size_t c_running = col("running"), c_occ = col("batch_occupancy"), c_kv = col("kv_cache_used");
  const std::size_t c_util = col("utilization"), c_mfu = col("mfu"), c_mbu = col("mbu");
  REQUIRE(c_kv < header.size());
  REQUIRE(c_mbu < header.size());
  double occ_sum = 0, kv_sum = 0, occ_peak = 0, kv_peak = 0, mfu_sum = 0, mbu_sum = 0, mfu_peak = 0, mbu_peak = 0;
  int rows = 0;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split(line);
    const double running = std::stod(f[c_running]), occ = std::stod(f[c_occ]), kv = std::stod(f[c_kv]);
    CHECK(occ == Approx(running / (replicas * 32)));  // sequences in batches over the batch slots
    CHECK(kv >= 0);
    CHECK(kv <= 1);
    CHECK((kv > 0) == (running > 0));  // a running sequence holds at least its prompt
    // Work done over the peaks: never more than the time the GPUs were busy.
    const double util = std::stod(f[c_util]), mfu = std::stod(f[c_mfu]), mbu = std::stod(f[c_mbu]);
    CHECK(mfu >= 0);
    CHECK(mbu >= 0);
    CHECK(mfu <= util + 1e-12);
    CHECK(mbu <= util + 1e-12);
    occ_sum += occ;
    kv_sum += kv;
    occ_peak = std::max(occ_peak, occ);
    kv_peak = std::max(kv_peak, kv);
    mfu_sum += mfu;
    mbu_sum += mbu;
    mfu_peak = std::max(mfu_peak, mfu);
    mbu_peak = std::max(mbu_peak, mbu);
    ++rows;
  }
  REQUIRE(rows == 288);  // equal 300 s periods: the time-weighted mean is the plain mean
  const auto& u = s["utilization"];
  CHECK(u["batch_occupancy_mean"].get<double>() == Approx(occ_sum / rows).epsilon(1e-9));
  CHECK(u["batch_occupancy_peak"].get<double>() == Approx(occ_peak).epsilon(1e-9));
  CHECK(u["kv_cache_mean"].get<double>() == Approx(kv_sum / rows).epsilon(1e-9));
  CHECK(u["kv_cache_peak"].get<double>() == Approx(kv_peak).epsilon(1e-9));
  CHECK(u["mfu_mean"].get<double>() == Approx(mfu_sum / rows).epsilon(1e-9));
  CHECK(u["mfu_peak"].get<double>() == Approx(mfu_peak).epsilon(1e-9));
  CHECK(u["mbu_mean"].get<double>() == Approx(mbu_sum / rows).epsilon(1e-9));
  CHECK(u["mbu_peak"].get<double>() == Approx(mbu_peak).epsilon(1e-9));
  CHECK(mbu_peak > 0);
  CHECK(mfu_peak > 0);
  CHECK(occ_peak > 0.05);  // 100 k requests a day on 4 replicas keep batches busy
  CHECK(s["datacenters"][0]["utilization"]["kv_cache_peak"] == u["kv_cache_peak"]);
}

TEST_CASE("outputs: timeline rows per period, resolved scenario reruns to the same summary") {
  const auto out = scratch("outputs"), again = scratch("outputs-again");
  const Proc p = run("run " + fixture("tiny.yaml") + " --set run.duration_h=1 --quiet --out " + out.string());
  REQUIRE(p.code == 0);
  const std::string timeline = slurp(out / "timeline.csv");
  CHECK(timeline.rfind("time_s,clock_hour,datacenter,arrivals,completions,queued,running,busy_gpus,utilization,", 0) == 0);
  CHECK(std::count(timeline.begin(), timeline.end(), '\n') == 1 + 3600 / 300);
  const Proc q = run("run " + (out / "scenario.resolved.yaml").string() + " --quiet --out " + again.string());
  REQUIRE(q.code == 0);
  // The resolved scenario sets every default explicitly: its rerun has none left to review.
  const auto strip = [](json j) {
    j.erase("wall_s");
    j["scenario"].erase("file");
    j.erase("defaults_to_review");
    return j.dump(2);
  };
  CHECK(!summary(out)["defaults_to_review"].empty());
  CHECK(summary(again)["defaults_to_review"].empty());
  CHECK(strip(summary(out)) == strip(summary(again)));
}

TEST_CASE("a failed run leaves the output folder untouched") {
  const auto out = scratch("untouched");
  std::ofstream(out / "keep.txt") << "mine";
  const Proc p = run("run " + fixture("tiny.yaml") + " --set serving.max_batch_size=0 --out " + out.string());
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("serving.max_batch_size: expected a whole number in [1, 4096], got 0"));
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(out)) files += e.path().filename() != "keep.txt";
  CHECK(files == 0);
}

TEST_CASE("plot_timeline.py draws the day into a PNG") {
  const auto out = scratch("plot");
  REQUIRE(run("run " + fixture("tiny.yaml") + " --set run.duration_h=2 --quiet --out " + out.string()).code == 0);
  const Proc p = run("analysis/plot_timeline.py " + out.string(), "/usr/bin/python3");
  INFO(p.err);
  REQUIRE(p.code == 0);
  CHECK(std::filesystem::file_size(out / "timeline.png") > 10000);
}

TEST_CASE("request logs: every request, or a deterministic sample, streamed into requests.csv") {
  const auto all = scratch("log-all"), some = scratch("log-some");
  REQUIRE(run("run " + fixture("tiny.yaml") + " --set run.duration_h=2 --set run.request_log=all --quiet --out " + all.string()).code == 0);
  const std::string text = slurp(all / "requests.csv");
  CHECK(text.rfind("id,user_region,datacenter,replica,sent_s,", 0) == 0);
  const long rows = std::count(text.begin(), text.end(), '\n') - 1;
  CHECK(rows == summary(all)["requests"]["completed"].get<long>());
  REQUIRE(run("run " + fixture("tiny.yaml") +
              " --set run.duration_h=2 --set run.request_log=sample --set run.request_log_fraction=0.1 --quiet --out " + some.string())
              .code == 0);
  const std::string part = slurp(some / "requests.csv");
  const long sampled = std::count(part.begin(), part.end(), '\n') - 1;
  // Binomial(rows, 0.1): 5 standard deviations.
  CHECK(std::fabs(sampled - 0.1 * rows) < 5 * std::sqrt(0.09 * rows));
  CHECK(std::filesystem::directory_iterator(some) != std::filesystem::directory_iterator());
  for (const auto& e : std::filesystem::directory_iterator(some)) CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("the fixed-memory path: a sketch day agrees with the exact day within the sketch's error bound") {
  const auto exact = scratch("pct-exact"), sketch = scratch("pct-sketch");
  const std::string args = "run scenarios/quickstart.yaml --set run.duration_h=12 --quiet --out ";
  REQUIRE(run(args + exact.string() + " --set run.percentiles=exact").code == 0);
  REQUIRE(run(args + sketch.string() + " --set run.percentiles=sketch").code == 0);
  const json e = summary(exact), s = summary(sketch);
  CHECK(s["engine"]["percentiles"] == "sketch");
  CHECK(e["requests"]["completed"].get<long>() > 900000);
  const double bound = s["engine"]["percentile_relative_error"].get<double>();
  CHECK(bound == Approx(1.0 / 256));
  for (const char* m : {"queue", "ttft", "tpot", "e2e"})
    for (const char* q : {"p50", "p90", "p99"}) {
      INFO(m << " " << q);
      // The sketch answers the order statistic of rank floor(q (n-1)); the exact figure interpolates
      // next to it (float storage adds 1e-7).
      CHECK(std::fabs(s["latency_s"][m][q].get<double>() / e["latency_s"][m][q].get<double>() - 1) <= bound + 1e-4);
    }
}

TEST_CASE("run.start_h: an hour of the day at its true clock (demand, tariff, timeline clock)") {
  // two_regions: Shanghai's tariff is peak (0.946 CNY/kWh) from 10:00 to 12:00 and valley from 23:00 to 7:00.
  const auto at10 = scratch("start-h-10"), at0 = scratch("start-h-0");
  const std::string base = "run " + fixture("two_regions.yaml") + " --set run.duration_h=1 --quiet --out ";
  REQUIRE(run(base + at10.string() + " --set run.start_h=10").code == 0);
  REQUIRE(run(base + at0.string()).code == 0);
  const json s10 = summary(at10), s0 = summary(at0);
  CHECK(s10["clock_start_h"] == 10);
  CHECK(s0["clock_start_h"] == 0);
  std::istringstream tl(slurp(at10 / "timeline.csv"));
  std::string header, first;
  std::getline(tl, header);
  std::getline(tl, first);
  CHECK(first.rfind("0,10,sh-1,", 0) == 0);  // time_s 0 is 10:00 on the clock
  CHECK_THAT(first, Catch::Contains(",0.946,"));
  std::istringstream tl0(slurp(at0 / "timeline.csv"));
  std::getline(tl0, header);
  std::getline(tl0, first);
  CHECK(first.rfind("0,0,sh-1,", 0) == 0);
  CHECK_THAT(first, Catch::Contains(",0.348,"));
  std::istringstream hourly(slurp(at10 / "hourly.csv"));
  std::getline(hourly, header);
  std::getline(hourly, first);
  CHECK(first.rfind("0,10,", 0) == 0);
  // ServeGen's profile weighs 10:00 by 1.05 and 00:00 by 0.99: the demand follows the clock.
  const double a10 = s10["workload"]["expected_requests"].get<double>(), a0 = s0["workload"]["expected_requests"].get<double>();
  CHECK(a10 / a0 == Approx(1.05 / 0.99).epsilon(0.02));
}

TEST_CASE("prefix caching: hit rate and tokens saved in summary.json, timeline.csv, hourly.csv and requests.csv") {
  const auto on = scratch("prefix-on"), off = scratch("prefix-off");
  const std::string args = "run " + fixture("tiny.yaml") +
                           " --set run.duration_h=3 --set workload.system_prompt_tokens=600 --set workload.system_prompts=2"
                           " --set 'workload.conversations={turns_mean: 2}' --set run.request_log=all --quiet --out ";
  REQUIRE(run(args + on.string() + " --set serving.prefix_caching=true --set serving.prefix_routing=true").code == 0);
  REQUIRE(run(args + off.string() + " --set serving.prefix_caching=false").code == 0);
  const json s = summary(on), z = summary(off);
  const auto& pc = s["prefix_cache"];
  CHECK(pc["enabled"] == true);
  CHECK(pc["block_tokens"] == 16);
  CHECK(z["prefix_cache"]["enabled"] == false);
  CHECK(z["prefix_cache"]["hit_tokens"] == 0);
  const double hit = pc["hit_tokens"], queried = pc["queried_tokens"];
  CHECK(pc["hit_rate"].get<double>() == Approx(hit / queried));
  CHECK(hit > 0.2 * queried);  // system prompts on every request, histories on half
  CHECK(s["datacenters"][0]["prefix_cache"]["hit_tokens"] == pc["hit_tokens"]);
  // Saved prefill: the first tokens come sooner and less compute is spent.
  CHECK(s["latency_s"]["ttft"]["p50"].get<double>() < z["latency_s"]["ttft"]["p50"].get<double>());
  CHECK(s["utilization"]["mfu_mean"].get<double>() < z["utilization"]["mfu_mean"].get<double>());
  // The timeline and the hours add up to the summary; live and cached KV never exceed the capacity.
  double saved = 0, saved_hourly = 0, cached_sum = 0, cached_peak = 0, logged = 0;
  const auto timeline = read_csv(on / "timeline.csv");
  const auto& th = timeline[0];
  for (std::size_t i = 1; i < timeline.size(); ++i) {
    const auto& r = timeline[i];
    saved += std::stod(r[column(th, "prefill_tokens_saved")]);
    const double used = std::stod(r[column(th, "kv_cache_used")]), cached = std::stod(r[column(th, "kv_cache_cached")]);
    CHECK(cached >= 0);
    CHECK(used + cached <= 1 + 1e-12);
    CHECK(std::stod(r[column(th, "prefix_hit_rate")]) <= 1);
    cached_sum += cached;
    cached_peak = std::max(cached_peak, cached);
  }
  const auto hourly = read_csv(on / "hourly.csv");
  for (std::size_t i = 1; i < hourly.size(); ++i)  // the datacenters' rows (user regions' rows carry latency only)
    if (hourly[i][column(hourly[0], "user_region")] == "all")
      saved_hourly += std::stod(hourly[i][column(hourly[0], "prefill_tokens_saved")]);
  CHECK(saved == Approx(hit));
  CHECK(saved_hourly == Approx(hit));
  CHECK(pc["kv_cached_mean"].get<double>() == Approx(cached_sum / 36));
  CHECK(pc["kv_cached_peak"].get<double>() == Approx(cached_peak));
  const auto requests = read_csv(on / "requests.csv");
  for (std::size_t i = 1; i < requests.size(); ++i) {
    const double c = std::stod(requests[i][column(requests[0], "cached_tokens")]);
    CHECK(c < std::stod(requests[i][column(requests[0], "prompt_tokens")]));
    logged += c;
  }
  CHECK(logged > 0);
  CHECK(logged <= hit);  // first admissions of completed requests, of every admission's hits
}

TEST_CASE("deployment units spanning servers: two units of 4 servers serve, conserve requests, rent and draw per server") {
  const auto out = scratch("units");
  const Proc p = run("run " + fixture("ds_unit.yaml") + " --set run.timeline_detail=server --quiet --out " + out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const auto& r = s["requests"];
  CHECK(r["completed"].get<long>() > 50000);
  CHECK(r["arrived"].get<long>() == r["completed"].get<long>() + r["unfinished"].get<long>() + r["rejected"].get<long>() +
                                        r["dropped"].get<long>());
  const auto& d = s["datacenters"][0];
  CHECK(d["servers"].get<long>() == 8);
  CHECK(d["gpus"].get<long>() == 64);
  CHECK(d["replicas"].get<long>() == 2);  // one replica per unit of 32 GPUs
  CHECK(s["cost"]["rental"].get<double>() == Approx(64 * 2.0 * 1).epsilon(1e-9));  // 64 GPU-hours at $2
  // SimGrid's plugin, fed per physical server, agrees with the model's energy.
  CHECK(s["energy_kwh"]["it"].get<double>() == Approx(s["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
  // Every server of a unit draws the same share of the unit's power.
  std::ifstream f(out / "timeline_servers.csv");
  std::string line;
  std::getline(f, line);
  std::vector<std::string> power;
  for (int i = 0; i < 8 && std::getline(f, line); ++i) power.push_back(line.substr(line.rfind(',') + 1));
  REQUIRE(power.size() == 8);
  for (int i = 1; i < 4; ++i) CHECK(power[i] == power[0]);
  for (int i = 5; i < 8; ++i) CHECK(power[i] == power[4]);
}

TEST_CASE("prefill/decode disaggregation: two prefill units and a decode unit serve, conserve requests and report the pools") {
  const auto out = scratch("pd");
  const Proc p = run("run " + fixture("ds_pd.yaml") + " --set run.timeline_detail=server --quiet --out " + out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const auto& r = s["requests"];
  CHECK(r["completed"].get<long>() > 10000);
  CHECK(r["arrived"].get<long>() == r["completed"].get<long>() + r["unfinished"].get<long>() + r["rejected"].get<long>() +
                                        r["dropped"].get<long>());
  const auto& d = s["datacenters"][0];
  CHECK(d["servers"].get<long>() == 8);
  CHECK(d["gpus"].get<long>() == 64);
  CHECK(d["replicas"].get<long>() == 3);
  CHECK(s["cost"]["rental"].get<double>() == Approx(64 * 2.0 * 1).epsilon(1e-9));
  CHECK(s["energy_kwh"]["it"].get<double>() == Approx(s["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
  const auto& pd = s["disaggregation"];
  CHECK(pd["prefill"]["servers_mean"].get<double>() == Approx(4).epsilon(1e-9));
  CHECK(pd["decode"]["servers_mean"].get<double>() == Approx(4).epsilon(1e-9));
  CHECK(pd["prefill"]["input_tokens"].get<double>() >= s["tokens"]["prompt"].get<double>());  // prefilled, some not yet answered
  CHECK(pd["decode"]["output_tokens"].get<double>() == Approx(s["tokens"]["output"].get<double>()).epsilon(1e-12));
  CHECK(pd["decode"]["output_tokens_per_s_per_server"].get<double>() ==
        Approx(s["tokens"]["output"].get<double>() / 3600 / 4).epsilon(1e-9));
  CHECK(pd["kv_transfer_gb"].get<double>() == Approx(pd["prefill"]["input_tokens"].get<double>() * 61 * 576 * 2 / 1e9).epsilon(1e-9));
  CHECK(pd["prefill"]["utilization"].get<double>() > 0);
  CHECK(pd["decode"]["utilization"].get<double>() > 0);
  // The timeline has the pools' servers and per-server rates every period.
  const auto tl = read_csv(out / "timeline.csv");
  REQUIRE(!tl.empty());
  const std::size_t c_pre = column(tl[0], "prefill_servers"), c_dec = column(tl[0], "decode_servers"),
                    c_in = column(tl[0], "prefill_input_tokens_per_s_per_server"),
                    c_out = column(tl[0], "decode_output_tokens_per_s_per_server"), c_kv = column(tl[0], "kv_transfer_gbps");
  int rows = 0;
  for (std::size_t i = 1; i < tl.size(); ++i) {
    CHECK(std::stod(tl[i][c_pre]) == Approx(4));  // prefill servers
    CHECK(std::stod(tl[i][c_dec]) == Approx(4));  // decode servers
    CHECK(std::stod(tl[i][c_in]) > 0);
    if (rows > 0) CHECK(std::stod(tl[i][c_out]) > 0);  // answers complete from the second minute on
    CHECK(std::stod(tl[i][c_kv]) > 0);
    ++rows;
  }
  CHECK(rows == 60);
  // Deterministic for a seed.
  const auto again = scratch("pd-again");
  REQUIRE(run("run " + fixture("ds_pd.yaml") + " --set run.timeline_detail=server --quiet --out " + again.string()).code == 0);
  CHECK(summary(again)["latency_s"] == s["latency_s"]);
}

TEST_CASE("DeepSeek's published day, an hour of it: the imposed node schedule's node-hours, conservation, the disk-hit share, rent while on") {
  // 02:30 to 03:30 local at a quarter of the demand (a test's hour, not the published figures): the
  // schedule takes the prefill pool from 29 units to 15 (hour 2) then 7 (hour 3), the decode pool from 9
  // to 5 then 3 (README "DeepSeek's published day").
  const auto out = scratch("deepseek-day");
  const Proc p = run("run " + std::string(CHATDC_SOURCE_DIR) + "/scenarios/deepseek-2025-02-27.yaml --set run.duration_h=1 "
                     "--set run.start_h=2.5 --set workload.demand_multiplier=0.25 --quiet --out " + out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const auto& r = s["requests"];
  CHECK(r["completed"].get<long>() > 500000);
  CHECK(r["arrived"].get<long>() == r["completed"].get<long>() + r["unfinished"].get<long>() + r["rejected"].get<long>() +
                                        r["dropped"].get<long>());
  CHECK(r["dropped"].get<long>() == 0);
  // Node-hours by hand: every node serves the first period (the first decision comes at its end), then
  // the schedule's units: prefill 15 x 4 = 60 nodes to 03:00, then 7 x 4 = 28; decode 5 x 18 = 90, then 54.
  const double prefill_h = 116.0 / 60 + 60 * 29.0 / 60 + 28 * 0.5, decode_h = 162.0 / 60 + 90 * 29.0 / 60 + 54 * 0.5;
  const auto& ps = s["power_states"];
  // Serving (not draining) node-hours are the schedule's exactly; drained units add their drain.
  CHECK(ps["server_hours"]["serving"].get<double>() == Approx(prefill_h + decode_h).epsilon(1e-9));
  CHECK(ps["server_hours"]["waking"].get<double>() == 0);
  const auto& pd = s["disaggregation"];
  const double pre = pd["prefill"]["server_hours"].get<double>(), dec = pd["decode"]["server_hours"].get<double>();
  CHECK(pre >= prefill_h - 1e-9);
  CHECK(dec >= decode_h - 1e-9);
  CHECK(pre + dec == Approx(prefill_h + decode_h + ps["server_hours"]["draining"].get<double>()).epsilon(1e-9));
  // The nodes off the schedule train instead (operations.training.while_off), valued at $2 per GPU-hour.
  CHECK(ps["server_hours"]["off"].get<double>() == 0);
  CHECK(ps["server_hours"]["training"].get<double>() == Approx(278 - pre - dec).epsilon(1e-9));
  CHECK(s["training"]["value"].get<double>() == Approx((278 - pre - dec) * 8 * 2).epsilon(1e-9));
  // Each node of either pool's units trains at 0.75 of an HGX H800's 10,200 W.
  CHECK(s["training"]["energy_kwh"]["it"].get<double>() == Approx(0.75 * 10.2 * (278 - pre - dec)).epsilon(1e-9));
  // Rent for the node-hours not training, 8 GPUs at $2.
  CHECK(s["cost"]["rental"].get<double>() == Approx((pre + dec) * 8 * 2).epsilon(1e-9));
  // The published 56.3% of input tokens from disk, within sampling and the requests unfinished at the end.
  CHECK(s["disk_kv_cache"]["hit_share_of_prompt_tokens"].get<double>() == Approx(0.563).margin(0.01));
  // The timeline: the pools' nodes mid-hour, as scheduled.
  const auto tl = read_csv(out / "timeline.csv");
  const std::size_t c_pre = column(tl[0], "prefill_servers"), c_dec = column(tl[0], "decode_servers");
  REQUIRE(tl.size() == 61);
  CHECK(std::stod(tl[1][c_pre]) == Approx(116));
  CHECK(std::stod(tl[26][c_pre]) == Approx(60));
  CHECK(std::stod(tl[26][c_dec]) == Approx(90));
  CHECK(std::stod(tl[56][c_pre]) == Approx(28));
  CHECK(std::stod(tl[56][c_dec]) == Approx(54));
}

TEST_CASE("deployment units under a schedule: a unit's servers go off together and server-hours add up") {
  const auto out = scratch("units-schedule");
  const Proc p = run("run " + fixture("ds_unit.yaml") +
                     " --set operations.autoscaling.policy=schedule --set 'operations.autoscaling.schedule=[0.5,0.5,0.5,0.5,0.5,0.5,"
                     "0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' --quiet --out " +
                     out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  const auto& ps = s["power_states"];
  double hours = 0;
  for (const char* k : {"serving", "draining", "waking", "off"}) hours += ps["server_hours"][k].get<double>();
  CHECK(hours == Approx(8.0).epsilon(1e-9));  // 8 servers for 1 h
  // Half the fleet: one unit (4 servers) drains and goes off once its requests complete.
  CHECK(ps["server_hours"]["off"].get<double>() > 3.0);
  CHECK(ps["server_hours"]["off"].get<double>() < 4.0);
  const auto& r = s["requests"];
  CHECK(r["arrived"].get<long>() == r["completed"].get<long>() + r["unfinished"].get<long>() + r["rejected"].get<long>() +
                                        r["dropped"].get<long>());
  CHECK(s["energy_kwh"]["it"].get<double>() == Approx(s["energy_kwh"]["it_model"].get<double>()).epsilon(2e-3));
}

TEST_CASE("defaults to review: a scenario without the cost keys lists them in summary.json and on the console, one setting them does not") {
  // An idle hour of tiny.yaml (two DGX A100, 6.5 kW nameplate each): capex by hand from platforms/costs.yaml.
  const auto out = scratch("review-defaults");
  const Proc p = run("run " + fixture("tiny.yaml") + " --set run.duration_h=1 --set workload.requests_per_day=0 --no-progress --out " +
                     out.string());
  REQUIRE(p.code == 0);
  const json s = summary(out);
  std::set<std::string> keys;
  for (const auto& d : s["defaults_to_review"]) {
    keys.insert(d["key"].get<std::string>());
    CHECK(!d["unit"].get<std::string>().empty());
    CHECK(!d["source"].get<std::string>().empty());
  }
  for (const char* key : {"economics.facility_capex_usd_per_kw", "economics.facility_depreciation_years",
                          "economics.network_capex_fraction", "economics.depreciation_years",
                          "economics.maintenance_fraction_per_year", "economics.cny_per_usd",
                          "platform.regions[east].datacenters[east-1].server_capex_usd"}) {
    INFO(key);
    CHECK(keys.count(key) == 1);
  }
  const double day = 1.0 / 24;
  CHECK(s["cost"]["capex_servers"].get<double>() == Approx(2 * 199000.0 / (5 * 365) * day).epsilon(1e-9));
  CHECK(s["cost"]["capex_network"].get<double>() == Approx(0.14 * 2 * 199000.0 / (5 * 365) * day).epsilon(1e-9));
  CHECK(s["cost"]["capex_facility"].get<double>() == Approx(2 * 6.5 * 9500 / (20 * 365.0) * day).epsilon(1e-9));
  CHECK_THAT(p.out, Catch::Contains("review    7 defaults the scenario did not set"));
  CHECK_THAT(p.out, Catch::Contains("economics.facility_capex_usd_per_kw = 9,500 USD per kW of IT nameplate"));
  CHECK_THAT(p.out, Catch::Contains("(servers 9, network 1, facility 1)"));

  // The same scenario with every one of them set: nothing to review, no block on the console.
  const auto set = scratch("review-set");
  const Proc q = run("run " + fixture("tiny.yaml") +
                     " --set run.duration_h=1 --set workload.requests_per_day=0 --no-progress --out " + set.string() +
                     " --set economics.cny_per_usd=7.2 --set economics.depreciation_years=5"
                     " --set economics.maintenance_fraction_per_year=0.05 --set economics.network_capex_fraction=0.14"
                     " --set economics.facility_capex_usd_per_kw=9500 --set economics.facility_depreciation_years=20"
                     " --set platform.regions[east].datacenters[east-1].server_capex_usd=199000");
  REQUIRE(q.code == 0);
  const json t = summary(set);
  CHECK(t["defaults_to_review"].empty());
  CHECK(q.out.find("review ") == std::string::npos);
  CHECK(t["cost"]["total"].get<double>() == Approx(s["cost"]["total"].get<double>()).epsilon(1e-12));  // the same values
}

TEST_CASE("on-disk KV tier: DeepSeek's published hit share is read from disk, saving prefill work and TTFT") {
  // (decode units batching 4,096: batch slots are counted per pool, so occupancy stays a share)
  const std::string base = "run " + fixture("ds_pd.yaml") +
                           " --set run.duration_h=0.25 --set platform.regions[0].datacenters[0].decode.max_batch_size=4096 --quiet --out ";
  const auto off = scratch("disk-off"), on = scratch("disk-on");
  REQUIRE(run(base + off.string()).code == 0);
  REQUIRE(run(base + on.string() + " --set 'serving.disk_kv_cache={hit_share: 0.563, read_gb_per_s_per_server: 42.9}'").code == 0);
  const json a = summary(off), b = summary(on);
  CHECK(a["disk_kv_cache"]["hit_tokens"].get<double>() == 0);
  // floor(0.563 x prompt) tokens of each prompt (less under a token each), counted at admissions (of unfinished
  // requests too, and again after a preemption) over the completed requests' prompt tokens.
  const double share = b["disk_kv_cache"]["hit_share_of_prompt_tokens"].get<double>();
  CHECK(share == Approx(0.563).margin(0.003));
  // The same requests (the tier changes no arrivals), less prefill work, earlier first tokens.
  CHECK(b["requests"]["arrived"] == a["requests"]["arrived"]);
  CHECK(b["disaggregation"]["prefill"]["utilization"].get<double>() < 0.9 * a["disaggregation"]["prefill"]["utilization"].get<double>());
  CHECK(b["latency_s"]["ttft"]["p50"].get<double>() < a["latency_s"]["ttft"]["p50"].get<double>());
  // Batch slots: two prefill units of 256 and one decode unit of 4,096, 4,608 in all (not 3 x 256).
  const auto timeline = read_csv(off / "timeline.csv");
  REQUIRE(timeline.size() == 16);  // the header and 15 minutes
  const std::size_t c_running = column(timeline[0], "running"), c_occ = column(timeline[0], "batch_occupancy");
  for (std::size_t i = 1; i < timeline.size(); ++i) {
    REQUIRE(timeline[i].size() == timeline[0].size());
    CHECK(std::stod(timeline[i][c_occ]) == Approx(std::stod(timeline[i][c_running]) / 4608).margin(1e-9));
  }
  // The resolved scenario carries the tier, with its default latency.
  const std::string text = slurp(on / "scenario.resolved.yaml");
  CHECK(text.find("hit_share: 0.563") != std::string::npos);
  CHECK(text.find("latency_ms: 1") != std::string::npos);
}

TEST_CASE("a resolved scenario charges the same WAN lease: a default lease on a link no route crosses stays uncharged on a rerun") {
  // scenarios/plan-deepseek.yaml declares a western region with no datacenter and no users, linked to the east:
  // no route crosses the link, so costs.yaml's default lease is not charged, in the run or in its rerun.
  const auto first = scratch("lease-first"), again = scratch("lease-again");
  Proc p = run("run " + std::string(CHATDC_SOURCE_DIR) + "/scenarios/plan-deepseek.yaml --set workload.demand_multiplier=0.06 "
               "--set run.duration_h=0.25 --quiet --out " + first.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  CHECK(slurp(first / "scenario.resolved.yaml").find("lease_if_used: true") != std::string::npos);
  p = run("run " + (first / "scenario.resolved.yaml").string() + " --quiet --out " + again.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const json a = summary(first), b = summary(again);
  CHECK(a["cost"]["wan"].get<double>() == 0);
  CHECK(b["cost"]["wan"].get<double>() == 0);
  CHECK(b["cost"]["total"].get<double>() == a["cost"]["total"].get<double>());
  // Given explicitly, the lease is charged whether or not a route crosses the link.
  const auto lease = scratch("lease-forced");
  p = run("run " + std::string(CHATDC_SOURCE_DIR) + "/scenarios/plan-deepseek.yaml --set workload.demand_multiplier=0.06 "
          "--set run.duration_h=0.25 --set 'platform.wan_links=[{between: [east, west], lease_if_used: false}]' --quiet --out " +
          lease.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  CHECK(summary(lease)["cost"]["wan"].get<double>() == Approx(10 * 300 / 30.4375 * 0.25 / 24).epsilon(1e-9));
}
