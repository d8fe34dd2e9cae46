// Fuzzes the tree builder: the first byte picks options and tokenizer, the rest is
// the text (a TAB splits a pair). Invalid UTF-8 must raise std::invalid_argument.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/char_tokenizer.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace {
const kbert::KnowledgeGraph& kg() {
  static kbert::KnowledgeGraph g = [] {
    kbert::KnowledgeGraph k;
    k.add("苹果", "是", "水果");
    k.add("苹果", "产地", "山东");
    k.add("北京", "首都", "中国");
    k.add("北", "方位", "北方");
    k.add("power transformer", "is a", "equipment");
    k.add("power", "is a", "quantity");
    k.add("[CLS]", "tag", "never");
    k.add("a b", "has", "space");
    k.add("x", "empty", "");
    return k;
  }();
  return g;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  static auto char_tok = std::make_shared<kbert::CharTokenizer>();
  static auto wp_tok = std::make_shared<kbert::WordPieceTokenizer>(std::make_shared<kbert::Vocab>(
      kbert::Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "power", "transform", "##er", "is", "a", "equipment"})));
  kbert::TreeOptions opt;
  opt.max_entities = mode & 3;
  opt.max_length = 1 + ((mode >> 2) & 7) * 9;
  opt.predicate = mode & 32;
  opt.add_special = mode & 64;
  opt.truncation = (mode & 128) ? kbert::Truncation::kTrunkFirst : kbert::Truncation::kKbert;
  std::shared_ptr<const kbert::Tokenizer> tok = (mode & 16) ? std::shared_ptr<const kbert::Tokenizer>(wp_tok) : char_tok;
  kbert::SentenceTreeBuilder builder(&kg(), tok, opt);
  try {
    std::size_t tab = text.find('\t');
    kbert::SentenceTree t = tab == std::string::npos ? builder.build(text)
                                                     : builder.build(std::string_view(text).substr(0, tab),
                                                                     std::string_view(text).substr(tab + 1));
    if (t.size() > opt.max_length || t.visible.rows() != static_cast<long>(t.size()) ||
        t.positions.size() != t.size() || t.uer_segments.size() != t.size())
      __builtin_trap();
    for (std::size_t i = 0; i < t.size(); ++i)
      if (!t.visible(i, i)) __builtin_trap();  // every token sees itself
    for (const auto& inj : t.injected)
      if (inj.start >= inj.end || inj.end > t.size()) __builtin_trap();
    // Removing a branch (attribution): its tokens go, the rest stays consistent.
    for (std::size_t j = 0; j < t.injected.size() && j < 3; ++j) {
      const kbert::SentenceTree r = kbert::remove_branch(t, j);
      const std::size_t len = t.injected[j].end - t.injected[j].start;
      if (r.size() != t.size() - len || r.visible.rows() != static_cast<long>(r.size()) ||
          r.positions.size() != r.size() || r.injected.size() != t.injected.size() - 1)
        __builtin_trap();
      for (const auto& inj : r.injected)
        if (inj.start >= inj.end || inj.end > r.size() || inj.entity_end > r.size()) __builtin_trap();
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
