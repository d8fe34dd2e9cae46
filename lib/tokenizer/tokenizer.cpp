#include "kbert/tokenizer/tokenizer.hpp"

#include <stdexcept>

#include "kbert/tokenizer/char_tokenizer.hpp"
#include "kbert/tokenizer/sentencepiece_tokenizer.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"

namespace kbert {

void Tokenizer::tokenize_into(std::string_view text, std::vector<std::string>& out) const {
  for (auto& t : tokenize(text)) out.push_back(std::move(t));
}

void Tokenizer::tokenize_into(std::string_view text, TokenBuffer& out) const {
  for (const auto& t : tokenize(text)) out.push_back(t);
}

// The one registry of tokenizer kinds.
std::shared_ptr<Tokenizer> make_tokenizer(const TokenizerOptions& o) {
  if (o.kind == "char") {
    std::shared_ptr<const Vocab> vocab;
    if (!o.vocab_path.empty()) vocab = std::make_shared<Vocab>(Vocab::from_file(o.vocab_path, VocabStyle::kUer));
    return std::make_shared<CharTokenizer>(std::move(vocab), o.case_insensitive_match);
  }
  if (o.kind == "wordpiece") {
    if (o.vocab_path.empty()) throw std::invalid_argument("the wordpiece tokenizer needs a vocabulary (--vocab vocab.txt)");
    return WordPieceTokenizer::from_files(o.vocab_path, o);
  }
  if (o.kind == "sentencepiece") {
    if (o.spm_model_path.empty())
      throw std::invalid_argument("the sentencepiece tokenizer needs a model (--spm-model file.model)");
    return std::make_shared<SentencePieceTokenizer>(o.spm_model_path, o.case_insensitive_match);
  }
  throw std::invalid_argument("unknown tokenizer '" + o.kind + "' (expected char, wordpiece or sentencepiece)");
}

}  // namespace kbert
