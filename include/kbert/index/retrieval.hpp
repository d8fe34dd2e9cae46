// Similar-text retrieval with a model: an index of a corpus's sentence vectors (with the KG,
// as the model sees the texts) and queries embedded the same way.
//
//   kbert::Model m = kbert::Model::load("models/faults");
//   kbert::VectorIndex ix = kbert::build_index(m, texts, ids, labels);
//   ix.save("train.kbix");
//   auto hits = kbert::search_index(kbert::VectorIndex::open("train.kbix"), m, {"a new report"}, 5);
#pragma once

#include <string>
#include <vector>

#include "kbert/index/vector_index.hpp"
#include "kbert/model/model.hpp"

namespace kbert {

struct IndexBuildOptions {
  EmbedPooling pooling = EmbedPooling::kMean;  ///< cls, mean or max (not tokens)
  bool store_texts = true;                     ///< keep the texts in the index (search shows them)
};

/// Embeds `texts` with the model and indexes them with their ids and labels (each empty or one
/// per text). The index records the model's directory and fingerprint, the pooling and the
/// model's KG and max_length overrides.
VectorIndex build_index(const Model& model, const std::vector<std::string>& texts, std::vector<std::string> ids,
                        std::vector<std::string> labels, const IndexBuildOptions& options = {});

/// Throws std::invalid_argument naming the difference when the model would not embed queries
/// as the index's vectors were embedded (another model, KG or max_length).
void check_index_model(const VectorIndex& index, const Model& model);

/// The k most similar indexed texts of each query, best first (check_index_model first).
std::vector<std::vector<SearchHit>> search_index(const VectorIndex& index, const Model& model,
                                                 const std::vector<std::string>& queries, std::size_t k);

}  // namespace kbert
