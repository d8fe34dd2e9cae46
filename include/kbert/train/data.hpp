// Labelled text datasets for training and evaluation.
//
// Formats, chosen by extension (.tsv, .csv, .jsonl / .json):
//   K-BERT TSV   a header row naming the columns, then label<TAB>text_a[<TAB>text_b]
//   CSV          RFC 4180, a header row naming the columns
//   JSONL        one JSON object a line
// The columns are "label", "text_a" (or "text"), optional "text_b" and "id"; other names can be
// given, and the label made optional (corpora for retrieval).
// A bad row is an error naming the file and the row.
//
//   kbert::Dataset train = kbert::Dataset::load("train.tsv");
//   kbert::LabelSet labels = kbert::LabelSet::from(train);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kbert {

struct Example {
  std::string label;   ///< as written in the file
  std::string text_a;
  std::string text_b;  ///< empty for single texts
  std::size_t line = 0;  ///< where the example starts in its file (1-based; 0: not from a file)
  std::string id;        ///< the "id" column when the file has one (retrieval corpora), else ""
};

struct DatasetOptions {
  std::string label_column = "label";
  std::string text_a_column = "text_a";  ///< "text" is accepted too
  std::string text_b_column = "text_b";  ///< optional
  std::string id_column = "id";          ///< optional
  bool require_label = true;             ///< false: the label column may be missing (empty labels)
};

struct Dataset {
  std::string path;
  std::vector<Example> examples;
  bool has_pairs = false;

  /// Throws FileError, or ParseError naming the file and the row.
  static Dataset load(const std::string& path, const DatasetOptions& options = {});
  std::size_t size() const { return examples.size(); }
};

/// Label names <-> ids. Numeric labels sort numerically ("0", "1", "2"), others by name.
class LabelSet {
 public:
  LabelSet() = default;
  explicit LabelSet(std::vector<std::string> names);
  static LabelSet from(const Dataset& data);
  /// Id of a label; throws std::out_of_range naming it when unknown.
  std::int64_t id(const std::string& name) const;
  const std::vector<std::string>& names() const { return names_; }
  std::size_t size() const { return names_.size(); }

 private:
  std::vector<std::string> names_;
};

}  // namespace kbert
