// Study layer: `chatdc plan`, the cheapest fleet that meets the scenario's SLO over its whole day.
//
// Candidates are (server, tensor parallel, engine) triples; sites are the scenario's datacenters (or
// those named by --vary). For each candidate:
//   * every site alone ("all at X"): the fewest racks (or servers) meeting the SLO;
//   * with two or more sites, a split between the best site alone (by the objective) and the site of
//     lowest latency: for a few sizes of the latter, the fewest of the former (a sample of the frontier);
// then the best plan (lowest objective among feasible, verified plans) and its headroom: the largest
// demand multiplier (in steps of 0.05) it still carries.
//
// Each of these is a search on one integer (study/search.hpp) in two phases:
//   1. screening on the day's busiest window (run.start_h, one warm-up hour, then the window): the
//      fewest racks whose window meets the SLO target (the busiest hours are the hardest, so this is
//      usually at or slightly above the day's answer);
//   2. full days from there: the screening answer and its neighbour below first (in parallel), then
//      galloping and bisection. The answer is verified: feasible over the full day, its neighbour
//      below infeasible.
// Independent searches advance together: each round runs every search's next points as one batch
// (in parallel, as separate processes), and a rerun reuses every point already evaluated.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "study/search.hpp"
#include "study/study.hpp"

namespace chatdc::study {

enum class Objective { kCost, kEnergy, kCarbon };

/// Parses an --objective value; throws chatdc::Error naming the option and value.
Objective parse_objective(const std::string& text);
std::string objective_name(Objective o);

struct PlanRequest {
  std::string scenario;
  Objective objective = Objective::kCost;
  std::vector<std::string> servers;  // --servers: candidate server ids (empty: each site's own)
  std::vector<std::string> tps;      // --tp: candidate tensor-parallel degrees (empty: each site's own)
  std::vector<std::string> engines;  // --engine: candidate serving engines (empty: the scenario's)
  std::vector<std::string> vary;     // --vary KEY=MIN:MAX: the sites and their size ranges
  double screen_hours = 1;           // the busiest window's length (0: no screening, full days only)
  bool headroom = true;
  std::size_t split_samples = 3;     // sizes of the lowest-latency site tried in a split
  std::size_t parallel = 1;          // runs at a time (the executor's): spare slots speed up screening
};

/// One evaluated point of the plan (a row of plan.csv).
struct PlanEval {
  std::size_t candidate = 0;
  std::string placement;                 // "all at zw-1", "split zw-1 + sh-1"
  std::string phase;                     // screen | day | headroom-screen | headroom-day
  std::vector<std::int64_t> counts;      // per site (0: not in the placement)
  double multiplier = 1;                 // demand multiplier
  Point point;
  PointResult result;
  bool meets = false;                    // the search predicate: feasible (window or day)
  double window_attainment = 0;          // screening: SLO attainment of the window's requests
  std::string why;                       // why not (feasibility), "" when it meets
};

/// A plan for one candidate and placement: its answer, verified on full days.
struct PlanOption {
  std::size_t candidate = 0;
  std::string placement;
  std::vector<std::int64_t> counts;      // per site
  std::optional<std::size_t> eval;       // the answer's full-day evaluation
  std::string failure;                   // why there is no answer
  double objective_per_day = 0;
  std::vector<std::string> notes;        // contradictions found (non-monotone), bounds reached
};

struct PlanResult {
  std::vector<PlanEval> evals;
  std::vector<PlanOption> options;
  std::optional<std::size_t> best;       // index into options
  std::optional<double> headroom;        // largest demand multiplier carried (relative to the scenario's)
  std::string headroom_note;             // e.g. "at least x20 (the search's limit)"
  std::size_t day_runs = 0, screen_runs = 0, reused = 0;  // runs started in this invocation, points found done
  std::size_t day_evals = 0, screen_evals = 0;            // evaluations (started or reused)
  std::size_t knew_answer_day_evals = 0; // full days a search that knew every answer would need
  std::vector<std::string> notes;
};

class Planner {
 public:
  /// Checks the request and the candidates against the scenario (throws chatdc::Error naming the option
  /// and value), before anything runs.
  Planner(PlanRequest request, Study& study);
  /// Runs the searches. Returns false (after printing the failures) when a run failed.
  bool run(PlanResult* result);

  struct Site {
    std::string region, dc, server;
    std::string key = "racks";  // racks or servers_per_rack
    std::int64_t lo = 1, hi = 100000, hint = 1;
    int tp = 0;
    bool capex_usd = false, capex_cny = false;  // the scenario gives this site's server price
  };
  struct Candidate {
    std::string server;  // "" = each site's own
    int tp = 0;          // 0 = each site's own
    std::string engine;  // "" = the scenario's
    std::string label, folder;
    std::string server_text, tp_text, engine_text;  // as they apply ("a/b" when the sites differ)
    std::string impossible;  // why this candidate cannot serve the model (not searched)
  };
  const std::vector<Site>& sites() const { return sites_; }
  const std::vector<Candidate>& candidates() const { return cands_; }
  const PlanRequest& request() const { return req_; }
  std::string currency() const { return currency_; }
  double window_start_h() const { return window_start_h_; }
  bool screening() const { return screening_; }
  std::string routing() const { return routing_; }
  double study_target() const { return study_.options().slo_target; }
  /// The overrides of a point: candidate, placement counts (0 = site removed), phase, multiplier.
  std::vector<std::string> overrides(std::size_t candidate, const std::vector<std::int64_t>& counts, bool screen,
                                     double multiplier) const;

 private:
  PlanRequest req_;
  Study& study_;
  std::vector<Site> sites_;
  std::vector<Candidate> cands_;
  std::string currency_, routing_, base_engine_;
  double cny_per_usd_ = 7.2, base_multiplier_ = 1;
  bool screening_ = true;
  double window_start_h_ = 0;  // the busiest window's start (clock hour)
  int start_weekday_ = 0;      // the scenario's first weekday
  std::vector<std::vector<std::string>> region_dc_yaml_;  // per region: each datacenter as flow YAML
  std::vector<std::vector<std::string>> region_dc_names_;
  std::vector<std::string> region_names_;
  std::map<std::string, double> server_capex_usd_;  // catalog prices, for candidates replacing a priced server
};

/// plan.csv, plan.md (answer first), and the figures plan.md opens with, from a finished plan.
std::string plan_csv(const Planner& planner, const PlanResult& r);
std::string plan_md(const Planner& planner, const PlanResult& r, const std::string& command_line);
/// The console summary.
std::string plan_text(const Planner& planner, const PlanResult& r, const std::string& out_dir);

}  // namespace chatdc::study
