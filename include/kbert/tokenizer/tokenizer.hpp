// Tokenizers turn a text into the words and tokens a sentence tree is built from.
//
// Three kinds, made by make_tokenizer():
//   char          K-BERT's mode: one token per code point, KG subjects matched
//                 leftmost-longest anywhere (docs/KBERT_SPEC.md section 2), special tags kept whole.
//   wordpiece     Hugging Face BertTokenizer (basic tokenization, then WordPiece);
//                 KG surface forms match whole words only, after the same normalisation.
//   sentencepiece a sentencepiece model; surface forms match whole words only.
//
//   kbert::TokenizerOptions o;
//   o.kind = "wordpiece";
//   o.vocab_path = "vocab.txt";
//   auto tok = kbert::make_tokenizer(o);
//   tok->tokenize("Unaffable") -> {"una", "##ff", "##able"}
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kbert/tokenizer/token_buffer.hpp"
#include "kbert/tokenizer/vocab.hpp"

namespace kbert {

class EntityMatcher;

/// K-BERT's special tags (brain/config.py NEVER_SPLIT_TAG), in its order.
inline constexpr std::array<std::string_view, 9> kSpecialTags = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                                 "[ENT]", "[SUB]", "[PRE]", "[OBJ]"};
inline constexpr std::string_view kPadToken = "[PAD]";
inline constexpr std::string_view kClsToken = "[CLS]";
inline constexpr std::string_view kSepToken = "[SEP]";

/// One word of a segmented text: a run of trunk tokens, and the KG surface form it
/// mentions (-1 for none).
struct Word {
  std::uint32_t token_begin = 0;  ///< first token, index into TokenizedText::tokens
  std::uint32_t token_end = 0;    ///< one past the last token
  std::int64_t surface = -1;      ///< surface-form id from the matcher's payload, or -1
  bool special = false;           ///< a special tag such as [CLS]: never gets knowledge
};

struct TokenizedText {
  TokenBuffer tokens;
  std::vector<Word> words;
  void clear() {
    tokens.clear();
    words.clear();
  }
  /// Appends a special tag as a word of its own.
  void push_special(std::string_view tag) {
    Word w;
    w.token_begin = static_cast<std::uint32_t>(tokens.size());
    tokens.push_back(tag);
    w.token_end = w.token_begin + 1;
    w.special = true;
    words.push_back(w);
  }
};

/// Options of make_tokenizer(). Fields that do not apply to a kind are ignored.
struct TokenizerOptions {
  std::string kind = "char";            ///< "char", "wordpiece" or "sentencepiece"
  std::string vocab_path;               ///< vocab.txt; required for wordpiece, optional for char (gives ids)
  std::string spm_model_path;           ///< sentencepiece .model; required for sentencepiece
  std::optional<bool> lower_case;       ///< wordpiece: lower-case text; unset: tokenizer_config.json, else true
  std::optional<bool> strip_accents;    ///< wordpiece: strip accents; unset: tokenizer_config.json, else as lower_case
  std::optional<bool> tokenize_chinese_chars;  ///< wordpiece: spaces around CJK; unset: config, else true
  bool case_insensitive_match = false;  ///< match KG surface forms ignoring case (all kinds); off: exact
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  /// "char", "wordpiece" or "sentencepiece".
  virtual std::string_view kind() const = 0;
  /// Tokens of a plain text, without entity matching (branch values use this).
  virtual std::vector<std::string> tokenize(std::string_view text) const = 0;
  /// As tokenize(), appending to `out`.
  virtual void tokenize_into(std::string_view text, std::vector<std::string>& out) const;
  /// As tokenize(), appending to a token buffer (the tree builder's branch values).
  virtual void tokenize_into(std::string_view text, TokenBuffer& out) const;
  /// The key a KG surface form is matched by, in the normalised form segment() matches;
  /// empty when the form can never match (char mode: it contains whitespace).
  virtual std::u32string match_key(std::string_view surface) const = 0;
  /// Splits a text into words and tokens, matching surface forms with `matcher` (may be null).
  /// Throws std::invalid_argument on invalid UTF-8.
  void segment(std::string_view text, const EntityMatcher* matcher, TokenizedText& out) const {
    out.clear();
    append_segments(text, matcher, out, static_cast<std::size_t>(-1));
  }
  /// As segment(), appending to `out`; may stop early once `out` holds at least
  /// `max_tokens` tokens (the tree builder never needs more than max_length).
  virtual void append_segments(std::string_view text, const EntityMatcher* matcher, TokenizedText& out,
                               std::size_t max_tokens) const = 0;
  /// Joins predicate and object into a branch value in predicate mode:
  /// "" in char mode (K-BERT concatenates), " " for word tokenizers (docs/KBERT_SPEC.md section 7).
  virtual std::string_view predicate_joiner() const = 0;
  /// Whether special tags are recognised inside the text (char mode) rather than
  /// added as separate words.
  virtual bool tags_in_text() const { return false; }
  /// The vocabulary, or nullptr when there is none.
  virtual const Vocab* vocab() const = 0;
};

/// Makes a tokenizer of `options.kind`. Throws std::invalid_argument (unknown kind,
/// missing file option), FileError or ParseError.
std::shared_ptr<Tokenizer> make_tokenizer(const TokenizerOptions& options);

}  // namespace kbert
