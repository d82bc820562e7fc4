// Pure core: where requests come from. A source yields requests in time order, one at a time, so a
// whole day (or a trace of any length) is never held in memory.
#pragma once
#include <cstdint>
#include <limits>

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
};

}  // namespace chatdc::workload
