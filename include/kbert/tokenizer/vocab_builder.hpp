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

}  // namespace kbert
