#include "core/output_stage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <stdio.h>  // renameat2 (glibc >= 2.28)
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>

#include "core/error.hpp"

namespace chatdc {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStagingTag = ".chatdc-staging-";
constexpr const char* kNewTag = ".chatdc-new-";  // a staging folder being made: locked, then renamed to its tag
constexpr const char* kOldTag = ".chatdc-old-";
constexpr std::size_t kMaxCarriedEntries = 100000;

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<OutputStage*>& registry() {
  static std::vector<OutputStage*> r;
  return r;
}
bool g_any_committed = false;  // under registry_mutex(): some destination of this process was replaced

std::string errno_text(int e) { return std::strerror(e); }

bool has_control_chars(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// Removes a folder tree; makes entries writable and retries when permissions stop it. Never throws.
void remove_tree(const std::string& path) noexcept {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) return;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_directory(e2)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, e2);
  }
  fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path, ec);
}

/// Whether `name` is a staging (or new, or old) folder of some destination: ".<dest><tag><pid>[-<k>]".
bool is_leftover(const std::string& name, const char* tag) {
  if (name.size() < 2 || name[0] != '.') return false;
  const auto at = name.rfind(tag);
  if (at == std::string::npos || at == 0) return false;
  const std::string id = name.substr(at + std::strlen(tag));
  const auto dash = id.find('-');
  auto digits = [](const std::string& d) {
    return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return dash == std::string::npos ? digits(id) : digits(id.substr(0, dash)) && digits(id.substr(dash + 1));
}

/// True when nobody holds the folder's lock (its run ended without cleaning up).
bool abandoned(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

/// Removes staging folders left in `parent` by runs that were killed; puts back an earlier output folder
/// that a killed commit had moved aside (filesystems without RENAME_EXCHANGE).
void clean_leftovers(const fs::path& parent) {
  std::error_code ec;
  std::vector<fs::path> staging, old;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string name = e.path().filename().string();
    std::error_code e2;
    if (!e.is_directory(e2) || e.is_symlink(e2)) continue;
    if (is_leftover(name, kStagingTag)) staging.push_back(e.path());
    // A "new" folder is locked a moment after it is made: only an old one can be abandoned.
    struct stat st {};
    if (is_leftover(name, kNewTag) && ::stat(e.path().c_str(), &st) == 0 && ::time(nullptr) - st.st_mtime > 60)
      staging.push_back(e.path());
    if (is_leftover(name, kOldTag)) old.push_back(e.path());
  }
  for (const auto& p : staging)
    if (abandoned(p.string())) remove_tree(p.string());
  for (const auto& p : old) {
    if (!abandoned(p.string())) continue;
    const std::string name = p.filename().string();
    const fs::path dest = parent / name.substr(1, name.rfind(kOldTag) - 1);
    if (!fs::exists(dest, ec)) {
      fs::rename(p, dest, ec);
      if (!ec) continue;
    }
    remove_tree(p.string());
  }
}

/// Counts entries under `dir`, stopping past `limit`; throws on an unreadable folder.
std::size_t count_entries(const fs::path& dir, std::size_t limit, const std::string& what) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (++n > limit) return n;
  }
  if (ec)
    throw Error(fmt::format("{}: cannot read the existing folder {}: {} (chatdc carries what it does not replace into "
                            "the new folder)", what, dir.string(), ec.message()));
  return n;
}

/// Hard-links (or copies) the tree at `from` to `to`, which must not exist.
void link_tree(const fs::path& from, const fs::path& to) {
  struct stat st {};
  if (::lstat(from.c_str(), &st) != 0) throw Error(fmt::format("{}: {}", from.string(), errno_text(errno)));
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(to.c_str(), st.st_mode & 07777) != 0) throw Error(fmt::format("{}: {}", to.string(), errno_text(errno)));
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(from, ec)) link_tree(e.path(), to / e.path().filename());
    if (ec) throw Error(fmt::format("{}: {}", from.string(), ec.message()));
    return;
  }
  if (::linkat(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), 0) == 0) return;
  std::error_code ec;
  if (S_ISLNK(st.st_mode)) fs::copy_symlink(from, to, ec);
  else if (S_ISREG(st.st_mode)) fs::copy_file(from, to, ec);
  else throw Error(fmt::format("{}: cannot link or copy it ({})", from.string(), errno_text(errno)));
  if (ec) throw Error(fmt::format("{}: {}", from.string(), ec.message()));
}

}  // namespace

OutputStage::OutputStage(std::string dest, Kind kind, std::string what, std::vector<std::string> stale)
    : what_(std::move(what)), kind_(kind), stale_(std::move(stale)) {
  const char* thing = kind == Kind::kFolder ? "a folder" : "a file";
  if (dest.empty()) throw Error(fmt::format("{}: expected {} name, got \"\"", what_, thing));
  if (has_control_chars(dest)) throw Error(fmt::format("{}: expected {} name without control characters", what_, thing));
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(dest), ec).lexically_normal();
  if (ec) throw Error(fmt::format("{}: {}", what_, ec.message()));
  if (!p.has_filename()) p = p.parent_path();  // "results/x/" -> "results/x"
  if (p.filename().empty() || p == p.root_path() || p.filename() == "." || p.filename() == "..")
    throw Error(fmt::format("{}: expected {} that chatdc can create or replace, got \"{}\"", what_, thing, dest));

  struct stat st {};
  bool exists = ::lstat(p.c_str(), &st) == 0;
  if (exists && S_ISLNK(st.st_mode)) {  // a link to the destination: write where it points
    const fs::path target = fs::canonical(p, ec);
    if (ec) throw Error(fmt::format("{}: {} is a link that leads nowhere ({})", what_, dest, ec.message()));
    p = target;
    exists = ::lstat(p.c_str(), &st) == 0;
  }
  if (exists && kind == Kind::kFolder && !S_ISDIR(st.st_mode))
    throw Error(fmt::format("{}: {} exists and is not a folder (chatdc writes several files into a folder)", what_, dest));
  if (exists && kind == Kind::kFile && !S_ISREG(st.st_mode))
    throw Error(fmt::format("{}: {} exists and is not a regular file", what_, dest));
  dest_ = p.string();

  // The parent folder: made if missing (and removed again if this stage is never committed).
  const fs::path parent = p.parent_path();
  std::vector<fs::path> missing;
  for (fs::path q = parent; !q.empty() && !fs::exists(q, ec); q = q.parent_path()) {
    missing.push_back(q);
    if (q == q.root_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0777) != 0) {
      const int e = errno;
      for (const auto& made : created_parents_) ::rmdir(made.c_str());
      throw Error(fmt::format("{}: cannot create the folder {}: {}", what_, it->string(), errno_text(e)));
    }
    created_parents_.insert(created_parents_.begin(), it->string());
  }
  struct stat pst {};
  if (::stat(parent.c_str(), &pst) != 0 || !S_ISDIR(pst.st_mode))
    throw Error(fmt::format("{}: {} is not a folder", what_, parent.string()));

  if (exists && kind == Kind::kFolder) {
    const fs::path cwd = fs::weakly_canonical(fs::current_path(ec), ec);
    const fs::path real = fs::weakly_canonical(p, ec);
    auto rel = cwd.lexically_relative(real);
    if (!rel.empty() && *rel.begin() != "..")
      throw Error(fmt::format("{}: {} is the working folder or holds it; chatdc replaces an output folder whole, so give "
                              "it a folder of its own", what_, dest));
    if (st.st_dev != pst.st_dev)
      throw Error(fmt::format("{}: {} is a mount point; chatdc replaces an output folder whole, so give it a folder "
                              "inside", what_, dest));
    if (count_entries(p, kMaxCarriedEntries, what_) > kMaxCarriedEntries)
      throw Error(fmt::format("{}: {} holds more than {} files; chatdc carries what it does not replace into the new "
                              "folder, so give it a folder of its own", what_, dest, kMaxCarriedEntries));
  }

  clean_leftovers(parent);
  // The staging folder is made under a "new" name, locked, and only then given its staging name, so that
  // another run's clean-up never sees it unlocked. All under the registry lock: an interrupt that comes
  // meanwhile waits, then finds it registered and removes it.
  std::lock_guard<std::mutex> lock(registry_mutex());
  const std::string id = std::to_string(::getpid());
  const std::string stem = "." + p.filename().string();
  auto fail = [&](const std::string& step, int e) {
    for (const auto& made : created_parents_) ::rmdir(made.c_str());
    throw Error(fmt::format("{}: cannot write in the folder {}: {}: {}", what_, parent.string(), step, errno_text(e)));
  };
  for (int k = 1;; ++k) {
    const std::string suffix = k == 1 ? id : id + "-" + std::to_string(k);
    const std::string made = (parent / (stem + kNewTag + suffix)).string();
    if (::mkdir(made.c_str(), 0777) != 0) {
      if (errno == EEXIST && k < 100) continue;
      fail("mkdir", errno);
    }
    lock_fd_ = ::open(made.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      if (lock_fd_ >= 0) ::close(lock_fd_);
      lock_fd_ = -1;
      ::rmdir(made.c_str());
      fail("lock", e);
    }
    staging_ = (parent / (stem + kStagingTag + suffix)).string();
    if (::renameat2(AT_FDCWD, made.c_str(), AT_FDCWD, staging_.c_str(), RENAME_NOREPLACE) == 0 ||
        ((errno == EINVAL || errno == ENOSYS) && !fs::exists(staging_, ec) && ::rename(made.c_str(), staging_.c_str()) == 0))
      break;
    const int e = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    ::rmdir(made.c_str());
    if (!(e == EEXIST && k < 100)) fail("rename", e);
  }
  registry().push_back(this);
}

OutputStage::~OutputStage() {
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto& r = registry();
    r.erase(std::remove(r.begin(), r.end(), this), r.end());
  }
  if (!committed_) {
    remove_staging();
    for (const auto& made : created_parents_) ::rmdir(made.c_str());  // only if still empty
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void OutputStage::remove_staging() noexcept {
  if (!staging_.empty()) remove_tree(staging_);
}

std::string OutputStage::file() const { return path(fs::path(dest_).filename().string()); }

std::string OutputStage::path(const std::string& name) const { return (fs::path(staging_) / name).string(); }

void OutputStage::commit() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto fail = [&](const std::string& step, int e) {
    throw Error(fmt::format("{}: cannot put the outputs in place at {}: {}: {}; nothing was changed there", what_, dest_,
                            step, errno_text(e)));
  };
  if (kind_ == Kind::kFile) {
    if (::rename(file().c_str(), dest_.c_str()) != 0) fail("rename", errno);
    committed_ = g_any_committed = true;
    remove_staging();
    return;
  }
  struct stat st {};
  const bool exists = ::lstat(dest_.c_str(), &st) == 0;
  if (!exists) {
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, dest_.c_str(), RENAME_NOREPLACE) == 0 ||
        ((errno == EINVAL || errno == ENOSYS) && ::rename(staging_.c_str(), dest_.c_str()) == 0)) {
      committed_ = g_any_committed = true;
      staging_.clear();
      return;
    }
    if (errno != EEXIST) fail("rename", errno);
    if (::lstat(dest_.c_str(), &st) != 0) fail("rename", errno);  // created meanwhile by someone else
  }
  if (!S_ISDIR(st.st_mode)) fail("replace", ENOTDIR);
  // Carry over what the new outputs do not replace (hard links: nothing is copied, nothing is lost).
  std::error_code ec;
  std::set<std::string> ours;
  for (const auto& e : fs::directory_iterator(staging_, ec)) ours.insert(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(dest_, ec)) {
    const std::string name = e.path().filename().string();
    if (ours.count(name) || std::find(stale_.begin(), stale_.end(), name) != stale_.end()) continue;
    try {
      link_tree(e.path(), fs::path(staging_) / name);
    } catch (const Error& err) {
      throw Error(fmt::format("{}: cannot carry {} into the new output folder: {}; nothing was changed at {}", what_,
                              e.path().string(), err.what(), dest_));
    }
  }
  if (ec) fail("read the existing folder", ec.value());
  ::chmod(staging_.c_str(), st.st_mode & 07777);
  if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, dest_.c_str(), RENAME_EXCHANGE) == 0) {
    committed_ = g_any_committed = true;  // staging_ now names the earlier folder
    remove_staging();
    return;
  }
  if (errno != EINVAL && errno != ENOSYS) fail("exchange", errno);
  // No RENAME_EXCHANGE on this filesystem (NFS, some FUSE): move the old folder aside, then the new one in.
  // A crash between the two leaves the earlier folder at .<name>.chatdc-old-<pid>; the next run puts it back.
  const std::string old =
      (fs::path(dest_).parent_path() / ("." + fs::path(dest_).filename().string() + kOldTag + std::to_string(::getpid())))
          .string();
  if (::rename(dest_.c_str(), old.c_str()) != 0) fail("move the earlier folder aside", errno);
  const int old_fd = ::open(old.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (old_fd >= 0) ::flock(old_fd, LOCK_EX | LOCK_NB);
  if (::rename(staging_.c_str(), dest_.c_str()) != 0) {
    const int e = errno;
    ::rename(old.c_str(), dest_.c_str());
    if (old_fd >= 0) ::close(old_fd);
    fail("rename", e);
  }
  committed_ = g_any_committed = true;
  staging_ = old;
  remove_staging();
  if (old_fd >= 0) ::close(old_fd);
}

bool OutputStage::abandon_all() noexcept {
  registry_mutex().lock();  // kept locked: no commit may start after an interrupt (the process exits next)
  for (OutputStage* s : registry()) {
    if (s->committed_) continue;
    s->remove_staging();
    for (const auto& made : s->created_parents_) ::rmdir(made.c_str());
  }
  return g_any_committed;
}

}  // namespace chatdc
