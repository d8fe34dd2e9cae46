#include "kbert/tokenizer/wordpiece_tokenizer.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "kbert/common/error.hpp"
#include "kbert/kg/entity_matcher.hpp"
#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"

namespace kbert {

WordPieceTokenizer::WordPieceTokenizer(std::shared_ptr<const Vocab> vocab, WordPieceOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  KBERT_CHECK(vocab_ != nullptr, "WordPieceTokenizer needs a vocabulary");
  for (const auto& t : options_.never_split) never_split_.push_back(decode_utf8(t, "never_split token"));
}

std::shared_ptr<WordPieceTokenizer> WordPieceTokenizer::from_files(const std::string& vocab_path,
                                                                   const TokenizerOptions& overrides) {
  auto vocab = std::make_shared<Vocab>(Vocab::from_file(vocab_path, VocabStyle::kHuggingFace));
  WordPieceOptions opt;
  std::string dir = vocab_path.substr(0, vocab_path.find_last_of('/') == std::string::npos ? 0 : vocab_path.find_last_of('/') + 1);
  std::string config_path = dir + "tokenizer_config.json";
  std::ifstream cfg(config_path);
  if (cfg) {
    nlohmann::json j;
    try {
      cfg >> j;
    } catch (const std::exception& e) {
      throw ParseError(config_path, 1, std::string("invalid JSON: ") + e.what());
    }
    auto flag = [&](const char* key) -> std::optional<bool> {
      if (!j.contains(key) || j[key].is_null()) return std::nullopt;
      if (!j[key].is_boolean()) throw ParseError(config_path, 1, std::string("'") + key + "' must be true, false or null");
      return j[key].get<bool>();
    };
    if (auto v = flag("do_lower_case")) opt.lower_case = *v;
    opt.strip_accents = flag("strip_accents");
    if (auto v = flag("tokenize_chinese_chars")) opt.tokenize_chinese_chars = *v;
    if (j.contains("unk_token") && j["unk_token"].is_string()) opt.unk_token = j["unk_token"].get<std::string>();
  }
  if (overrides.lower_case) opt.lower_case = *overrides.lower_case;
  if (overrides.strip_accents) opt.strip_accents = overrides.strip_accents;
  if (overrides.tokenize_chinese_chars) opt.tokenize_chinese_chars = *overrides.tokenize_chinese_chars;
  opt.case_insensitive_match = overrides.case_insensitive_match;
  vocab->set_unk_token(opt.unk_token);
  return std::make_shared<WordPieceTokenizer>(std::move(vocab), std::move(opt));
}

void WordPieceTokenizer::basic_chunk(std::u32string_view text, std::vector<std::u32string>& out) const {
  std::u32string t;
  t.reserve(text.size() + 16);
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || unicode::is_bert_control(c)) continue;
    if (unicode::is_bert_whitespace(c)) {
      t.push_back(' ');
    } else if (options_.tokenize_chinese_chars && unicode::is_cjk(c)) {
      t.push_back(' ');
      t.push_back(c);
      t.push_back(' ');
    } else {
      t.push_back(c);
    }
  }
  t = unicode::nfc(t);
  const bool strip = options_.strip_accents.value_or(options_.lower_case);
  std::size_t i = 0;
  while (i < t.size()) {
    if (unicode::is_python_space(t[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < t.size() && !unicode::is_python_space(t[j])) ++j;
    std::u32string word = t.substr(i, j - i);
    i = j;
    bool keep = false;
    for (const auto& ns : never_split_) keep = keep || ns == word;
    if (keep) {
      out.push_back(std::move(word));
      continue;
    }
    if (options_.lower_case) word = unicode::to_lower(word, /*final_sigma=*/false);
    if (strip) word = unicode::strip_accents(word);
    // Punctuation splits; whitespace that survived (U+2028, U+2029) splits too.
    std::u32string cur;
    for (char32_t c : word) {
      if (unicode::is_bert_punctuation(c)) {
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
        out.push_back(std::u32string(1, c));
      } else if (unicode::is_python_space(c)) {
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
  }
}

std::vector<std::u32string> WordPieceTokenizer::basic_tokenize(std::string_view text) const {
  std::u32string cps = decode_utf8(text, "text");
  std::vector<std::u32string> out;
  // Special tokens are split out first and kept whole, as PreTrainedTokenizer.tokenize does.
  std::size_t start = 0, i = 0;
  while (i < cps.size()) {
    std::size_t hit = 0;
    if (cps[i] == '[') {
      for (const auto& ns : never_split_)
        if (ns.size() > hit && cps.compare(i, ns.size(), ns) == 0) hit = ns.size();
    }
    if (hit) {
      basic_chunk(std::u32string_view(cps).substr(start, i - start), out);
      out.push_back(cps.substr(i, hit));
      i += hit;
      start = i;
    } else {
      ++i;
    }
  }
  basic_chunk(std::u32string_view(cps).substr(start), out);
  return out;
}

void WordPieceTokenizer::wordpiece(std::u32string_view word, std::vector<std::string>& out) const {
  for (const auto& ns : never_split_) {
    if (ns == word) {
      out.push_back(encode_utf8(word));
      return;
    }
  }
  if (word.size() > options_.max_chars_per_word) {
    out.push_back(options_.unk_token);
    return;
  }
  std::vector<std::uint32_t> off;  // byte offset of each code point
  const std::string utf8 = encode_utf8(word);
  decode_utf8(utf8, off);
  const std::size_t mark = out.size();
  std::size_t start = 0;
  std::string piece;
  while (start < word.size()) {
    std::size_t end = word.size();
    bool found = false;
    while (start < end) {
      piece.clear();
      if (start > 0) piece = "##";
      piece.append(utf8, off[start], off[end] - off[start]);
      if (vocab_->contains(piece)) {
        found = true;
        break;
      }
      --end;
    }
    if (!found) {
      out.resize(mark);
      out.push_back(options_.unk_token);
      return;
    }
    out.push_back(piece);
    start = end;
  }
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (const auto& w : basic_tokenize(text)) wordpiece(w, out);
  return out;
}

std::u32string WordPieceTokenizer::match_key(std::string_view surface) const {
  std::u32string key;
  for (const auto& w : basic_tokenize(surface)) {
    if (!key.empty()) key.push_back(' ');
    key += w;
  }
  if (options_.case_insensitive_match)
    for (char32_t& c : key) c = unicode::simple_lower(c);
  return key;
}

void WordPieceTokenizer::append_segments(std::string_view text, const EntityMatcher* matcher, TokenizedText& out,
                                         std::size_t max_tokens) const {
  std::vector<std::u32string> words = basic_tokenize(text);
  // Words joined by single spaces; a match must start at a word start and end at a word end.
  std::u32string joined;
  std::vector<std::size_t> starts;
  std::vector<std::uint8_t> ends;
  std::vector<std::uint8_t> special(words.size(), 0);
  for (std::size_t k = 0; k < words.size(); ++k) {
    for (const auto& ns : never_split_) special[k] = special[k] || ns == words[k];
    if (k) joined.push_back(' ');
    starts.push_back(joined.size());
    joined += words[k];
  }
  if (options_.case_insensitive_match)
    for (char32_t& c : joined) c = unicode::simple_lower(c);
  ends.assign(joined.size() + 1, 0);
  for (std::size_t k = 0; k < words.size(); ++k) ends[starts[k] + words[k].size()] = 1;

  std::vector<std::string> pieces;
  std::size_t k = 0;
  while (k < words.size() && out.tokens.size() < max_tokens) {
    Word w;
    w.token_begin = static_cast<std::uint32_t>(out.tokens.size());
    std::size_t next = k + 1;
    if (special[k]) {
      out.tokens.push_back(encode_utf8(words[k]));
      w.special = true;
    } else {
      EntityMatcher::Match m;
      if (matcher) m = matcher->longest_at(joined, starts[k], &ends);
      std::size_t last = k;
      if (m.length > 0) {
        const std::size_t end = starts[k] + m.length;
        while (last + 1 < words.size() && starts[last + 1] < end) ++last;
        // A match may not swallow a special token.
        bool ok = true;
        for (std::size_t q = k; q <= last; ++q) ok = ok && !special[q];
        if (ok) {
          w.surface = m.payload;
          next = last + 1;
        } else {
          last = k;
        }
      }
      for (std::size_t q = k; q < next; ++q) {
        pieces.clear();
        wordpiece(words[q], pieces);
        for (const auto& piece : pieces) out.tokens.push_back(piece);
      }
    }
    w.token_end = static_cast<std::uint32_t>(out.tokens.size());
    out.words.push_back(w);
    k = next;
  }
}

}  // namespace kbert
