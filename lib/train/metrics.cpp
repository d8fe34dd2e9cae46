#include "kbert/train/metrics.hpp"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace kbert {

ClassificationReport ClassificationReport::compute(const std::vector<std::int64_t>& gold,
                                                   const std::vector<std::int64_t>& predicted,
                                                   const std::vector<std::string>& labels) {
  if (gold.size() != predicted.size())
    throw std::invalid_argument("metrics: " + std::to_string(gold.size()) + " gold labels but " +
                                std::to_string(predicted.size()) + " predictions");
  const auto C = static_cast<std::int64_t>(labels.size());
  ClassificationReport r;
  r.examples = static_cast<std::int64_t>(gold.size());
  r.confusion.assign(static_cast<std::size_t>(C), std::vector<std::int64_t>(static_cast<std::size_t>(C), 0));
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] < 0 || gold[i] >= C || predicted[i] < 0 || predicted[i] >= C)
      throw std::out_of_range("metrics: label id outside [0, " + std::to_string(C) + ")");
    ++r.confusion[static_cast<std::size_t>(gold[i])][static_cast<std::size_t>(predicted[i])];
    correct += gold[i] == predicted[i];
  }
  r.accuracy = r.examples ? static_cast<double>(correct) / static_cast<double>(r.examples) : 0.0;
  for (std::int64_t c = 0; c < C; ++c) {
    std::int64_t tp = r.confusion[c][c], fp = 0, fn = 0;
    for (std::int64_t k = 0; k < C; ++k) {
      if (k == c) continue;
      fp += r.confusion[k][c];
      fn += r.confusion[c][k];
    }
    ClassMetrics m;
    m.label = labels[static_cast<std::size_t>(c)];
    m.support = tp + fn;
    m.precision = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
    m.recall = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
    r.macro_precision += m.precision;
    r.macro_recall += m.recall;
    r.macro_f1 += m.f1;
    r.classes.push_back(m);
  }
  if (C) {
    r.macro_precision /= static_cast<double>(C);
    r.macro_recall /= static_cast<double>(C);
    r.macro_f1 /= static_cast<double>(C);
  }
  return r;
}

std::string ClassificationReport::to_json() const {
  nlohmann::json j = {{"examples", examples},
                      {"accuracy", accuracy},
                      {"macro_precision", macro_precision},
                      {"macro_recall", macro_recall},
                      {"macro_f1", macro_f1},
                      {"confusion", confusion}};
  nlohmann::json per = nlohmann::json::array();
  for (const auto& c : classes)
    per.push_back({{"label", c.label}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1}, {"support", c.support}});
  j["classes"] = per;
  return j.dump(2);
}

std::string ClassificationReport::to_table() const {
  std::ostringstream os;
  os << std::fixed << std::setprecision(4);
  os << std::left << std::setw(24) << "label" << std::right << std::setw(10) << "precision" << std::setw(10) << "recall"
     << std::setw(10) << "f1" << std::setw(10) << "support" << "\n";
  for (const auto& c : classes)
    os << std::left << std::setw(24) << c.label.substr(0, 23) << std::right << std::setw(10) << c.precision << std::setw(10)
       << c.recall << std::setw(10) << c.f1 << std::setw(10) << c.support << "\n";
  os << std::left << std::setw(24) << "macro" << std::right << std::setw(10) << macro_precision << std::setw(10)
     << macro_recall << std::setw(10) << macro_f1 << std::setw(10) << examples << "\n";
  os << "accuracy " << accuracy << " on " << examples << " examples\n";
  return os.str();
}

}  // namespace kbert
