#include <catch2/catch.hpp>

#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"

using namespace kbert;

TEST_CASE("UTF-8 decoding is strict and names the bad byte", "[unicode]") {
  CHECK(decode_utf8("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80") == U"a\u00E9\u4E2D\U0001F600");
  std::vector<std::uint32_t> off;
  CHECK(decode_utf8("a\xC3\xA9z", off) == U"a\u00E9z");
  CHECK(off == std::vector<std::uint32_t>{0, 1, 3, 4});

  SECTION("invalid sequences") {
    for (std::string bad : {std::string("\xFF"), std::string("\xC0\xAF"),           // overlong '/'
                            std::string("\xE0\x80\xAF"),                          // overlong, 3 bytes
                            std::string("\xED\xA0\x80"),                            // surrogate
                            std::string("\xF4\x90\x80\x80"),                        // above U+10FFFF
                            std::string("ab\xE4\xB8"),                              // truncated
                            std::string("\x80")}) {                                 // stray continuation
      CHECK(find_invalid_utf8(bad) != std::string_view::npos);
      CHECK_THROWS_AS(decode_utf8(bad), std::invalid_argument);
      CHECK_THROWS_AS(decode_utf8(bad, off), std::invalid_argument);
    }
    CHECK_THROWS_WITH(decode_utf8("ab\xE4\xB8", "my text"), Catch::Contains("byte 2 of my text"));
  }
  CHECK(encode_utf8(U"\u00E9\U0001F600") == "\xC3\xA9\xF0\x9F\x98\x80");
}

TEST_CASE("decode_utf8_grow: reused buffers only grow, the first n entries are the text's", "[unicode]") {
  std::u32string cps;
  std::vector<std::uint32_t> off;
  REQUIRE(decode_utf8_grow("a\xE4\xB8\xAD" "bcdef", cps, off) == 7);
  const std::size_t room = cps.size();
  CHECK(room >= 7);
  REQUIRE(decode_utf8_grow("\xC3\xA9z", cps, off) == 2);  // a shorter text after a longer one
  CHECK(cps.size() == room);
  CHECK(std::u32string_view(cps.data(), 2) == U"\u00E9z");
  CHECK(std::vector<std::uint32_t>(off.begin(), off.begin() + 3) == std::vector<std::uint32_t>{0, 2, 3});
  CHECK(decode_utf8_grow("", cps, off) == 0);
  CHECK(off[0] == 0);
  CHECK_THROWS_WITH(decode_utf8_grow("ok\xFF", cps, off, "line 3"), Catch::Contains("byte 2 of line 3"));
}

TEST_CASE("Character classes follow Python's unicodedata", "[unicode]") {
  using namespace kbert::unicode;
  for (char32_t c : {U' ', U'\t', U'\n', U'\v', U'\f', U'\r', U'\x1C', U'\x1F', U'\x85', U'\xA0', U'\u3000', U'\u2028'})
    CHECK(is_python_space(c));
  for (char32_t c : {U'a', U'\u200B', U'\uFEFF', U'\x1B'}) CHECK_FALSE(is_python_space(c));
  CHECK(is_bert_whitespace(U'\u3000'));
  CHECK_FALSE(is_bert_whitespace(U'\u2028'));  // Zl, not Zs
  CHECK(is_bert_control(U'\x1B'));
  CHECK(is_bert_control(U'\u200B'));             // Cf
  CHECK(is_bert_control(U'\U000E0001'));         // Cf
  CHECK_FALSE(is_bert_control(U'\t'));
  CHECK(is_bert_punctuation(U'$'));              // ASCII symbol counts as punctuation
  CHECK(is_bert_punctuation(U'\u00BF'));         // Po
  CHECK(is_bert_punctuation(U'\u3002'));         // CJK full stop
  CHECK_FALSE(is_bert_punctuation(U'\u20AC'));   // Sc outside ASCII
  CHECK(is_cjk(U'\u4E2D'));
  CHECK_FALSE(is_cjk(U'\u3042'));                // hiragana
  CHECK(combining_class(U'\u0301') == 230);
  CHECK(combining_class(U'\u0323') == 220);
}

TEST_CASE("Lower-casing matches str.lower()", "[unicode]") {
  using namespace kbert::unicode;
  CHECK(to_lower(U"ABC \u00C9") == U"abc \u00E9");
  CHECK(to_lower(U"\u0130") == U"i\u0307");  // I with dot above becomes two code points
  CHECK(to_lower(U"\u039F\u0394\u039F\u03A3") == U"\u03BF\u03B4\u03BF\u03C2");   // final sigma
  CHECK(to_lower(U"\u03A3\u039F") == U"\u03C3\u03BF");                          // not final
  CHECK(to_lower(U"\u039F\u03A3", false) == U"\u03BF\u03C3");                   // HF: per character
  CHECK(simple_lower(U'\u0130') == U'\u0130');
  CHECK(simple_lower(U'Q') == U'q');
}

TEST_CASE("Normalisation forms match unicodedata.normalize", "[unicode]") {
  using namespace kbert::unicode;
  CHECK(nfd(U"\u00E9") == U"e\u0301");
  CHECK(nfc(U"e\u0301") == U"\u00E9");
  CHECK(nfd(U"\uD55C") == U"\u1112\u1161\u11AB");   // Hangul syllable
  CHECK(nfc(U"\u1112\u1161\u11AB") == U"\uD55C");
  // Canonical ordering: dot below (220) before acute (230).
  CHECK(nfd(U"a\u0301\u0323") == U"a\u0323\u0301");
  CHECK(nfc(U"a\u0301\u0323") == U"\u1EA1\u0301");
  CHECK(nfc(U"\u212B") == U"\u00C5");               // singleton: Angstrom sign
  CHECK(nfc(U"\u0958") == U"\u0915\u093C");         // composition exclusion
  CHECK(strip_accents(U"H\u00E9ll\u00F2 \u00E7a") == U"Hello ca");
}
