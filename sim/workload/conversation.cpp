#include "workload/conversation.hpp"

#include <algorithm>

namespace chatdc::workload {

ConversationSource::ConversationSource(std::unique_ptr<RequestSource> first_turns, ConversationSpec spec)
    : base_(std::move(first_turns)),
      spec_(std::move(spec)),
      think_(spec_.think_time_s),
      message_(spec_.message_tokens),
      output_(spec_.output_tokens),
      rng_(Rng::stream(spec_.seed, "conversations")) {}

double ConversationSource::peek_time() {
  const double a = base_->peek_time();
  const double b = next_turns_.empty() ? kNever : next_turns_.top().spec.time_s;
  return std::min(a, b);
}

RequestSpec ConversationSource::pop() {
  const double a = base_->peek_time();
  RequestSpec r;
  bool new_history = true;  // a first turn starts its conversation's history
  if (!next_turns_.empty() && next_turns_.top().spec.time_s < a) {
    r = next_turns_.top().spec;
    new_history = next_turns_.top().new_history;
    next_turns_.pop();
  } else {
    r = base_->pop();
  }
  r.id = next_id_++;
  if (spec_.turns_mean > 1 && new_history)
    r.prefix = prefix::with_conversation(r.prefix, std::min(r.id + 1, prefix::kMaxConversation));
  if (spec_.turns_mean > 1) awaiting_[r.id] = r;
  return r;
}

void ConversationSource::on_dropped(std::uint64_t id) { awaiting_.erase(id); }

void ConversationSource::on_response(std::uint64_t id, double t_user_s) {
  const auto it = awaiting_.find(id);
  if (it == awaiting_.end()) return;
  const RequestSpec prev = it->second;
  awaiting_.erase(it);
  // Geometric number of turns with mean m: continue with probability 1 - 1/m.
  if (rng_.uniform() >= 1.0 - 1.0 / spec_.turns_mean) return;
  RequestSpec next = prev;
  next.time_s = t_user_s + think_.sample_real(rng_);
  const std::uint64_t history = static_cast<std::uint64_t>(prev.prompt_tokens) + prev.output_tokens + message_.sample(rng_);
  next.prompt_tokens = static_cast<std::uint32_t>(std::min<std::uint64_t>(history, spec_.max_prompt_tokens));
  next.output_tokens = std::max<std::uint32_t>(1, output_.sample(rng_));
  next.id = 0;  // renumbered when popped
  ++follow_ups_;
  next_turns_.push({next, history > spec_.max_prompt_tokens});
}

}  // namespace chatdc::workload
