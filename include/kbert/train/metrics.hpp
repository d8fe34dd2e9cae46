// Classification metrics: accuracy, per-class and macro precision / recall / F1,
// confusion matrix (rows gold, columns predicted).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kbert {

struct ClassMetrics {
  std::string label;
  double precision = 0, recall = 0, f1 = 0;
  std::int64_t support = 0;  ///< gold examples of the class
};

struct ClassificationReport {
  std::int64_t examples = 0;
  double accuracy = 0, macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  std::vector<ClassMetrics> classes;
  std::vector<std::vector<std::int64_t>> confusion;  ///< [gold][predicted]

  /// gold and predicted are label ids in [0, labels.size()).
  static ClassificationReport compute(const std::vector<std::int64_t>& gold, const std::vector<std::int64_t>& predicted,
                                      const std::vector<std::string>& labels);
  std::string to_json() const;
  std::string to_table() const;
  /// A training metric by name: "macro_f1", else accuracy (the trainer checks the name).
  double metric(const std::string& name) const { return name == "macro_f1" ? macro_f1 : accuracy; }
};

}  // namespace kbert
