#include "app/compare_cmd.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "app/process.hpp"
#include "app/report.hpp"
#include "config/catalog.hpp"
#include "config/reader.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/output_stage.hpp"

namespace chatdc::app {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Run {
  std::string label;   // as shown in the tables
  std::string folder;  // OUT/<folder>: the label with characters outside [A-Za-z0-9._+-] replaced by '_'
  std::string file;    // scenario file, as given
  std::vector<std::string> overrides;  // the variant's key=value pairs (none for a scenario run)
  bool variant = false;
  // Filled by execute():
  pid_t pid = -1;
  int exit_code = -1;
  std::string failure;  // empty on success
  double wall_s = 0;
  json summary;
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

/// The scenario's top-level `name`, else the file stem (the run itself reports a bad file).
std::string scenario_name(const std::string& file) {
  config::Document doc;
  config::Diagnostics ignored;  // a bad file is reported by its run
  if (config::load_document(file, &doc, &ignored)) {  // a regular file of bounded size: never hangs on /dev/zero
    const YAML::Node n = static_cast<const YAML::Node&>(doc.root)["name"];
    if (n.IsDefined() && n.IsScalar() && !trim(n.Scalar()).empty()) return trim(n.Scalar());
  }
  return fs::path(file).stem().string();
}

std::string folder_name(const std::string& label) {
  std::string f;
  for (const char c : label) f += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' || c == '-') ? c : '_';
  if (f.empty() || f == "." || f == "..") f = "run";
  return f;
}

/// "k=v k2=[1, 2] k3='a b'": splits on blanks outside brackets, braces and quotes.
std::vector<std::string> split_overrides(const std::string& text, const std::string& variant) {
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
    } else if ((c == ' ' || c == '\t') && depth <= 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (quote || depth != 0)
    throw Error(fmt::format("--variant \"{}\": unbalanced {}", variant, quote ? "quote" : "brackets"));
  if (!cur.empty()) out.push_back(cur);
  for (const auto& o : out) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("--variant \"{}\": \"{}\" is not key.path=value (expected \"LABEL: key.path=value "
                              "[key.path=value ...]\")",
                              variant, o));
  }
  return out;
}

std::vector<Run> plan(const CompareArgs& a) {
  std::vector<Run> runs;
  for (const auto& f : a.scenarios) {
    Run r;
    r.file = f;
    r.label = scenario_name(f);
    runs.push_back(r);
  }
  for (const auto& v : a.variants) {
    const auto colon = v.find(':');
    if (colon == std::string::npos || trim(v.substr(0, colon)).empty())
      throw Error(fmt::format("--variant \"{}\": expected \"LABEL: key.path=value [key.path=value ...]\"", v));
    if (a.scenarios.empty()) throw Error("--variant needs a scenario file to vary");
    Run r;
    r.file = a.scenarios.front();
    r.label = trim(v.substr(0, colon));
    r.overrides = split_overrides(v.substr(colon + 1), v);
    r.variant = true;
    runs.push_back(r);
  }
  if (runs.size() < 2)
    throw Error(fmt::format("compare needs at least two runs (scenario files, or one scenario and --variant \"LABEL: "
                            "key.path=value\"), got {}",
                            runs.size()));
  // Unique labels and folders: the second "x" becomes "x-2", and so on.
  std::set<std::string> labels, folders;
  for (auto& r : runs) {
    std::string label = r.label;
    for (int k = 2; labels.count(label) || folders.count(folder_name(label)); ++k) label = fmt::format("{}-{}", r.label, k);
    r.label = label;
    r.folder = folder_name(label);
    labels.insert(r.label);
    folders.insert(r.folder);
  }
  return runs;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> last_lines(const fs::path& p, std::size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(slurp(p));
  for (std::string l; std::getline(in, l);)
    if (!trim(l).empty()) lines.push_back(l);
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
  return lines;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

/// The child processes running now: an interrupt stops them (they remove their own staging folders).
std::mutex g_children_mutex;
std::set<pid_t> g_children;

void stop_children(int sig) {
  std::set<pid_t> kids;
  {
    std::lock_guard<std::mutex> lock(g_children_mutex);
    kids = g_children;
  }
  for (const pid_t p : kids) ::kill(p, sig);
  const auto t0 = std::chrono::steady_clock::now();
  for (const pid_t p : kids)  // wait (at most 30 s) until each has cleaned up and ended; main may reap it first
    while (::waitpid(p, nullptr, WNOHANG) == 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

/// Runs every run as `chatdc run`, at most `jobs` at a time, the cores shared out among them.
void execute(std::vector<Run>& runs, const CompareArgs& a, const fs::path& out, unsigned jobs, unsigned cores) {
  const std::string exe = self_exe();
  const auto at_once = static_cast<unsigned>(std::min<std::size_t>(jobs, runs.size()));
  const std::string threads = fmt::format("run.threads={}", std::max(1u, cores / std::max(1u, at_once)));
  const bool progress = !a.quiet && ::isatty(2);
  std::map<pid_t, std::size_t> running;
  std::map<pid_t, std::chrono::steady_clock::time_point> started;
  std::size_t next = 0, finished = 0;
  auto report = [&](const Run& r) {
    ++finished;
    if (progress)
      fmt::print(stderr, "chatdc compare: [{}/{}] {}: {}\n", finished, runs.size(), r.label,
                 r.failure.empty() ? fmt::format("done in {:.1f} s", r.wall_s) : "FAILED");
  };
  while (next < runs.size() || !running.empty()) {
    while (next < runs.size() && running.size() < jobs) {
      Run& r = runs[next++];
      std::vector<std::string> argv = {exe, "run", r.file, "--out", (out / r.folder).string(), "--quiet", "--no-progress",
                                       "--set", threads};
      for (const auto& s : a.sets) argv.insert(argv.end(), {"--set", s});
      for (const auto& s : r.overrides) argv.insert(argv.end(), {"--set", s});
      std::string err;
      {
        std::lock_guard<std::mutex> lock(g_children_mutex);
        r.pid = spawn(argv, (out / r.folder / "stderr.txt").string(), &err);
        if (r.pid > 0) g_children.insert(r.pid);
      }
      if (r.pid < 0) {
        r.failure = err;
        report(r);
        continue;
      }
      running[r.pid] = static_cast<std::size_t>(&r - runs.data());
      started[r.pid] = std::chrono::steady_clock::now();
    }
    if (running.empty()) continue;
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      for (const auto& [p, i] : running) runs[i].failure = fmt::format("lost track of the child process: {}", std::strerror(errno));
      break;
    }
    {
      std::lock_guard<std::mutex> lock(g_children_mutex);
      g_children.erase(pid);
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;  // not one of ours
    Run& r = runs[it->second];
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started[pid]).count();
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) r.failure = describe_status(status);
    running.erase(it);
    report(r);
  }
}

// ---- reading the summaries ----

const json& at(const json& j, const std::vector<const char*>& path) {
  static const json null;
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return null;
    cur = &(*cur)[k];
  }
  return *cur;
}

double number(const json& j, const std::vector<const char*>& path) {
  const json& v = at(j, path);
  return v.is_number() ? v.get<double>() : std::nan("");
}

/// A summary number in its shortest exact form ("" when absent).
std::string csv_number(const json& v) {
  if (v.is_number_unsigned()) return fmt::format("{}", v.get<std::uint64_t>());
  if (v.is_number_integer()) return fmt::format("{}", v.get<std::int64_t>());
  if (v.is_number()) return fmt::format("{}", v.get<double>());
  return "";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

enum class Kind { kCount, kLatency, kPercent, kAmount, kMoney };

struct Column {
  const char* csv;
  const char* md;  // row name in comparison.md; "{}" stands for the currency
  std::vector<const char*> path;  // in summary.json
  Kind kind;
};

const std::vector<Column>& columns() {
  static const std::vector<Column> c = {
      {"servers", "servers", {"fleet", "servers"}, Kind::kCount},
      {"gpus", "GPUs", {"fleet", "gpus"}, Kind::kCount},
      {"requests_arrived", "requests arrived", {"requests", "arrived"}, Kind::kCount},
      {"requests_completed", "requests completed", {"requests", "completed"}, Kind::kCount},
      {"requests_unfinished", "requests unfinished", {"requests", "unfinished"}, Kind::kCount},
      {"requests_rejected", "requests rejected", {"requests", "rejected"}, Kind::kCount},
      {"ttft_p50_s", "TTFT p50 (s)", {"latency_s", "ttft", "p50"}, Kind::kLatency},
      {"ttft_p90_s", "TTFT p90 (s)", {"latency_s", "ttft", "p90"}, Kind::kLatency},
      {"ttft_p99_s", "TTFT p99 (s)", {"latency_s", "ttft", "p99"}, Kind::kLatency},
      {"tpot_p50_s", "TPOT p50 (s)", {"latency_s", "tpot", "p50"}, Kind::kLatency},
      {"tpot_p99_s", "TPOT p99 (s)", {"latency_s", "tpot", "p99"}, Kind::kLatency},
      {"e2e_p99_s", "end-to-end p99 (s)", {"latency_s", "e2e", "p99"}, Kind::kLatency},
      {"slo_attainment", "SLO attainment (TTFT and TPOT)", {"slo", "attainment"}, Kind::kPercent},
      {"gpu_utilization_mean", "GPU utilization, mean", {"utilization", "gpu_mean"}, Kind::kPercent},
      {"gpu_utilization_peak", "GPU utilization, peak", {"utilization", "gpu_peak"}, Kind::kPercent},
      {"batch_occupancy_mean", "batch slots used, mean", {"utilization", "batch_occupancy_mean"}, Kind::kPercent},
      {"batch_occupancy_peak", "batch slots used, peak", {"utilization", "batch_occupancy_peak"}, Kind::kPercent},
      {"kv_cache_mean", "KV cache used, mean", {"utilization", "kv_cache_mean"}, Kind::kPercent},
      {"kv_cache_peak", "KV cache used, peak", {"utilization", "kv_cache_peak"}, Kind::kPercent},
      {"it_energy_kwh", "IT energy (kWh)", {"energy_kwh", "it"}, Kind::kAmount},
      {"facility_energy_kwh", "facility energy (kWh)", {"energy_kwh", "facility"}, Kind::kAmount},
      {"wh_per_request", "facility energy per request (Wh)", {"wh_per_request"}, Kind::kAmount},
      {"carbon_kg", "carbon (kg CO₂)", {"carbon_kg"}, Kind::kAmount},
      {"currency", nullptr, {"cost", "currency"}, Kind::kCount},
      {"cost_electricity", "electricity ({})", {"cost", "electricity"}, Kind::kMoney},
      {"cost_demand_charge", "demand charge ({})", {"cost", "demand_charge"}, Kind::kMoney},
      {"cost_capex", "capex ({})", {"cost", "capex"}, Kind::kMoney},
      {"cost_maintenance", "maintenance ({})", {"cost", "maintenance"}, Kind::kMoney},
      {"cost_wan", "WAN ({})", {"cost", "wan"}, Kind::kMoney},
      {"cost_carbon", "carbon price ({})", {"cost", "carbon"}, Kind::kMoney},
      {"cost_total", "**total cost ({})**", {"cost", "total"}, Kind::kMoney},
      {"cost_per_1k_requests", "cost per 1k requests ({})", {"cost", "per_1k_requests"}, Kind::kMoney},
      {"wall_s", "wall time (s)", {"wall_s"}, Kind::kAmount},
  };
  return c;
}

/// n significant digits, thousands separators from 10^(n-1) up: 0.0349, 12.3, 2,190.
std::string sig(double v, int n) {
  if (!std::isfinite(v)) return "–";
  if (v == 0) return "0";
  const int mag = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  if (mag >= n - 1) return grouped(v);
  return fmt::format("{:.{}f}", v, n - 1 - mag);
}

std::string human(double v, Kind k) {
  if (!std::isfinite(v)) return "–";
  switch (k) {
    case Kind::kCount: return grouped(v);
    case Kind::kLatency: return sig(v, 3);
    case Kind::kPercent: return fmt::format("{:.1f}%", 100 * v);
    case Kind::kAmount: return sig(v, 3);
    case Kind::kMoney: return sig(v, 4);
  }
  return "";
}

std::string md_cell(std::string s) {
  std::string o;
  for (const char c : s) o += c == '|' ? std::string("\\|") : std::string(1, c);
  return o;
}

std::string comparison_csv(const std::vector<Run>& runs) {
  std::string out = "label,scenario_file";
  for (const auto& c : columns()) out += std::string(",") + c.csv;
  out += '\n';
  for (const auto& r : runs) {
    out += csv_field(r.label) + "," + csv_field(r.file);
    for (const auto& c : columns()) {
      const json& v = at(r.summary, c.path);
      out += "," + (v.is_string() ? csv_field(v.get<std::string>()) : csv_number(v));
    }
    out += '\n';
  }
  return out;
}

std::string comparison_md(const std::vector<Run>& runs, const CompareArgs& a, const fs::path& out_dir,
                          const std::string& currency) {
  std::string md = fmt::format("# chatdc compare: {}\n\n", out_dir.filename().string());
  md += "| metric |";
  for (const auto& r : runs) md += " " + md_cell(r.label) + " |";
  md += "\n|---|";
  for (std::size_t i = 0; i < runs.size(); ++i) md += "---:|";
  md += '\n';
  for (const auto& c : columns()) {
    if (!c.md) continue;
    md += "| " + fmt::format(fmt::runtime(c.md), currency) + " |";
    for (const auto& r : runs) md += " " + human(number(r.summary, c.path), c.kind) + " |";
    md += '\n';
  }
  md += "\nRuns:\n\n";
  for (const auto& r : runs) {
    md += fmt::format("- **{}**: `{}`", md_cell(r.label), r.file);
    if (r.variant) {
      std::string o;
      for (const auto& s : r.overrides) o += (o.empty() ? "" : " ") + fmt::format("`{}`", s);
      md += o.empty() ? " (a variant without overrides)" : " with " + o;
    }
    md += fmt::format(" — outputs in `{}/`\n", r.folder);
  }
  if (!a.sets.empty()) {
    std::string s;
    for (const auto& x : a.sets) s += (s.empty() ? "" : " ") + fmt::format("`{}`", x);
    md += "\nEvery run with " + s + ".\n";
  }
  return md;
}

void write_file(const fs::path& path, const std::string& content) {
  const fs::path tmp = path.parent_path() / fmt::format(".{}.tmp-{}", path.filename().string(), static_cast<long>(::getpid()));
  {
    std::ofstream o(tmp, std::ios::binary);
    o << content;
    o.close();
    if (!o) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw Error(fmt::format("cannot write {} (disk full or no permission?)", tmp.string()));
    }
  }
  fs::rename(tmp, path);
}

/// <data dir>/analysis/plot_compare.py; the data dir holds platforms/ (CHATDC_DATA_DIR or the source tree).
std::string plot_script() {
  return (fs::path(config::default_catalog_dir()).parent_path() / "analysis" / "plot_compare.py").string();
}

/// Draws OUT/comparison.png; a warning (not an error) when Python, matplotlib or the script is missing.
void plot(const fs::path& out) {
  const std::string python = "/usr/bin/python3", script = plot_script();
  const std::string hint = "(needs /usr/bin/python3 with Debian's python3-pandas and python3-matplotlib)";
  if (::access(python.c_str(), X_OK) != 0) {
    spdlog::warn("comparison.png not drawn: {} not found {}", python, hint);
    return;
  }
  if (!fs::exists(script)) {
    spdlog::warn("comparison.png not drawn: {} not found (set CHATDC_DATA_DIR to the chatdc source folder)", script);
    return;
  }
  const long id = static_cast<long>(::getpid());
  const fs::path tmp = out / fmt::format(".comparison.tmp-{}.png", id), log = out / fmt::format(".plot_compare.log-{}", id);
  std::string err;
  const pid_t pid = spawn({python, script, out.string(), "--out", tmp.string()}, log.string(), &err);
  int status = 0;
  if (pid > 0)
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  std::error_code ec;
  if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(tmp)) {
    fs::rename(tmp, out / "comparison.png", ec);
    if (!ec) {
      fs::remove(log, ec);
      return;
    }
    err = ec.message();
  } else if (pid > 0) {
    const auto lines = last_lines(log, 3);
    err = describe_status(status);
    for (const auto& l : lines) err += "\n    " + l;
  }
  fs::remove(tmp, ec);
  fs::remove(log, ec);
  spdlog::warn("comparison.png not drawn: {} failed: {} {}", script, err, hint);
}

void print_table(const std::vector<Run>& runs, const std::string& cur, const fs::path& out) {
  std::vector<std::vector<std::string>> rows = {
      {"run", "total cost", "per 1k requests", "TTFT p99", "SLO met", "facility energy"}};
  for (const auto& r : runs) {
    const json& s = r.summary;
    rows.push_back({r.label, fmt::format("{} {}", cur, sig(number(s, {"cost", "total"}), 4)),
                    fmt::format("{} {}", cur, sig(number(s, {"cost", "per_1k_requests"}), 4)),
                    fmt::format("{} s", sig(number(s, {"latency_s", "ttft", "p99"}), 3)),
                    human(number(s, {"slo", "attainment"}), Kind::kPercent),
                    fmt::format("{} kWh", sig(number(s, {"energy_kwh", "facility"}), 3))});
  }
  std::vector<std::size_t> w(rows[0].size(), 0);
  auto width = [](const std::string& s) {  // display columns of UTF-8 text
    std::size_t n = 0;
    for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
  };
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) w[i] = std::max(w[i], width(row[i]));
  std::string text = fmt::format("chatdc compare: {} runs, outputs in {}/{{comparison.csv, comparison.md, comparison.png}}\n",
                                 runs.size(), out.string());
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      const std::string pad(w[i] - width(row[i]), ' ');
      line += " " + (i == 0 ? row[i] + pad : pad + row[i]) + " ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + '\n';
  }
  fmt::print("{}", text);
  std::fflush(stdout);
}

}  // namespace

CLI::App* add_compare_subcommand(CLI::App& app, CompareArgs& a) {
  auto* c = app.add_subcommand("compare", "Run several scenarios (and variants of the first one) side by side and write "
                                          "comparison.csv, comparison.md and comparison.png.");
  c->add_option("scenarios", a.scenarios, "Scenario YAML files: one run each, labelled by the scenario's name")->required();
  c->add_option("--variant", a.variants,
                "One more run of the first scenario with overrides: --variant \"LABEL: key.path=value "
                "[key.path=value ...]\"; repeatable")
      ->allow_extra_args(false);
  c->add_option("--set", a.sets, "Override a scenario key in every run (as in `chatdc run --set`); repeatable")
      ->allow_extra_args(false);
  c->add_option("--out,-o", a.out, "Output folder (default: results/compare-<first scenario's name>); each run goes "
                                   "into a subfolder named by its label");
  c->add_option("--jobs,-j", a.jobs, "Runs at a time (default: the number of online CPUs)")->check(CLI::NonNegativeNumber);
  c->add_flag("--quiet,-q", a.quiet, "Print nothing on success");
  return c;
}

int cmd_compare(const CompareArgs& a) {
  std::vector<Run> runs = plan(a);
  const fs::path out = a.out.empty() ? fs::path("results") / ("compare-" + runs.front().folder) : fs::path(a.out);
  // Everything (the runs' folders and the comparison) is made in a staging folder beside `out`, which replaces
  // the earlier comparison only when all of it is done: a failed or interrupted compare leaves `out` as it was.
  std::vector<std::string> stale = {"comparison.csv", "comparison.md", "comparison.png"};
  OutputStage stage(out.string(), OutputStage::Kind::kFolder, a.out.empty() ? "compare output folder " + out.string() : "--out " + a.out,
                    stale);
  const int stop_id = add_interrupt_callback(stop_children);
  struct Unregister {
    int id;
    ~Unregister() { remove_interrupt_callback(id); }
  } unregister{stop_id};
  const fs::path work = stage.folder();
  unsigned cores = std::thread::hardware_concurrency();
  if (cores == 0) {
    const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    cores = n > 0 ? static_cast<unsigned>(n) : 1;
  }
  const unsigned jobs = a.jobs > 0 ? static_cast<unsigned>(a.jobs) : cores;

  std::error_code ec;
  for (const auto& r : runs) {
    fs::create_directories(work / r.folder, ec);
    if (ec) throw Error(fmt::format("cannot create the run folder {}: {}", (work / r.folder).string(), ec.message()));
  }

  execute(runs, a, work, jobs, cores);

  std::size_t failed = 0;
  for (const auto& r : runs) failed += !r.failure.empty();
  if (failed > 0) {
    fmt::print(stderr, "chatdc: error: {} of {} runs failed; no comparison written ({} is as it was)\n", failed, runs.size(),
               out.string());
    for (const auto& r : runs) {
      if (r.failure.empty()) continue;
      const fs::path log = work / r.folder / "stderr.txt";
      fmt::print(stderr, "  run \"{}\" ({}{}): {}; last lines of its output:\n", r.label, r.file,
                 r.overrides.empty() ? "" : " with " + fmt::format("{}", fmt::join(r.overrides, " ")), r.failure);
      const auto lines = last_lines(log, 8);
      if (lines.empty()) fmt::print(stderr, "    (empty)\n");
      for (const auto& l : lines) fmt::print(stderr, "    {}\n", l);
    }
    return 2;
  }

  std::map<std::string, std::vector<std::string>> by_currency;
  std::vector<std::string> currencies;
  for (auto& r : runs) {
    const fs::path p = work / r.folder / "summary.json";
    try {
      r.summary = json::parse(slurp(p));
    } catch (const std::exception& e) {
      throw Error(fmt::format("run \"{}\" succeeded but {} is unreadable: {}", r.label, p.string(), e.what()));
    }
    const json& cur = at(r.summary, {"cost", "currency"});
    currencies.push_back(cur.is_string() ? cur.get<std::string>() : "?");
    by_currency[currencies.back()].push_back(r.label);
  }
  if (by_currency.size() > 1) {
    std::string list;
    for (const auto& [cur, labels] : by_currency)
      list += fmt::format("{}{}: {}", list.empty() ? "" : "; ", cur, fmt::join(labels, ", "));
    throw Error(fmt::format("the runs report costs in different currencies ({}); set the same economics.currency in "
                            "every run, e.g. --set economics.currency={}",
                            list, currencies.front()));
  }
  const std::string currency = currencies.front();

  write_file(work / "comparison.csv", comparison_csv(runs));
  write_file(work / "comparison.md", comparison_md(runs, a, out, currency));
  plot(work);
  stage.commit();
  if (!a.quiet) print_table(runs, currency, out);
  return 0;
}

}  // namespace chatdc::app
