#include "study/points.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>

#include "core/error.hpp"
#include "study/feasibility.hpp"

namespace chatdc::study {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::vector<std::string> split_top_level(const std::string& text, char sep, bool* balanced) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (const char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
      cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      cur += c;
    } else if (c == '[' || c == '{') {
      ++depth;
      cur += c;
    } else if (c == ']' || c == '}') {
      --depth;
      cur += c;
    } else if (c == sep && depth <= 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  *balanced = quote == 0 && depth == 0;
  return out;
}

std::vector<std::string> split_overrides(const std::string& text, const std::string& what) {
  bool balanced = true;
  std::vector<std::string> out;
  for (std::string item : split_top_level(text, ' ', &balanced)) {
    bool b2 = true;
    for (std::string t : split_top_level(item, '\t', &b2)) {
      t = trim(t);
      if (!t.empty()) out.push_back(t);
    }
  }
  if (!balanced) throw Error(fmt::format("{}: unbalanced quotes or brackets", what));
  for (const auto& o : out) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("{}: \"{}\" is not key.path=value", what, o));
  }
  return out;
}

namespace {

/// A finite number filling the whole text.
bool to_number(const std::string& text, double* out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) return false;
  // strtod also reads "inf", "nan" and hex: accept plain decimal notation only.
  for (const char c : t)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
      return false;
  *out = v;
  return true;
}

bool whole(double v) { return std::fabs(v - std::round(v)) < 1e-9 && std::fabs(v) < 1e15; }

std::string format_value(double v, bool integers) {
  if (integers) return fmt::format("{}", static_cast<long long>(std::llround(v)));
  std::string s = fmt::format("{:.12g}", v);
  return s;
}

constexpr std::size_t kMaxRange = 10000;

}  // namespace

Axis parse_axis(const std::string& option, const std::string& text) {
  Axis a;
  a.option = option;
  a.text = text;
  const std::string where = fmt::format("{} \"{}\"", option, text);
  const auto eq = text.find('=');
  if (eq == std::string::npos)
    throw Error(fmt::format("{}: expected KEY=V1,V2,... or KEY=START:STOP[:STEP] (e.g. {} "
                            "platform.regions[0].datacenters[0].racks=8:64:8)",
                            where, option));
  a.key = trim(text.substr(0, eq));
  if (a.key.empty()) throw Error(fmt::format("{}: no key before '='", where));
  for (const char c : a.key)
    if (std::isspace(static_cast<unsigned char>(c))) throw Error(fmt::format("{}: the key \"{}\" contains a blank", where, a.key));
  bool balanced = true;
  const auto items = split_top_level(text.substr(eq + 1), ',', &balanced);
  if (!balanced) throw Error(fmt::format("{}: unbalanced quotes or brackets", where));
  std::set<std::string> seen;
  for (const auto& raw : items) {
    const std::string item = trim(raw);
    if (item.empty()) throw Error(fmt::format("{}: an empty value (two commas in a row, or a comma at an end)", where));
    std::vector<std::string> expanded;
    bool range_syntax = item.find(':') != std::string::npos && item.find_first_of("[{'\"") == std::string::npos;
    if (range_syntax) {
      bool ok = true;
      const auto parts = split_top_level(item, ':', &ok);
      std::vector<double> v(parts.size());
      for (std::size_t i = 0; i < parts.size() && range_syntax; ++i) range_syntax = to_number(parts[i], &v[i]);
      if (range_syntax && parts.size() != 2 && parts.size() != 3)
        throw Error(fmt::format("{}: \"{}\": a range is START:STOP or START:STOP:STEP", where, item));
      if (range_syntax) {
        const double start = v[0], stop = v[1], step = parts.size() == 3 ? v[2] : 1.0;
        if (!(step > 0)) throw Error(fmt::format("{}: \"{}\": the step must be > 0, got {}", where, item, trim(parts[2])));
        if (stop < start) throw Error(fmt::format("{}: \"{}\": STOP ({}) is below START ({})", where, item, trim(parts[1]), trim(parts[0])));
        const double n = std::floor((stop - start) / step * (1 + 1e-12) + 1e-9) + 1;
        if (n > static_cast<double>(kMaxRange))
          throw Error(fmt::format("{}: \"{}\": {} values, more than {} in one range", where, item, grouped(n), kMaxRange));
        const bool integers = whole(start) && whole(step);
        for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) expanded.push_back(format_value(start + step * i, integers));
      }
    }
    if (!range_syntax) expanded.push_back(item);
    for (const auto& e : expanded) {
      if (!seen.insert(e).second) throw Error(fmt::format("{}: the value {} is given twice", where, e));
      a.values.push_back(e);
    }
  }
  return a;
}

std::vector<Assignment> expand(const std::vector<Axis>& grids, const std::vector<Axis>& zips, std::size_t max_points) {
  std::set<std::string> keys;
  for (const auto* list : {&grids, &zips})
    for (const auto& a : *list)
      if (!keys.insert(a.key).second)
        throw Error(fmt::format("{} \"{}\": the key {} is varied twice (give each key in one --grid or --zip)", a.option,
                                a.text, a.key));
  for (const auto& z : zips)
    if (z.values.size() != zips.front().values.size())
      throw Error(fmt::format("--zip \"{}\" has {} values but --zip \"{}\" has {}: zipped lists vary together and need "
                              "the same length",
                              z.text, z.values.size(), zips.front().text, zips.front().values.size()));
  double count = 1;
  for (const auto& g : grids) count *= static_cast<double>(g.values.size());
  if (!zips.empty()) count *= static_cast<double>(zips.front().values.size());
  if (count > static_cast<double>(max_points))
    throw Error(fmt::format("the sweep has {} points, more than {}: narrow the --grid and --zip lists", grouped(count),
                            max_points));
  std::vector<Assignment> out(1);
  for (const auto& g : grids) {
    std::vector<Assignment> next;
    for (const auto& a : out)
      for (const auto& v : g.values) {
        Assignment b = a;
        b.emplace_back(g.key, v);
        next.push_back(std::move(b));
      }
    out = std::move(next);
  }
  if (!zips.empty()) {
    std::vector<Assignment> next;
    for (const auto& a : out)
      for (std::size_t i = 0; i < zips.front().values.size(); ++i) {
        Assignment b = a;
        for (const auto& z : zips) b.emplace_back(z.key, z.values[i]);
        next.push_back(std::move(b));
      }
    out = std::move(next);
  }
  if (grids.empty() && zips.empty()) out.clear();
  return out;
}

std::vector<std::string> short_names(const std::vector<std::string>& keys) {
  // Path components split on '.' outside brackets.
  std::vector<std::vector<std::string>> parts;
  for (const auto& k : keys) {
    bool b = true;
    parts.push_back(split_top_level(k, '.', &b));
  }
  std::vector<std::size_t> depth(keys.size(), 1);
  auto name = [&](std::size_t i) {
    std::string s;
    const auto& p = parts[i];
    for (std::size_t j = p.size() - std::min(depth[i], p.size()); j < p.size(); ++j) s += (s.empty() ? "" : ".") + p[j];
    return s;
  };
  for (bool clash = true; clash;) {
    clash = false;
    std::map<std::string, std::vector<std::size_t>> by;
    for (std::size_t i = 0; i < keys.size(); ++i) by[name(i)].push_back(i);
    for (const auto& [n, idx] : by)
      if (idx.size() > 1)
        for (const auto i : idx)
          if (depth[i] < parts[i].size()) {
            ++depth[i];
            clash = true;
          }
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < keys.size(); ++i) out.push_back(name(i));
  return out;
}

std::string folder_name(const std::string& label) {
  std::string f;
  for (const char c : label)
    f += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' || c == '-' || c == '=') ? c : '_';
  if (f.empty() || f == "." || f == "..") f = "run";
  constexpr std::size_t kMax = 100;
  if (f.size() > kMax) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64 of the whole label
    for (const char c : label) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    f = f.substr(0, kMax - 17) + "-" + fmt::format("{:016x}", h);
  }
  return f;
}

}  // namespace chatdc::study
