// Pure core: splitting one CSV line (RFC 4180 quoting: "a,b" and "" for a quote inside quotes).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace chatdc {

/// Splits a CSV line into fields; returns false on an unterminated quote. A trailing '\r' is ignored.
inline bool split_csv_line(std::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields->push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  fields->push_back(std::move(cur));
  return !quoted;
}

/// Parses a finite number filling the whole field (surrounding spaces allowed).
bool parse_number(std::string_view field, double* out);

}  // namespace chatdc
