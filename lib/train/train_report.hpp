// How a training run reports its progress: to the caller's callback (TrainOptions::on_progress)
// or to stderr. Internal to the training loop (train_loop.cpp).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include "kbert/train/trainer.hpp"

namespace kbert {

inline std::string clock_text(double seconds) {
  const auto s = static_cast<long>(seconds);
  std::ostringstream os;
  os << s / 60 << ":" << std::setw(2) << std::setfill('0') << s % 60;
  return os.str();
}

// Progress of a run: to the caller's callback when it gave one, else to stderr (a bar
// redrawn in place on a terminal, a line per tenth of an epoch otherwise).
class Reporter {
 public:
  Reporter(const TrainOptions& o) : o_(o), tty_(o.progress && !o.on_progress && ::isatty(2)) {}

  void note(const std::string& message) const {
    if (!o_.progress) return;
    if (o_.on_progress) {
      TrainProgress p;
      p.kind = TrainProgress::Kind::kNote;
      p.message = message;
      o_.on_progress(p);
    } else {
      std::cerr << (mid_line_ ? "\n" : "") << "kbert train: " << message << "\n";
      mid_line_ = false;
    }
  }

  void batch(const TrainProgress& p) const {
    if (!o_.progress) return;
    if (o_.on_progress) return o_.on_progress(p);
    if (tty_) {
      const int width = 24;
      const int done = static_cast<int>(width * p.batch / std::max<std::size_t>(p.batches, 1));
      std::cerr << "\repoch " << p.epoch << "/" << p.epochs << " [" << std::string(done, '#')
                << std::string(width - done, '.') << "] " << p.batch << "/" << p.batches << " loss " << std::fixed
                << std::setprecision(4) << p.loss << " " << std::setprecision(1) << p.examples_per_second << " ex/s ETA "
                << clock_text(p.eta_seconds) << "   " << std::flush;
      mid_line_ = true;
    } else if (p.batch % std::max<std::size_t>(1, p.batches / 10) == 0 || p.batch == p.batches) {
      std::cerr << "epoch " << p.epoch << "/" << p.epochs << " batch " << p.batch << "/" << p.batches << " loss "
                << std::fixed << std::setprecision(4) << p.loss << " " << std::setprecision(1) << p.examples_per_second
                << " ex/s ETA " << clock_text(p.eta_seconds) << "\n";
    }
  }

  void epoch(const TrainProgress& p) const {
    if (!o_.progress) return;
    if (o_.on_progress) return o_.on_progress(p);
    if (mid_line_) std::cerr << "\n";
    mid_line_ = false;
    if (p.has_dev)
      std::cerr << "epoch " << p.epoch << ": dev " << p.metric << " " << std::fixed << std::setprecision(4)
                << p.dev_metric << (p.best ? " (best)" : "") << "\n";
  }

 private:
  const TrainOptions& o_;
  const bool tty_;
  mutable bool mid_line_ = false;
};

}  // namespace kbert
