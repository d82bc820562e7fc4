// Pure core: holding the step model against published measurements, and fitting a GPU's
// efficiency factors to them.
//
// Rows (platforms/calibration.csv):
//   gpu,llm,engine,weight_dtype,tp,batch,prompt_tokens,output_tokens,metric,measured,source
// engine names the serving engine measured (its efficiency profile); weight_dtype may be empty (the LLM's).
//   ttft_ms            request overhead + one prefill step of `batch` prompts of `prompt_tokens`
//   tpot_ms            one decode step of `batch` sequences attending prompt + 1 + output/2 tokens each
//   e2e_ms             a static batch: request overhead, the prefill step, then output-1 decode steps
//   throughput_tok_s   batch x output / e2e, output tokens/s (the other metrics are in ms)
#pragma once
#include <string>
#include <vector>

#include "model/specs.hpp"
#include "model/step_model.hpp"

namespace chatdc::model {

struct CalibrationRow {
  int line = 0;
  std::string gpu, llm, engine, weight_dtype;
  int tp = 1;
  int batch = 1;
  double prompt_tokens = 0;
  double output_tokens = 0;  // 0 when the source does not say
  std::string metric;
  double measured = 0;
  std::string source;
};

/// Reads a calibration CSV; throws chatdc::Error naming file:line.
std::vector<CalibrationRow> load_calibration(const std::string& file);

/// The step model's value for the row's metric, in the row's unit; request_overhead_s is added once
/// to TTFT and end-to-end latency (GpuSpec::request_overhead_ms).
double predict(const CalibrationRow& row, const StepModel& model, double request_overhead_s);

struct FitCase {
  CalibrationRow row;
  LlmSpec llm;
};

struct FitResult {
  GpuSpec gpu;                 // with fitted efficiency fields
  double rms_log_error = 0;    // sqrt(mean(ln(predicted / measured)^2))
  double max_abs_error = 0;    // max |predicted / measured - 1|
  double objective = 0;        // what the fit minimises: (mean |ln(predicted / measured)|^6)^(1/6), near minimax
  int evaluations = 0;
  int fitted_params = 0;       // all ten, or three when there are fewer rows than parameters
};

/// Fits the efficiency profile of one GPU and serving engine to its rows: compute, memory, attention
/// and interconnect efficiencies, serial fraction, GEMM half length and overheads, each kept in a
/// physical range. With fewer rows than parameters only compute and memory efficiency and the step
/// overhead are fitted; the others keep their starting values (an L6 norm of log errors, close to minimising the worst row;
/// deterministic Nelder-Mead with restarts).
FitResult fit_gpu(const GpuSpec& start, const std::vector<FitCase>& cases);

/// The same error figures for a GPU as it stands.
FitResult evaluate_gpu(const GpuSpec& gpu, const std::vector<FitCase>& cases);

}  // namespace chatdc::model
