#include "workload/synthetic.hpp"

namespace chatdc::workload {

SyntheticSource::SyntheticSource(const SyntheticSpec& spec)
    : prompt_(spec.prompt),
      output_(spec.output),
      token_rng_(Rng::stream(spec.seed, "tokens")),
      system_rng_(Rng::stream(spec.seed, "system_prompts")),
      system_tokens_(spec.system_prompt_tokens),
      system_count_(spec.system_prompts),
      system_share_(spec.system_prompt_share) {
  for (std::size_t i = 0; i < spec.regions.size(); ++i) {
    streams_.emplace_back(spec.regions[i], spec.renewal, spec.duration_s,
                          Rng::stream(spec.seed, "arrivals/" + std::to_string(i)));
    heads_.push_back(streams_.back().next());
    expected_ += spec.regions[i].expected(0.0, spec.duration_s);
  }
  advance();
}

void SyntheticSource::advance() {
  next_time_ = kNever;
  for (std::uint32_t i = 0; i < heads_.size(); ++i) {
    if (heads_[i] < next_time_) {
      next_time_ = heads_[i];
      next_region_ = i;
    }
  }
}

RequestSpec SyntheticSource::pop() {
  RequestSpec r;
  r.id = next_id_++;
  r.time_s = next_time_;
  r.user_region = next_region_;
  r.prompt_tokens = prompt_.sample(token_rng_);
  r.output_tokens = std::max<std::uint32_t>(1, output_.sample(token_rng_));
  if (system_tokens_ > 0 && system_rng_.uniform() < system_share_) {
    const auto which = 1 + system_rng_.below(system_count_);
    r.prompt_tokens += system_tokens_;
    r.system_prompt_tokens = system_tokens_;
    r.prefix = prefix::synthetic(which, 0);
  }
  heads_[next_region_] = streams_[next_region_].next();
  advance();
  return r;
}

}  // namespace chatdc::workload
