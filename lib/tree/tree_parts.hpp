// The parts of a sentence tree while it is built (SentenceTreeBuilder::build): the flattened,
// untruncated tree and per-thread buffers, shared by the steps in sentence_tree.cpp (words,
// fact choice, layout) and tree_outputs.cpp (truncation, masks, segments, the injected list).
// Internal to lib/tree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert::tree_build {

// A token of the flattened, untruncated tree.
struct FlatToken {
  std::int32_t position;
  std::uint32_t word;
  std::int32_t branch;  // index into branches, -1 for trunk
  std::uint32_t token;  // index into Scratch::seg.tokens (trunk tokens, then branch values' tokens)
};

struct Branch {
  std::uint32_t word, start, end;     // flat token range of the branch's own tokens
  std::int32_t parent;                // branch index of the parent fact, -1 at hop 1
  std::uint32_t hop;
  std::uint32_t node;                 // surface id of the fact's subject
  std::string_view relation, object;  // views into the KG
};

// A fact chosen for one entity mention, before layout (breadth first).
struct Chosen {
  std::string value;     // the branch's text (predicate + object, or object)
  KgFact fact;
  std::int32_t parent;   // index into the chosen facts, -1 at hop 1
  std::uint32_t hop;
  std::uint32_t node;    // surface id of the fact's subject
  std::int64_t object;   // surface id of the object, -1 when it is none (or not looked up)
};

// A chosen fact as the layout reads it: views into a Chosen or into the FactIndex.
struct ChosenView {
  std::string_view value, relation, object;
  std::int32_t parent;  // index into the mention's chosen facts, -1 at hop 1
  std::uint32_t hop;
  std::uint32_t node;   // surface id of the fact's subject
};

// With hops = 1 the facts a mention injects depend on its surface form alone: chosen once
// per form when the builder is made (choose_facts, so the same choice), instead of a walk
// of the KG's adjacency, its string pools and the repeat test for every mention (a sixth
// of a short text's tree on HowNet).
struct FactIndex {
  struct Entry {
    std::uint32_t offset;  // into text: relation, joiner, object
    std::uint32_t relation_size, object_size;
  };
  std::vector<std::uint32_t> begin;  // per surface id, and one past the last: its entries
  std::vector<Entry> entries;
  std::string text;
  std::uint32_t joiner_size = 0;
  bool predicate = false;
};

// A node to expand: a surface form, the chosen fact it came from (-1: the mention), its hop.
struct Node {
  std::uint32_t surface;
  std::int32_t from;
  std::uint32_t hop;
};

// Kept range (new indices) of a group of tokens; contiguous by construction.
struct Range {
  std::int32_t b = -1, e = -1;
  void add(std::int32_t k) {
    if (b < 0) b = k;
    e = k + 1;
  }
};

// Per-thread buffers, reused from tree to tree.
struct Scratch {
  TokenizedText seg;  // the words; its tokens: the trunk's, then the branch values' as laid out
  std::vector<FlatToken> flat;
  std::vector<Branch> branches;
  std::vector<Chosen> chosen;
  std::vector<ChosenView> views;  // the current mention's chosen facts, for the layout
  std::vector<Node> nodes;
  std::unordered_set<std::uint32_t> expanded;  // nodes expanded for the current mention
  std::vector<std::int32_t> first_child, next_sibling;
  std::vector<std::int32_t> injected_index;  // per branch: its index in tree.injected, or -1
  std::unordered_set<std::string> seen;  // values already taken, once there are many
  std::vector<std::uint32_t> keep;  // the kept flat indices, unless keep_prefix
  bool keep_prefix = false;         // kept: the first kept_count flat tokens (keep is not filled)
  std::size_t kept_count = 0;
  std::vector<std::uint8_t> kept_branch, trunk_row;
  std::vector<Range> trunk_r, branches_r, branch_r, subtree_r;  // only grow: the first words / branches count
  std::string text;
};

/// The visible matrix's rows before branches are added (row-major m x m at `data`): row k is
/// `trunk_row` where segments[k] is 0 (a trunk token), zeros elsewhere. `avx512`: with
/// AVX-512 BW masked stores (the caller checks the CPU); both ways give the same bytes.
void visible_rows(std::uint8_t* data, std::size_t m, const std::uint8_t* trunk_row, const std::uint8_t* segments,
                  bool avx512);

/// Step 3: which flattened tokens are kept (options.truncation).
void keep_tokens(const TreeOptions& options, Scratch& sc);
/// Step 4: the tree's tokens, positions, segments, visible matrix, model segment ids and
/// vocabulary ids over the kept tokens; `words` laid out (kbert truncation may stop before the last).
void write_outputs(const Tokenizer& tok, std::size_t words, Scratch& sc, SentenceTree& tree);
/// Step 5: tree.injected, one entry per kept branch (a kept branch's parent is kept).
void list_injected(const KnowledgeGraph& kg, Scratch& sc, SentenceTree& tree);

}  // namespace kbert::tree_build
