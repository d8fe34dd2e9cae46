#include <catch2/catch.hpp>

#include "kbert/common/cpu.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/char_tokenizer.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"
#include "kbert/tree/limits.hpp"
#include "kbert/tree/sentence_tree.hpp"
#include "kbert/train/fact_scores.hpp"
#include "test_helpers.hpp"
#include "tree_fixtures.hpp"
#include "tree/tree_parts.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <tuple>

using namespace kbert;
using Strings = std::vector<std::string>;
using Ints = std::vector<std::int32_t>;
using kbert::test::Bytes;
using kbert::test::char_builder;
using kbert::test::fruit_kg;
using kbert::test::rows;

TEST_CASE("Worked example: tokens, soft positions, segments, visible matrix", "[tree]") {
  KnowledgeGraph kg = fruit_kg();
  SentenceTree t = char_builder(kg).build("我吃苹果");
  CHECK(t.tokens == Strings{"我", "吃", "苹", "果", "水", "果", "山", "东"});
  CHECK(t.positions == Ints{0, 1, 2, 3, 4, 5, 4, 5});
  CHECK(t.hard_index == Ints{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(t.segments == Bytes{0, 0, 0, 0, 1, 1, 1, 1});
  CHECK(rows(t.visible) == std::vector<Bytes>{
                               {1, 1, 1, 1, 0, 0, 0, 0},
                               {1, 1, 1, 1, 0, 0, 0, 0},
                               {1, 1, 1, 1, 1, 1, 1, 1},
                               {1, 1, 1, 1, 1, 1, 1, 1},
                               {0, 0, 1, 1, 1, 1, 0, 0},
                               {0, 0, 1, 1, 1, 1, 0, 0},
                               {0, 0, 1, 1, 0, 0, 1, 1},
                               {0, 0, 1, 1, 0, 0, 1, 1},
                           });
  REQUIRE(t.injected.size() == 2);
  CHECK(t.injected[0].entity == "苹果");
  CHECK(t.injected[0].relation == "是");
  CHECK(t.injected[0].object == "水果");
  CHECK(t.injected[0].start == 4);
  CHECK(t.injected[0].end == 6);
  CHECK(t.injected[0].entity_start == 2);
  CHECK(t.injected[0].entity_end == 4);
  CHECK(t.injected[1].object == "山东");
  CHECK(t.ids.empty());
  CHECK(t.uer_segments == Ints(8, 1));
  CHECK(t.hf_segments == Ints(8, 0));
}

TEST_CASE("Predicate mode and max_entities", "[tree]") {
  KnowledgeGraph kg = fruit_kg();
  TreeOptions opt;
  opt.predicate = true;
  SentenceTree t = char_builder(kg, opt).build("我吃苹果");
  CHECK(t.tokens == Strings{"我", "吃", "苹", "果", "是", "水", "果", "产", "地", "山", "东"});
  CHECK(t.positions == Ints{0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 7});
  opt.max_entities = 1;
  CHECK(char_builder(kg, opt).build("我吃苹果").tokens.size() == 7);
  opt.max_entities = 0;
  CHECK(char_builder(kg, opt).build("我吃苹果").tokens == Strings{"我", "吃", "苹", "果"});
  CHECK(SentenceTreeBuilder(nullptr, std::make_shared<CharTokenizer>()).build("我吃苹果").size() == 4);
}

TEST_CASE("Values repeat once: object-only mode keeps a set of values", "[tree]") {
  KnowledgeGraph kg;
  kg.add("苹果", "是", "水果");
  kg.add("苹果", "属于", "水果");
  kg.add("苹果", "产地", "山东");
  SentenceTree t = char_builder(kg).build("苹果");
  CHECK(t.tokens == Strings{"苹", "果", "水", "果", "山", "东"});
  TreeOptions opt;
  opt.predicate = true;
  CHECK(char_builder(kg, opt).build("苹果").tokens.size() == 2 + 3 + 4);
}

TEST_CASE("Truncation: kbert keeps the first tokens, trunk-first keeps the sentence", "[tree]") {
  KnowledgeGraph kg = fruit_kg();
  TreeOptions opt;
  SECTION("kbert") {
    opt.max_length = 8;
    SentenceTree t = char_builder(kg, opt).build("我吃苹果北京");
    CHECK(t.tokens == Strings{"我", "吃", "苹", "果", "水", "果", "山", "东"});  // 北京 pushed out
    opt.max_length = 5;
    t = char_builder(kg, opt).build("我吃苹果北京");
    CHECK(t.tokens == Strings{"我", "吃", "苹", "果", "水"});
    REQUIRE(t.injected.size() == 1);
    CHECK(t.injected[0].end == 5);  // clipped branch
    CHECK(t.visible.rows() == 5);
  }
  SECTION("trunk first") {
    opt.truncation = Truncation::kTrunkFirst;
    opt.max_length = 8;
    SentenceTree t = char_builder(kg, opt).build("我吃苹果北京");
    CHECK(t.tokens == Strings{"我", "吃", "苹", "果", "水", "果", "北", "京"});
    CHECK(t.positions == Ints{0, 1, 2, 3, 4, 5, 4, 5});
    CHECK(t.hard_index == Ints{0, 1, 2, 3, 4, 5, 8, 9});
    CHECK(rows(t.visible)[6] == Bytes{1, 1, 1, 1, 0, 0, 1, 1});
    CHECK(rows(t.visible)[4] == Bytes{0, 0, 1, 1, 1, 1, 0, 0});
    REQUIRE(t.injected.size() == 1);
    opt.max_length = 7;
    CHECK(char_builder(kg, opt).build("我吃苹果北京").tokens == Strings{"我", "吃", "苹", "果", "北", "京"});
    opt.max_length = 4;
    t = char_builder(kg, opt).build("我吃苹果北京");
    CHECK(t.tokens == Strings{"我", "吃", "苹", "果"});
    CHECK(t.injected.empty());
    opt.max_length = 100;
    CHECK(char_builder(kg, opt).build("我吃苹果北京").size() == 12);
  }
}

TEST_CASE("Pairs and special tokens: UER and HF segment ids", "[tree]") {
  KnowledgeGraph kg = fruit_kg();
  TreeOptions opt;
  opt.add_special = true;
  auto tok = std::make_shared<CharTokenizer>(
      std::make_shared<Vocab>(Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "我", "苹", "果"})));
  SentenceTreeBuilder b(&kg, tok, opt);
  SentenceTree t = b.build("我吃苹果", "北京");
  CHECK(t.tokens == Strings{"[CLS]", "我", "吃", "苹", "果", "水", "果", "山", "东", "[SEP]", "北", "京", "中", "国", "[SEP]"});
  CHECK(t.positions == Ints{0, 1, 2, 3, 4, 5, 6, 5, 6, 5, 6, 7, 8, 9, 8});
  CHECK(t.uer_segments == Ints{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2});
  CHECK(t.hf_segments == Ints{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1});
  CHECK(t.ids == Ints{2, 4, 1, 5, 6, 1, 6, 1, 1, 3, 1, 1, 1, 1, 3});
  CHECK(t.is_pair);

  SentenceTree s = b.build("我[PAD]苹果");
  CHECK(s.tokens.front() == "[CLS]");
  CHECK(s.tokens[2] == "[PAD]");
  CHECK(s.uer_segments[2] == 0);  // K-BERT masks a [PAD] tag even inside the text
  CHECK(s.uer_segments[1] == 1);
}

TEST_CASE("WordPiece trees hang branches after the entity's last piece", "[tree]") {
  KnowledgeGraph kg;
  kg.add("power transformer", "is a", "electrical equipment");
  auto vocab = std::make_shared<Vocab>(Vocab::from_tokens(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "power", "transform", "##er", "tripped", "is", "a", "electrical", "equipment"}));
  TreeOptions opt;
  opt.predicate = true;
  opt.add_special = true;
  SentenceTreeBuilder b(&kg, std::make_shared<WordPieceTokenizer>(vocab), opt);
  SentenceTree t = b.build("The Power Transformer tripped");
  CHECK(t.tokens == Strings{"[CLS]", "the", "power", "transform", "##er", "is", "a", "electrical", "equipment", "tripped", "[SEP]"});
  CHECK(t.positions == Ints{0, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6});
  CHECK(t.segments == Bytes{0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0});
  CHECK(t.ids.size() == t.size());
  REQUIRE(t.injected.size() == 1);
  CHECK(t.injected[0].entity_start == 2);
  CHECK(t.injected[0].entity_end == 5);
  CHECK(t.hf_segments == Ints(11, 0));
}

TEST_CASE("Edge cases: empty text, invalid UTF-8, batches", "[tree]") {
  KnowledgeGraph kg = fruit_kg();
  auto b = char_builder(kg);
  SentenceTree e = b.build("");
  CHECK(e.size() == 0);
  CHECK(e.visible.rows() == 0);
  CHECK_THROWS_AS(b.build("苹果\xF0\x9F"), std::invalid_argument);

  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back(i % 3 ? "我吃苹果" + std::to_string(i) : "北京" + std::string(i % 7, 'x'));
  auto batch = b.build_batch(texts, {}, 4);
  REQUIRE(batch.size() == texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    SentenceTree one = b.build(texts[i]);
    REQUIRE(batch[i].tokens == one.tokens);
    REQUIRE(batch[i].positions == one.positions);
    REQUIRE(batch[i].visible == one.visible);
  }
  texts[150] = "bad \xFF";
  CHECK_THROWS_WITH(b.build_batch(texts, {}, 4), Catch::Contains("text 151"));
  CHECK_THROWS_AS(b.build_batch(texts, {"only one"}), std::invalid_argument);
  CHECK_THROWS_AS(parse_truncation("middle"), std::invalid_argument);
  TreeOptions zero;
  zero.max_length = 0;
  CHECK_THROWS_AS(char_builder(kg, zero), std::invalid_argument);
}

TEST_CASE("Fact scores: the G statistic of the labels of the texts a fact touches", "[tree][scores]") {
  KnowledgeGraph kg;
  kg.add("苹果", "是", "水果");    // the word tells the labels apart, its branch (on every text) does not
  kg.add("苹果", "产地", "山东");  // both do: only on the two "pos" texts
  kg.add("香蕉", "是", "水果");
  kg.add("葡萄", "颜色", "紫");    // no text mentions grapes
  Dataset train;
  train.path = "toy";
  for (auto [label, text] : {std::pair{"pos", "苹果好"}, {"pos", "苹果甜"}, {"neg", "香蕉坏"}, {"neg", "香蕉烂"}})
    train.examples.push_back(Example{label, text, "", 0, ""});
  const auto scores = score_facts(kg, std::make_shared<CharTokenizer>(), train, 1);
  const double g = 4 * std::log(2.0);  // 2 * 2 * ln(2 / (2 * 0.5)): two texts, all of one label of two
  REQUIRE(scores.size() == 4);
  CHECK(scores[0].subject == "苹果");
  CHECK(scores[0].texts == 2);
  CHECK(scores[0].branch_texts == 4);  // the branch 是 水果 pools both subjects
  CHECK(scores[0].subject_score == Approx(g));
  CHECK(scores[0].branch_score == Approx(0).margin(1e-12));
  CHECK(scores[0].score == Approx(0).margin(1e-12));
  CHECK(scores[1].object == "山东");
  CHECK(scores[1].branch_texts == 2);
  CHECK(scores[1].score == Approx(g));
  CHECK(scores[2].subject_score == Approx(g));
  CHECK(scores[2].score == Approx(0).margin(1e-12));
  CHECK(scores[3].texts == 0);
  CHECK(scores[3].score == 0);

  // Written with a 4th column and loaded back: the informative fact comes first.
  kbert::test::TempFile out("");
  CHECK(write_scored_spo(scores, out.path()) == 4);
  KnowledgeGraph scored;
  scored.load(out.path());
  CHECK(scored.has_scores());
  auto facts = scored.lookup("苹果");
  REQUIRE(facts.size() == 2);
  CHECK(facts[0].object == "山东");
  CHECK(facts[0].score == Approx(g).epsilon(1e-5));
  CHECK(write_scored_spo(scores, out.path(), 1.0) == 1);  // below --min-score: left out
  KnowledgeGraph kept;
  kept.load(out.path());
  CHECK(kept.num_triples() == 1);
  // A field that would break the file is refused, and the file is left as it was.
  std::vector<FactScore> bad(1);
  bad[0].subject = "a\tb";
  bad[0].score = 1;
  CHECK_THROWS_WITH(write_scored_spo(bad, out.path()), Catch::Contains("TAB"));
  KnowledgeGraph again;
  again.load(out.path());
  CHECK(again.num_triples() == 1);
  Dataset empty;
  empty.path = "empty.tsv";
  CHECK_THROWS_WITH(score_facts(kg, std::make_shared<CharTokenizer>(), empty), Catch::Contains("empty.tsv"));
}

TEST_CASE("remove_branch equals the tree built without that fact") {
  // 苹果 has two facts and max_entities is 2, so without one of them nothing takes its place.
  KnowledgeGraph full = fruit_kg(), without;
  without.add("苹果", "是", "水果");
  without.add("北京", "首都", "中国");
  TreeOptions opt;
  opt.predicate = true;
  opt.add_special = true;
  const std::string text = "我吃苹果和北京的苹果";
  const SentenceTree t = char_builder(full, opt).build(text);
  REQUIRE(t.injected.size() == 5);  // 苹果 x2 (twice), 北京
  REQUIRE(t.injected[1].relation == "产地");
  // Removing the first mention's 产地山东 leaves the second mention's in place.
  const SentenceTree r = remove_branch(t, 1);
  CHECK(r.size() == t.size() - 4);
  const SentenceTree w = char_builder(without, opt).build(text);
  const SentenceTree w_second = remove_branch(t, 4);
  // By hand: the KG without 产地山东 has neither mention's branch; removing both gives that tree.
  const SentenceTree both = remove_branch(r, 3);
  CHECK(both.tokens == w.tokens);
  CHECK(both.positions == w.positions);
  CHECK(both.segments == w.segments);
  CHECK(both.uer_segments == w.uer_segments);
  CHECK(rows(both.visible) == rows(w.visible));
  REQUIRE(both.injected.size() == w.injected.size());
  for (std::size_t i = 0; i < w.injected.size(); ++i) {
    CHECK(both.injected[i].object == w.injected[i].object);
    CHECK(both.injected[i].start == w.injected[i].start);
    CHECK(both.injected[i].end == w.injected[i].end);
    CHECK(both.injected[i].entity_start == w.injected[i].entity_start);
    CHECK(both.injected[i].entity_end == w.injected[i].entity_end);
  }
  // Other tokens keep their soft positions: the trunk after the removed branch is unchanged.
  const auto he = std::find(t.tokens.begin(), t.tokens.end(), "和") - t.tokens.begin();
  const auto hr = std::find(r.tokens.begin(), r.tokens.end(), "和") - r.tokens.begin();
  CHECK(hr == he - 4);
  CHECK(r.positions[static_cast<std::size_t>(hr)] == t.positions[static_cast<std::size_t>(he)]);
  CHECK(w_second.size() == t.size() - 4);
  CHECK(w_second.injected.size() == 4);
  CHECK_THROWS_AS(remove_branch(t, 5), std::out_of_range);
}

TEST_CASE("The visible matrix's rows: the AVX-512 path writes what the portable one does", "[tree]") {
  if (!cpu::info().avx512) {
    WARN("this CPU has no AVX-512 BW: only the portable path runs here");
    return;
  }
  std::uint64_t state = 7;
  auto next = [&](std::size_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>((state >> 33) % bound);
  };
  // Sizes around the 64-byte store: one masked store, whole ones, whole ones and a tail.
  for (std::size_t m : {1, 2, 31, 63, 64, 65, 127, 128, 130, 256}) {
    std::vector<std::uint8_t> trunk(m), segments(m);
    for (std::size_t k = 0; k < m; ++k) {
      segments[k] = next(4) == 0;
      trunk[k] = !segments[k];
    }
    // Guard bytes after the matrix: neither path may write past m x m.
    std::vector<std::uint8_t> portable(m * m + 64, 0xAB), wide(m * m + 64, 0xAB);
    tree_build::visible_rows(portable.data(), m, trunk.data(), segments.data(), false);
    tree_build::visible_rows(wide.data(), m, trunk.data(), segments.data(), true);
    INFO("m = " << m);
    CHECK(wide == portable);
    CHECK(std::all_of(wide.begin() + static_cast<std::ptrdiff_t>(m * m), wide.end(), [](std::uint8_t b) { return b == 0xAB; }));
    bool rows = true;  // row k: the trunk row for a trunk token, zeros for a branch token
    for (std::size_t k = 0; k < m; ++k)
      for (std::size_t j = 0; j < m; ++j) rows = rows && portable[k * m + j] == (segments[k] ? 0 : trunk[j]);
    CHECK(rows);
  }
}
