#include "config/reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/utf8.hpp"

namespace chatdc::config {

void Diagnostics::add(const std::string& where, const std::string& path, const std::string& message) {
  std::string line = where;
  if (!path.empty()) line += (line.empty() ? "" : ": ") + path;
  line += (line.empty() ? "" : ": ") + message;
  problems_.push_back(std::move(line));
}

std::string Diagnostics::report() const {
  std::string out;
  for (const auto& p : problems_) out += p + "\n";
  return out;
}

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

namespace {

/// Line and column (1-based) of byte `at` of `text`.
std::pair<std::size_t, std::size_t> line_col(std::string_view text, std::size_t at) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return {line, col};
}

}  // namespace

bool load_document_text(const std::string& file, const std::string& text, Document* doc, Diagnostics* diag) {
  doc->file = file;
  if (text.size() > kMaxYamlBytes) {
    diag->add(file, "", fmt::format("the file has {} bytes, more than the {} a scenario or catalog may have (they are "
                                    "a few KB): is it the right file?", text.size(), kMaxYamlBytes));
    return false;
  }
  if (const auto bad = invalid_utf8_at(text); bad != std::string_view::npos) {
    const auto [line, col] = line_col(text, bad);
    diag->add(fmt::format("{}:{}:{}", file, line, col), "",
              fmt::format("not valid UTF-8 text (byte 0x{:02x}): save the file as UTF-8", static_cast<unsigned char>(text[bad])));
    return false;
  }
  try {
    doc->root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diag->add(fmt::format("{}:{}:{}", file, e.mark.line + 1, e.mark.column + 1), "", "YAML syntax error: " + e.msg);
    return false;
  }
  if (!doc->root.IsMap()) {
    diag->add(file, "", "expected a YAML map of keys at the top level");
    return false;
  }
  return true;
}

bool load_document(const std::string& file, Document* doc, Diagnostics* diag) {
  doc->file = file;
  std::string text;
  if (!read_text_file(file, kMaxYamlBytes, &text, diag)) return false;
  return load_document_text(file, text, doc, diag);
}

bool load_shared_document(const std::string& file, Document* doc, Diagnostics* diag) {
  struct Entry {
    std::filesystem::file_time_type mtime;
    std::uintmax_t size = 0;
    bool ok = false;
    Document doc;
    Diagnostics problems;
  };
  static std::map<std::string, Entry> cache;
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(file, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(file, ec);
  if (ec || !std::filesystem::is_regular_file(file, ec)) return load_document(file, doc, diag);  // reports why
  auto it = cache.find(file);
  if (it == cache.end() || it->second.mtime != mtime || it->second.size != size) {
    Entry e;
    e.mtime = mtime;
    e.size = size;
    e.ok = load_document(file, &e.doc, &e.problems);
    it = cache.insert_or_assign(file, std::move(e)).first;
  }
  *doc = it->second.doc;  // shares the parsed nodes: callers only read them
  diag->append(it->second.problems);
  return it->second.ok;
}

bool read_text_file(const std::string& file, std::size_t max_bytes, std::string* text, Diagnostics* diag) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::exists(status)) {
    diag->add(file, "", "cannot open the file (does it exist and is it readable?)");
    return false;
  }
  if (!std::filesystem::is_regular_file(status)) {
    diag->add(file, "", std::filesystem::is_directory(status) ? "expected a file, got a folder"
                                                              : "expected a regular file (not a device, pipe or socket)");
    return false;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    diag->add(file, "", "cannot open the file (does it exist and is it readable?)");
    return false;
  }
  text->clear();
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text->append(buf, static_cast<std::size_t>(in.gcount()));
    if (text->size() > max_bytes) {
      diag->add(file, "", fmt::format("the file is larger than {} bytes (a scenario or catalog is a few KB): is it the "
                                      "right file?", max_bytes));
      return false;
    }
  }
  if (in.bad()) {
    diag->add(file, "", "cannot read the file");
    return false;
  }
  return true;
}

namespace {

struct Step {
  std::string key;
  bool has_selector = false;
  std::string selector;
};

bool split_path(const std::string& path, std::vector<Step>* steps) {
  std::size_t i = 0;
  while (i < path.size()) {
    Step s;
    while (i < path.size() && path[i] != '.' && path[i] != '[') s.key += path[i++];
    if (s.key.empty()) return false;
    if (i < path.size() && path[i] == '[') {
      const std::size_t close = path.find(']', i);
      if (close == std::string::npos || close == i + 1) return false;
      s.has_selector = true;
      s.selector = path.substr(i + 1, close - i - 1);
      i = close + 1;
    }
    steps->push_back(s);
    if (i < path.size()) {
      if (path[i] != '.') return false;
      if (++i == path.size()) return false;
    }
  }
  return !steps->empty();
}

bool is_index(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool apply_override(const std::string& assignment, Document* doc, Diagnostics* diag) {
  const std::string where = "--set " + escaped(assignment, 200);
  if (assignment.size() > kMaxOverrideBytes) {
    diag->add(where, "", fmt::format("longer than {} characters", kMaxOverrideBytes));
    return false;
  }
  if (invalid_utf8_at(assignment) != std::string_view::npos) {
    diag->add(where, "", "not valid UTF-8 text");
    return false;
  }
  const auto eq = assignment.find('=');
  std::vector<Step> steps;
  if (eq == std::string::npos || eq == 0 || !split_path(assignment.substr(0, eq), &steps)) {
    diag->add(where, "", "expected KEY.PATH=VALUE, for example --set workload.requests_per_day=2e6 "
                         "or --set platform.regions[0].datacenters[east-1].racks=8");
    return false;
  }
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    diag->add(where, "", "the value is not valid YAML: " + e.msg);
    return false;
  }
  YAML::Node cur;
  cur.reset(doc->root);
  std::string norm;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    const bool last = i + 1 == steps.size();
    norm += (norm.empty() ? "" : ".") + s.key;
    if (!cur.IsMap()) {
      diag->add(where, norm, "cannot set a key inside a value that is not a map");
      return false;
    }
    if (!s.has_selector) {
      if (last) {
        cur[s.key] = value;
      } else {
        if (!cur[s.key].IsDefined() || cur[s.key].IsNull()) cur[s.key] = YAML::Node(YAML::NodeType::Map);
        YAML::Node next = cur[s.key];
        cur.reset(next);
      }
      continue;
    }
    YAML::Node list = cur[s.key];
    if (!list.IsSequence()) {
      diag->add(where, norm, "is not a list, so [" + s.selector + "] cannot select an item");
      return false;
    }
    std::size_t index = list.size();
    if (is_index(s.selector)) {
      std::uint64_t i = 0;  // a too large index selects no item (from_chars fails or i >= size)
      const auto r = std::from_chars(s.selector.data(), s.selector.data() + s.selector.size(), i);
      index = r.ec == std::errc() && i < list.size() ? static_cast<std::size_t>(i) : list.size();
    } else {
      for (std::size_t k = 0; k < list.size(); ++k)
        if (const YAML::Node& item = list[k]; item.IsMap()) {
          const YAML::Node name = item["name"];  // invalid (not just undefined) when missing: IsDefined() first
          if (name.IsDefined() && name.IsScalar() && name.Scalar() == s.selector) index = k;
        }
    }
    if (index >= list.size()) {
      diag->add(where, norm, fmt::format("has {} item(s); no item [{}]", list.size(), s.selector));
      return false;
    }
    norm += fmt::format("[{}]", index);
    if (last) {
      list[index] = value;
    } else {
      YAML::Node next = list[index];
      cur.reset(next);
    }
  }
  doc->overrides[norm] = where;
  return true;
}

namespace {
RangeObserver g_range_observer = nullptr;

/// Whole numbers are read as int64 and cast to int or uint32 by the callers: an unbounded side of their
/// range is bounded by int32's, so no cast can wrap.
Range whole(Range r) {
  if (!std::isfinite(r.lo)) r.lo = std::numeric_limits<std::int32_t>::min(), r.lo_open = false;
  if (!std::isfinite(r.hi)) r.hi = std::numeric_limits<std::int32_t>::max(), r.hi_open = false;
  return r;
}
}  // namespace

void set_range_observer(RangeObserver f) { g_range_observer = f; }

void Reader::observe(const std::string& key, const Range& r) const {
  if (g_range_observer) g_range_observer(key_path(key), r);
}

bool Range::contains(double v) const {
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

namespace {
/// A bound as people write it: 1e11 rather than 100000000000.
std::string bound_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) >= 1e7) {
    for (int e = 15; e >= 3; --e) {
      const double m = v / std::pow(10.0, e);
      if (m == std::floor(m) && std::fabs(m) < 1000) return fmt::format("{}e{}", static_cast<long long>(m), e);
    }
  }
  return format_number(v);
}
}  // namespace

std::string Range::describe() const {
  const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (has_lo && has_hi)
    return fmt::format("in {}{}, {}{}", lo_open ? "(" : "[", bound_text(lo), bound_text(hi), hi_open ? ")" : "]");
  if (has_lo) return fmt::format("{} {}", lo_open ? ">" : ">=", bound_text(lo));
  if (has_hi) return fmt::format("{} {}", hi_open ? "<" : "<=", bound_text(hi));
  return "any number";
}

Reader::Reader(const Document& doc, Diagnostics& diag, YAML::Node resolved)
    : doc_(&doc), diag_(&diag), node_(doc.root), path_(""), resolved_(resolved), valid_(doc.root.IsMap()) {}

Reader::Reader(const Document* doc, Diagnostics* diag, YAML::Node node, std::string path, YAML::Node resolved, bool valid)
    : doc_(doc), diag_(diag), node_(node), path_(std::move(path)), resolved_(resolved), valid_(valid) {}

bool Reader::has(const std::string& key) const {
  if (!valid_ || !node_.IsMap()) return false;
  const YAML::Node& n = node_;
  return n[key].IsDefined();
}

bool Reader::is_scalar(const std::string& key) const { return has(key) && static_cast<const YAML::Node&>(node_)[key].IsScalar(); }
bool Reader::is_map(const std::string& key) const { return has(key) && static_cast<const YAML::Node&>(node_)[key].IsMap(); }
bool Reader::is_list(const std::string& key) const { return has(key) && static_cast<const YAML::Node&>(node_)[key].IsSequence(); }

const YAML::Node Reader::get(const std::string& key) {
  used_.insert(key);
  if (!valid_ || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& n = node_;
  return n[key];
}

std::string Reader::where_of(const std::string& path, const YAML::Node& node) const {
  for (const auto& [p, s] : doc_->overrides) {
    if (path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 &&
                      (path[p.size()] == '.' || path[p.size()] == '[')))
      return s;
  }
  if (node.IsDefined() && node.Mark().line >= 0)
    return fmt::format("{}:{}:{}", doc_->file, node.Mark().line + 1, node.Mark().column + 1);
  // A key that only a --set made (a.b when --set a.b.c=1 created it): located at that --set.
  for (const auto& [p, s] : doc_->overrides)
    if (p.size() > path.size() && p.compare(0, path.size(), path) == 0 && (p[path.size()] == '.' || p[path.size()] == '['))
      return s;
  return doc_->file;
}

std::string Reader::where(const std::string& key) const {
  if (!key.empty() && has(key)) {
    const YAML::Node& n = node_;
    return where_of(key_path(key), n[key]);
  }
  return where_of(path_, node_);
}

void Reader::error(const std::string& key, const std::string& message) const {
  diag_->add(where(key), key.empty() ? path_ : key_path(key), message);
}

std::string Reader::show(const YAML::Node& n) const {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return fmt::format("a list of {}", n.size());
  return "\"" + n.Scalar() + "\"";
}

bool Reader::to_number(const std::string& key, const YAML::Node& n, double* out) {
  double v = 0;
  bool ok = n.IsScalar();
  if (ok) {
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      ok = false;
    }
  }
  if (!ok || !std::isfinite(v)) {
    error(key, "expected a number, got " + show(n));
    return false;
  }
  *out = v;
  return true;
}

void Reader::put_number(const std::string& key, double v) { resolved_[key] = format_number(v); }

std::optional<double> Reader::optional_number(const std::string& key, Range r) {
  observe(key, r);
  const YAML::Node n = get(key);
  if (!n.IsDefined()) return std::nullopt;
  double v;
  if (!to_number(key, n, &v)) return std::nullopt;
  if (!r.contains(v)) {
    error(key, fmt::format("expected a number {}, got {}", r.describe(), n.Scalar()));
    return std::nullopt;
  }
  put_number(key, v);
  return v;
}

double Reader::number(const std::string& key, double def, Range r) {
  observe(key, r);
  if (!has(key)) {
    used_.insert(key);
    put_number(key, def);
    return def;
  }
  return optional_number(key, r).value_or(def);
}

double Reader::required_number(const std::string& key, Range r) {
  observe(key, r);
  if (!has(key)) {
    used_.insert(key);
    if (valid_) error(key, fmt::format("missing required key (a number {})", r.describe()));
    return std::isfinite(r.lo) ? r.lo : 0.0;
  }
  return optional_number(key, r).value_or(std::isfinite(r.lo) ? r.lo : 0.0);
}

std::optional<std::int64_t> Reader::optional_integer(const std::string& key, Range r) {
  r = whole(r);
  observe(key, r);
  const YAML::Node n = get(key);
  if (!n.IsDefined()) return std::nullopt;
  double v;
  if (!to_number(key, n, &v)) return std::nullopt;
  if (v != std::floor(v)) {
    error(key, fmt::format("expected a whole number {}, got {}", r.describe(), show(n)));
    return std::nullopt;
  }
  if (!r.contains(v) || std::fabs(v) > 9e15) {
    error(key, fmt::format("expected a whole number {}, got {}", r.describe(), n.Scalar()));
    return std::nullopt;
  }
  put_number(key, v);
  return static_cast<std::int64_t>(v);
}

std::int64_t Reader::integer(const std::string& key, std::int64_t def, Range r) {
  observe(key, whole(r));
  if (!has(key)) {
    used_.insert(key);
    put_number(key, static_cast<double>(def));
    return def;
  }
  return optional_integer(key, r).value_or(def);
}

std::int64_t Reader::required_integer(const std::string& key, Range r) {
  r = whole(r);
  observe(key, r);
  const std::int64_t fallback = std::isfinite(r.lo) ? static_cast<std::int64_t>(std::ceil(r.lo)) : 0;
  if (!has(key)) {
    used_.insert(key);
    if (valid_) error(key, fmt::format("missing required key (a whole number {})", r.describe()));
    return fallback;
  }
  return optional_integer(key, r).value_or(fallback);
}

bool Reader::boolean(const std::string& key, bool def) {
  const YAML::Node n = get(key);
  bool v = def;
  if (n.IsDefined()) {
    bool ok = n.IsScalar();
    if (ok) {
      try {
        v = n.as<bool>();
      } catch (const YAML::Exception&) {
        ok = false;
      }
    }
    if (!ok) {
      error(key, "expected true or false, got " + show(n));
      v = def;
    }
  }
  resolved_[key] = v ? "true" : "false";
  return v;
}

std::optional<std::string> Reader::optional_text(const std::string& key, const std::vector<std::string>& allowed) {
  const YAML::Node n = get(key);
  if (!n.IsDefined()) return std::nullopt;
  if (!n.IsScalar()) {
    error(key, "expected a text value, got " + show(n));
    return std::nullopt;
  }
  const std::string v = n.Scalar();
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    error(key, fmt::format("expected one of {}, got \"{}\"", list, v));
    return std::nullopt;
  }
  resolved_[key] = v;
  return v;
}

std::string Reader::text(const std::string& key, const std::string& def, const std::vector<std::string>& allowed) {
  if (!has(key)) {
    used_.insert(key);
    resolved_[key] = def;
    return def;
  }
  return optional_text(key, allowed).value_or(def);
}

std::string Reader::required_text(const std::string& key, const std::vector<std::string>& allowed) {
  if (!has(key)) {
    used_.insert(key);
    if (valid_) error(key, "missing required key");
    return "";
  }
  return optional_text(key, allowed).value_or("");
}

std::optional<std::vector<double>> Reader::numbers(const std::string& key, std::size_t count, Range r) {
  observe(key, r);
  const YAML::Node n = get(key);
  if (!n.IsDefined()) return std::nullopt;
  if (!n.IsSequence() || n.size() == 0 || (count > 0 && n.size() != count)) {
    error(key, fmt::format("expected a list of {} numbers, got {}", count > 0 ? std::to_string(count) : "one or more", show(n)));
    return std::nullopt;
  }
  std::vector<double> out;
  bool ok = true;
  YAML::Node res(YAML::NodeType::Sequence);
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string item = fmt::format("{}[{}]", key, i);
    double v = 0;
    bool good = n[i].IsScalar();
    if (good) {
      try {
        v = n[i].as<double>();
      } catch (const YAML::Exception&) {
        good = false;
      }
    }
    if (!good || !std::isfinite(v)) {
      diag_->add(where_of(key_path(item), n[i]), key_path(item), "expected a number, got " + show(n[i]));
      ok = false;
    } else if (!r.contains(v)) {
      diag_->add(where_of(key_path(item), n[i]), key_path(item),
                 fmt::format("expected a number {}, got {}", r.describe(), n[i].Scalar()));
      ok = false;
    }
    out.push_back(v);
    res.push_back(format_number(v));
  }
  if (!ok) return std::nullopt;
  res.SetStyle(YAML::EmitterStyle::Flow);
  resolved_[key] = res;
  return out;
}

std::optional<std::vector<std::string>> Reader::texts(const std::string& key, std::size_t count) {
  const YAML::Node n = get(key);
  if (!n.IsDefined()) return std::nullopt;
  bool ok = n.IsSequence() && n.size() > 0 && (count == 0 || n.size() == count);
  std::vector<std::string> out;
  if (ok)
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) ok = false;
      else out.push_back(n[i].Scalar());
    }
  if (!ok) {
    error(key, fmt::format("expected a list of {} text values, got {}", count > 0 ? std::to_string(count) : "one or more", show(n)));
    return std::nullopt;
  }
  YAML::Node res(YAML::NodeType::Sequence);
  for (const auto& v : out) res.push_back(v);
  res.SetStyle(YAML::EmitterStyle::Flow);
  resolved_[key] = res;
  return out;
}

Reader Reader::child(const std::string& key, bool required) {
  const YAML::Node n = get(key);
  YAML::Node res = resolved_[key];
  if (!n.IsDefined()) {
    if (required && valid_) error(key, "missing required section (a map of keys)");
    return Reader(doc_, diag_, YAML::Node(YAML::NodeType::Undefined), key_path(key), res, valid_ && !required);
  }
  if (!n.IsMap()) {
    error(key, "expected a map of keys, got " + show(n));
    return Reader(doc_, diag_, YAML::Node(YAML::NodeType::Undefined), key_path(key), res, false);
  }
  return Reader(doc_, diag_, n, key_path(key), res, true);
}

std::vector<Reader> Reader::children(const std::string& key, bool required) {
  const YAML::Node n = get(key);
  std::vector<Reader> out;
  if (!n.IsDefined()) {
    if (required && valid_) error(key, "missing required list");
    return out;
  }
  if (!n.IsSequence()) {
    error(key, "expected a list, got " + show(n));
    return out;
  }
  resolved_[key] = YAML::Node(YAML::NodeType::Sequence);
  YAML::Node seq = resolved_[key];
  for (std::size_t i = 0; i < n.size(); ++i) {
    const std::string item = fmt::format("{}[{}]", key_path(key), i);
    seq.push_back(YAML::Node(YAML::NodeType::Map));
    YAML::Node res = seq[i];
    if (!n[i].IsMap()) {
      diag_->add(where_of(item, n[i]), item, "expected a map of keys, got " + show(n[i]));
      out.push_back(Reader(doc_, diag_, YAML::Node(YAML::NodeType::Undefined), item, res, false));
      continue;
    }
    out.push_back(Reader(doc_, diag_, n[i], item, res, true));
  }
  return out;
}

std::vector<std::string> Reader::keys() const {
  std::vector<std::string> out;
  if (!valid_ || !node_.IsMap()) return out;
  for (auto it = node_.begin(); it != node_.end(); ++it) out.push_back(it->first.Scalar());
  return out;
}

void Reader::finish() {
  if (!valid_ || !node_.IsMap()) return;
  std::map<std::string, int> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.Scalar();
    const std::string where = where_of(key_path(key), it->first);
    if (++seen[key] == 2) diag_->add(where, key_path(key), "duplicate key (each key may appear once)");
    if (used_.count(key)) continue;
    std::string hint;
    std::size_t best = 3;
    for (const auto& u : used_) {
      const std::size_t d = edit_distance(key, u);
      if (d < best && d <= std::max<std::size_t>(1, u.size() / 3)) {
        best = d;
        hint = u;
      }
    }
    if (hint.empty() && key.size() >= 4)  // a cut-short key: "max_batch" for "max_batch_size"
      for (const auto& u : used_)
        if (u.size() > key.size() && u.compare(0, key.size(), key) == 0) {
          hint = u;
          break;
        }
    std::string valid;
    for (const auto& u : used_) valid += (valid.empty() ? "" : ", ") + u;
    diag_->add(where, key_path(key),
               "unknown key" + (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
                   (valid.empty() ? "" : "; valid keys here: " + valid));
  }
}

}  // namespace chatdc::config
