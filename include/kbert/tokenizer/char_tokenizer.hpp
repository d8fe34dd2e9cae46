// K-BERT's character mode (docs/KBERT_SPEC.md section 2).
//
// Example, with KG subjects {"北京", "北京大学"}:
//   "[CLS]我在 北京大学" -> words [CLS] | 我 | 在 | 北京大学 (surface)
//   tokens                [CLS] 我 在 北 京 大 学     (whitespace is skipped)
#pragma once

#include <memory>

#include "kbert/tokenizer/tokenizer.hpp"

namespace kbert {

class CharTokenizer : public Tokenizer {
 public:
  /// `vocab` may be empty (no ids). `case_insensitive` folds case for matching only.
  explicit CharTokenizer(std::shared_ptr<const Vocab> vocab = nullptr, bool case_insensitive = false);

  std::string_view kind() const override { return "char"; }
  std::vector<std::string> tokenize(std::string_view text) const override;
  void tokenize_into(std::string_view text, std::vector<std::string>& out) const override;
  void tokenize_into(std::string_view text, TokenBuffer& out) const override;
  std::u32string match_key(std::string_view surface) const override;
  void append_segments(std::string_view text, const EntityMatcher* matcher, TokenizedText& out,
                       std::size_t max_tokens) const override;
  std::string_view predicate_joiner() const override { return ""; }
  bool tags_in_text() const override { return true; }
  const Vocab* vocab() const override { return vocab_.get(); }

 private:
  std::shared_ptr<const Vocab> vocab_;
  bool case_insensitive_;
};

}  // namespace kbert
