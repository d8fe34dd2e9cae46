// Hugging Face BertTokenizer, reimplemented: basic tokenization then WordPiece.
//
// Basic tokenization, in HF's order: drop NUL, U+FFFD and control characters and
// map whitespace to ' '; put spaces around CJK ideographs; NFC; split on
// whitespace; per word (special tokens excepted) lower-case and strip accents
// (NFD, drop Mn) or only strip accents, as configured; split off punctuation.
// WordPiece: greedy longest match with "##" continuations; a word longer than
// 100 code points, or one with no complete match, becomes [UNK].
//
//   "Héllo, WORLD!" (uncased) -> hello , world !  -> wordpieces from vocab.txt
#pragma once

#include <memory>
#include <unordered_set>

#include "kbert/tokenizer/tokenizer.hpp"

namespace kbert {

struct WordPieceOptions {
  bool lower_case = true;              ///< lower-case before WordPiece; false for cased models
  std::optional<bool> strip_accents;   ///< unset: follow lower_case (HF's default)
  bool tokenize_chinese_chars = true;  ///< spaces around CJK ideographs
  std::size_t max_chars_per_word = 100;  ///< longer words become [UNK]
  std::string unk_token = "[UNK]";
  std::vector<std::string> never_split = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};  ///< kept whole
  bool case_insensitive_match = false;  ///< also fold case when matching KG forms (cased models)
};

class WordPieceTokenizer : public Tokenizer {
 public:
  WordPieceTokenizer(std::shared_ptr<const Vocab> vocab, WordPieceOptions options = {});
  /// Reads vocab.txt and, when present beside it, tokenizer_config.json
  /// (do_lower_case, strip_accents, tokenize_chinese_chars, unk_token); explicit
  /// options in `overrides` win.
  static std::shared_ptr<WordPieceTokenizer> from_files(const std::string& vocab_path, const TokenizerOptions& overrides = {});

  std::string_view kind() const override { return "wordpiece"; }
  std::vector<std::string> tokenize(std::string_view text) const override;
  std::u32string match_key(std::string_view surface) const override;
  void append_segments(std::string_view text, const EntityMatcher* matcher, TokenizedText& out,
                       std::size_t max_tokens) const override;
  std::string_view predicate_joiner() const override { return " "; }
  const Vocab* vocab() const override { return vocab_.get(); }
  const WordPieceOptions& options() const { return options_; }

  /// HF BasicTokenizer alone: the normalised words (specials kept whole).
  std::vector<std::u32string> basic_tokenize(std::string_view text) const;
  /// WordPiece of one basic word, appended to `out`.
  void wordpiece(std::u32string_view word, std::vector<std::string>& out) const;

 private:
  void basic_chunk(std::u32string_view text, std::vector<std::u32string>& out) const;

  std::shared_ptr<const Vocab> vocab_;
  WordPieceOptions options_;
  std::vector<std::u32string> never_split_;
};

}  // namespace kbert
