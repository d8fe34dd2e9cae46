// An HTML report of a classifier's run on labelled data, for the people who review its
// decisions: metrics, a confusion-matrix heat map, per-class F1 (beside a baseline model's),
// and per text the narrative with its entity mentions marked, the injected facts with what
// each changed (and its gate), the prediction, and the most similar indexed texts.
//
// One self-contained file: inline SVG drawn by a small script from JSON embedded in the page;
// no network. Every string from the data is shown as text (never parsed as HTML).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kbert/train/metrics.hpp"

namespace kbert::report {

struct Fact {
  std::string entity, relation, object;
  double change = 0;  ///< the predicted class's probability without the fact minus with it
  double gate = -1;   ///< the knowledge gate's value; -1 without a gate
};

struct Neighbour {
  std::string id, label, text;
  double score = 0;  ///< cosine similarity
};

struct Item {
  std::string text, gold, predicted;
  double probability = 0;          ///< of the predicted class
  std::string baseline_predicted;  ///< the baseline model's prediction ("" without one)
  std::vector<Fact> facts;
  std::vector<Neighbour> similar;
};

struct Data {
  std::string title = "kbert report";
  std::vector<std::pair<std::string, std::string>> about;  ///< (what, value) lines: model, data, KG, CPU ...
  ClassificationReport metrics;
  std::string model_name = "model";
  std::optional<ClassificationReport> baseline;  ///< the same data scored by a baseline model
  std::string baseline_name = "baseline";
  std::vector<Item> items;
};

/// The page.
std::string render_html(const Data& data);
/// Writes the page to `path` atomically (a temporary file, then rename).
void write_html(const std::string& path, const Data& data);

}  // namespace kbert::report
