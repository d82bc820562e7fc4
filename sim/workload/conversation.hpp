// Pure core: multi-turn conversations, closed loop.
//
// The base source yields the first turn of each conversation. When the user receives the last token of
// a turn (on_response), the conversation continues with probability 1 - 1/turns_mean (so the number of
// turns is geometric with that mean) after a think time; the next prompt carries the whole history:
//   prompt_{k+1} = prompt_k + output_k + new message,  clamped to max_prompt_tokens (oldest history dropped)
// and its output length is drawn afresh. Turns carry their conversation in RequestSpec::prefix (a
// conversation's turns extend one another, after its system prompt if any): numbered by the first
// turn's request id, and by the turn's own id once the history is cut (it no longer extends the last). A turn that is rejected or unfinished ends its conversation.
// Memory: one entry per conversation waiting for an answer or thinking.
#pragma once
#include <cstdint>
#include <memory>
#include <queue>
#include <unordered_map>
#include <vector>

#include "core/rng.hpp"
#include "workload/request_source.hpp"
#include "workload/token_sampler.hpp"

namespace chatdc::workload {

struct ConversationSpec {
  double turns_mean = 1;          // >= 1; 1 = single-turn
  TokenDist think_time_s;         // seconds between an answer and the next turn (drawn as a "token" count)
  TokenDist message_tokens;       // new user tokens per follow-up turn
  TokenDist output_tokens;        // answer length of a follow-up turn
  std::uint32_t max_prompt_tokens = 1u << 20;
  std::uint64_t seed = 1;
};

class ConversationSource final : public RequestSource {
 public:
  ConversationSource(std::unique_ptr<RequestSource> first_turns, ConversationSpec spec);
  double peek_time() override;
  RequestSpec pop() override;
  void on_response(std::uint64_t id, double t_user_s) override;
  void on_dropped(std::uint64_t id) override;
  bool closed_loop() const override { return true; }
  /// Conversation starts times the mean number of turns.
  double expected_requests() const override { return base_->expected_requests() * spec_.turns_mean; }
  std::uint64_t follow_ups() const { return follow_ups_; }

 private:
  struct Pending {
    RequestSpec spec;
    bool new_history = false;  // the history was cut to fit: the prompt no longer extends the last one
    bool operator>(const Pending& o) const { return spec.time_s > o.spec.time_s || (spec.time_s == o.spec.time_s && spec.id > o.spec.id); }
  };
  std::unique_ptr<RequestSource> base_;
  ConversationSpec spec_;
  TokenSampler think_, message_, output_;
  Rng rng_;
  std::unordered_map<std::uint64_t, RequestSpec> awaiting_;  // by request id: turns waiting for an answer
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> next_turns_;
  std::uint64_t next_id_ = 0, follow_ups_ = 0;  // ids are renumbered so that follow-ups stay unique
};

}  // namespace chatdc::workload
