// A sentencepiece model as a kbert tokenizer.
//
// libsentencepiece is loaded from a small plugin (libkbert_spm.so) with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND): Debian's libsentencepiece carries its own
// protobuf, which crashes a process that also loads LibTorch's. The plugin is
// found through $KBERT_SPM_PLUGIN, beside the executable or library, in the
// build tree, or in <libdir>/kbert.
//
// KG surface forms match whole words (whitespace- and punctuation-delimited);
// a mention's trunk is every piece that overlaps it.
#pragma once

#include <memory>

#include "kbert/tokenizer/tokenizer.hpp"

namespace kbert {

class SentencePieceTokenizer : public Tokenizer {
 public:
  /// Loads a .model file. Throws FileError (missing file or plugin) or ParseError.
  explicit SentencePieceTokenizer(const std::string& model_path, bool case_insensitive_match = false);
  ~SentencePieceTokenizer() override;

  std::string_view kind() const override { return "sentencepiece"; }
  std::vector<std::string> tokenize(std::string_view text) const override;
  std::u32string match_key(std::string_view surface) const override;
  void append_segments(std::string_view text, const EntityMatcher* matcher, TokenizedText& out,
                       std::size_t max_tokens) const override;
  std::string_view predicate_joiner() const override { return " "; }
  const Vocab* vocab() const override { return &vocab_; }

  /// Pieces with their byte spans in `text`.
  struct Piece {
    std::string piece;
    std::int32_t id;
    std::uint32_t begin, end;
  };
  std::vector<Piece> encode(std::string_view text) const;

  /// Trains a model with spm_train's flags ("--input=c.txt --model_prefix=m --vocab_size=8000").
  /// Throws kbert::Error with sentencepiece's message on failure.
  static void train(const std::string& flags);

  /// Path of the plugin that was loaded.
  static std::string plugin_path();

 private:
  void* handle_ = nullptr;
  Vocab vocab_;
  bool case_insensitive_;
};

}  // namespace kbert
