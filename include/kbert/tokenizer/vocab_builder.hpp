// Building a vocabulary from a corpus, so that a user can start from nothing but text.
//
// WordPiece: the corpus goes through BertTokenizer's basic tokenization (the same
// normalisation the WordPiece tokenizer will apply); then byte-pair merges learnt on the
// word counts, with "##" marking pieces inside a word (as Hugging Face's WordPiece
// trainer does). The vocabulary is the special tokens, every character seen at least
// `min_frequency` times (alone and as "##c"), then the merges in the order learnt.
// SentencePiece models are trained by SentencePieceTokenizer::train.
//
//   auto vocab = kbert::build_wordpiece_vocab(lines, 8000);
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kbert/tokenizer/wordpiece_tokenizer.hpp"

namespace kbert {

std::vector<std::string> build_wordpiece_vocab(const std::vector<std::string>& corpus, std::size_t vocab_size,
                                               const WordPieceOptions& normalisation = {}, std::size_t min_frequency = 2);

/// A vocabulary built from a corpus file as `kbert vocab` and kbert.build_vocab describe it.
struct VocabJob {
  std::string corpus;              ///< one text a line
  std::string out;                 ///< wordpiece: the vocab.txt to write; sentencepiece: the model prefix
  std::string kind = "wordpiece";  ///< wordpiece | sentencepiece
  std::size_t size = 8000;         ///< tokens wanted (at least 10)
  std::size_t min_frequency = 2;   ///< wordpiece: characters seen fewer times are left out
  bool lower_case = true;          ///< wordpiece: lower-case and strip accents (BERT uncased)
};
struct VocabResult {
  std::vector<std::string> files;  ///< the files written
  std::size_t tokens = 0;          ///< wordpiece: the tokens written (sentencepiece: 0)
};
/// Builds the vocabulary and writes it (atomically): vocab.txt, or <out>.model and
/// <out>.vocab for sentencepiece (unigram, [CLS] [SEP] [MASK] [PAD] as user symbols).
/// std::invalid_argument for a bad kind or size; FileError naming the corpus when it
/// cannot be read.
VocabResult build_vocab(const VocabJob& job);

}  // namespace kbert
