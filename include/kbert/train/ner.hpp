// Token classification (NER) the K-BERT way: data, entity-level metrics, and the
// labels of a sentence tree.
//
// Data formats:
//   BIO TSV    K-BERT's: a header naming text_a and label; text_a holds the tokens and
//              label the tags, both separated by single spaces (char-level Chinese NER).
//   CoNLL      one token a line, its tag in the last whitespace-separated column, a blank
//              line between sentences; "-DOCSTART-" lines are skipped.
// Evaluation is entity-level as conlleval counts it: a chunk starts at B-X, or at I-X
// after a tag of another type or O; it ends before O, B-, or a tag of another type. An
// entity is correct only when its type and both boundaries match.
//
//   kbert::TaggedDataset train = kbert::TaggedDataset::load("train.tsv");
//   auto spans = kbert::bio_entities({"B-PER", "I-PER", "O"});   // {PER, 0, 2}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kbert/tree/sentence_tree.hpp"

namespace kbert {

/// The label of injected (branch) tokens in K-BERT's NER.
inline constexpr const char* kEntityLabel = "[ENT]";

struct TaggedSentence {
  std::vector<std::string> tokens;
  std::vector<std::string> tags;  ///< one per token
};

enum class TaggedFormat { kAuto, kBioTsv, kConll };
/// auto | bio-tsv | conll; throws std::invalid_argument naming anything else.
TaggedFormat parse_tagged_format(const std::string& name);

struct TaggedDataset {
  std::string path;
  std::vector<TaggedSentence> sentences;
  bool word_level = false;  ///< CoNLL: tokens are words joined by spaces; BIO TSV: characters joined as they are

  /// Auto: .tsv with a header naming text_a and label is BIO TSV, anything else CoNLL.
  /// Throws FileError, or ParseError naming the file and line (token and tag counts differ,
  /// a tag that is not O, B-X or I-X, a line without a tag).
  static TaggedDataset load(const std::string& path, TaggedFormat format = TaggedFormat::kAuto);
  /// The sentence as text: tokens joined by a space (word level) or by nothing.
  std::string text(std::size_t i) const;
  /// Every tag of the data, O first, then sorted.
  std::vector<std::string> tag_names() const;
  std::size_t size() const { return sentences.size(); }
};

/// The text a tree is built from for a tagged sentence: its tokens joined by a space
/// (word level) or by nothing (characters).
std::string join_tokens(const std::vector<std::string>& tokens, bool word_level);

/// An entity over tokens [begin, end).
struct EntitySpan {
  std::string type;
  std::size_t begin = 0, end = 0;
  bool operator==(const EntitySpan& o) const { return type == o.type && begin == o.begin && end == o.end; }
};

/// The entities of a tag sequence, conlleval's chunking. Tags other than O, B-X, I-X
/// (such as K-BERT's [ENT] or [PAD]) end a chunk and start none.
std::vector<EntitySpan> bio_entities(const std::vector<std::string>& tags);

struct EntityTypeScores {
  std::string type;
  double precision = 0, recall = 0, f1 = 0;
  std::size_t gold = 0, predicted = 0, correct = 0;
};

/// Entity-level precision / recall / F1 over sentences: overall (micro) and per type.
struct EntityReport {
  std::size_t sentences = 0, gold = 0, predicted = 0, correct = 0;
  double precision = 0, recall = 0, f1 = 0;
  double token_accuracy = 0;  ///< tags equal, over all tokens
  std::vector<EntityTypeScores> types;  ///< sorted by type

  /// gold[i] and predicted[i] are the tags of sentence i (equal lengths; throws
  /// std::invalid_argument naming the sentence when not).
  static EntityReport compute(const std::vector<std::vector<std::string>>& gold,
                              const std::vector<std::vector<std::string>>& predicted);
  std::string to_json() const;
  std::string to_table() const;
};

/// Where each trunk token of a tree comes from: the index of the input token it belongs
/// to, and whether it is that token's first piece; -1 for [CLS]/[SEP] and branch tokens.
struct TreeTokenSource {
  std::vector<std::int32_t> token;   ///< per tree position
  std::vector<std::uint8_t> first;   ///< 1 on the first piece of an input token
  std::size_t tokens_covered = 0;    ///< input tokens with at least one piece in the tree (truncation drops the rest)
};

/// Aligns a tree built from `text` (TaggedDataset::text) with the sentence's tokens: each
/// input token is tokenized alone (`tokenizer`), and the tree's trunk must be those pieces
/// in order (cut by truncation). Throws std::invalid_argument when it is not.
TreeTokenSource align_tree(const SentenceTree& tree, const TaggedSentence& sentence, const Tokenizer& tokenizer);

/// The training labels of a tree, K-BERT's way: a first piece gets its token's tag id,
/// a branch token `ent_id` (the [ENT] label), [CLS]/[SEP] and continuation pieces
/// `ignore_id` (left out of the loss).
std::vector<std::int64_t> tree_labels(const TreeTokenSource& source, const SentenceTree& tree,
                                      const std::vector<std::int64_t>& token_tag_ids, std::int64_t ent_id,
                                      std::int64_t ignore_id);

}  // namespace kbert
