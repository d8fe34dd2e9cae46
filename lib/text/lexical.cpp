#include "kbert/text/lexical.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"

namespace kbert {
namespace {

constexpr std::uint64_t kOffset = 1469598103934665603ull, kPrime = 1099511628211ull;

std::uint64_t mix(std::uint64_t h, std::uint64_t x) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((x >> (8 * i)) & 0xFF)) * kPrime;
  return h;
}

// Hashes of the words of one text, in order.
void word_hashes(std::string_view text, std::vector<std::uint64_t>& out) {
  const std::u32string cps = decode_utf8(text, "text");
  std::uint64_t h = kOffset;
  bool open = false;
  auto flush = [&] {
    if (open) out.push_back(h);
    h = kOffset;
    open = false;
  };
  for (char32_t c : cps) {
    if (unicode::is_python_space(c) || unicode::is_bert_punctuation(c)) {
      flush();
    } else if (unicode::is_cjk(c)) {
      flush();
      out.push_back(mix(kOffset, unicode::simple_lower(c)));
    } else {
      h = mix(h, unicode::simple_lower(c));
      open = true;
    }
  }
  flush();
}

}  // namespace

LexicalFeatures lexical_features(std::string_view text, std::size_t buckets, std::string_view text_b, const float* idf,
                                 const LexicalKnowledge* knowledge) {
  if (buckets == 0) throw std::invalid_argument("lexical features need at least one bucket");
  std::unordered_map<std::int64_t, float> counts;
  std::vector<std::uint64_t> words;
  // The words of one text and the pairs of adjacent ones; `salt` sets a pair's second text apart.
  auto add_text = [&](std::string_view t, std::uint64_t salt) {
    words.clear();
    word_hashes(t, words);
    auto add = [&](std::uint64_t h) { counts[static_cast<std::int64_t>(h % buckets)] += 1.f; };
    for (std::size_t i = 0; i < words.size(); ++i) {
      add(mix(kOffset, words[i] ^ salt));                                                     // unigram
      if (i + 1 < words.size()) add(mix(mix(kOffset ^ 0x2, words[i] ^ salt), words[i + 1]));  // bigram
    }
  };
  constexpr std::uint64_t kSecond = 0x9E3779B97F4A7C15ull;
  add_text(text, 0);
  if (!text_b.empty()) add_text(text_b, kSecond);
  if (knowledge) {
    for (const std::string& k : knowledge->a) add_text(k, 0);
    for (const std::string& k : knowledge->b) add_text(k, kSecond);
  }
  LexicalFeatures f;
  f.index.reserve(counts.size());
  for (const auto& [k, v] : counts)
    if (!idf || idf[k] != 0.f) f.index.push_back(k);
  std::sort(f.index.begin(), f.index.end());
  double norm = 0;
  for (std::int64_t k : f.index) {
    const float v = (1.f + std::log(counts[k])) * (idf ? idf[k] : 1.f);
    f.value.push_back(v);
    norm += static_cast<double>(v) * v;
  }
  const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.f;
  for (float& v : f.value) v *= scale;
  return f;
}

std::vector<float> lexical_idf(const std::vector<LexicalFeatures>& docs, std::size_t buckets, std::size_t min_df) {
  if (buckets == 0) throw std::invalid_argument("lexical features need at least one bucket");
  std::vector<std::uint32_t> df(buckets, 0);
  for (const LexicalFeatures& d : docs)
    for (std::int64_t k : d.index) {
      if (k < 0 || static_cast<std::size_t>(k) >= buckets)
        throw std::invalid_argument("lexical slot " + std::to_string(k) + " is outside " + std::to_string(buckets) + " buckets");
      ++df[static_cast<std::size_t>(k)];
    }
  const double n = static_cast<double>(docs.size());
  std::vector<float> idf(buckets, 0.f);
  for (std::size_t k = 0; k < buckets; ++k)
    if (df[k] > 0 && df[k] >= min_df) idf[k] = static_cast<float>(std::log((1 + n) / (1 + df[k])) + 1);
  return idf;
}

}  // namespace kbert
