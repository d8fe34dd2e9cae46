// Retrieval glue: the Model's sentence vectors into a VectorIndex. No LibTorch here.
#include "kbert/index/retrieval.hpp"

#include <stdexcept>

namespace kbert {
namespace {

const char* embed_pooling_name(EmbedPooling p) {
  switch (p) {
    case EmbedPooling::kCls: return "cls";
    case EmbedPooling::kMax: return "max";
    case EmbedPooling::kTokens: return "tokens";
    case EmbedPooling::kMean: break;
  }
  return "mean";
}

std::string kg_override(const Model& m) { return m.run_options().kg.value_or(""); }
std::size_t max_length_override(const Model& m) { return m.run_options().max_length.value_or(0); }

}  // namespace

VectorIndex build_index(const Model& model, const std::vector<std::string>& texts, std::vector<std::string> ids,
                        std::vector<std::string> labels, const IndexBuildOptions& options) {
  if (options.pooling == EmbedPooling::kTokens)
    throw std::invalid_argument("an index holds one vector a text: pooling cls, mean or max, not tokens");
  if (model.directory().empty())
    throw std::invalid_argument("index a corpus with a model loaded from a directory (save a created model first)");
  IndexSource source;
  source.model = model.directory();
  source.model_fingerprint = model.fingerprint();
  source.pooling = embed_pooling_name(options.pooling);
  source.kg = kg_override(model);
  source.max_length = max_length_override(model);
  Matrix e = model.embed(texts, options.pooling, /*normalize=*/true);
  return VectorIndex::build(std::move(e.data), e.cols, std::move(ids), std::move(labels),
                            options.store_texts ? texts : std::vector<std::string>{}, std::move(source));
}

void check_index_model(const VectorIndex& index, const Model& model) {
  const IndexSource& s = index.source();
  if (model.fingerprint() != s.model_fingerprint)
    throw std::invalid_argument("the index was built with the model in " + s.model + " (fingerprint " +
                                s.model_fingerprint + "); the model in " + model.directory() + " is another (" +
                                model.fingerprint() + "): its vectors are not comparable");
  if (kg_override(model) != s.kg)
    throw std::invalid_argument("the index was built with --kg '" + (s.kg.empty() ? "(the model's)" : s.kg) +
                                "', the model is loaded with '" +
                                (kg_override(model).empty() ? "(the model's)" : kg_override(model)) + "'");
  if (max_length_override(model) != s.max_length)
    throw std::invalid_argument("the index was built with max_length " + std::to_string(s.max_length) +
                                " (0: the model's), the model is loaded with " +
                                std::to_string(max_length_override(model)));
  if (model.config().hidden_size != static_cast<std::int64_t>(index.dim()))
    throw std::invalid_argument("the index holds vectors of " + std::to_string(index.dim()) + ", the model makes " +
                                std::to_string(model.config().hidden_size));
}

std::vector<std::vector<SearchHit>> search_index(const VectorIndex& index, const Model& model,
                                                 const std::vector<std::string>& queries, std::size_t k) {
  check_index_model(index, model);
  Matrix q = model.embed(queries, parse_embed_pooling(index.source().pooling), /*normalize=*/true);
  return index.search(q.data.data(), q.rows, k);
}

}  // namespace kbert
