#include "kbert/common/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "kbert/common/env.hpp"

namespace kbert {

bool stderr_is_terminal() { return ::isatty(2) == 1; }

ProgressLine::ProgressLine(std::string what, std::string unit, bool enabled)
    : what_(std::move(what)), unit_(std::move(unit)), enabled_(enabled && stderr_is_terminal()),
      after_(enabled_ ? env::progress_after() : 0), start_(std::chrono::steady_clock::now()), last_(start_) {}

ProgressLine::~ProgressLine() { finish(); }

void ProgressLine::update(std::size_t done, std::size_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const bool last = total > 0 && done >= total;
  if (elapsed < after_ || (!last && drawn_ && std::chrono::duration<double>(now - last_).count() < 0.25)) return;
  last_ = now;
  std::ostringstream s;
  s << "\r" << what_ << ": " << done;
  if (total) s << "/" << total;
  s << " " << unit_;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  s << ", " << std::fixed << std::setprecision(rate < 10 ? 1 : 0) << rate << " " << unit_ << "/s";
  if (total && rate > 0 && !last) s << ", " << std::setprecision(0) << static_cast<double>(total - done) / rate << " s left";
  if (last) s << ", " << std::setprecision(1) << elapsed << " s";
  s << "    ";
  std::cerr << s.str() << std::flush;
  drawn_ = true;
  if (last) finish();
}

void ProgressLine::finish() {
  if (drawn_) std::cerr << "\n" << std::flush;
  drawn_ = false;
}

}  // namespace kbert
