// Pure core: where requests come from. A source yields requests in time order, one at a time, so a
// whole day (or a trace of any length) is never held in memory.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace chatdc::workload {

/// The most requests a simulated day may carry: 40x ChatGPT's 2.5 billion prompts a day (Axios, July 2025).
/// Every workload is held to it before the run starts, so an absurd demand is an error, not an endless run.
inline constexpr double kMaxRequestsPerDay = 1e11;

struct RequestSpec {
  std::uint64_t id = 0;
  double time_s = 0;  // when the user sends it, seconds since the start of the run
  std::uint32_t prompt_tokens = 0;
  std::uint32_t output_tokens = 1;
  std::uint32_t user_region = 0;
  std::uint32_t system_prompt_tokens = 0;  // the prompt's first tokens are a shared system prompt (prefix)
  std::uint64_t prefix = 0;                // what the prompt shares with other requests' (namespace prefix)
};

/// What a request's prompt shares with other requests' prompts, for prefix caching, in one word
/// (README "Prefix caching"). The top 4 bits give the kind:
///   kNone       nothing: the prompt is the request's own;
///   kSynthetic  bits 48-59: the system prompt it starts with (1..4095; 0 none; its length is
///               RequestSpec::system_prompt_tokens); bits 0-47: its conversation (1-based; 0 none):
///               every turn of a conversation is a prefix of the next turn's prompt;
///   kChain      bits 0-59: a trace's list of block hashes (HashChains), by index.
namespace prefix {
enum class Kind : std::uint8_t { kNone = 0, kSynthetic = 1, kChain = 2 };
inline constexpr std::uint64_t kMaxSystemPrompts = 4095;
inline constexpr std::uint64_t kMaxConversation = (std::uint64_t{1} << 48) - 1;
inline constexpr std::uint64_t synthetic(std::uint64_t system_prompt, std::uint64_t conversation) {
  return (std::uint64_t{1} << 60) | (system_prompt << 48) | conversation;
}
inline constexpr std::uint64_t chain(std::uint64_t index) { return (std::uint64_t{2} << 60) | index; }
inline constexpr Kind kind(std::uint64_t p) { return static_cast<Kind>(p >> 60); }
inline constexpr std::uint32_t system_prompt(std::uint64_t p) {
  return kind(p) == Kind::kSynthetic ? static_cast<std::uint32_t>((p >> 48) & 0xFFF) : 0;
}
inline constexpr std::uint64_t conversation(std::uint64_t p) { return kind(p) == Kind::kSynthetic ? p & kMaxConversation : 0; }
inline constexpr std::uint64_t chain_index(std::uint64_t p) { return p & ((std::uint64_t{1} << 60) - 1); }
/// The same prefix in another conversation (keeps the system prompt).
inline constexpr std::uint64_t with_conversation(std::uint64_t p, std::uint64_t conversation) {
  return synthetic(system_prompt(p), conversation);
}
}  // namespace prefix

/// Block hashes of a trace's prompts (Mooncake's hash_ids), one list per data line of the trace file:
/// two prompts share their first k blocks of block_tokens tokens when their first k hashes agree.
/// Built before the run and read-only during it (replicas on several threads read it).
class HashChains {
 public:
  explicit HashChains(std::uint32_t block_tokens = 512) : block_tokens_(block_tokens) {}
  std::uint32_t block_tokens() const { return block_tokens_; }
  /// Appends the hashes of data line `line` (lines come in increasing order; lines skipped get none).
  void add(std::uint64_t line, const std::vector<std::uint64_t>& hashes) {
    while (lines() < line) begin_.push_back(ids_.size());
    ids_.insert(ids_.end(), hashes.begin(), hashes.end());
    begin_.push_back(ids_.size());
  }
  std::uint64_t lines() const { return begin_.size() - 1; }
  bool empty() const { return ids_.empty(); }
  /// Hashes of data line `line` (none when unknown).
  const std::uint64_t* data(std::uint64_t line) const { return line < lines() ? ids_.data() + begin_[line] : nullptr; }
  std::size_t size(std::uint64_t line) const { return line < lines() ? begin_[line + 1] - begin_[line] : 0; }

 private:
  std::uint32_t block_tokens_;
  std::vector<std::uint64_t> ids_;
  std::vector<std::size_t> begin_{0};
};

class RequestSource {
 public:
  static constexpr double kNever = std::numeric_limits<double>::infinity();
  virtual ~RequestSource() = default;
  /// Time of the next request, kNever when there is none.
  virtual double peek_time() = 0;
  /// The next request (peek_time() must be finite).
  virtual RequestSpec pop() = 0;
  /// The user received the last token of request `id` at t_user_s (closed-loop conversations).
  virtual void on_response(std::uint64_t /*id*/, double /*t_user_s*/) {}
  /// Request `id` was rejected and will never be answered.
  virtual void on_dropped(std::uint64_t /*id*/) {}
  /// Whether answers shape later requests: then on_response / on_dropped must come in one time order
  /// with pop(). Otherwise they may come later than the answer (after a window of independent cells).
  virtual bool closed_loop() const { return false; }
  /// Expected number of requests in the run, for sizing (may be approximate).
  virtual double expected_requests() const = 0;
  /// Block hashes the requests' kChain prefixes refer to (traces that carry them), else nullptr.
  virtual const HashChains* hash_chains() const { return nullptr; }
};

}  // namespace chatdc::workload
