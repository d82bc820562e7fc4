// Bad-input corpus runner: runs one case of tests/bad_inputs/ (README "Tests", "Bad-input corpus").
//
//   bad_input_runner CHATDC_BINARY CASE_FILE SOURCE_DIR
//
// A case file holds the command (chatdc's arguments), the expected exit status, the words its error must
// contain, and any files it needs, written into a fresh folder that is the command's working directory:
//
//   # comment lines start with '#'
//   command: run bad.yaml --set run.seed=-1   (words split as a shell would, without expansions; \xNN is a byte)
//   exit: 2                      (default 2)
//   expect: bad.yaml:3:7         (repeatable: every one must appear in stderr)
//   expect-once: unknown key     (repeatable: must appear in stderr exactly once)
//   stdout: text                 (repeatable: must appear in stdout)
//   timeout: 30                  (seconds, default 30: longer is a hang)
//   env: NAME=VALUE              (repeatable)
//   setup: run x.yaml --out a    (repeatable: chatdc commands run first, in order, each must succeed; the
//                                 folder they leave is the "before" the failing command must not change)
//   unless-root: yes             (skip when run as root: permission cases)
//   requires: scontrol           (repeatable: skip unless this program is on PATH, e.g. Slurm's clients)
//   === bad.yaml                 (a file, up to the next "===" line; "=== a/b.csv" makes the folders)
//   === NAME escapes             (the body's \xNN, \n, \r, \t, \0 and \\ are decoded)
//   === NAME no-newline          (no newline after the body's last line)
//   === NAME repeat=N            (the body N times)
//   === NAME append ...          (appends to a file written above)
//   === NAME mode=OCTAL          (permissions, e.g. mode=000)
//   === NAME dir                 (an empty folder)
//
// Placeholders in the command and in bodies: {src} (the source tree), {fixtures} ({src}/tests/fixtures),
// {traces} ({src}/workloads/traces), {dir} (the case's folder, also the working directory).
//
// A case passes when the exit status is the expected one, every expected text appears, and, for a
// failing command, the folder is exactly as it was before (no partial outputs, no staging folder left).
// Exit status 3 (internal error), death by a signal and a timeout always fail, whatever the case says.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fs = std::filesystem;

namespace {

struct FileSpec {
  std::string name, body;
  bool escapes = false, newline = true, append = false, dir = false;
  long repeat = 1;
  int mode = -1;
};

struct Case {
  std::string command;
  bool has_command = false;
  int exit = 2;
  std::vector<std::string> expect, expect_once, stdout_expect, env, setup, requires_programs;
  double timeout_s = 30;
  bool unless_root = false;
  std::vector<FileSpec> files;
};

fs::path g_scratch;  // this case's scratch folder, once made

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "bad_input_runner: " << msg << "\n";
  if (!g_scratch.empty()) {
    std::error_code ec;
    fs::remove_all(g_scratch, ec);
  }
  std::exit(1);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

std::string decode_escapes(const std::string& s, const std::string& where) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'n') out += '\n';
    else if (c == 'r') out += '\r';
    else if (c == 't') out += '\t';
    else if (c == '0') out += '\0';
    else if (c == '\\') out += '\\';
    else if (c == 'x' && i + 2 < s.size() + 0 && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
             std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      die(where + ": unknown escape \\" + std::string(1, c));
    }
  }
  return out;
}

Case parse_case(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("cannot read " + path);
  Case c;
  std::string line;
  FileSpec* file = nullptr;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string where = path + ":" + std::to_string(n);
    if (line.rfind("===", 0) == 0) {
      std::istringstream words(line.substr(3));
      FileSpec f;
      if (!(words >> f.name)) die(where + ": expected a file name after ===");
      for (std::string w; words >> w;) {
        if (w == "escapes") f.escapes = true;
        else if (w == "no-newline") f.newline = false;
        else if (w == "append") f.append = true;
        else if (w == "dir") f.dir = true;
        else if (w.rfind("repeat=", 0) == 0) f.repeat = std::stol(w.substr(7));
        else if (w.rfind("mode=", 0) == 0) f.mode = static_cast<int>(std::stol(w.substr(5), nullptr, 8));
        else die(where + ": unknown file option \"" + w + "\"");
      }
      c.files.push_back(f);
      file = &c.files.back();
      continue;
    }
    if (file) {
      file->body += line + "\n";
      continue;
    }
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) die(where + ": expected KEY: VALUE");
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "command") c.command = value, c.has_command = true;
    else if (key == "exit") c.exit = std::stoi(value);
    else if (key == "expect") c.expect.push_back(value);
    else if (key == "expect-once") c.expect_once.push_back(value);
    else if (key == "stdout") c.stdout_expect.push_back(value);
    else if (key == "timeout") c.timeout_s = std::stod(value);
    else if (key == "env") c.env.push_back(value);
    else if (key == "setup") c.setup.push_back(value);
    else if (key == "requires") c.requires_programs.push_back(value);
    else if (key == "unless-root") c.unless_root = value == "yes";
    else die(where + ": unknown key \"" + key + "\"");
  }
  if (!c.has_command) die(path + ": no command:");
  if (c.exit != 0 && c.expect.empty() && c.expect_once.empty()) die(path + ": a failing case needs at least one expect: line");
  return c;
}

/// Splits a command line like a shell: blanks separate words; '...' and "..." quote; \xNN is that byte;
/// \ escapes one character.
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      const auto end = s.find(c, i + 1);
      if (end == std::string::npos) die("unbalanced quote in command: " + s);
      cur += s.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && std::isxdigit(static_cast<unsigned char>(s[i + 2])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      cur += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));  // \xNN: any byte
      i += 3;
      in_word = true;
    } else if (c == '\\' && i + 1 < s.size()) {
      cur += s[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

/// Every entry under `dir`: relative path -> type, size and content digest (a snapshot to compare).
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) break;
    const auto rel = fs::relative(it->path(), dir).string();
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    std::string desc = std::to_string(st.st_mode) + ":" + std::to_string(st.st_size);
    if (S_ISREG(st.st_mode) && st.st_size < (1 << 20) && (st.st_mode & S_IRUSR)) {
      std::ifstream f(it->path(), std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      desc += ":" + std::to_string(std::hash<std::string>{}(ss.str()));
    }
    out[rel] = desc;
  }
  return out;
}

volatile sig_atomic_t g_stop = 0;   // the signal that told this runner to stop
volatile pid_t g_child = -1;

extern "C" void on_stop(int sig) {
  g_stop = sig;
  if (g_child > 0) ::kill(-g_child, SIGKILL);  // async-signal-safe; the main loop reaps it and cleans up
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

/// Removes a scratch folder whole (making every entry writable first: cases may lock files or folders).
void remove_tree(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(dir, ec);
}

void remove_scratch() {
  if (!g_scratch.empty()) remove_tree(g_scratch);
}

/// Removes the scratch folders of runners that were killed outright ("chatdc-bad-input-<pid>-..." whose
/// pid no longer exists), and the old layout's folders and files ("chatdc-bad-input-XXXXXX[.out|.err]")
/// older than an hour.
void remove_stale_scratch() {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (auto it = fs::directory_iterator(fs::temp_directory_path(), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string prefix = "chatdc-bad-input-";
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const auto dash = rest.find('-');
    if (dash != std::string::npos && dash > 0 && rest.find_first_not_of("0123456789") == dash) {
      const long pid = std::stol(rest.substr(0, dash));
      if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) remove_tree(it->path());
    } else {
      std::error_code e2;
      const auto t = fs::last_write_time(it->path(), e2);
      if (!e2 && now - t > std::chrono::hours(1)) remove_tree(it->path());
    }
  }
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Outcome {
  int status = 0;
  bool timed_out = false, stopped = false;
};

/// Runs argv in `dir` (its own process group, stdin from /dev/null, stdout and stderr into the files) and
/// waits for it, at most `timeout_s`.
Outcome run_in(std::vector<std::string> args, std::vector<std::string> env, const fs::path& dir, const std::string& out_file,
               const std::string& err_file, double timeout_s) {
  std::vector<char*> av, ev;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : env) ev.push_back(e.data());
  ev.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own process group: a timeout kills it all
  posix_spawnattr_setpgroup(&attr, 0);
  // The child runs in the scratch folder: chdir there around the spawn (posix_spawn has no cwd action in glibc 2.36).
  const auto cwd = fs::current_path();
  fs::current_path(dir);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, av[0], &fa, &attr, av.data(), ev.data());
  fs::current_path(cwd);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) die("cannot start " + args[0] + ": " + std::strerror(rc));
  g_child = pid;

  Outcome o;
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    const pid_t r = ::waitpid(pid, &o.status, WNOHANG);
    if (r == pid) break;
    if (g_stop) {  // this runner was told to stop: the command's whole process group goes with it
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &o.status, 0);
      remove_scratch();
      std::cout << "stopped by signal " << g_stop << "\n";
      o.stopped = true;
      break;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s) {
      o.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &o.status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  g_child = -1;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) die("usage: bad_input_runner CHATDC_BINARY CASE_FILE SOURCE_DIR");
  const std::string binary = argv[1], case_file = argv[2], src = argv[3];
  const Case c = parse_case(case_file);
  if (c.unless_root && ::geteuid() == 0) {
    std::cout << "skipped: permission case, running as root\n";
    return 0;
  }
  for (const auto& program : c.requires_programs) {
    bool found = false;
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    for (std::string d; !found && std::getline(dirs, d, ':');) found = !d.empty() && ::access((d + "/" + program).c_str(), X_OK) == 0;
    if (!found) {
      std::cout << "skipped: " << program << " is not on PATH\n";
      return 0;
    }
  }

  // One scratch folder per case, named with this runner's pid: the case's working folder (work/) and the
  // command's stdout and stderr. It is removed at the end, on SIGINT, SIGTERM or SIGHUP (ctest interrupted),
  // and, should this runner be killed outright (SIGKILL), by the next runner, which removes the folders of
  // runners that no longer exist.
  remove_stale_scratch();
  std::string tmpl = (fs::temp_directory_path() / ("chatdc-bad-input-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) die("cannot create a scratch folder");
  g_scratch = tmpl;
  install_stop_handlers();
  const fs::path dir = fs::path(tmpl) / "work";
  fs::create_directory(dir);
  auto subst = [&](std::string s) {
    s = replace_all(s, "{fixtures}", src + "/tests/fixtures");
    s = replace_all(s, "{traces}", src + "/workloads/traces");
    s = replace_all(s, "{src}", src);
    return replace_all(s, "{dir}", dir.string());
  };
  for (const FileSpec& f : c.files) {
    const fs::path p = dir / f.name;
    fs::create_directories(p.parent_path());
    if (f.dir) {
      fs::create_directories(p);
    } else {
      std::string body = subst(f.body);
      if (!f.newline && !body.empty() && body.back() == '\n') body.pop_back();
      if (f.escapes) body = decode_escapes(body, case_file + " (" + f.name + ")");
      std::ofstream out(p, f.append ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc);
      for (long k = 0; k < f.repeat; ++k) out << body;
      if (!out) die("cannot write " + p.string());
    }
    if (f.mode >= 0) fs::permissions(p, static_cast<fs::perms>(f.mode));
  }
  // The environment, with the case's variables in place of any of the same name (PATH, SLURM_CONF, ...).
  std::vector<std::string> env_store;
  auto name_of = [](const std::string& e) { return e.substr(0, e.find('=')); };
  std::set<std::string> replaced;
  for (const auto& e : c.env) replaced.insert(name_of(e));
  for (char** e = environ; *e; ++e)
    if (!replaced.count(name_of(*e))) env_store.emplace_back(*e);
  for (const auto& e : c.env) env_store.push_back(subst(e));
  const std::string out_file = (fs::path(tmpl) / "stdout").string();
  const std::string err_file = (fs::path(tmpl) / "stderr").string();
  auto words = [&](const std::string& command) {
    std::vector<std::string> args = {binary};
    for (const auto& w : split_words(command)) args.push_back(subst(w));
    return args;
  };
  // Setup commands make what the case needs (e.g. a shard to merge): each must succeed.
  for (const auto& setup : c.setup) {
    const Outcome o = run_in(words(setup), env_store, dir, out_file, err_file, c.timeout_s);
    if (o.stopped) return 1;
    if (o.timed_out || !WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0)
      die(case_file + ": setup \"" + setup + "\" failed:\n" + slurp(err_file));
  }
  const auto before = snapshot(dir);

  const auto t0 = std::chrono::steady_clock::now();
  const Outcome o = run_in(words(c.command), env_store, dir, out_file, err_file, c.timeout_s);
  if (o.stopped) return 1;
  const int status = o.status;
  const bool timed_out = o.timed_out;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string out = slurp(out_file), err = slurp(err_file);

  std::vector<std::string> failures;
  int code = -1;
  if (timed_out) {
    failures.push_back("HANG: still running after " + std::to_string(c.timeout_s) + " s (killed)");
  } else if (WIFSIGNALED(status)) {
    failures.push_back("CRASH: killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")");
  } else {
    code = WEXITSTATUS(status);
    if (code == 3) failures.push_back("INTERNAL ERROR: exit status 3");
    else if (code != c.exit)
      failures.push_back(code == 0 ? "ACCEPTED SILENTLY: exit status 0, expected " + std::to_string(c.exit)
                                   : "exit status " + std::to_string(code) + ", expected " + std::to_string(c.exit));
  }
  if (err.find("internal error") != std::string::npos) failures.push_back("stderr reports an internal error");
  for (const auto& e : c.expect)
    if (err.find(subst(e)) == std::string::npos) failures.push_back("stderr lacks: " + subst(e));
  for (const auto& e : c.expect_once) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = err.find(subst(e), at)) != std::string::npos; at += subst(e).size()) ++n;
    if (n != 1) failures.push_back("stderr holds \"" + subst(e) + "\" " + std::to_string(n) + " times, expected once");
  }
  for (const auto& e : c.stdout_expect)
    if (out.find(subst(e)) == std::string::npos) failures.push_back("stdout lacks: " + subst(e));
  if (c.exit != 0 && !timed_out) {
    const auto after = snapshot(dir);
    for (const auto& [name, desc] : after)
      if (!before.count(name)) failures.push_back("left behind: " + name);
      else if (before.at(name) != desc) failures.push_back("changed: " + name);
    for (const auto& [name, desc] : before)
      if (!after.count(name)) failures.push_back("removed: " + name);
  }
  remove_scratch();

  std::cout << "command: chatdc " << c.command << "\n"
            << "exit: " << code << " in " << wall << " s\n"
            << "stderr:\n" << err.substr(0, 4000) << (err.size() > 4000 ? "...\n" : "") << "stdout:\n"
            << out.substr(0, 2000) << (out.size() > 2000 ? "...\n" : "");
  if (failures.empty()) {
    std::cout << "PASS\n";
    return 0;
  }
  for (const auto& f : failures) std::cout << "FAIL: " << f << "\n";
  return 1;
}
