// Config layer: strict, located reading of YAML documents (scenarios and catalogs).
//
// A Reader wraps one YAML map at a key path. Every accessor
//   * checks type and range and records a problem naming file:line:column, the key path, the value
//     and what was expected (all problems are collected, none throws),
//   * writes the value actually used (given or default) into the "resolved" tree, which becomes
//     scenario.resolved.yaml.
// finish() reports keys nobody asked for ("unknown key", with the nearest valid name).
// Values that came from `--set key.path=value` are located as "--set key.path=value".
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace chatdc::config {

class Diagnostics {
 public:
  void add(const std::string& where, const std::string& path, const std::string& message);
  bool empty() const { return problems_.empty(); }
  std::size_t size() const { return problems_.size(); }
  void append(const Diagnostics& other) { problems_.insert(problems_.end(), other.problems_.begin(), other.problems_.end()); }
  /// All problems, one per line: "where: path: message".
  std::string report() const;

 private:
  std::vector<std::string> problems_;
};

/// A loaded YAML file (or an in-memory text) with the key paths that --set overrode.
struct Document {
  std::string file;
  YAML::Node root;
  std::map<std::string, std::string> overrides;  // normalised key path -> "--set a.b=c"
};

/// Largest scenario or catalog file (they are a few KB): bounds yaml-cpp's memory and time before parsing.
inline constexpr std::size_t kMaxYamlBytes = 1 << 20;
/// Longest "--set key.path=value".
inline constexpr std::size_t kMaxOverrideBytes = 1 << 16;

/// Loads a YAML file; a missing, non-regular, oversized or non-UTF-8 file or a syntax error becomes a
/// problem (returns false).
bool load_document(const std::string& file, Document* doc, Diagnostics* diag);
/// A document that is only ever read (catalogs, region presets, profiles): parsed once per process while
/// the file keeps its size and modification time (a long-lived process, such as a fuzzer, loads
/// the catalogs on every scenario).
bool load_shared_document(const std::string& file, Document* doc, Diagnostics* diag);
/// The same from text in memory; `file` names it in messages.
bool load_document_text(const std::string& file, const std::string& text, Document* doc, Diagnostics* diag);
/// Reads a whole regular file of at most max_bytes; problems go to diag (returns false).
bool read_text_file(const std::string& file, std::size_t max_bytes, std::string* text, Diagnostics* diag);

/// Applies one "--set key.path=value" to the document (lists by [index] or [name]).
bool apply_override(const std::string& assignment, Document* doc, Diagnostics* diag);

/// A numeric range for checks, with its description for messages ("> 0", "in [0, 1]").
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  static Range any() { return {}; }
  static Range positive() { return {0, std::numeric_limits<double>::infinity(), true, false}; }
  static Range non_negative() { return {0, std::numeric_limits<double>::infinity(), false, false}; }
  static Range at_least(double v) { return {v, std::numeric_limits<double>::infinity(), false, false}; }
  static Range between(double a, double b) { return {a, b, false, false}; }
  static Range fraction() { return {0, 1, false, false}; }             // [0, 1]
  static Range open_fraction() { return {0, 1, true, false}; }         // (0, 1]
  bool contains(double v) const;
  std::string describe() const;
};

/// Test hook: sees the key path and range of every number a Reader checks (nullptr: none). The test
/// suite uses it to hold every quantity to an upper bound.
using RangeObserver = void (*)(const std::string& path, const Range& range);
void set_range_observer(RangeObserver observer);

class Reader {
 public:
  /// The root map of a document.
  Reader(const Document& doc, Diagnostics& diag, YAML::Node resolved);

  const std::string& path() const { return path_; }
  const Document& document() const { return *doc_; }
  Diagnostics& diagnostics() const { return *diag_; }
  bool valid() const { return valid_; }
  bool has(const std::string& key) const;
  /// Where this map (or one of its keys) is, for messages.
  std::string where(const std::string& key = "") const;
  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  void error(const std::string& key, const std::string& message) const;

  double number(const std::string& key, double def, Range r = Range::any());
  std::optional<double> optional_number(const std::string& key, Range r = Range::any());
  double required_number(const std::string& key, Range r = Range::any());
  std::int64_t integer(const std::string& key, std::int64_t def, Range r = Range::any());
  std::optional<std::int64_t> optional_integer(const std::string& key, Range r = Range::any());
  std::int64_t required_integer(const std::string& key, Range r = Range::any());
  bool boolean(const std::string& key, bool def);
  std::string text(const std::string& key, const std::string& def, const std::vector<std::string>& allowed = {});
  std::optional<std::string> optional_text(const std::string& key, const std::vector<std::string>& allowed = {});
  std::string required_text(const std::string& key, const std::vector<std::string>& allowed = {});
  /// A list of numbers; `count` = 0 accepts any non-empty length.
  std::optional<std::vector<double>> numbers(const std::string& key, std::size_t count, Range r = Range::any());
  /// A list of text values; `count` = 0 accepts any non-empty length.
  std::optional<std::vector<std::string>> texts(const std::string& key, std::size_t count);
  /// True when the key holds a scalar (vs. a map or list); false when absent.
  bool is_scalar(const std::string& key) const;
  bool is_map(const std::string& key) const;
  bool is_list(const std::string& key) const;

  /// A nested map. When absent: an empty reader (every accessor gives defaults), or a problem if required.
  Reader child(const std::string& key, bool required = false);
  /// A list of maps.
  std::vector<Reader> children(const std::string& key, bool required = false);
  /// Keys of this map, in file order (for maps keyed by name, such as catalogs).
  std::vector<std::string> keys() const;
  /// Marks a key as known without reading it (read by someone else).
  void accept(const std::string& key) { used_.insert(key); }
  /// Report unknown and duplicate keys. Call once every key has been read.
  void finish();

  /// The resolved tree of this map.
  YAML::Node resolved() const { return resolved_; }
  /// Records an extra resolved value (for values computed at load time, such as defaults derived from others).
  template <class T>
  void set_resolved(const std::string& key, const T& value) { resolved_[key] = value; }

 private:
  Reader(const Document* doc, Diagnostics* diag, YAML::Node node, std::string path, YAML::Node resolved, bool valid);
  const YAML::Node get(const std::string& key);
  std::string where_of(const std::string& path, const YAML::Node& node) const;
  std::string show(const YAML::Node& n) const;
  bool to_number(const std::string& key, const YAML::Node& n, double* out);
  void put_number(const std::string& key, double v);
  void observe(const std::string& key, const Range& r) const;

  const Document* doc_;
  Diagnostics* diag_;
  YAML::Node node_;
  std::string path_;
  YAML::Node resolved_;
  bool valid_;
  std::set<std::string> used_;
};

/// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(const std::string& a, const std::string& b);

/// Shortest text that reads back as the same double ("0.62", "1e+06").
std::string format_number(double v);

}  // namespace chatdc::config
