// libFuzzer harness: the scenario reader with --set overrides (README "Tests", "Fuzzing").
// Input: scenario text, then up to 4 overrides each after a NUL byte ("key.path=value").
// Any exception other than chatdc::Error (a located error for the user) is a finding: it escapes and
// libFuzzer reports it, as it reports crashes, sanitizer errors, hangs (-timeout) and memory (-rss_limit_mb).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config/scenario.hpp"
#include "core/error.hpp"

// Throughput: a small quarantine and short allocation stacks (ASan's defaults spend most of the time on
// page faults and stack traces here); every error is still caught.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=16:malloc_context_size=4:max_malloc_fill_size=0"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  std::size_t at = 0;
  for (;;) {
    const auto nul = input.find('\0', at);
    parts.push_back(input.substr(at, nul - at));
    if (nul == std::string::npos || parts.size() == 5) break;
    at = nul + 1;
  }
  const std::string text = parts.front();
  const std::vector<std::string> overrides(parts.begin() + 1, parts.end());
  // Relative paths resolve beside the fixtures, so seeds that name ../../workloads/traces/... find them.
  static const std::string file = std::string(CHATDC_SOURCE_DIR) + "/tests/fixtures/fuzz.yaml";
  try {
    const chatdc::config::Scenario s = chatdc::config::load_scenario_text(file, &text, overrides);
    (void)chatdc::config::resolved_yaml(s);  // what scenario.resolved.yaml would hold
  } catch (const chatdc::Error&) {
  }
  return 0;
}
