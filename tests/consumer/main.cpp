#include <iostream>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/tree/sentence_tree.hpp"

int main() {
  kbert::KnowledgeGraph kg;
  kg.add("苹果", "是", "水果");
  kbert::SentenceTreeBuilder builder(&kg, kbert::make_tokenizer({}), {});
  kbert::SentenceTree t = builder.build("我吃苹果");
  for (const auto& tok : t.tokens) std::cout << tok;
  std::cout << "\n";
  return t.size() == 6 ? 0 : 1;
}
