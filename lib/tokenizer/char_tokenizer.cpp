#include "kbert/tokenizer/char_tokenizer.hpp"

#include <algorithm>

#include "kbert/kg/entity_matcher.hpp"
#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"

namespace kbert {

CharTokenizer::CharTokenizer(std::shared_ptr<const Vocab> vocab, bool case_insensitive)
    : vocab_(std::move(vocab)), case_insensitive_(case_insensitive) {}

std::vector<std::string> CharTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  tokenize_into(text, out);
  return out;
}

namespace {
// K-BERT: list(value) -- every code point, whitespace included. One pass: ASCII and
// well-formed 3-byte sequences (CJK) are checked inline, anything else on its own.
template <class Out>
void split_code_points(std::string_view text, Out& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    std::size_t len;
    if (c < 0x80) {
      len = 1;
    } else if ((c & 0xF0) == 0xE0 && c != 0xE0 && c != 0xED && i + 2 < n && (p[i + 1] & 0xC0) == 0x80 &&
               (p[i + 2] & 0xC0) == 0x80) {
      len = 3;
    } else {
      len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      if (len > n - i || find_invalid_utf8(text.substr(i, len)) != std::string_view::npos)
        decode_utf8(text, "knowledge value");  // throws, naming the byte
    }
    out.push_back(text.substr(i, len));
    i += len;
  }
}
}  // namespace

void CharTokenizer::tokenize_into(std::string_view text, std::vector<std::string>& out) const {
  struct Strings {
    std::vector<std::string>& v;
    void push_back(std::string_view t) { v.emplace_back(t); }
  } strings{out};
  split_code_points(text, strings);
}

void CharTokenizer::tokenize_into(std::string_view text, TokenBuffer& out) const { split_code_points(text, out); }

std::u32string CharTokenizer::match_key(std::string_view surface) const {
  std::u32string key = decode_utf8(surface, "surface form");
  for (char32_t& c : key) {
    if (unicode::is_python_space(c)) return {};
    if (case_insensitive_) c = unicode::simple_lower(c);
  }
  return key;
}

void CharTokenizer::append_segments(std::string_view text, const EntityMatcher* matcher, TokenizedText& out,
                                    std::size_t max_tokens) const {
  thread_local std::vector<std::uint32_t> offsets;
  thread_local std::u32string cps;  // reused from text to text
  decode_utf8_into(text, cps, offsets, "text");
  std::u32string folded;
  std::u32string_view match_text = cps;
  if (case_insensitive_ && matcher) {
    folded = cps;
    for (char32_t& c : folded) c = unicode::simple_lower(c);
    match_text = folded;
  }
  auto push_word = [&](std::size_t b, std::size_t e, std::int64_t surface) {
    // The Word is written in place: built on the stack from narrow stores and copied with one
    // wide load, it stalled store forwarding once per character (perf: the loop's hottest
    // instruction).
    Word& w = out.words.emplace_back();
    w.token_begin = static_cast<std::uint32_t>(out.tokens.size());
    for (std::size_t k = b; k < e; ++k) out.tokens.push_back(text.substr(offsets[k], offsets[k + 1] - offsets[k]));
    w.token_end = static_cast<std::uint32_t>(out.tokens.size());
    w.surface = surface;
  };
  const std::size_t n = cps.size();
  out.tokens.reserve(out.tokens.size() + std::min(n, max_tokens), out.tokens.bytes() + text.size());
  out.words.reserve(out.words.size() + std::min(n, max_tokens));
  constexpr std::size_t kWindow = 64;
  thread_local std::vector<EntityMatcher::Match> matches;
  std::size_t window_begin = 0, window_end = 0;
  std::size_t i = 0;
  while (i < n && out.tokens.size() < max_tokens) {
    const char32_t c = cps[i];
    if (unicode::is_python_space(c)) {
      ++i;
      continue;
    }
    if (c == '[') {
      bool tag = false;
      for (std::string_view t : kSpecialTags) {
        if (i + t.size() <= n && text.compare(offsets[i], t.size(), t) == 0) {
          out.push_special(t);
          i += t.size();
          tag = true;
          break;
        }
      }
      if (tag) continue;
    }
    if (matcher) {
      // Matches for a window of positions at once (EntityMatcher::longest_in): a window, not
      // the whole text, since segmentation stops at max_tokens.
      if (i >= window_end) {
        window_begin = i;
        window_end = std::min(n, i + kWindow);
        matcher->longest_in(match_text, window_begin, window_end, matches);
      }
      const EntityMatcher::Match m = matches[i - window_begin];
      if (m.length > 0) {
        push_word(i, i + m.length, m.payload);
        i += m.length;
        continue;
      }
    }
    push_word(i, i + 1, -1);
    ++i;
  }
}

}  // namespace kbert
