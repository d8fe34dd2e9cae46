// Hashed bag-of-words features of a text: the lexical side channel of a classifier head.
//
// Words are runs of characters between whitespace and punctuation, lower-cased; each CJK
// character is a word of its own. Every word and every pair of adjacent words is hashed
// (FNV-1a, 64 bit) into one of `buckets` slots; a slot's value is 1 + log(count), and the
// vector is scaled to unit length: TF-IDF's sublinear, L2-normalised term frequencies. With
// `idf` (one weight per slot, learnt from training texts: `lexical_idf`), each slot's value
// is multiplied by its weight before the scaling, and slots of weight 0 are left out.
//
//   kbert::LexicalFeatures f = kbert::lexical_features("the regulator valve leaked", 1 << 18);
//   // f.index: sorted slots, f.value: their weights (sum of squares 1)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kbert {

struct LexicalFeatures {
  std::vector<std::int64_t> index;  ///< distinct slots, ascending
  std::vector<float> value;         ///< one per slot; unit L2 norm (empty text: no slots)
};

/// Further short texts hashed with a text's own words: for example the objects of the KG facts
/// a sentence tree injects for it (ModelSpec::lexical_knowledge). Each one's words count as
/// words of the text (`a`) or of the pair's second text (`b`), in the same slots (a fact's
/// object "corrosion" adds to the word "corrosion"); word pairs are taken within each one,
/// never across.
struct LexicalKnowledge {
  std::vector<std::string> a, b;
};

/// The features of `text` (and of `text_b`, a pair's second text, hashed apart), with the
/// words of `knowledge` when given. `idf`, when given, holds `buckets` weights. Throws
/// std::invalid_argument on invalid UTF-8 or buckets == 0.
LexicalFeatures lexical_features(std::string_view text, std::size_t buckets, std::string_view text_b = {},
                                 const float* idf = nullptr, const LexicalKnowledge* knowledge = nullptr);

/// Inverse document frequencies of the slots over `docs` (each one text's features, as
/// lexical_features gives them without idf): scikit-learn's smooth IDF, ln((1 + n) / (1 + df))
/// + 1, and 0 for slots in fewer than `min_df` texts (so they are ignored, like words a
/// TfidfVectorizer with that min_df leaves out of its vocabulary).
std::vector<float> lexical_idf(const std::vector<LexicalFeatures>& docs, std::size_t buckets, std::size_t min_df = 2);

}  // namespace kbert
