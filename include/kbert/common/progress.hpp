// A progress line on stderr for commands that can take more than a few seconds (predict,
// embed, eval, explain, index, search, report, kg compile; train and pretrain have their own
// bar): redrawn in place on a terminal, never written when stderr is not a terminal (a log, a
// pipe) or when the user asked for quiet.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace kbert {

/// Whether stderr is a terminal.
bool stderr_is_terminal();

class ProgressLine {
 public:
  /// `what`: the command ("kbert predict"); `unit`: what is counted ("texts"). Nothing is drawn
  /// unless `enabled` and stderr is a terminal, and not before env::progress_after() seconds.
  ProgressLine(std::string what, std::string unit, bool enabled);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  /// `done` of `total` (0: unknown); at most four redraws a second; done == total ends the line.
  void update(std::size_t done, std::size_t total);
  /// Ends the line when one was drawn (the next output starts on a line of its own; a later
  /// update starts a new line).
  void finish();

 private:
  std::string what_, unit_;
  bool enabled_;
  bool drawn_ = false;
  double after_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace kbert
