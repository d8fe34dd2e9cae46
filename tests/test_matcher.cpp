#include <catch2/catch.hpp>

#include "kbert/kg/entity_matcher.hpp"

using kbert::EntityMatcher;

TEST_CASE("Longest key wins; the first payload of a key stays", "[matcher]") {
  EntityMatcher m;
  m.add(U"北京", 1);
  m.add(U"北京大学", 2);
  m.add(U"北京大学", 9);
  m.add(U"", 5);  // ignored
  CHECK(m.size() == 2);
  CHECK(m.max_key_length() == 4);
  std::u32string text = U"我在北京大学读书，北京很大";
  auto a = m.longest_at(text, 2);
  CHECK(a.length == 4);
  CHECK(a.payload == 2);
  auto b = m.longest_at(text, 9);
  CHECK(b.length == 2);
  CHECK(b.payload == 1);
  CHECK(m.longest_at(text, 0).length == 0);
  CHECK(m.longest_at(text, 3).length == 0);  // inside a key
  CHECK(m.longest_at(U"北", 0).length == 0);  // a prefix alone is not a key
}

TEST_CASE("Whole-word matching only ends at word ends", "[matcher]") {
  EntityMatcher m;
  m.add(U"power", 1);
  m.add(U"power transformer", 2);
  std::u32string text = U"powerful transformer";
  std::vector<std::uint8_t> ends(text.size() + 1, 0);
  ends[8] = ends[20] = 1;
  CHECK(m.longest_at(text, 0, &ends).length == 0);  // "power" ends inside "powerful"
  CHECK(m.longest_at(text, 0).length == 5);         // without word ends it would match

  std::u32string t2 = U"power transformers";
  std::vector<std::uint8_t> e2(t2.size() + 1, 0);
  e2[5] = e2[18] = 1;
  auto r = m.longest_at(t2, 0, &e2);
  CHECK(r.length == 5);  // "power transformer" would end inside "transformers"
  CHECK(r.payload == 1);
}

TEST_CASE("Many keys: the table grows and every key is found", "[matcher]") {
  EntityMatcher m;
  std::vector<std::u32string> keys;
  for (char32_t i = 0; i < 5000; ++i) keys.push_back(std::u32string{U'\u4E00' + i % 300, U'\u4E00' + i / 300, U'a' + i % 7});
  for (std::size_t i = 0; i < keys.size(); ++i) m.add(keys[i], static_cast<std::uint32_t>(i));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto r = m.longest_at(keys[i], 0);
    REQUIRE(r.length == 3);
    REQUIRE(r.payload == i);
  }
}

TEST_CASE("Single code point keys, in and beyond the BMP, alone or as prefixes", "[matcher]") {
  EntityMatcher m;
  m.add(U"书店", 1);
  m.add(U"书", 2);  // a prefix of an earlier key becomes a key itself
  m.add(U"书", 7);  // the first payload stays
  m.add(U"\U0001F600", 3);  // beyond the BMP: no direct root entry
  m.add(U"\U0001F600\U0001F601", 4);
  std::u32string text = U"书店的书\U0001F600\U0001F600\U0001F601";
  auto a = m.longest_at(text, 0);
  CHECK((a.length == 2 && a.payload == 1));
  auto b = m.longest_at(text, 3);
  CHECK((b.length == 1 && b.payload == 2));
  auto c = m.longest_at(text, 4);
  CHECK((c.length == 1 && c.payload == 3));
  auto d = m.longest_at(text, 5);
  CHECK((d.length == 2 && d.payload == 4));
  CHECK(m.longest_at(text, 2).length == 0);
  CHECK(m.longest_at(text, text.size()).length == 0);  // past the end
  // With word ends, a one-code-point key counts only where a word ends after it.
  std::vector<std::uint8_t> ends(text.size() + 1, 0);
  ends[2] = 1;
  CHECK(m.longest_at(text, 3, &ends).length == 0);
  CHECK(m.longest_at(text, 0, &ends).length == 2);
  ends[4] = 1;
  CHECK(m.longest_at(text, 3, &ends).payload == 2);
}

TEST_CASE("longest_in over a range agrees with longest_at at every position", "[matcher]") {
  // Keys and texts over a small alphabet, so that keys overlap, nest and share prefixes;
  // one code point beyond the BMP, one-code-point keys, and word ends on and off.
  const std::u32string alphabet = U"abcd\u4E00\u4E01\U0001F600";
  std::uint64_t state = 12345;
  auto next = [&](std::size_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>((state >> 33) % bound);
  };
  auto random_text = [&](std::size_t len) {
    std::u32string s;
    for (std::size_t i = 0; i < len; ++i) s.push_back(alphabet[next(alphabet.size())]);
    return s;
  };
  EntityMatcher m;
  for (std::uint32_t k = 0; k < 300; ++k) m.add(random_text(1 + next(5)), k);
  std::vector<EntityMatcher::Match> out;
  for (int trial = 0; trial < 200; ++trial) {
    const std::u32string text = random_text(next(90));
    std::vector<std::uint8_t> ends(text.size() + 1);
    for (auto& e : ends) e = next(3) == 0;
    const std::vector<std::uint8_t>* with_ends[] = {nullptr, &ends};
    for (const std::vector<std::uint8_t>* e : with_ends) {
      const std::size_t begin = next(text.size() + 1), end = begin + next(text.size() + 2 - begin);
      m.longest_in(text, begin, end, out, e);
      REQUIRE(out.size() == std::min(end, text.size()) - begin);
      for (std::size_t k = 0; k < out.size(); ++k) {
        const auto want = m.longest_at(text, begin + k, e);
        REQUIRE(out[k].length == want.length);
        REQUIRE(out[k].payload == want.payload);
      }
    }
  }
}
