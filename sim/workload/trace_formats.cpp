// Pure core: the trace format readers (Azure / generic CSV, Mooncake JSONL, ServeGen client windows),
// the validation scan, and the played streams (skip and loop) behind TraceSource. See trace.hpp.
#include "workload/trace_formats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <queue>
#include <string_view>
#include <utility>

#include "core/error.hpp"
#include "core/utf8.hpp"

namespace chatdc::workload::detail {

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Errors and field parsing

/// A problem with one line: skippable with skip_malformed.
class BadLine : public Error {
 public:
  using Error::Error;
};

/// Bad lines found by the validation scan: the first few messages, and how many there were.
struct BadLines {
  static constexpr std::size_t kMaxReported = 20;
  std::vector<std::string> first;
  std::uint64_t count = 0;
  void add(std::string message) {
    if (first.size() < kMaxReported) first.push_back(std::move(message));
    ++count;
  }
};

/// A field or line as shown in a message: at most 60 bytes, anything but printable ASCII as \xNN.
std::string shown(std::string_view v) { return escaped(v, 60); }

[[noreturn]] void bad(const std::string& path, std::uint64_t line, std::string_view field,
                      std::string_view expected, std::string_view got) {
  throw BadLine(fmt::format("{}:{}: {}: expected {}, got \"{}\"", path, line, field, expected, shown(got)));
}

/// Longest line a trace may have (Mooncake lines with hash_ids are a few KB).
constexpr std::size_t kMaxLineBytes = 1 << 20;
/// Most requests one ServeGen window may carry (rate x window length), and the largest rate of a client.
constexpr double kMaxWindowRequests = 1e8, kMaxServeGenRate = 1e5;
/// Largest magnitude of a time value (any unit): trace times stay finite after any subtraction.
constexpr double kMaxTimeValue = 1e18;

enum class LineRead { kOk, kEnd, kTooLong };

/// Reads one line (without its newline) of at most max bytes; a longer line is skipped whole.
LineRead read_line(std::istream& in, std::string& buf, std::size_t max) {
  buf.clear();
  std::streambuf* sb = in.rdbuf();
  bool any = false, too_long = false;
  for (;;) {
    const int c = sb->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      if (!any) return LineRead::kEnd;
      break;
    }
    any = true;
    if (c == '\n') break;
    if (buf.size() >= max) too_long = true;
    else buf.push_back(static_cast<char>(c));
  }
  return too_long ? LineRead::kTooLong : LineRead::kOk;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool blank(std::string_view s) { return trim(s).empty(); }

/// Splits a CSV line on commas, trims blanks and one pair of surrounding double quotes
/// (quoted fields containing commas are not supported).
void split_csv(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  for (;;) {
    const auto comma = line.find(',');
    auto f = trim(line.substr(0, comma));
    if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
    out.push_back(f);
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
  }
}

bool to_double(std::string_view s, double* v) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(*v);
}

bool to_count(std::string_view s, std::uint64_t* v) {
  if (s.empty() || s.size() > 12) return false;
  std::uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *v = x;
  return true;
}

constexpr std::uint64_t kMaxTokens = std::numeric_limits<std::uint32_t>::max();

std::uint32_t parse_tokens(const std::string& path, std::uint64_t line, std::string_view field,
                           std::string_view text) {
  std::uint64_t v = 0;
  if (!to_count(text, &v) || v < 1 || v > kMaxTokens) bad(path, line, field, "a whole number >= 1", text);
  return static_cast<std::uint32_t>(v);
}

double parse_number(const std::string& path, std::uint64_t line, std::string_view field, std::string_view text,
                    double min, std::string_view expected) {
  double v = 0;
  if (!to_double(text, &v) || v < min) bad(path, line, field, expected, text);
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// "YYYY-MM-DD HH:MM:SS[.fraction]" (or a 'T' between date and time), years 1900 to 2200, to nanoseconds
/// since 1970 (no time zone: only differences are used). Fraction digits beyond 9 are ignored.
bool parse_datetime_ns(std::string_view s, std::int64_t* ns) {
  auto num = [&](std::size_t pos, std::size_t n, int* v) {
    if (pos + n > s.size()) return false;
    int x = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
  };
  int y, mo, d, h, mi, se;
  if (s.size() < 19 || !num(0, 4, &y) || s[4] != '-' || !num(5, 2, &mo) || s[7] != '-' || !num(8, 2, &d) ||
      (s[10] != ' ' && s[10] != 'T') || !num(11, 2, &h) || s[13] != ':' || !num(14, 2, &mi) || s[16] != ':' ||
      !num(17, 2, &se))
    return false;
  if (y < 1900 || y > 2200) return false;  // nanoseconds since 1970 fit in 64 bits from 1678 to 2262
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 ||
      se > 59)
    return false;
  std::int64_t frac_ns = 0;
  if (s.size() > 19) {
    if (s[19] != '.' || s.size() == 20) return false;
    std::int64_t scale = 100000000;
    for (std::size_t i = 20; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      frac_ns += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  *ns = ((days * 86400 + h * 3600 + mi * 60 + se) * 1000000000LL) + frac_ns;
  return true;
}

void open_file(std::ifstream& in, const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("{}: trace file not found", path));
  if (fs::is_directory(path, ec)) throw Error(fmt::format("{}: expected a trace file, got a folder", path));
  if (!fs::is_regular_file(path, ec))  // a device or pipe could be endless
    throw Error(fmt::format("{}: expected a regular trace file (not a device, pipe or socket)", path));
  in.close();
  in.clear();
  in.open(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open the trace file for reading", path));
}

// ---------------------------------------------------------------------------------------------
// Per-request formats: one pass over the file gives records in trace time (s since the first request).

struct TraceRecord {
  double t_s = 0;
  std::uint32_t prompt_tokens = 0;
  std::uint32_t output_tokens = 1;
  std::uint64_t line = 0;  // data line of the file (0-based; blank lines and the header not counted)
};

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  /// The next valid record of this pass; false at the end of the file.
  virtual bool next(TraceRecord& r) = 0;
  /// Start a new pass at the top of the file.
  virtual void rewind() = 0;
  virtual const std::string& path() const = 0;
  /// Data lines seen so far in this pass (header and blank lines excluded).
  virtual std::uint64_t data_lines() const = 0;
  /// Bad lines are recorded there and skipped instead of thrown (the validation scan reports them all).
  virtual void collect(BadLines* into) = 0;
  /// Block hashes of the last record (formats that carry them), else nullptr.
  virtual const std::vector<std::uint64_t>* hashes() const { return nullptr; }
};

/// A reader of one record per text line: owns the file, the line count and the skip-malformed loop;
/// the format parses a line (buf_) into a record or throws BadLine.
class LineReader : public RecordReader {
 public:
  LineReader(const TraceOptions& o, TraceStats& stats) : path_(o.path), skip_(o.skip_malformed), stats_(stats) {}

  bool next(TraceRecord& r) final {
    for (LineRead got; (got = read_line(in_, buf_, kMaxLineBytes)) != LineRead::kEnd;) {
      ++line_;
      ++stats_.lines;
      if (got == LineRead::kOk && blank(buf_)) continue;
      ++data_lines_;
      try {
        if (got == LineRead::kTooLong)
          bad(path_, line_, "line", fmt::format("a line of at most {} bytes", kMaxLineBytes), buf_);
        parse(r);
        r.line = data_lines_ - 1;
        return true;
      } catch (const BadLine& e) {
        if (skip_) ++stats_.skipped_malformed;
        else if (collect_) collect_->add(e.what());
        else throw;
      }
    }
    return false;
  }

  void collect(BadLines* into) final { collect_ = into; }

  const std::string& path() const final { return path_; }
  std::uint64_t data_lines() const final { return data_lines_; }

 protected:
  /// Reopens the file at the top and resets the line counts.
  void reopen() {
    open_file(in_, path_);
    line_ = 0;
    data_lines_ = 0;
  }
  virtual void parse(TraceRecord& r) = 0;

  std::string path_;
  bool skip_;
  TraceStats& stats_;
  BadLines* collect_ = nullptr;
  std::ifstream in_;
  std::string buf_;
  std::uint64_t line_ = 0, data_lines_ = 0;
};

/// Azure and generic CSV: a header row names the columns.
class CsvReader final : public LineReader {
 public:
  CsvReader(const TraceOptions& o, TraceStats& stats) : LineReader(o, stats) {
    if (o.format == TraceFormat::kAzure) {
      names_ = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"};
      unit_ = CsvColumns::TimeUnit::kDatetime;
    } else {
      names_ = {o.csv.time, o.csv.prompt, o.csv.output};
      unit_ = o.csv.unit;
    }
    rewind();
  }

  void rewind() override {
    reopen();
    have_prev_ = false;
    std::string header;
    for (;;) {
      const LineRead got = read_line(in_, header, kMaxLineBytes);
      if (got == LineRead::kEnd) throw Error(fmt::format("{}: no requests (the file is empty)", path_));
      if (got == LineRead::kTooLong)
        throw Error(fmt::format("{}:{}: header: expected a line of at most {} bytes", path_, line_ + 1, kMaxLineBytes));
      ++line_;
      ++stats_.lines;
      if (line_ == 1 && header.rfind("\xEF\xBB\xBF", 0) == 0) header.erase(0, 3);  // UTF-8 byte order mark
      if (!blank(header)) break;
    }
    split_csv(header, fields_);
    std::size_t need = 0;
    for (int k = 0; k < 3; ++k) {
      const auto it = std::find(fields_.begin(), fields_.end(), names_[k]);
      if (it == fields_.end()) {
        std::string have;
        for (auto f : fields_) have += (have.empty() ? "" : ",") + std::string(f);
        throw Error(fmt::format("{}:{}: header: expected a column named \"{}\", got \"{}\"", path_, line_,
                                names_[k], shown(have)));
      }
      col_[k] = static_cast<std::size_t>(it - fields_.begin());
      need = std::max(need, col_[k] + 1);
    }
    need_ = need;
  }

 private:
  void parse(TraceRecord& r) override {
    split_csv(buf_, fields_);
    if (fields_.size() < need_)
      bad(path_, line_, "line", fmt::format("at least {} comma-separated fields (truncated line?)", need_),
          buf_);
    const auto tf = fields_[col_[0]];
    const std::string& tname = names_[0];
    const auto out_of_order = [&] {
      bad(path_, line_, tname,
          fmt::format("a time at or after the previous request's \"{}\" (the trace must be sorted by time)",
                      prev_text_),
          tf);
    };
    if (unit_ == CsvColumns::TimeUnit::kDatetime) {
      std::int64_t ns = 0;
      if (!parse_datetime_ns(tf, &ns)) bad(path_, line_, tname, "a date-time YYYY-MM-DD HH:MM:SS[.fraction]", tf);
      if (have_prev_ && ns < prev_ns_) out_of_order();
      parse_tokens_into(r);
      if (!have_origin_) origin_ns_ = ns, have_origin_ = true;
      prev_ns_ = ns;
      r.t_s = static_cast<double>(ns - origin_ns_) * 1e-9;
    } else {
      const bool s = unit_ == CsvColumns::TimeUnit::kSeconds, ms = unit_ == CsvColumns::TimeUnit::kMilliseconds;
      const double factor = s ? 1.0 : ms ? 1e-3 : 1e-6;
      double v = 0;
      if (!to_double(tf, &v) || std::fabs(v) > kMaxTimeValue)
        bad(path_, line_, tname, s ? "a number (seconds)" : ms ? "a number (milliseconds)" : "a number (microseconds)",
            tf);
      if (have_prev_ && v < prev_v_) out_of_order();
      parse_tokens_into(r);
      if (!have_origin_) origin_v_ = v, have_origin_ = true;
      prev_v_ = v;
      r.t_s = (v - origin_v_) * factor;
    }
    have_prev_ = true;
    prev_text_.assign(tf);
  }

  void parse_tokens_into(TraceRecord& r) {
    r.prompt_tokens = parse_tokens(path_, line_, names_[1], fields_[col_[1]]);
    r.output_tokens = parse_tokens(path_, line_, names_[2], fields_[col_[2]]);
  }

  std::array<std::string, 3> names_;
  CsvColumns::TimeUnit unit_ = CsvColumns::TimeUnit::kSeconds;
  std::vector<std::string_view> fields_;
  std::size_t col_[3] = {0, 0, 0}, need_ = 0;
  bool have_prev_ = false;
  // The origin (first valid request) is kept across passes so that every pass has the same times.
  bool have_origin_ = false;
  std::int64_t origin_ns_ = 0, prev_ns_ = 0;
  double origin_v_ = 0, prev_v_ = 0;
  std::string prev_text_;
};

/// Mooncake JSON lines: {"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [...]}.
class MooncakeReader final : public LineReader {
 public:
  MooncakeReader(const TraceOptions& o, TraceStats& stats) : LineReader(o, stats) {
    rewind();
  }

  void rewind() override {
    reopen();
    have_prev_ = false;
  }

  const std::vector<std::uint64_t>* hashes() const override { return &hashes_; }

 private:
  static std::string text_of(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

  void parse(TraceRecord& r) override {
    const auto j = nlohmann::json::parse(buf_, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      bad(path_, line_, "line",
          "a JSON object {\"timestamp\": ms, \"input_length\": n, \"output_length\": n} (truncated line?)",
          trim(buf_));
    const auto field = [&](const char* name) -> const nlohmann::json& {
      const auto it = j.find(name);
      if (it == j.end()) bad(path_, line_, name, "a field of that name (truncated line?)", "");
      return *it;
    };
    const auto& ts = field("timestamp");
    if (!ts.is_number() || !std::isfinite(ts.get<double>()) || std::fabs(ts.get<double>()) > kMaxTimeValue)
      bad(path_, line_, "timestamp", "a number (milliseconds)", text_of(ts));
    const double ms = ts.get<double>();
    if (have_prev_ && ms < prev_ms_)
      bad(path_, line_, "timestamp",
          fmt::format("a time at or after the previous request's {} ms (the trace must be sorted by time)",
                      prev_ms_),
          text_of(ts));
    r.prompt_tokens = tokens(field("input_length"), "input_length");
    r.output_tokens = tokens(field("output_length"), "output_length");
    // hash_ids: the prompt's block hashes (optional): whole numbers, as Mooncake's remapped ids are.
    hashes_.clear();
    if (const auto h = j.find("hash_ids"); h != j.end()) {
      if (!h->is_array()) bad(path_, line_, "hash_ids", "a list of whole numbers >= 0", text_of(*h));
      for (const auto& v : *h) {
        if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
          bad(path_, line_, "hash_ids", "a list of whole numbers >= 0", text_of(v));
        hashes_.push_back(v.get<std::uint64_t>());
      }
    }
    if (!have_origin_) origin_ms_ = ms, have_origin_ = true;
    prev_ms_ = ms;
    have_prev_ = true;
    r.t_s = (ms - origin_ms_) * 1e-3;
  }

  std::uint32_t tokens(const nlohmann::json& v, const char* name) {
    if (v.is_number_unsigned() || v.is_number_integer()) {
      const auto x = v.get<std::int64_t>();
      if (x >= 1 && static_cast<std::uint64_t>(x) <= kMaxTokens) return static_cast<std::uint32_t>(x);
    } else if (v.is_number_float()) {
      const double x = v.get<double>();
      if (x >= 1 && x <= static_cast<double>(kMaxTokens) && x == std::floor(x)) return static_cast<std::uint32_t>(x);
    }
    bad(path_, line_, name, "a whole number >= 1", text_of(v));
  }

  bool have_prev_ = false, have_origin_ = false;
  double prev_ms_ = 0, origin_ms_ = 0;
  std::vector<std::uint64_t> hashes_;
};

/// Spreads records that share a timestamp uniformly at random over the gap to the next distinct timestamp
/// (the last group of a pass uses the mean gap between distinct timestamps). Buffers one group.
class SpreadingReader final : public RecordReader {
 public:
  SpreadingReader(std::unique_ptr<RecordReader> inner, Rng rng) : inner_(std::move(inner)), rng0_(rng), rng_(rng) {}

  bool next(TraceRecord& r) override {
    if (pos_ < group_.size()) {
      r = group_[pos_++];
      return true;
    }
    group_.clear();
    pos_ = 0;
    if (!started_) {
      started_ = true;
      have_look_ = inner_->next(look_);
    }
    if (!have_look_) return false;
    const double t = look_.t_s;
    group_.push_back(look_);
    while ((have_look_ = inner_->next(look_)) && look_.t_s == t) group_.push_back(look_);
    if (groups_ == 0) first_group_t_s_ = t;
    ++groups_;
    if (group_.size() > 1) {
      const double gap = have_look_ ? look_.t_s - t
                                    : (groups_ > 1 ? (t - first_group_t_s_) / static_cast<double>(groups_ - 1) : 0.0);
      if (gap > 0) {
        u_.resize(group_.size());
        for (auto& u : u_) u = rng_.uniform();
        std::sort(u_.begin(), u_.end());
        for (std::size_t k = 0; k < group_.size(); ++k) group_[k].t_s = t + u_[k] * gap;
      }
    }
    r = group_[pos_++];
    return true;
  }

  void rewind() override {
    inner_->rewind();
    rng_ = rng0_;  // every pass spreads alike: a loop's period, taken from the first pass, holds for all
    group_.clear();
    pos_ = 0;
    started_ = have_look_ = false;
    groups_ = 0;
  }
  const std::string& path() const override { return inner_->path(); }
  std::uint64_t data_lines() const override { return inner_->data_lines(); }
  void collect(BadLines* into) override { inner_->collect(into); }

 private:
  std::unique_ptr<RecordReader> inner_;
  Rng rng0_, rng_;
  std::vector<TraceRecord> group_;
  std::vector<double> u_;
  std::size_t pos_ = 0;
  TraceRecord look_;
  bool started_ = false, have_look_ = false;
  std::uint64_t groups_ = 0;
  double first_group_t_s_ = 0;
};

std::unique_ptr<RecordReader> make_record_reader(const TraceOptions& o, TraceStats& stats, bool spread) {
  if (o.format == TraceFormat::kMooncake) {
    auto r = std::make_unique<MooncakeReader>(o, stats);
    if (spread && o.spread_same_timestamp)
      return std::make_unique<SpreadingReader>(std::move(r), Rng::stream(o.seed, "trace/spread"));
    return r;
  }
  return std::make_unique<CsvReader>(o, stats);
}

/// Per-request formats: skip_s and loop over a RecordReader. Every pass plays the same records, so a loop
/// replays the first pass from memory (up to kMaxCachedRecords; beyond that the file is read again) with the
/// same line counts: a long run over a short trace does not re-read the file once per pass.
class RequestPlayer final : public PlayedStream {
 public:
  static constexpr std::size_t kMaxCachedRecords = 1 << 20;

  RequestPlayer(std::unique_ptr<RecordReader> reader, const TraceOptions& o, TraceStats& stats, double cutoff_s,
                TraceStats before, const HashChains* chains)
      : reader_(std::move(reader)), skip_s_(o.skip_s), cutoff_s_(cutoff_s), loop_(o.loop), stats_(stats), chains_(chains),
        caching_(o.loop), base_lines_(before.lines), base_skipped_(before.skipped_malformed) {}

  bool next(PlayedRequest& out) override {
    TraceRecord r;
    for (;;) {
      if (read(r)) {
        if (r.t_s < skip_s_) continue;
        const double rel = r.t_s - skip_s_;
        if (pass_ == 0) {
          if (n_ == 0) first_rel_ = rel;
          last_rel_ = rel;
          ++n_;
        }
        out.t_s = rel + static_cast<double>(pass_) * period_s_;
        out.prompt_tokens = r.prompt_tokens;
        out.output_tokens = r.output_tokens;
        out.prefix = chains_ && chains_->size(r.line) > 0 ? prefix::chain(r.line) : 0;
        return true;
      }
      if (!loop_ || n_ == 0) return false;
      if (pass_ == 0) {
        // The played span (from skip_s to the last request) plus one mean gap between requests.
        const double mean_gap = n_ > 1 ? (last_rel_ - first_rel_) / static_cast<double>(n_ - 1) : 0.0;
        period_s_ = last_rel_ + mean_gap;
        if (!(period_s_ > 0)) return false;  // scan_trace() reports this case
      }
      if (static_cast<double>(pass_ + 1) * period_s_ >= cutoff_s_) return false;  // the run ends first
      ++pass_;
      ++stats_.loops;
      base_lines_ = stats_.lines;
      base_skipped_ = stats_.skipped_malformed;
      pos_ = 0;
      if (!caching_) reader_->rewind();
    }
  }

 private:
  struct Cached {
    TraceRecord r;
    std::uint64_t lines = 0, skipped = 0;  // counted from the start of the pass up to this record
  };

  /// The next record of this pass: from the file (and into the cache on the first pass), or from the cache.
  bool read(TraceRecord& r) {
    if (pass_ > 0 && caching_) {
      const bool got = pos_ < cache_.size();
      const Cached& c = got ? cache_[pos_++] : tail_;
      stats_.lines = base_lines_ + c.lines;
      stats_.skipped_malformed = base_skipped_ + c.skipped;
      if (got) r = c.r;
      return got;
    }
    const bool got = reader_->next(r);
    if (pass_ == 0 && caching_) {
      const Cached c{r, stats_.lines - base_lines_, stats_.skipped_malformed - base_skipped_};
      if (!got) {
        tail_ = c;
      } else if (cache_.size() < kMaxCachedRecords) {
        cache_.push_back(c);
      } else {
        caching_ = false;  // too long to keep: read the file again on each pass
        cache_ = {};
      }
    }
    return got;
  }

  std::unique_ptr<RecordReader> reader_;
  double skip_s_, cutoff_s_;
  bool loop_;
  TraceStats& stats_;
  const HashChains* chains_;
  std::uint64_t pass_ = 0, n_ = 0;
  double first_rel_ = 0, last_rel_ = 0, period_s_ = 0;
  bool caching_;  // a loop keeps the first pass in memory
  std::vector<Cached> cache_;
  Cached tail_;
  std::size_t pos_ = 0;
  std::uint64_t base_lines_, base_skipped_;
};

// ---------------------------------------------------------------------------------------------
// ServeGen: per-client 10-minute windows (timestamp, rate, cv, pattern, shape, scale), no header.

enum class GapFamily { kNone, kGamma, kWeibull, kEven };

struct ServeGenWindow {
  std::uint64_t line = 0;   // of the file
  double t0_s = 0;          // window start, trace time
  double length_s = 600;    // gap to the client's next row (the last row reuses the previous length)
  double rate_per_s = 0;
  GapFamily family = GapFamily::kNone;
  double shape = 1;
};

class ServeGenFile {
 public:
  ServeGenFile(std::string path, bool skip_malformed, TraceStats& stats)
      : path_(std::move(path)), skip_(skip_malformed), stats_(stats) {
    rewind();
  }

  void rewind() {
    open_file(in_, path_);
    line_ = 0;
    have_prev_ts_ = false;
    started_ = have_next_ = false;
    last_length_s_ = 600;
  }

  /// The next window of this client (idle ones included); false at the end of the file.
  bool next(ServeGenWindow& w) {
    if (!started_) {
      started_ = true;
      have_next_ = read_row(next_);
    }
    if (!have_next_) return false;
    w = next_;
    have_next_ = read_row(next_);
    if (have_next_) last_length_s_ = next_.t0_s - w.t0_s;
    w.length_s = last_length_s_;
    if (w.rate_per_s * w.length_s > kMaxWindowRequests) {  // a bad row, found only once the next row gives its length
      try {
        bad(path_, w.line, "rate",
            fmt::format("at most {} requests in one window (rate x window length {} s)", kMaxWindowRequests, w.length_s),
            fmt::format("{}", w.rate_per_s));
      } catch (const BadLine& e) {
        if (skip_) ++stats_.skipped_malformed;
        else if (collect_) collect_->add(e.what());
        else throw;
      }
      w.rate_per_s = 0;
    }
    return true;
  }

  const std::string& path() const { return path_; }
  void collect(BadLines* into) { collect_ = into; }

 private:
  bool read_row(ServeGenWindow& w) {
    for (LineRead got; (got = read_line(in_, buf_, kMaxLineBytes)) != LineRead::kEnd;) {
      ++line_;
      ++stats_.lines;
      if (got == LineRead::kOk && blank(buf_)) continue;
      try {
        if (got == LineRead::kTooLong)
          bad(path_, line_, "line", fmt::format("a line of at most {} bytes", kMaxLineBytes), buf_);
        parse(w);
        w.line = line_;
        return true;
      } catch (const BadLine& e) {
        if (skip_) ++stats_.skipped_malformed;
        else if (collect_) collect_->add(e.what());
        else throw;
      }
    }
    return false;
  }

  void parse(ServeGenWindow& w) {
    split_csv(buf_, f_);
    if (f_.size() != 6)
      bad(path_, line_, "line", "6 comma-separated fields: timestamp,rate,cv,pattern,shape,scale (truncated line?)",
          trim(buf_));
    w.t0_s = parse_number(path_, line_, "timestamp", f_[0], 0, "a window start in seconds >= 0");
    if (w.t0_s > kMaxTimeValue) bad(path_, line_, "timestamp", "a window start in seconds of at most 1e18", f_[0]);
    if (have_prev_ts_ && !(w.t0_s > prev_ts_))
      bad(path_, line_, "timestamp",
          fmt::format("a window start after the previous row's {} s (rows must be sorted by time)", prev_ts_),
          f_[0]);
    w.rate_per_s = parse_number(path_, line_, "rate", f_[1], 0, "a rate in requests/s >= 0");
    if (w.rate_per_s > kMaxServeGenRate)
      bad(path_, line_, "rate", fmt::format("a rate in requests/s of at most {} (one client)", kMaxServeGenRate), f_[1]);
    parse_number(path_, line_, "cv", f_[2], 0, "a coefficient of variation >= 0");
    w.family = GapFamily::kNone;
    if (w.rate_per_s > 0) {
      if (f_[3] == "Gamma") {
        w.family = GapFamily::kGamma;
      } else if (f_[3] == "Weibull") {
        w.family = GapFamily::kWeibull;
      } else {
        bad(path_, line_, "pattern", "Gamma or Weibull (the window has a rate > 0)", f_[3]);
      }
      w.shape = parse_number(path_, line_, "shape", f_[4], 0, "a shape > 0");
      if (!(w.shape > 0) || w.shape > 1e6) bad(path_, line_, "shape", "a shape in (0, 1e6]", f_[4]);
      parse_number(path_, line_, "scale", f_[5], 0, "a scale >= 0");
    }
    prev_ts_ = w.t0_s;
    have_prev_ts_ = true;
  }

  std::string path_;
  bool skip_;
  TraceStats& stats_;
  BadLines* collect_ = nullptr;
  std::ifstream in_;
  std::string buf_;
  std::vector<std::string_view> f_;
  std::uint64_t line_ = 0;
  bool have_prev_ts_ = false, started_ = false, have_next_ = false;
  double prev_ts_ = 0, last_length_s_ = 600;
  ServeGenWindow next_;
};

/// The client files of a ServeGen path: one chunk-<N>-trace.csv, or all of them in a folder sorted by N.
std::vector<std::string> servegen_files(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("{}: ServeGen trace file or folder not found", path));
  if (!fs::is_directory(path, ec)) return {path};
  std::vector<std::pair<std::uint64_t, std::string>> found;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    constexpr std::string_view kPre = "chunk-", kSuf = "-trace.csv";
    if (name.size() <= kPre.size() + kSuf.size() || name.rfind(kPre, 0) != 0 ||
        name.compare(name.size() - kSuf.size(), kSuf.size(), kSuf) != 0)
      continue;
    std::uint64_t n = 0;
    if (!to_count(std::string_view(name).substr(kPre.size(), name.size() - kPre.size() - kSuf.size()), &n))
      continue;
    found.emplace_back(n, e.path().string());
  }
  if (ec) throw Error(fmt::format("{}: cannot list the folder: {}", path, ec.message()));
  if (found.empty()) throw Error(fmt::format("{}: expected chunk-<N>-trace.csv files in the folder, found none", path));
  std::sort(found.begin(), found.end());
  std::vector<std::string> files;
  for (auto& f : found) files.push_back(std::move(f.second));
  return files;
}

/// Requests of window w that fall in trace time [a, b), in expectation (uniform within the window).
double window_requests_in(const ServeGenWindow& w, double a, double b) {
  const double lo = std::max(a, w.t0_s), hi = std::min(b, w.t0_s + w.length_s);
  return hi > lo ? w.rate_per_s * (hi - lo) : 0.0;
}

/// All ServeGen clients merged into one time-ordered stream by a heap over the clients' next arrivals.
class ServeGenPlayer final : public PlayedStream {
 public:
  ServeGenPlayer(const TraceOptions& o, TraceStats& stats, const TraceScan& scan, double cutoff_played_s)
      : skip_s_(o.skip_s),
        period_s_(scan.servegen_end_s - o.skip_s),
        cutoff_s_(cutoff_played_s),
        loop_(o.loop),
        stats_(stats),
        prompt_(o.servegen_prompt),
        output_(o.servegen_output),
        token_rng_(Rng::stream(o.seed, "trace/servegen/tokens")) {
    for (const auto& f : servegen_files(o.path)) {
      Client c;
      c.file = std::make_unique<ServeGenFile>(f, o.skip_malformed, stats);
      c.rng = Rng::stream(o.seed, "trace/servegen/" + fs::path(f).filename().string());
      clients_.push_back(std::move(c));
    }
    for (std::size_t i = 0; i < clients_.size(); ++i)
      if (advance(clients_[i])) heap_.emplace(clients_[i].next_t_s, i);
  }

  bool next(PlayedRequest& out) override {
    if (heap_.empty()) return false;
    const auto [t, i] = heap_.top();
    heap_.pop();
    out.t_s = t;
    out.prompt_tokens = prompt_.sample(token_rng_);
    out.output_tokens = std::max<std::uint32_t>(1, output_.sample(token_rng_));
    if (advance(clients_[i])) heap_.emplace(clients_[i].next_t_s, i);
    return true;
  }

 private:
  struct Client {
    std::unique_ptr<ServeGenFile> file;
    Rng rng, replay;  // replay: a copy of rng taken at the window start, to redraw the window's gaps
    double t0_s = 0, length_s = 0, total = 0, partial = 0;
    std::uint64_t n = 0, i = 0, pass = 0;
    GapFamily family = GapFamily::kNone;
    double shape = 1;
    bool active_in_pass = false;
    double next_t_s = 0;
  };

  static double gap(Rng& rng, GapFamily f, double shape) {
    switch (f) {
      case GapFamily::kGamma: return rng.gamma(shape);
      case GapFamily::kWeibull: return rng.weibull(shape, 1.0);
      default: return 1.0;
    }
  }

  // Moves client c to its next arrival (played time in c.next_t_s); false when it has no more.
  bool advance(Client& c) {
    for (;;) {
      if (c.i < c.n) {
        c.partial += gap(c.replay, c.family, c.shape);
        ++c.i;
        // Inside [t0, t0 + length): with very bursty gaps the last ones can round onto the window's end.
        const double end = c.t0_s + c.length_s;
        const double t = std::min(c.t0_s + c.length_s * (c.partial / c.total), std::nextafter(end, c.t0_s));
        if (t < skip_s_) continue;
        c.next_t_s = (t - skip_s_) + static_cast<double>(c.pass) * period_s_;
        return true;
      }
      ServeGenWindow w;
      if (!c.file->next(w)) {
        if (!loop_ || !c.active_in_pass || static_cast<double>(c.pass + 1) * period_s_ >= cutoff_s_) return false;
        c.file->rewind();
        ++c.pass;
        c.active_in_pass = false;
        stats_.loops = std::max(stats_.loops, c.pass);
        continue;
      }
      if (!(w.rate_per_s > 0) || w.t0_s + w.length_s <= skip_s_) continue;
      if (std::max(w.t0_s, skip_s_) - skip_s_ + static_cast<double>(c.pass) * period_s_ >= cutoff_s_) return false;
      // N = rate * length requests: whole in ServeGen's files; otherwise rounded up with probability frac.
      const double x = w.rate_per_s * w.length_s;
      double whole = std::nearbyint(x);
      if (std::abs(x - whole) > 1e-6 * std::max(1.0, x)) {
        whole = std::floor(x);
        if (c.rng.uniform() < x - whole) whole += 1;
      }
      if (whole < 1) continue;
      c.active_in_pass = true;
      c.n = static_cast<std::uint64_t>(whole);
      c.i = 0;
      c.t0_s = w.t0_s;
      c.length_s = w.length_s;
      c.family = w.family;
      c.shape = w.shape;
      // First pass: the sum of N + 1 gaps; the replay copy then redraws the same gaps one at a time.
      c.replay = c.rng;
      c.total = 0;
      for (std::uint64_t k = 0; k <= c.n; ++k) c.total += gap(c.rng, c.family, c.shape);
      if (!(c.total > 0) || !std::isfinite(c.total)) {  // all gaps underflowed: space the window evenly
        c.family = GapFamily::kEven;
        c.total = static_cast<double>(c.n + 1);
      }
      c.partial = 0;
    }
  }

  double skip_s_, period_s_, cutoff_s_;
  bool loop_;
  TraceStats& stats_;
  TokenSampler prompt_, output_;
  Rng token_rng_;
  std::vector<Client> clients_;
  using Entry = std::pair<double, std::size_t>;  // (next arrival, client): ties go to the lower client index
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

std::string no_requests(const TraceOptions& o, const TraceStats& scan_stats, bool had_requests, double last_t_s) {
  std::string why;
  if (had_requests && o.skip_s > 0)
    why = fmt::format(" at or after skip_s = {} s (the trace ends at {} s)", o.skip_s, last_t_s);
  else if (scan_stats.skipped_malformed > 0)
    why = fmt::format(" ({} malformed lines skipped)", scan_stats.skipped_malformed);
  else if (o.format == TraceFormat::kServeGen)
    why = " (no window has a rate > 0)";
  return fmt::format("{}: no requests{}", o.path, why);
}

/// Every bad line of a trace in one error: a first line that counts them, then one line each (the first few).
void throw_bad_lines(const TraceOptions& o, const BadLines& b) {
  std::string m = fmt::format("{}: {} malformed line{}{}: fix {} or set skip_malformed: true to skip and count {}", o.path,
                              b.count, b.count == 1 ? "" : "s",
                              b.count > b.first.size() ? fmt::format(" (the first {} below)", b.first.size()) : "",
                              b.count == 1 ? "it" : "them", b.count == 1 ? "it" : "them");
  for (const auto& line : b.first) m += "\n" + line;
  throw Error(m);
}

}  // namespace

TraceScan scan_trace(const TraceOptions& o, double cutoff_s) {
  TraceScan scan;
  TraceStats st;  // the scan's own counts; the replay counts again
  BadLines bad_lines;
  if (o.format == TraceFormat::kServeGen) {
    double within = 0, after = 0, total = 0, end = 0;
    for (const auto& f : servegen_files(o.path)) {
      ServeGenFile file(f, o.skip_malformed, st);
      file.collect(&bad_lines);
      ServeGenWindow w;
      while (file.next(w)) {
        end = std::max(end, w.t0_s + w.length_s);
        within += window_requests_in(w, o.skip_s, o.skip_s + std::max(0.0, cutoff_s));
        after += window_requests_in(w, o.skip_s, std::numeric_limits<double>::infinity());
        total += window_requests_in(w, 0, std::numeric_limits<double>::infinity());
      }
    }
    if (bad_lines.count > 0) throw_bad_lines(o, bad_lines);
    if (!(after > 0)) throw Error(no_requests(o, st, total > 0, end));
    scan.servegen_end_s = end;
    const double period = end - o.skip_s;
    scan.expected_requests = (!o.loop || cutoff_s <= period) ? within : after * cutoff_s / period;
    return scan;
  }
  auto reader = make_record_reader(o, st, /*spread=*/false);
  reader->collect(&bad_lines);
  if (o.format == TraceFormat::kMooncake) scan.chains = std::make_shared<HashChains>(o.hash_block_tokens);
  TraceRecord r;
  std::uint64_t records = 0, after = 0, within = 0;
  double first_rel = 0, last_rel = 0, last_t = 0;
  while (reader->next(r)) {
    ++records;
    if (scan.chains && !reader->hashes()->empty()) scan.chains->add(r.line, *reader->hashes());
    last_t = r.t_s;
    if (r.t_s < o.skip_s) continue;
    const double rel = r.t_s - o.skip_s;
    if (after == 0) first_rel = rel;
    last_rel = rel;
    ++after;
    if (rel < cutoff_s) ++within;
  }
  if (bad_lines.count > 0) throw_bad_lines(o, bad_lines);
  if (after == 0) {
    if (reader->data_lines() == 0 && st.skipped_malformed == 0)
      throw Error(fmt::format("{}: no requests (the file has no data lines)", o.path));
    throw Error(no_requests(o, st, records > 0, last_t));
  }
  const double period = last_rel + (after > 1 ? (last_rel - first_rel) / static_cast<double>(after - 1) : 0.0);
  if (o.loop && !(period > 0))
    throw Error(fmt::format("{}: loop: expected requests spread over time after skip_s, got {} request(s) all at "
                            "trace time {} s",
                            o.path, after, o.skip_s + last_rel));
  scan.expected_requests = (!o.loop || cutoff_s <= period) ? static_cast<double>(within)
                                                           : static_cast<double>(after) * cutoff_s / period;
  return scan;
}

std::unique_ptr<PlayedStream> make_played_stream(const TraceOptions& o, TraceStats& stats, const TraceScan& scan,
                                                 double cutoff_played_s) {
  if (o.format == TraceFormat::kServeGen) return std::make_unique<ServeGenPlayer>(o, stats, scan, cutoff_played_s);
  const TraceStats before = stats;
  auto reader = make_record_reader(o, stats, /*spread=*/true);
  // The chains outlive the scan only when they hold something (TraceSource keeps them then): an empty set
  // is not passed on, or the player would read it after the scan is gone (found by the sanitizer build).
  const HashChains* chains = scan.chains && !scan.chains->empty() ? scan.chains.get() : nullptr;
  return std::make_unique<RequestPlayer>(std::move(reader), o, stats, cutoff_played_s, before, chains);
}

}  // namespace chatdc::workload::detail
