#include "kbert/tokenizer/vocab_builder.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/tokenizer/sentencepiece_tokenizer.hpp"
#include "kbert/text/utf8.hpp"

namespace kbert {

std::vector<std::string> build_wordpiece_vocab(const std::vector<std::string>& corpus, std::size_t vocab_size,
                                               const WordPieceOptions& normalisation, std::size_t min_frequency) {
  // Basic tokenization needs a vocabulary object; any will do, only basic_tokenize is used.
  WordPieceTokenizer basic(std::make_shared<Vocab>(Vocab::from_tokens({"[UNK]"})), normalisation);
  std::unordered_map<std::string, std::size_t> word_counts;
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    try {
      for (const auto& w : basic.basic_tokenize(corpus[i])) ++word_counts[encode_utf8(w)];
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("corpus line " + std::to_string(i + 1) + ": " + e.what());
    }
  }
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::set<std::string> have(vocab.begin(), vocab.end());
  auto add = [&](const std::string& t) {
    if (have.insert(t).second) vocab.push_back(t);
  };
  // Words as symbol sequences: the first symbol plain, the rest "##"-prefixed.
  struct Word {
    std::vector<std::string> symbols;
    std::size_t count;
  };
  std::vector<Word> words;
  std::map<std::string, std::size_t> char_counts;
  for (const auto& [w, c] : word_counts) {
    std::u32string cps = decode_utf8(w);
    Word word{{}, c};
    for (std::size_t k = 0; k < cps.size(); ++k) {
      std::string s = encode_utf8(std::u32string_view(cps).substr(k, 1));
      char_counts[s] += c;
      word.symbols.push_back(k ? "##" + s : s);
    }
    words.push_back(std::move(word));
  }
  std::sort(words.begin(), words.end(), [](const Word& a, const Word& b) { return a.count > b.count; });
  for (const auto& [ch, c] : char_counts)
    if (c >= min_frequency) add(ch);
  for (const auto& [ch, c] : char_counts)
    if (c >= min_frequency) add("##" + ch);
  // Byte-pair merges on (symbol, symbol) counts, most frequent first; ties by the pair.
  auto merged = [](const std::string& a, const std::string& b) { return a + (b.rfind("##", 0) == 0 ? b.substr(2) : b); };
  std::map<std::pair<std::string, std::string>, std::size_t> pairs;
  for (const auto& w : words)
    for (std::size_t k = 0; k + 1 < w.symbols.size(); ++k) pairs[{w.symbols[k], w.symbols[k + 1]}] += w.count;
  while (vocab.size() < vocab_size && !pairs.empty()) {
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;
    if (best->second < min_frequency) break;
    const auto [a, b] = best->first;
    const std::string m = merged(a, b);
    add(m);
    for (auto& w : words) {
      bool touched = false;
      for (std::size_t k = 0; k + 1 < w.symbols.size(); ++k)
        touched = touched || (w.symbols[k] == a && w.symbols[k + 1] == b);
      if (!touched) continue;
      for (std::size_t k = 0; k + 1 < w.symbols.size(); ++k) {  // remove this word's old pairs
        auto it = pairs.find({w.symbols[k], w.symbols[k + 1]});
        if (it != pairs.end() && (it->second -= std::min(it->second, w.count)) == 0) pairs.erase(it);
      }
      std::vector<std::string> next;
      for (std::size_t k = 0; k < w.symbols.size(); ++k) {
        if (k + 1 < w.symbols.size() && w.symbols[k] == a && w.symbols[k + 1] == b) {
          next.push_back(m);
          ++k;
        } else {
          next.push_back(w.symbols[k]);
        }
      }
      w.symbols.swap(next);
      for (std::size_t k = 0; k + 1 < w.symbols.size(); ++k) pairs[{w.symbols[k], w.symbols[k + 1]}] += w.count;
    }
    pairs.erase({a, b});
  }
  if (vocab.size() > vocab_size) vocab.resize(std::max<std::size_t>(vocab_size, 5));
  return vocab;
}

VocabResult build_vocab(const VocabJob& job) {
  KBERT_CHECK(job.kind == "wordpiece" || job.kind == "sentencepiece", "the vocabulary kind must be wordpiece or sentencepiece, got '",
              job.kind, "'");
  KBERT_CHECK(job.size >= 10, "the vocabulary size must be at least 10, got ", job.size);
  KBERT_CHECK(!job.out.empty(), "the vocabulary needs an output path");
  std::ifstream in(job.corpus, std::ios::binary);
  if (!in) throw FileError(job.corpus, "cannot open corpus");
  if (job.kind == "sentencepiece") {
    SentencePieceTokenizer::train("--input=" + job.corpus + " --model_prefix=" + job.out + " --vocab_size=" +
                                  std::to_string(job.size) +
                                  " --model_type=unigram --character_coverage=0.9995 --minloglevel=2 --hard_vocab_limit=false"
                                  " --user_defined_symbols=[CLS],[SEP],[MASK],[PAD]");
    return {{job.out + ".model", job.out + ".vocab"}, 0};
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  if (in.bad()) throw FileError(job.corpus, "read error");
  WordPieceOptions opt;
  opt.lower_case = job.lower_case;
  const auto vocab = build_wordpiece_vocab(lines, job.size, opt, job.min_frequency);
  write_file_atomically(job.out, [&](std::ostream& os) {
    for (const auto& t : vocab) os << t << "\n";
  });
  return {{job.out}, vocab.size()};
}

}  // namespace kbert
