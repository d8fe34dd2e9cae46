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
  const std::size_t n = decode_utf8_grow(text, cps, offsets, "text");
  std::u32string folded;
  std::u32string_view match_text(cps.data(), n);
  if (case_insensitive_ && matcher) {
    folded.assign(cps.data(), n);
    for (char32_t& c : folded) c = unicode::simple_lower(c);
    match_text = folded;
  }
  const char32_t* cp = cps.data();
  const std::uint32_t* off = offsets.data();
  // Words are written through a pointer into room made up front, and tokens are copied a
  // run at a time: every code point outside whitespace and tags is a token of its own, so a
  // run of them, words and entity mentions alike, is one stretch of the text's bytes
  // (TokenBuffer::append_pieces). Per code point this leaves a Word and an end offset.
  // Room for the words: each takes a code point or more and a token or more, and a word is
  // only started while fewer than max_tokens tokens are there, so at most min(n, the tokens
  // still wanted) of them are added.
  const std::size_t room = std::min(n, max_tokens > out.tokens.size() ? max_tokens - out.tokens.size() : 0) + 1;
  out.tokens.reserve(out.tokens.size() + room, out.tokens.bytes() + text.size());
  // Written into a per-thread buffer first and appended in one copy: resizing out.words up
  // by `room` and back constructed every Word of the room, text after text.
  thread_local std::vector<Word> word_room;
  if (word_room.size() < room) word_room.resize(room);
  Word* words = word_room.data();
  std::size_t nw = 0;
  std::size_t ntok = out.tokens.size();
  std::size_t run = 0;  // first code point of the run not yet copied into out.tokens
  auto flush = [&](std::size_t i) {
    if (i > run) out.tokens.append_pieces(text, off + run, i - run);
  };
  constexpr std::size_t kWindow = 64;
  thread_local std::vector<EntityMatcher::Match> matches;
  std::size_t window_begin = 0, window_end = 0;
  std::size_t i = 0;
  while (i < n && ntok < max_tokens) {
    const char32_t c = cp[i];
    // One test, without a branch of its own per class, for what is neither whitespace nor a
    // tag's '[': CJK and ASCII alike (branches on ASCII against the rest mispredicted on
    // mixed text). Python has no whitespace above U+3000.
    const bool rare = (c <= ' ') | (c == '[') | (c - 0x80u <= 0x3000u - 0x80u);
    if (rare && unicode::is_python_space(c)) {
      flush(i);
      run = ++i;
      continue;
    }
    if (rare && c == '[') {
      bool tag = false;
      for (std::string_view t : kSpecialTags) {
        if (i + t.size() <= n && text.compare(off[i], t.size(), t) == 0) {
          flush(i);
          out.tokens.push_back(t);
          Word& w = words[nw++];
          w.token_begin = static_cast<std::uint32_t>(ntok);
          w.token_end = static_cast<std::uint32_t>(++ntok);
          w.surface = -1;
          w.special = true;
          i += t.size();
          run = i;
          tag = true;
          break;
        }
      }
      if (tag) continue;
    }
    std::size_t len = 1;
    std::int64_t surface = -1;
    if (matcher) {
      // Matches for a window of positions at once (EntityMatcher::longest_in): a window, not
      // the whole text, since segmentation stops at max_tokens.
      if (i >= window_end) {
        window_begin = i;
        window_end = std::min(n, i + kWindow);
        matcher->longest_in(match_text, window_begin, window_end, matches);
      }
      const EntityMatcher::Match m = matches[i - window_begin];
      const bool hit = m.length > 0;  // selects, not a branch: mentions come at random
      len = hit ? m.length : 1;
      surface = hit ? static_cast<std::int64_t>(m.payload) : -1;
    }
    Word& w = words[nw++];
    w.token_begin = static_cast<std::uint32_t>(ntok);
    ntok += len;
    w.token_end = static_cast<std::uint32_t>(ntok);
    w.surface = surface;
    w.special = false;
    i += len;
  }
  flush(i);
  out.words.insert(out.words.end(), words, words + nw);
}

}  // namespace kbert
