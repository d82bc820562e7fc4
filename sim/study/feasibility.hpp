// Study layer (pure): when does a run's fleet carry its demand? Every study (compare, sweep, plan)
// marks infeasible rows and never ranks them (README "Studies: feasibility").
//
// A run is feasible when all of these hold:
//   1. SLO attainment (completed requests meeting both the TTFT and the TPOT target) >= the target;
//   2. no request was dropped (turned away at a full queue: overload);
//   3. every rejection is forced by the model's context (prompt + output longer than it): none by the
//      fleet (a KV cache too small);
//   4. no backlog at the end: the requests still unfinished when the run ends are no more than a fleet
//      meeting its SLO keeps in flight. By Little's law a fleet holds L = lambda * W requests, lambda the
//      arrival rate and W the mean time in the system; a request meeting its SLO with n output tokens
//      is done within ttft + tpot * (n - 1), so W <= W_slo = ttft_target + tpot_target * (mean output - 1).
//      The limit is L + 5 sqrt(L) + 5 with L = lambda_end * W_slo (lambda_end: arrivals per second over
//      the run's last hour): five Poisson standard deviations above the mean of a fleet that just meets
//      its SLO. Requests in flight at the end are normal; a queue that grew for minutes exceeds it.
#pragma once
#include <string>

namespace chatdc::study {

/// The figures of one run that feasibility looks at.
struct RunFigures {
  double arrived = 0, completed = 0, unfinished = 0;
  double rejected = 0, rejected_over_context = 0, dropped = 0;
  double attainment = 0;              // share of completed requests meeting both targets
  double ttft_target_s = 2, tpot_target_s = 0.2;
  double mean_output_tokens = 1;      // of completed requests
  double end_arrival_rate_per_s = 0;  // over the run's last hour (or the whole run if shorter)
};

struct Feasibility {
  bool slo_met = false;     // criterion 1 alone
  bool feasible = false;    // all four
  double backlog_limit = 0; // requests (criterion 4)
  std::string why;          // empty when feasible: "SLO 97.2% < 99%; 4,123 dropped (2.1%)"
};

/// Judges a run against an SLO attainment target in (0, 1].
Feasibility judge(const RunFigures& f, double slo_target);

/// The backlog limit of criterion 4 (requests).
double backlog_limit(double end_arrival_rate_per_s, double ttft_target_s, double tpot_target_s, double mean_output_tokens);

/// 1234567 -> "1,234,567".
std::string grouped(double v);
/// A share as a percentage with enough digits to tell it from the target: 0.98995 -> "98.995%".
std::string percent(double share);

}  // namespace chatdc::study
