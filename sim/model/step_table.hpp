// Pure core: a measured step-time table (the user's own profile of a serving engine) behind the
// StepModel interface, for one GPU, LLM and tensor-parallel degree.
//
// CSV columns: phase,batch,context_tokens,step_ms[,gpu_power_w]
//   phase = prefill: a prefill step of `batch` prompts of `context_tokens` tokens each
//   phase = decode:  a decode step of `batch` sequences attending `context_tokens` tokens each (mean)
//   gpu_power_w (optional): mean power of one GPU during the step
// Interpolation (README "Measured step-time tables"):
//   decode: piecewise linear in context per measured batch size, linear between batch sizes, so the
//     step time stays piecewise affine in the batch's total context (closed-form runs stay exact);
//     beyond the measured contexts the roofline's slope continues the line; above the largest batch
//     the last two batch sizes extrapolate, below the smallest that one is used.
//   prefill: linear in the step's prompt tokens; beyond the measured range scaled by the roofline.
//   mixed (chunked) steps: decode time + prefill time above the prefill line's intercept.
//   power: the measured column if given, else the roofline's power for the same step.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/step_model.hpp"

namespace chatdc::model {

struct StepTable {
  struct Point {
    double x = 0;         // prefill: total prompt tokens; decode: context tokens per sequence
    double time_s = 0;
    double power_w = -1;  // per GPU; < 0 when not measured
    int line = 0;         // in the file
  };
  std::string file;
  std::vector<Point> prefill;                      // sorted by x
  std::map<std::uint32_t, std::vector<Point>> decode;  // batch -> points sorted by x
};

/// Reads a step table; throws chatdc::Error naming file:line and the problem. Beyond the format it
/// checks what makes a table physical: a step never gets faster as prompts grow, as the context
/// grows, or (at the same context) as the batch grows, so no interpolation or extrapolation can
/// yield a negative or falling step time.
StepTable load_step_table(const std::string& file);

/// How far beyond its measurements a table may be used: up to kStepTableReach times the largest
/// measured batch, context per sequence and prefill tokens (README "Measured step-time tables").
inline constexpr double kStepTableReach = 2.0;
/// Checks that a use stays within reach of the measurements; throws chatdc::Error naming the table's
/// file:line of the largest measured value, that value, and `what_uses` (e.g. "serving.max_batch_size 512").
void check_step_table_reach(const StepTable& t, double max_batch, double max_context_per_sequence, double max_prefill_tokens,
                            const std::string& batch_source, const std::string& context_source,
                            const std::string& prefill_source);

class TableStepModel final : public StepModel {
 public:
  TableStepModel(StepTable table, std::shared_ptr<const RooflineStepModel> roofline);
  StepCost cost(const StepShape& shape) const override;
  DecodeProfile decode_profile(std::uint32_t batch) const override;
  int gpus() const override { return roof_->gpus(); }
  double idle_power_w() const override { return roof_->idle_power_w(); }

 private:
  double decode_time(std::uint32_t b_table, double ctx) const;      // one measured batch size
  double decode_power(std::uint32_t b_table, double ctx) const;     // per GPU, W
  double prefill_time(double tokens) const;
  double prefill_power(const StepShape& s, double time_s) const;    // per GPU, W
  double roof_power(const StepShape& s) const;                      // per GPU, W

  StepTable t_;
  std::shared_ptr<const RooflineStepModel> roof_;
  std::vector<std::uint32_t> batches_;
};

}  // namespace chatdc::model
