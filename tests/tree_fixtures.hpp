// Fixtures of the sentence-tree suites (test_tree.cpp, test_tree_hops.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/char_tokenizer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert::test {

using Bytes = std::vector<std::uint8_t>;

// A visible matrix as rows of bytes (comparable, printable).
inline std::vector<Bytes> rows(const VisibleMatrix& v) {
  std::vector<Bytes> out;
  for (Eigen::Index i = 0; i < v.rows(); ++i) {
    Bytes r;
    for (Eigen::Index j = 0; j < v.cols(); ++j) r.push_back(v(i, j));
    out.push_back(r);
  }
  return out;
}

// Two entities, one fact repeated (K-BERT keeps it once).
inline KnowledgeGraph fruit_kg() {
  KnowledgeGraph kg;
  kg.add("苹果", "是", "水果");
  kg.add("苹果", "产地", "山东");
  kg.add("苹果", "是", "水果");
  kg.add("北京", "首都", "中国");
  return kg;
}

// A char-mode builder (K-BERT's tokenizer) over `kg`.
inline SentenceTreeBuilder char_builder(const KnowledgeGraph& kg, TreeOptions opt = {}) {
  return SentenceTreeBuilder(&kg, std::make_shared<CharTokenizer>(), opt);
}

}  // namespace kbert::test
