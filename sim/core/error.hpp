// Pure core: the one exception type for problems a user can fix (bad input, impossible configuration).
// Internal invariants use assert(); user input is never checked with assert.
#pragma once
#include <stdexcept>
#include <string>

namespace chatdc {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace chatdc
