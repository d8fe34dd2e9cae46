// An exact nearest-neighbour index of sentence vectors: similar-report retrieval.
//
// Rows are L2-normalised when the index is built, queries when it is searched, so a score is a
// cosine. Search is exact (every row is scored, blocks of queries against blocks of rows as
// matrix products) and deterministic: hits by score, ties by row. The file is written
// atomically and memory-mapped when opened; the vectors are never copied.
//
//   kbert::VectorIndex ix = kbert::VectorIndex::open("reports.kbix");
//   auto hits = ix.search(queries.data(), n_queries, /*k=*/5);   // hits[q][i].row, .score
//   ix.label(hits[0][0].row);
//
// File layout (little-endian): the magic "KBERTIX1", u64 rows, u64 dim, u64 bytes of the JSON
// metadata, the metadata (ids, labels, texts, how the vectors were made), zero padding to a
// multiple of 64 bytes, then rows x dim float32, row-major. Nothing may follow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kbert {

/// How the vectors were made: a query must be embedded the same way to be comparable.
struct IndexSource {
  std::string model;              ///< the model directory (as given when the index was built)
  std::string model_fingerprint;  ///< model_fingerprint() of that directory
  std::string pooling = "mean";   ///< EmbedPooling name
  std::string kg;                 ///< the KG override ("" = the model's own, "none", or a file)
  std::size_t max_length = 0;     ///< the max_length override (0 = the model's own)
};

struct SearchHit {
  std::size_t row = 0;
  float score = 0;  ///< cosine similarity
};

class VectorIndex {
 public:
  VectorIndex();
  ~VectorIndex();
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;

  /// An index of `vectors` (rows x dim, row-major), each row normalised here (a zero row stays
  /// zero and scores 0). ids, labels and texts are empty or one per row; missing ids become
  /// "1", "2", ... Throws std::invalid_argument on mismatched sizes or non-finite values.
  static VectorIndex build(std::vector<float> vectors, std::size_t dim, std::vector<std::string> ids,
                           std::vector<std::string> labels, std::vector<std::string> texts, IndexSource source);
  /// Memory-maps an index file. Throws FileError (cannot open) or ParseError naming the file
  /// and what is wrong (magic, sizes, metadata).
  static VectorIndex open(const std::string& path);
  /// Writes the index file atomically (kbert/common/atomic_file.hpp).
  void save(const std::string& path) const;

  std::size_t size() const;
  std::size_t dim() const;
  const float* vector(std::size_t row) const;  ///< normalised
  const std::string& id(std::size_t row) const;
  const std::string& label(std::size_t row) const;  ///< "" when the index has no labels
  const std::string& text(std::size_t row) const;   ///< "" when the index has no texts
  bool has_labels() const;
  bool has_texts() const;
  const IndexSource& source() const;

  /// The k best rows for each of n queries (n x dim, row-major; normalised here), best first;
  /// fewer when the index has fewer rows. Throws std::invalid_argument on non-finite queries.
  std::vector<std::vector<SearchHit>> search(const float* queries, std::size_t n, std::size_t k) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A fingerprint of a model directory's weights and settings (model.safetensors and
/// kbert.json, FNV-1a 64 in hex): an index refuses queries embedded by another model.
std::string model_fingerprint(const std::string& model_dir);

}  // namespace kbert
