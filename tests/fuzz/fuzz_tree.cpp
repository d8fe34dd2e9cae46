// Fuzzes the tree builder: the first byte picks options and tokenizer, the second hops
// and max_facts, the rest is the text (a TAB splits a pair). Invalid UTF-8 must raise
// std::invalid_argument. The KG has chains and cycles for multi-hop trees.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

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
    k.add("水果", "是", "食物");  // chains: 苹果 -> 水果 -> 食物 -> 苹果 (a cycle)
    k.add("食物", "是", "苹果");
    k.add("山东", "属于", "中国");
    k.add("中国", "首都", "北京");  // 北京 -> 中国 -> 北京
    k.add("equipment", "part of", "power transformer");
    k.add("quantity", "is a", "power");
    k.add("space", "has", "x");
    return k;
  }();
  return g;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0], hops = data[1];
  std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
  static auto char_tok = std::make_shared<kbert::CharTokenizer>();
  static auto wp_tok = std::make_shared<kbert::WordPieceTokenizer>(std::make_shared<kbert::Vocab>(
      kbert::Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "power", "transform", "##er", "is", "a", "equipment"})));
  kbert::TreeOptions opt;
  opt.max_entities = mode & 3;
  opt.max_length = 1 + ((mode >> 2) & 7) * 9;
  opt.predicate = mode & 32;
  opt.add_special = mode & 64;
  opt.truncation = (mode & 128) ? kbert::Truncation::kTrunkFirst : kbert::Truncation::kKbert;
  opt.hops = 1 + (hops & 3);
  opt.max_facts = (hops >> 2) & 7;
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
    for (std::size_t i = 0; i < t.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (t.visible(i, j) != t.visible(j, i)) __builtin_trap();  // paths see each other both ways
    for (std::size_t i = 0; i < t.injected.size(); ++i) {
      const auto& inj = t.injected[i];
      if (inj.start >= inj.end || inj.end > t.size()) __builtin_trap();
      if (inj.hop < 1 || inj.hop > opt.hops || (inj.hop == 1) != (inj.parent < 0)) __builtin_trap();
      if (inj.parent >= 0) {
        const auto& p = t.injected[static_cast<std::size_t>(inj.parent)];
        if (static_cast<std::size_t>(inj.parent) >= i || p.hop + 1 != inj.hop || p.end > inj.start ||
            t.positions[inj.start] != t.positions[p.end - 1] + 1 || !t.visible(inj.start, p.start))
          __builtin_trap();  // a sub-branch follows its parent and counts on from its last token
      }
    }
    // Removing a branch (attribution): its tokens and its sub-branches' go, the rest stays consistent.
    for (std::size_t j = 0; j < t.injected.size() && j < 3; ++j) {
      const kbert::SentenceTree r = kbert::remove_branch(t, j);
      std::vector<bool> gone(t.injected.size(), false);
      gone[j] = true;
      std::size_t len = 0, facts = 0;
      for (std::size_t i = 0; i < t.injected.size(); ++i) {
        const auto p = t.injected[i].parent;
        if (i > j && p >= 0 && gone[static_cast<std::size_t>(p)]) gone[i] = true;
        if (gone[i]) len += t.injected[i].end - t.injected[i].start, ++facts;
      }
      if (r.size() != t.size() - len || r.visible.rows() != static_cast<long>(r.size()) ||
          r.positions.size() != r.size() || r.injected.size() != t.injected.size() - facts)
        __builtin_trap();
      for (const auto& inj : r.injected)
        if (inj.start >= inj.end || inj.end > r.size() || inj.entity_end > r.size()) __builtin_trap();
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
