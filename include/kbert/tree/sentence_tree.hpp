// Sentence trees: knowledge injected into a sentence, K-BERT style.
//
// For each word w of the text (tokenizer segmentation), the trunk tokens of w
// are followed by up to max_entities branches: the facts of w's KG surface form,
// first seen first, each branch the tokens of "predicate+object" (predicate mode)
// or "object". Worked example (char mode, predicate mode off, KG: 苹果 -> 水果):
//
//   text      我 吃 苹果
//   tokens    我 吃 苹 果 水 果          (hard index 0..5)
//   positions 0  1  2  3  4  5          (branch counts on from its entity's last trunk token)
//   segments  0  0  0  0  1  1          (0 trunk, 1 branch)
//   visible   trunk tokens see every trunk token and their own word's branches;
//             a branch sees itself and its word's trunk; so 我 cannot see 水/果(4,5).
//
// Truncation "kbert" keeps the first max_length tokens of that order (the
// original's behaviour: early knowledge can push sentence tokens out);
// "trunk_first" keeps every trunk token that fits and drops whole branches.
//
// Multi-hop (hops > 1; hops = 1 is K-BERT exactly): a fact whose object is itself a KG
// surface form with facts brings that node's facts as sub-branches, placed right after
// its own branch, up to `hops` facts deep. Facts are chosen breadth first (every hop-1
// fact K-BERT would inject, then hop 2, ...), at most max_entities per node and
// max_facts per entity mention over all hops; a node is expanded once per mention
// (under its first parent); a fact whose object already lies on its path is left out
// (no vertex twice on a path). A sub-branch's soft positions count on from the last
// token of its parent branch. Visibility follows paths: a branch token sees its word's
// trunk, its own branch, its ancestors' branches and its descendants' (not its
// siblings'); the mention's trunk tokens see all its branches; other trunk tokens see
// none. docs/DESIGN.md ("Multi-hop knowledge") has the worked example.
//
//   kbert::SentenceTreeBuilder builder(kg, kbert::make_tokenizer({}), {});
//   kbert::SentenceTree t = builder.build("我吃苹果");
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kbert/tokenizer/tokenizer.hpp"

namespace kbert {

class KnowledgeGraph;
class EntityMatcher;
namespace tree_build {
struct FactIndex;
}

enum class Truncation {
  kKbert,      ///< keep the first max_length tokens of the flattened tree (the original)
  kTrunkFirst  ///< keep the sentence's tokens; drop whole branches that do not fit
};

/// Parses "kbert", "trunk_first" or "trunk-first".
Truncation parse_truncation(std::string_view name);
/// "kbert" or "trunk_first": the name files and logs use.
const char* truncation_name(Truncation t);

struct TreeOptions {
  std::size_t max_entities = 2;   ///< facts injected per entity mention; 0 turns injection off
  std::size_t max_length = 256;   ///< tokens kept per tree (the model's sequence length)
  bool predicate = false;         ///< branch = predicate + object (K-BERT classification); off: object only (NER)
  Truncation truncation = Truncation::kKbert;  ///< what to drop when a tree is longer than max_length
  bool add_special = false;       ///< [CLS] text, or [CLS] a [SEP] b [SEP] for pairs; off: the text alone
  std::size_t hops = 1;           ///< fact chains followed per mention; 1 = K-BERT (see above)
  std::size_t max_facts = 0;      ///< facts per entity mention over all hops; 0: max_entities x hops
};

/// Row-major 0/1 matrix: visible(i, j) == 1 when token i may attend to token j.
using VisibleMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// One injected fact and where it sits in the tree (token ranges are half-open).
struct InjectedTriple {
  std::string entity;    ///< the fact's subject: the matched surface form (hop 1) or the parent's object
  std::string relation;
  std::string object;
  std::uint32_t start = 0, end = 0;                ///< the branch's own tokens (clipped by truncation)
  std::uint32_t entity_start = 0, entity_end = 0;  ///< the trunk tokens of the mention it hangs from
  std::uint32_t hop = 1;                           ///< 1: a fact of the mention; 2: a fact of a hop-1 object ...
  std::int32_t parent = -1;                        ///< index in `injected` of the parent fact; -1 at hop 1
};

struct SentenceTree {
  TokenBuffer tokens;                       ///< tokens[i] is a std::string_view; tokens.to_vector() copies them out
  std::vector<std::int32_t> ids;            ///< vocabulary ids; empty when the tokenizer has no vocabulary
  std::vector<std::int32_t> positions;      ///< soft positions
  std::vector<std::int32_t> hard_index;     ///< index in the untruncated flattened tree
  std::vector<std::uint8_t> segments;       ///< 0 trunk, 1 branch
  std::vector<std::int32_t> uer_segments;   ///< UER/K-BERT model segment ids: 1 first sentence, 2 second, 0 [PAD]
  std::vector<std::int32_t> hf_segments;    ///< Hugging Face token_type_ids: 0 first sentence, 1 second
  VisibleMatrix visible;                    ///< size() x size()
  std::vector<InjectedTriple> injected;
  bool is_pair = false;

  std::size_t size() const { return tokens.size(); }
};

/// The tree without the branch of tree.injected[index] and its sub-branches (the facts that
/// hang from it with hops > 1): their tokens leave the tree (and their rows and columns the
/// visible matrix); every other token keeps its soft position, segment and visibility, and
/// nothing takes their place; the other facts' parent indices are renumbered. The counterfactual "this fact not
/// injected here" that Model::explain scores. Throws std::out_of_range for a bad index.
SentenceTree remove_branch(const SentenceTree& tree, std::size_t index);

/// Builds sentence trees for one knowledge graph and tokenizer. Construction
/// builds the entity matcher once and, with hops = 1 on a KG of up to 2^20 facts to inject,
/// the facts each surface form injects (about 12 bytes a fact plus its text, and 4 bytes a
/// surface form); build() is const and thread-safe.
class SentenceTreeBuilder {
 public:
  /// `kg` may be nullptr (no knowledge) and must outlive the builder. What the builder
  /// matches and injects is the KG as it is now: for triples added later, build a new one.
  SentenceTreeBuilder(const KnowledgeGraph* kg, std::shared_ptr<const Tokenizer> tokenizer, TreeOptions options = {});
  ~SentenceTreeBuilder();
  SentenceTreeBuilder(SentenceTreeBuilder&&) noexcept;
  SentenceTreeBuilder& operator=(SentenceTreeBuilder&&) noexcept;

  /// The tree of one text. Throws std::invalid_argument on invalid UTF-8.
  SentenceTree build(std::string_view text) const;
  /// The tree of a pair (text_b may be empty only with add_special off... it is then ignored).
  SentenceTree build(std::string_view text_a, std::string_view text_b) const;
  /// Trees of many texts on `threads` threads (0: all cores); output in input order.
  /// `texts_b`, when not empty, pairs each text with texts_b[i].
  std::vector<SentenceTree> build_batch(const std::vector<std::string>& texts, const std::vector<std::string>& texts_b = {},
                                        unsigned threads = 0) const;
  /// The facts a tree of `text` would inject with no length limit (every mention of the
  /// whole text, max_entities / hops / max_facts as set), mention by mention, each mention's
  /// facts breadth first; token ranges are 0 (there is no tree). What the lexical side
  /// channel's knowledge reads (ModelSpec::lexical_knowledge). Empty without a KG.
  /// Throws std::invalid_argument on invalid UTF-8.
  std::vector<InjectedTriple> facts(std::string_view text) const;

  const TreeOptions& options() const { return options_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const KnowledgeGraph* knowledge_graph() const { return kg_; }
  const EntityMatcher* matcher() const { return matcher_.get(); }

 private:
  SentenceTree build_impl(std::string_view a, const std::string_view* b) const;

  const KnowledgeGraph* kg_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  TreeOptions options_;
  std::unique_ptr<EntityMatcher> matcher_;
  std::unique_ptr<tree_build::FactIndex> facts_;  // hops = 1: each form's facts, chosen once
};

}  // namespace kbert
