#include "core/csv.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

namespace chatdc {

bool parse_number(std::string_view field, double* out) {
  while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
  while (!field.empty() && field.back() == ' ') field.remove_suffix(1);
  if (field.empty()) return false;
  const std::string s(field);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

}  // namespace chatdc
