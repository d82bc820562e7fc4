#include <catch2/catch.hpp>

#include <map>
#include <memory>

#include "workload/conversation.hpp"

using namespace chatdc;

namespace {
struct Fixed final : workload::RequestSource {
  int n;
  int i = 0;
  explicit Fixed(int count) : n(count) {}
  double peek_time() override { return i < n ? 10.0 * i : kNever; }
  workload::RequestSpec pop() override { return {static_cast<std::uint64_t>(i), 10.0 * i++, 100, 50, 0}; }
  double expected_requests() const override { return n; }
};
}  // namespace

TEST_CASE("conversations: a follow-up carries the history and comes after the think time", "[conversations]") {
  workload::ConversationSpec c;
  c.turns_mean = 1e9;  // always continue
  c.think_time_s.value = 7;
  c.message_tokens.value = 20;
  c.output_tokens.value = 30;
  workload::ConversationSource src(std::make_unique<Fixed>(1), c);
  const auto first = src.pop();
  CHECK(first.prompt_tokens == 100);
  CHECK(src.peek_time() == workload::RequestSource::kNever);  // nothing until the answer
  src.on_response(first.id, 3.0);
  CHECK(src.peek_time() == Approx(10.0));  // answered at 3 s + 7 s thinking
  const auto second = src.pop();
  CHECK(second.prompt_tokens == 100 + 50 + 20);  // prompt + answer + new message
  CHECK(second.output_tokens == 30);
  CHECK(second.id != first.id);
  CHECK(src.follow_ups() == 1);
}

TEST_CASE("conversations: the number of turns is geometric with the given mean", "[conversations]") {
  workload::ConversationSpec c;
  c.turns_mean = 3;
  c.think_time_s.value = 1;
  c.message_tokens.value = 1;
  c.output_tokens.value = 1;
  c.max_prompt_tokens = 1000;
  workload::ConversationSource src(std::make_unique<Fixed>(20000), c);
  std::uint64_t turns = 0;
  while (src.peek_time() < workload::RequestSource::kNever) {
    const auto r = src.pop();
    src.on_response(r.id, r.time_s);
    ++turns;
  }
  // Mean 3 turns per conversation, sd of the mean = sqrt(6)/sqrt(20000) ~ 0.017 per conversation: 5 sd.
  CHECK(std::fabs(turns / 20000.0 - 3.0) < 0.09);
}

TEST_CASE("conversations: dropped turns end their conversation; history is clamped", "[conversations]") {
  workload::ConversationSpec c;
  c.turns_mean = 1e9;
  c.think_time_s.value = 1;
  c.message_tokens.value = 500;
  c.output_tokens.value = 500;
  c.max_prompt_tokens = 1200;
  workload::ConversationSource src(std::make_unique<Fixed>(2), c);
  const auto a = src.pop();
  src.on_dropped(a.id);
  src.on_response(a.id, 1.0);  // too late: it was dropped
  const auto b = src.pop();
  src.on_response(b.id, 15.0);
  const auto c2 = src.pop();
  CHECK(c2.prompt_tokens == 650);  // 100 + 50 + 500
  src.on_response(c2.id, 20.0);
  CHECK(src.pop().prompt_tokens == 1200);  // 650 + 500 + 500 = 1650, clamped
}

TEST_CASE("conversations: turns share their history's prefix; a cut history starts another", "[conversations]") {
  namespace px = workload::prefix;
  workload::ConversationSpec c;
  c.turns_mean = 1e9;
  c.think_time_s.value = 1;
  c.message_tokens.value = 500;
  c.output_tokens.value = 500;
  c.max_prompt_tokens = 1200;
  workload::ConversationSource src(std::make_unique<Fixed>(2), c);
  const auto a = src.pop(), b = src.pop();  // two conversations
  CHECK(px::conversation(a.prefix) != 0);
  CHECK(px::conversation(b.prefix) != px::conversation(a.prefix));
  src.on_response(a.id, 30.0);
  const auto a2 = src.pop();
  CHECK(a2.prefix == a.prefix);  // the same history, extended: 100 + 50 + 500
  src.on_response(a2.id, 40.0);
  const auto a3 = src.pop();  // 650 + 500 + 500 = 1650 > 1200: cut, no longer a prefix of the last
  CHECK(a3.prompt_tokens == 1200);
  CHECK(px::conversation(a3.prefix) != px::conversation(a.prefix));
  CHECK(px::conversation(a3.prefix) != px::conversation(b.prefix));
  src.on_response(a3.id, 50.0);
  CHECK(src.pop().prefix != a3.prefix);  // 1200 + 500 + 500: cut again
}
