#include <catch2/catch.hpp>

#include "kbert/common/error.hpp"
#include "kbert/kg/entity_matcher.hpp"
#include "kbert/text/lexical.hpp"
#include "kbert/tokenizer/char_tokenizer.hpp"
#include "kbert/tokenizer/sentencepiece_tokenizer.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"
#include "test_helpers.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

using namespace kbert;
using kbert::test::TempFile;
using Strings = std::vector<std::string>;

namespace {
std::shared_ptr<Vocab> hf_test_vocab() {
  // The vocabulary of HF's own BertTokenizer tests, plus a few entries.
  return std::make_shared<Vocab>(Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##want", "##ed",
                                                     "wa", "un", "runn", "##ing", ",", "low", "lowest", "中", "国", "power",
                                                     "transformer", "##s", "tripped", "the", "hello", "world", "!", "?"}));
}

Strings words(const TokenizedText& t) {
  Strings out;
  for (const Word& w : t.words) {
    std::string s;
    for (auto i = w.token_begin; i < w.token_end; ++i) s += std::string(s.empty() ? "" : " ") + std::string(t.tokens[i]);
    if (w.surface >= 0) s = "<" + s + ":" + std::to_string(w.surface) + ">";
    out.push_back(s);
  }
  return out;
}
}  // namespace

TEST_CASE("Char mode: whitespace skipped, tags whole, longest subject", "[tokenizer]") {
  CharTokenizer tok;
  EntityMatcher m;
  m.add(tok.match_key("北京"), 0);
  m.add(tok.match_key("北京大学"), 1);
  CHECK(tok.match_key("北 京").empty());  // a subject with whitespace never matches
  TokenizedText t;
  tok.segment("[CLS]我在 北京大学[SEP]北京[CLS", &m, t);
  CHECK(words(t) == Strings{"[CLS]", "我", "在", "<北 京 大 学:1>", "[SEP]", "<北 京:0>", "[", "C", "L", "S"});
  CHECK(t.words[0].special);
  CHECK(tok.tokenize("是 水果") == Strings{"是", " ", "水", "果"});  // values keep their spaces
  // Every code point one token, whatever its length; bad UTF-8 anywhere is an error naming the value.
  CHECK(tok.tokenize("a\xC3\xA9\xE6\xB0\xB4\xF0\x9F\x98\x80\xEE\x80\x80") ==
        Strings{"a", "\xC3\xA9", "\xE6\xB0\xB4", "\xF0\x9F\x98\x80", "\xEE\x80\x80"});
  for (const char* bad : {"\xFF", "ab\xE6\xB0", "\xE6\xB0x", "\xC3", "\xED\xA0\x80", "\xE0\x80\x80", "\xF0\x9F\x98"})
    CHECK_THROWS_WITH(tok.tokenize(bad), Catch::Contains("knowledge value"));
  CHECK_THROWS_AS(tok.segment("bad \xFF", &m, t), std::invalid_argument);

  CharTokenizer ci(nullptr, true);
  EntityMatcher mi;
  mi.add(ci.match_key("GIS"), 3);
  ci.segment("gis Gis", &mi, t);
  CHECK(words(t) == Strings{"<g i s:3>", "<G i s:3>"});
}

TEST_CASE("Char mode: tokens across runs, tags and whitespace; max_tokens; appending", "[tokenizer]") {
  CharTokenizer tok;
  EntityMatcher m;
  m.add(tok.match_key("水果"), 7);
  TokenizedText t;
  // Multi-byte and one-byte code points, whitespace of several kinds, a tag in the middle and
  // a mention: every token is its code point's bytes, words point at them.
  tok.segment("a\xC3\xA9 \t水果[SEP]\xF0\x9F\x98\x80水果x", &m, t);
  CHECK(t.tokens == Strings{"a", "\xC3\xA9", "水", "果", "[SEP]", "\xF0\x9F\x98\x80", "水", "果", "x"});
  CHECK(words(t) == Strings{"a", "\xC3\xA9", "<水 果:7>", "[SEP]", "\xF0\x9F\x98\x80", "<水 果:7>", "x"});
  // Segmentation may stop once max_tokens tokens are there (a mention is kept whole).
  t.clear();
  tok.append_segments("ab水果cd", &m, t, 3);
  CHECK(t.tokens == Strings{"a", "b", "水", "果"});
  CHECK(words(t) == Strings{"a", "b", "<水 果:7>"});
  // Appending to what is there: word token indices go on from the tokens already held.
  tok.append_segments(" x", &m, t, 100);
  CHECK(words(t) == Strings{"a", "b", "<水 果:7>", "x"});
  CHECK(t.words.back().token_begin == 4);
  // A text of whitespace alone has no words.
  tok.segment(" \n ", &m, t);
  CHECK(t.words.empty());
  CHECK(t.tokens.empty());
}

TEST_CASE("TokenBuffer: views, runs of pieces, comparison", "[tokenizer]") {
  TokenBuffer b;
  CHECK(b.empty());
  b.push_back("水");
  b.push_back("");
  b.push_back("a long token of more than eight bytes");
  const std::uint32_t offsets[] = {1, 4, 7};  // "x水果y": 水 is bytes [1, 4), 果 [4, 7)
  b.append_pieces("x水果y", offsets, 2);
  REQUIRE(b.size() == 5);
  CHECK(b[0] == "水");
  CHECK(b[1].empty());
  CHECK(b[2] == "a long token of more than eight bytes");
  CHECK(b[3] == "水");
  CHECK(b[4] == "果");
  CHECK(b.back() == b[4]);
  CHECK(b.bytes() == 3 + 0 + 37 + 3 + 3);
  CHECK_THROWS_AS(b.at(5), std::out_of_range);
  std::vector<std::string> copy(b.begin(), b.end());
  CHECK(b == copy);
  CHECK(b.to_vector() == copy);
  CHECK(TokenBuffer(copy) == b);
  CHECK(std::find(b.begin(), b.end(), "a long token of more than eight bytes") - b.begin() == 2);
  copy[1] = "z";
  CHECK(b != copy);
  b.clear();
  CHECK(b.empty());
  CHECK(b.bytes() == 0);
  CHECK((TokenBuffer{"p", "q"} == Strings{"p", "q"}));
}

TEST_CASE("WordPiece equals Hugging Face BertTokenizer on its own examples", "[tokenizer]") {
  WordPieceTokenizer tok(hf_test_vocab());
  CHECK(tok.tokenize("UNwant\u00E9d,running") == Strings{"un", "##want", "##ed", ",", "runn", "##ing"});
  CHECK(tok.tokenize("unwantedX running") == Strings{"[UNK]", "runn", "##ing"});
  CHECK(tok.tokenize("  \tHeLLo!how  \n Are yoU?  ") == Strings{"hello", "!", "[UNK]", "[UNK]", "[UNK]", "?"});
  CHECK(tok.tokenize("ah\u535A\u63A8zz") == Strings{"[UNK]", "[UNK]", "[UNK]", "[UNK]"});  // CJK split apart
  CHECK(tok.tokenize("中国") == Strings{"中", "国"});
  CHECK(tok.tokenize("[CLS] hello [SEP]") == Strings{"[CLS]", "hello", "[SEP]"});
  CHECK(tok.tokenize("he\x01llo\u200B wor\xEF\xBF\xBDld") == Strings{"hello", "world"});  // controls dropped
  CHECK(tok.tokenize(std::string(101, 'a')) == Strings{"[UNK]"});
  CHECK(tok.tokenize("") == Strings{});
  CHECK_THROWS_AS(tok.tokenize("\xC3"), std::invalid_argument);

  WordPieceOptions cased;
  cased.lower_case = false;
  WordPieceTokenizer tc(hf_test_vocab(), cased);
  CHECK(tc.basic_tokenize("H\u00E9llo WORLD") == std::vector<std::u32string>{U"H\u00E9llo", U"WORLD"});
  WordPieceOptions strip_only = cased;
  strip_only.strip_accents = true;
  WordPieceTokenizer ts(hf_test_vocab(), strip_only);
  CHECK(ts.basic_tokenize("H\u00E9llo") == std::vector<std::u32string>{U"Hello"});
  WordPieceOptions lower_keep = WordPieceOptions{};
  lower_keep.strip_accents = false;
  WordPieceTokenizer tl(hf_test_vocab(), lower_keep);
  CHECK(tl.basic_tokenize("H\u00E9llo") == std::vector<std::u32string>{U"h\u00E9llo"});
}

TEST_CASE("WordPiece reads tokenizer_config.json beside vocab.txt", "[tokenizer]") {
  const std::string dir = "/tmp/kbert-wp-" + std::to_string(::getpid());
  REQUIRE(std::system(("mkdir -p " + dir).c_str()) == 0);
  { std::ofstream(dir + "/vocab.txt") << "[UNK]\nHello\nhello\n"; }
  auto tok = WordPieceTokenizer::from_files(dir + "/vocab.txt");
  CHECK(tok->tokenize("Hello") == Strings{"hello"});
  { std::ofstream(dir + "/tokenizer_config.json") << R"({"do_lower_case": false, "strip_accents": null})"; }
  auto cased = WordPieceTokenizer::from_files(dir + "/vocab.txt");
  CHECK(cased->tokenize("Hello") == Strings{"Hello"});
  TokenizerOptions force;
  force.lower_case = true;
  CHECK(WordPieceTokenizer::from_files(dir + "/vocab.txt", force)->tokenize("Hello") == Strings{"hello"});
  { std::ofstream(dir + "/tokenizer_config.json") << R"({"do_lower_case": "yes"})"; }
  CHECK_THROWS_WITH(WordPieceTokenizer::from_files(dir + "/vocab.txt"), Catch::Contains("do_lower_case"));
  std::system(("rm -rf " + dir).c_str());
  CHECK_THROWS_AS(WordPieceTokenizer::from_files(dir + "/vocab.txt"), FileError);
}

TEST_CASE("WordPiece matches KG forms as whole words after normalisation", "[tokenizer]") {
  WordPieceTokenizer tok(hf_test_vocab());
  EntityMatcher m;
  m.add(tok.match_key("Power Transformer"), 7);
  m.add(tok.match_key("power"), 8);
  TokenizedText t;
  tok.segment("The POWER transformer tripped", &m, t);
  CHECK(words(t) == Strings{"the", "<power transformer:7>", "tripped"});
  tok.segment("power transformers tripped", &m, t);
  CHECK(words(t) == Strings{"<power:8>", "transformer ##s", "tripped"});
  tok.segment("[CLS] power [SEP]", &m, t);
  CHECK(words(t) == Strings{"[CLS]", "<power:8>", "[SEP]"});
  CHECK(t.words[0].special);
}

TEST_CASE("Vocab files: HF and UER styles, unknown tokens", "[tokenizer]") {
  TempFile f("[PAD]\n[UNK]\na b\n\nx\nx\n\u3000y\u3000z\n", ".txt");
  Vocab hf = Vocab::from_file(f.path(), VocabStyle::kHuggingFace);
  CHECK(hf.size() == 7);
  CHECK(hf.find("a b") == 2);
  CHECK(hf.find("x") == 5);  // the last of a repeated token
  CHECK(hf.id("zzz") == 1);
  Vocab uer = Vocab::from_file(f.path(), VocabStyle::kUer);
  CHECK(uer.find("a") == 2);
  CHECK(uer.token(3) == "???3");
  CHECK(uer.token(6) == "y");  // Python's strip().split() knows U+3000
  CHECK_THROWS_AS(uer.token(99), std::out_of_range);
  Vocab copy = hf;
  CHECK(copy.find("a b") == 2);
  Vocab no_unk = Vocab::from_tokens({"a"});
  CHECK_THROWS_AS(no_unk.id("b"), std::out_of_range);
  CHECK_THROWS_AS(Vocab::from_file("/nonexistent/vocab.txt"), FileError);
}

TEST_CASE("make_tokenizer reports what is missing", "[tokenizer]") {
  CHECK(make_tokenizer({})->kind() == "char");
  TokenizerOptions o;
  o.kind = "wordpiece";
  CHECK_THROWS_WITH(make_tokenizer(o), Catch::Contains("--vocab"));
  o.kind = "sentencepiece";
  CHECK_THROWS_WITH(make_tokenizer(o), Catch::Contains("--spm-model"));
  o.kind = "bpe";
  CHECK_THROWS_WITH(make_tokenizer(o), Catch::Contains("unknown tokenizer 'bpe'"));
}

TEST_CASE("SentencePiece through the plugin: pieces, offsets, whole-word matches", "[tokenizer][spm]") {
  const std::string dir = "/tmp/kbert-spm-" + std::to_string(::getpid());
  REQUIRE(std::system(("mkdir -p " + dir).c_str()) == 0);
  {
    std::ofstream corpus(dir + "/corpus.txt");
    for (int i = 0; i < 200; ++i)
      corpus << "the power transformer tripped after a gas leak near the main valve " << i << "\n"
             << "a circuit breaker failed; the pump seal leaked and the motor stopped\n";
  }
  SentencePieceTokenizer::train("--input=" + dir + "/corpus.txt --model_prefix=" + dir +
                                "/m --vocab_size=60 --model_type=unigram --minloglevel=2");
  SentencePieceTokenizer tok(dir + "/m.model");
  CHECK(tok.vocab()->size() == 60);
  auto pieces = tok.encode("the power transformer");
  REQUIRE(!pieces.empty());
  std::string joined;
  for (const auto& p : pieces) joined += p.piece;
  CHECK(joined == "\u2581the\u2581power\u2581transformer");
  CHECK(pieces.back().end == 21);
  EntityMatcher m;
  m.add(tok.match_key("power transformer"), 4);
  m.add(tok.match_key("valve"), 5);
  TokenizedText t;
  tok.segment("the power transformer tripped, valve!", &m, t);
  int found = 0;
  for (const Word& w : t.words) found += w.surface >= 0;
  CHECK(found == 2);
  tok.segment("the power transformers", &m, t);
  for (const Word& w : t.words) CHECK(w.surface < 0);
  // Encoding from several threads at once gives the same pieces.
  std::vector<std::vector<std::string>> results(4);
  std::vector<std::thread> pool;
  for (int k = 0; k < 4; ++k)
    pool.emplace_back([&, k] {
      for (int r = 0; r < 200; ++r) results[k] = tok.tokenize("the pump seal leaked near the main valve " + std::to_string(r % 3));
    });
  for (auto& th : pool) th.join();
  for (int k = 1; k < 4; ++k) CHECK(results[k] == results[0]);
  CHECK_THROWS_AS(SentencePieceTokenizer(dir + "/missing.model"), FileError);
  { std::ofstream(dir + "/bad.model") << "not a model"; }
  CHECK_THROWS_AS(SentencePieceTokenizer(dir + "/bad.model"), ParseError);
  CHECK_THROWS_AS(tok.encode("\xFF"), std::invalid_argument);
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("Lexical features: hashed words and word pairs, unit length", "[lexical]") {
  const kbert::LexicalFeatures f = kbert::lexical_features("The valve leaked. The valve!", 1u << 20);
  // words: the valve leaked the valve -> 3 distinct words, pairs: the|valve (x2), valve|leaked, leaked|the
  CHECK(f.index.size() == 6);
  double norm = 0;
  for (float v : f.value) norm += static_cast<double>(v) * v;
  CHECK(norm == Approx(1.0));
  CHECK(std::is_sorted(f.index.begin(), f.index.end()));
  // Case and punctuation do not change the words; the order of repeated words does.
  const auto g = kbert::lexical_features("the VALVE leaked the valve", 1u << 20);
  CHECK(g.index == f.index);
  CHECK(kbert::lexical_features("valve the", 1u << 20).index != kbert::lexical_features("the valve", 1u << 20).index);
  // Each CJK character is a word; a pair's second text is hashed apart from the first.
  CHECK(kbert::lexical_features("阀门泄漏", 1u << 20).index.size() == 4 + 3);
  CHECK(kbert::lexical_features("a", 1u << 20, "b").index != kbert::lexical_features("a b", 1u << 20).index);
  CHECK(kbert::lexical_features("", 64).index.empty());
  CHECK_THROWS_AS(kbert::lexical_features("x", 0), std::invalid_argument);
  CHECK_THROWS_AS(kbert::lexical_features("\xff", 64), std::invalid_argument);
}

TEST_CASE("Lexical features with knowledge: a fact's object counts as words of its text, pairs within it", "[lexical]") {
  constexpr std::size_t kBuckets = 1u << 20;
  kbert::LexicalKnowledge k;
  k.a = {"corrosion", "external corrosion"};
  const auto with = kbert::lexical_features("pitting on the main", kBuckets, {}, nullptr, &k);
  // The same slots as the words written out, but no pair across the text / knowledge boundary:
  // the text's 4 words + 3 pairs, then "corrosion" (new), "external" (new), "external|corrosion" (new).
  CHECK(with.index.size() == 4 + 3 + 3);
  const auto joined = kbert::lexical_features("pitting on the main corrosion external corrosion", kBuckets);
  CHECK(joined.index.size() == 4 + 3 + 2 + 3);  // + main|corrosion, corrosion|external
  for (std::int64_t slot : with.index) CHECK(std::binary_search(joined.index.begin(), joined.index.end(), slot));
  // "corrosion" twice: 1 + ln 2 before the scaling, against 1 for a word seen once.
  const auto pos = [&](const kbert::LexicalFeatures& f, std::string_view word) {
    const std::int64_t slot = kbert::lexical_features(word, kBuckets).index.at(0);
    const auto it = std::lower_bound(f.index.begin(), f.index.end(), slot);
    REQUIRE(it != f.index.end());
    REQUIRE(*it == slot);
    return f.value[static_cast<std::size_t>(it - f.index.begin())];
  };
  CHECK(pos(with, "corrosion") / pos(with, "pitting") == Approx(1 + std::log(2.0)));
  // Empty knowledge changes nothing; a pair's second text's knowledge is hashed with it.
  const kbert::LexicalKnowledge none;
  CHECK(kbert::lexical_features("a b", kBuckets, {}, nullptr, &none).index == kbert::lexical_features("a b", kBuckets).index);
  kbert::LexicalKnowledge kb;
  kb.b = {"y"};
  const auto pair = kbert::lexical_features("a", kBuckets, "x", nullptr, &kb);
  const auto pair_joined = kbert::lexical_features("a", kBuckets, "x y");  // a, x, y, x|y
  CHECK(pair.index.size() == 3);
  for (std::int64_t slot : pair.index) CHECK(std::binary_search(pair_joined.index.begin(), pair_joined.index.end(), slot));
  kbert::LexicalKnowledge bad;
  bad.a = {"\xff"};
  CHECK_THROWS_AS(kbert::lexical_features("a", kBuckets, {}, nullptr, &bad), std::invalid_argument);
}

TEST_CASE("Lexical IDF: smooth IDF of the training texts, rare slots left out", "[lexical]") {
  const std::size_t buckets = 1u << 20;
  std::vector<kbert::LexicalFeatures> docs;
  for (const char* t : {"valve leaked", "valve corroded", "valve leaked again"}) docs.push_back(kbert::lexical_features(t, buckets));
  const std::vector<float> idf = kbert::lexical_idf(docs, buckets, /*min_df=*/2);
  const auto slot = [&](const char* word) { return kbert::lexical_features(word, buckets).index.at(0); };
  // "valve" is in all 3 texts: ln(4/4) + 1; "leaked" in 2: ln(4/3) + 1; "corroded" in 1 (< min_df): 0.
  CHECK(idf[static_cast<std::size_t>(slot("valve"))] == Approx(1.0));
  CHECK(idf[static_cast<std::size_t>(slot("leaked"))] == Approx(std::log(4.0 / 3.0) + 1));
  CHECK(idf[static_cast<std::size_t>(slot("corroded"))] == 0.f);
  CHECK(kbert::lexical_idf(docs, buckets, 1)[static_cast<std::size_t>(slot("corroded"))] == Approx(std::log(2.0) + 1));
  // Weighted features: slots of weight 0 are left out, the rest weighted, then unit length.
  const kbert::LexicalFeatures f = kbert::lexical_features("valve corroded leaked", buckets, {}, idf.data());
  REQUIRE(f.index.size() == 2);  // valve, leaked (corroded and every pair: weight 0)
  const auto at = [&](std::int64_t k) {
    return f.value[static_cast<std::size_t>(std::find(f.index.begin(), f.index.end(), k) - f.index.begin())];
  };
  const double leaked = std::log(4.0 / 3.0) + 1, norm = std::sqrt(1 + leaked * leaked);
  CHECK(at(slot("valve")) == Approx(1 / norm));
  CHECK(at(slot("leaked")) == Approx(leaked / norm));
  CHECK(kbert::lexical_features("corroded", buckets, {}, idf.data()).index.empty());  // nothing left: no slots
  std::vector<kbert::LexicalFeatures> bad(1);
  bad[0].index = {static_cast<std::int64_t>(buckets)};
  CHECK_THROWS_AS(kbert::lexical_idf(bad, buckets), std::invalid_argument);
}
