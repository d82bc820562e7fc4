// Core: writing output files whole or not at all (README "Outputs").
//
// An OutputStage is a staging folder beside a destination, on the same filesystem:
//   <parent>/.<name>.chatdc-staging-<pid>
// Everything is written inside it: files made at the end and files streamed during a run alike.
// Nothing at the destination changes until commit():
//   * a folder destination (kFolder): the staging folder becomes the destination in one step. If the
//     destination exists, everything in it that the new outputs do not replace is first carried into the
//     staging folder by hard links (a copy where links are not possible), except the names given as
//     `stale` (earlier outputs of the same kind that this one no longer writes); then Linux
//     renameat2(RENAME_EXCHANGE) swaps the two folders atomically and the old one is removed.
//   * a file destination (kFile): the file written in the staging folder is renamed onto the destination.
// Until then the staging folder is locked (flock) by its process: it is made as .<name>.chatdc-new-<pid>,
// locked, then renamed, so it never bears its staging name unlocked. A staging folder whose lock is free
// was left by a run that was killed: the next stage created in the same parent folder removes it.
// The destination is checked when the stage is created (before any work): it must not be a file (kFolder),
// a folder (kFile), a mount point, the working folder or one of its parents, and its parent must be writable.
//
// Interrupts (core/interrupt.hpp) call abandon_all(), which removes every live staging folder; commit()
// and abandon_all() exclude each other, so an interrupted run's destination is either as it was or
// wholly new.
#pragma once
#include <string>
#include <vector>

namespace chatdc {

class OutputStage {
 public:
  enum class Kind { kFolder, kFile };
  /// Checks the destination and creates the staging folder. `what` names the destination in messages
  /// ("--out results/x", "run.output_dir", "--png demand.png"). Throws chatdc::Error.
  OutputStage(std::string dest, Kind kind, std::string what, std::vector<std::string> stale = {});
  ~OutputStage();  // removes the staging folder unless committed
  OutputStage(const OutputStage&) = delete;
  OutputStage& operator=(const OutputStage&) = delete;

  const std::string& dest() const { return dest_; }
  /// The staging folder; for kFile the file to write is file().
  const std::string& folder() const { return staging_; }
  /// kFile: the file to write, inside the staging folder.
  std::string file() const;
  /// A path inside the staging folder.
  std::string path(const std::string& name) const;
  /// Puts the outputs in place (all or nothing). Throws chatdc::Error naming the destination.
  void commit();
  bool committed() const { return committed_; }

  /// Removes every staging folder of this process that is not committed (for the interrupt thread: it
  /// takes the commit lock and keeps it). Returns true if a commit of this process had already put its
  /// outputs in place.
  static bool abandon_all() noexcept;

 private:
  void remove_staging() noexcept;
  std::string dest_, what_, staging_;
  Kind kind_;
  std::vector<std::string> stale_;
  std::vector<std::string> created_parents_;  // folders made for the destination, removed again on failure
  int lock_fd_ = -1;
  bool committed_ = false;
};

}  // namespace chatdc
