// Model directories as outputs: what kbert may replace, how it replaces it, who may write.
//
//   kbert::OutputDir out("models/faults");       // refuses a path kbert did not make; locks it
//   out.replace([&](const std::string& tmp) { model.save(tmp); });
//
// A directory is replaced only when it is new or recognisably kbert's own: it holds a
// kbert.json and nothing kbert does not write. Replacement writes a complete new version
// beside it and swaps the two with one atomic rename (Linux renameat2 RENAME_EXCHANGE),
// so at every instant the path holds a whole model, the old one or the new one. A lock
// file `<dir>.lock` keeps a second writer out; leftovers of killed runs
// (`<dir>.kbert-tmp-PID`, `<dir>.kbert-old-PID`) are removed, or restored when they hold
// the only copy, the next time the directory is claimed.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace kbert {

/// True for a name kbert writes inside a model directory or a training checkpoint.
bool is_kbert_entry(const std::string& name);

/// Why `dir` may not be replaced by kbert, or "" when it may: it does not exist, or it
/// is a directory with a kbert.json and nothing but what kbert writes.
std::string why_not_replaceable(const std::string& dir);

class OutputDir {
 public:
  /// Claims `dir`. Throws FileError naming the path and the reason when it exists and is not
  /// kbert's, when another process holds its lock (with `lock`), or when it cannot be locked.
  /// Without `lock` the caller holds the lock through another OutputDir (a checkpoint beside
  /// its model directory).
  explicit OutputDir(const std::string& dir, bool lock = true);
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  const std::string& path() const { return dir_; }
  bool exists() const;
  /// The path an OutputDir for `dir` claims (trailing slashes dropped), without claiming it;
  /// throws OutputError for paths that cannot be an output ("/", ".", "..").
  static std::string normalise(const std::string& dir);

  /// Calls `write(tmp)` on a fresh directory beside the target, then swaps it in atomically
  /// and removes the previous version. On an exception from `write` the target is untouched.
  void replace(const std::function<void(const std::string& tmp)>& write) const;
  /// Removes the directory (a finished run's checkpoint); it must still be kbert's.
  void remove() const;
  /// Leftovers of killed runs found when claiming, and what was done with each.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  void clean_leftovers();
  std::string dir_;
  std::string lock_path_;
  int lock_fd_ = -1;
  std::vector<std::string> notes_;
};

/// Test hook: when the environment variable KBERT_FAULT_POINT equals `name` (or
/// `name:N`, the Nth time), the process kills itself with SIGKILL here. Used by the
/// reliability tests to stop a run at each step of a replacement.
void fault_point(const char* name);

}  // namespace kbert
