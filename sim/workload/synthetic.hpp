// Pure core: synthetic chat demand: diurnal arrivals per user region, token lengths from samplers.
#pragma once
#include <string>
#include <vector>

#include "workload/diurnal.hpp"
#include "workload/request_source.hpp"
#include "workload/token_sampler.hpp"

namespace chatdc::workload {

struct SyntheticSpec {
  std::vector<DemandCurve> regions;  // index = user region
  Renewal renewal;
  TokenDist prompt;
  TokenDist output;
  double duration_s = 86400;
  std::uint64_t seed = 1;
  // Shared system prompts: a share of the requests start with one of `system_prompts` distinct system
  // prompts of system_prompt_tokens tokens each (chosen uniformly), before their drawn prompt tokens.
  std::uint32_t system_prompt_tokens = 0;  // 0: none
  double system_prompt_share = 1;
  std::uint32_t system_prompts = 1;
};

class SyntheticSource final : public RequestSource {
 public:
  explicit SyntheticSource(const SyntheticSpec& spec);
  double peek_time() override { return next_time_; }
  RequestSpec pop() override;
  double expected_requests() const override { return expected_; }

 private:
  void advance();
  std::vector<ArrivalStream> streams_;
  std::vector<double> heads_;
  TokenSampler prompt_, output_;
  Rng token_rng_, system_rng_;
  std::uint32_t system_tokens_, system_count_;
  double system_share_;
  double next_time_ = kNever;
  std::uint32_t next_region_ = 0;
  std::uint64_t next_id_ = 0;
  double expected_ = 0;
};

}  // namespace chatdc::workload
