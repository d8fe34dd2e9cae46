#include <catch2/catch.hpp>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/char_tokenizer.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"
#include "kbert/tree/limits.hpp"
#include "kbert/tree/sentence_tree.hpp"
#include "kbert/train/fact_scores.hpp"
#include "test_helpers.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <tuple>

using namespace kbert;
using Strings = std::vector<std::string>;
using Ints = std::vector<std::int32_t>;
using Bytes = std::vector<std::uint8_t>;

namespace {

KnowledgeGraph fruit_kg() {
  KnowledgeGraph kg;
  kg.add("苹果", "是", "水果");
  kg.add("苹果", "产地", "山东");
  kg.add("苹果", "是", "水果");
  kg.add("北京", "首都", "中国");
  return kg;
}

std::vector<Bytes> rows(const VisibleMatrix& v) {
  std::vector<Bytes> out;
  for (Eigen::Index i = 0; i < v.rows(); ++i) {
    Bytes r;
    for (Eigen::Index j = 0; j < v.cols(); ++j) r.push_back(v(i, j));
    out.push_back(r);
  }
  return out;
}

SentenceTreeBuilder char_builder(const KnowledgeGraph& kg, TreeOptions opt = {}) {
  return SentenceTreeBuilder(&kg, std::make_shared<CharTokenizer>(), opt);
}

}  // namespace

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

namespace {

// Multi-hop fixtures: one character per entity, so that each branch is one token.
//   A -r1-> B -r-> D -r-> E,  A -r2-> C -r-> D  (D shared by two paths)
KnowledgeGraph diamond_kg() {
  KnowledgeGraph kg;
  kg.add("A", "r1", "B");
  kg.add("A", "r2", "C");
  kg.add("B", "r", "D");
  kg.add("C", "r", "D");
  kg.add("D", "r", "E");
  return kg;
}

TreeOptions hops_options(std::size_t hops, std::size_t max_entities = 2) {
  TreeOptions opt;
  opt.hops = hops;
  opt.max_entities = max_entities;
  return opt;
}

struct Fact {
  std::string entity, relation, object;
  std::uint32_t hop;
  std::int32_t parent;
  std::uint32_t start, end;
  bool operator==(const Fact& o) const {
    return std::tie(entity, relation, object, hop, parent, start, end) ==
           std::tie(o.entity, o.relation, o.object, o.hop, o.parent, o.start, o.end);
  }
};

std::ostream& operator<<(std::ostream& os, const Fact& f) {
  return os << f.entity << " " << f.relation << " " << f.object << " hop " << f.hop << " parent " << f.parent << " ["
            << f.start << "," << f.end << ")";
}

std::vector<Fact> facts_of(const SentenceTree& t) {
  std::vector<Fact> out;
  for (const auto& x : t.injected) out.push_back({x.entity, x.relation, x.object, x.hop, x.parent, x.start, x.end});
  return out;
}

}  // namespace

TEST_CASE("Multi-hop: hops 1 is K-BERT; a chain continues soft positions and sees its own path", "[tree][hops]") {
  KnowledgeGraph kg;
  kg.add("A", "r", "B");
  kg.add("B", "r", "C");
  kg.add("C", "r", "D");
  const SentenceTree one = char_builder(kg, hops_options(1)).build("xAy");
  CHECK(one.tokens == Strings{"x", "A", "B", "y"});
  CHECK(facts_of(one) == std::vector<Fact>{{"A", "r", "B", 1, -1, 2, 3}});
  // The default options are hops 1: identical trees.
  const SentenceTree def = char_builder(kg).build("xAy");
  CHECK(def.tokens == one.tokens);
  CHECK(rows(def.visible) == rows(one.visible));

  const SentenceTree two = char_builder(kg, hops_options(2)).build("xAy");
  CHECK(two.tokens == Strings{"x", "A", "B", "C", "y"});
  CHECK(two.positions == Ints{0, 1, 2, 3, 2});
  CHECK(two.segments == Bytes{0, 0, 1, 1, 0});
  CHECK(facts_of(two) == std::vector<Fact>{{"A", "r", "B", 1, -1, 2, 3}, {"B", "r", "C", 2, 0, 3, 4}});
  CHECK(rows(two.visible) == std::vector<Bytes>{
                                 {1, 1, 0, 0, 1},  // x: the trunk only
                                 {1, 1, 1, 1, 1},  // A: the trunk and every branch of A
                                 {0, 1, 1, 1, 0},  // B: A, itself, its descendant C
                                 {0, 1, 1, 1, 0},  // C: A, its ancestor B, itself
                                 {1, 1, 0, 0, 1},  // y: the trunk only
                             });
  const SentenceTree three = char_builder(kg, hops_options(3)).build("xAy");
  CHECK(three.tokens == Strings{"x", "A", "B", "C", "D", "y"});
  CHECK(three.positions == Ints{0, 1, 2, 3, 4, 2});
  CHECK(three.injected.back().hop == 3);
  CHECK(three.injected.back().parent == 1);
  // Eight hops on a three-fact chain stop where the chain ends.
  CHECK(char_builder(kg, hops_options(8)).build("xAy").tokens == three.tokens);
}

TEST_CASE("Multi-hop: cycles stop, shared objects expand once, siblings stay apart", "[tree][hops]") {
  SECTION("a cycle never puts a vertex twice on a path") {
    KnowledgeGraph kg;
    kg.add("A", "r", "B");
    kg.add("B", "back", "A");  // A is on the path
    kg.add("B", "r", "C");
    kg.add("C", "back", "B");  // B is on the path
    kg.add("C", "back", "A");
    const SentenceTree t = char_builder(kg, hops_options(4)).build("A");
    CHECK(t.tokens == Strings{"A", "B", "C"});
    CHECK(facts_of(t) == std::vector<Fact>{{"A", "r", "B", 1, -1, 1, 2}, {"B", "r", "C", 2, 0, 2, 3}});
  }
  SECTION("hop 1 keeps K-BERT's facts, a self-loop included, without expanding them") {
    KnowledgeGraph kg;
    kg.add("A", "same", "A");
    kg.add("A", "r", "B");
    kg.add("B", "r", "C");
    const SentenceTree t = char_builder(kg, hops_options(2)).build("A");
    CHECK(t.tokens == Strings{"A", "A", "B", "C"});
    CHECK(t.injected[2].parent == 1);
  }
  SECTION("diamond: D under B's path and C's, its facts once, siblings invisible") {
    KnowledgeGraph kg = diamond_kg();
    const SentenceTree t = char_builder(kg, hops_options(3)).build("A");
    CHECK(t.tokens == Strings{"A", "B", "D", "E", "C", "D"});
    CHECK(t.positions == Ints{0, 1, 2, 3, 1, 2});
    CHECK(facts_of(t) == std::vector<Fact>{{"A", "r1", "B", 1, -1, 1, 2},
                                           {"B", "r", "D", 2, 0, 2, 3},
                                           {"D", "r", "E", 3, 1, 3, 4},
                                           {"A", "r2", "C", 1, -1, 4, 5},
                                           {"C", "r", "D", 2, 3, 5, 6}});
    CHECK(rows(t.visible) == std::vector<Bytes>{
                                 {1, 1, 1, 1, 1, 1},  // A sees all its branches
                                 {1, 1, 1, 1, 0, 0},  // B: A, B, its descendants D, E
                                 {1, 1, 1, 1, 0, 0},  // D: A, ancestor B, D, descendant E
                                 {1, 1, 1, 1, 0, 0},  // E: A, ancestors B and D, E
                                 {1, 0, 0, 0, 1, 1},  // C: A, C, its D; not B's path
                                 {1, 0, 0, 0, 1, 1},  // D under C
                             });
    for (std::size_t i = 0; i < t.size(); ++i)
      for (std::size_t j = 0; j < t.size(); ++j) CHECK(t.visible(i, j) == t.visible(j, i));
  }
  SECTION("two mentions of the same entity each get their own paths") {
    KnowledgeGraph kg = diamond_kg();
    const SentenceTree t = char_builder(kg, hops_options(2)).build("AxA");
    CHECK(t.tokens == Strings{"A", "B", "D", "C", "D", "x", "A", "B", "D", "C", "D"});
    // The second mention's branches are invisible to the first mention and its branches.
    CHECK(t.visible(0, 7) == 0);
    CHECK(t.visible(1, 7) == 0);
    CHECK(t.visible(6, 7) == 1);
    CHECK(t.visible(8, 7) == 1);
  }
}

TEST_CASE("Multi-hop: max_entities per node, max_facts per mention, breadth first", "[tree][hops]") {
  KnowledgeGraph kg = diamond_kg();
  SECTION("max_entities 1: one fact per node") {
    const SentenceTree t = char_builder(kg, hops_options(3, 1)).build("A");
    CHECK(t.tokens == Strings{"A", "B", "D", "E"});
  }
  SECTION("max_facts 3: hop 1 first, then hop 2 in order, laid out depth first") {
    TreeOptions opt = hops_options(3);
    opt.max_facts = 3;
    const SentenceTree t = char_builder(kg, opt).build("A");
    CHECK(t.tokens == Strings{"A", "B", "D", "C"});
    CHECK(t.positions == Ints{0, 1, 2, 1});
  }
  SECTION("the default total is max_entities x hops") {
    const SentenceTree t = char_builder(kg, hops_options(2)).build("A");  // at most 4 facts
    CHECK(t.injected.size() == 4);
    const SentenceTree t1 = char_builder(kg, hops_options(2, 1)).build("A");  // at most 2
    CHECK(t1.tokens == Strings{"A", "B", "D"});
  }
  SECTION("bad settings are refused") {
    CHECK_THROWS_WITH(char_builder(kg, hops_options(0)), Catch::Contains("hops"));
    CHECK_THROWS_WITH(char_builder(kg, hops_options(kMaxHops + 1)), Catch::Contains("hops"));
  }
}

TEST_CASE("facts(): what a tree of the whole text injects, never cut by max_length", "[tree]") {
  KnowledgeGraph kg = fruit_kg();
  TreeOptions opt;
  opt.max_length = 4;  // a tree keeps 我吃苹果 and nothing of the knowledge
  const SentenceTreeBuilder b = char_builder(kg, opt);
  CHECK(b.build("我吃苹果北京").injected.empty());
  std::vector<Fact> got;
  for (const auto& x : b.facts("我吃苹果北京")) got.push_back({x.entity, x.relation, x.object, x.hop, x.parent, x.start, x.end});
  // The same facts as the untruncated tree, mention by mention, without token ranges.
  opt.max_length = 100;
  std::vector<Fact> want = facts_of(char_builder(kg, opt).build("我吃苹果北京"));
  for (auto& f : want) f.start = f.end = 0;
  CHECK(got == want);
  CHECK(want.size() == 3);  // 苹果: 水果, 山东 (水果 once); 北京: 中国
  // Multi-hop: breadth first, parents index into the list.
  KnowledgeGraph d = diamond_kg();
  const auto hop = char_builder(d, hops_options(2)).facts("A");
  REQUIRE(hop.size() == 4);
  CHECK(hop[0].hop == 1);
  CHECK(hop[1].hop == 1);
  CHECK(hop[2].hop == 2);
  CHECK(hop[2].parent == 0);
  // No KG, no facts; max_entities 0, none; bad UTF-8 is refused.
  CHECK(SentenceTreeBuilder(nullptr, std::make_shared<CharTokenizer>()).facts("苹果").empty());
  opt.max_entities = 0;
  CHECK(char_builder(kg, opt).facts("苹果").empty());
  CHECK_THROWS_AS(b.facts("\xff"), std::invalid_argument);
}

TEST_CASE("Multi-hop truncation: kbert cuts the flattened tree, trunk-first keeps only whole paths", "[tree][hops]") {
  KnowledgeGraph kg = diamond_kg();
  TreeOptions opt = hops_options(3);
  opt.max_length = 4;
  const SentenceTree cut = char_builder(kg, opt).build("Ax");
  CHECK(cut.tokens == Strings{"A", "B", "D", "E"});  // the sentence's x is lost, as in K-BERT
  CHECK(cut.injected.size() == 3);
  opt.truncation = Truncation::kTrunkFirst;
  const SentenceTree tf = char_builder(kg, opt).build("Ax");
  CHECK(tf.tokens == Strings{"A", "B", "D", "x"});
  CHECK(facts_of(tf) == std::vector<Fact>{{"A", "r1", "B", 1, -1, 1, 2}, {"B", "r", "D", 2, 0, 2, 3}});

  // A parent that does not fit takes its sub-branches with it, even those that would fit.
  KnowledgeGraph long_parent;
  long_parent.add("A", "r", "BBB");
  long_parent.add("BBB", "r", "D");
  TreeOptions o2 = hops_options(2);
  o2.max_length = 4;
  o2.truncation = Truncation::kTrunkFirst;
  const SentenceTree orphan = char_builder(long_parent, o2).build("Ax");
  CHECK(orphan.tokens == Strings{"A", "x"});
  CHECK(orphan.injected.empty());
}

TEST_CASE("remove_branch takes a fact's whole path with it", "[tree][hops]") {
  KnowledgeGraph kg = diamond_kg();
  const SentenceTree t = char_builder(kg, hops_options(3)).build("Ax");
  REQUIRE(t.tokens == Strings{"A", "B", "D", "E", "C", "D", "x"});
  // Removing A r1 B removes B, D, E; C's path and x keep their positions.
  const SentenceTree r = remove_branch(t, 0);
  CHECK(r.tokens == Strings{"A", "C", "D", "x"});
  CHECK(r.positions == Ints{0, 1, 2, 1});
  CHECK(facts_of(r) == std::vector<Fact>{{"A", "r2", "C", 1, -1, 1, 2}, {"C", "r", "D", 2, 0, 2, 3}});
  CHECK(rows(r.visible) == std::vector<Bytes>{{1, 1, 1, 1}, {1, 1, 1, 0}, {1, 1, 1, 0}, {1, 0, 0, 1}});
  // Removing the hop-2 fact B r D removes D and E; B stays.
  const SentenceTree r2 = remove_branch(t, 1);
  CHECK(r2.tokens == Strings{"A", "B", "C", "D", "x"});
  CHECK(facts_of(r2) == std::vector<Fact>{{"A", "r1", "B", 1, -1, 1, 2}, {"A", "r2", "C", 1, -1, 2, 3},
                                          {"C", "r", "D", 2, 1, 3, 4}});
  // The last fact of a path: the leaf alone.
  const SentenceTree r3 = remove_branch(t, 2);
  CHECK(r3.tokens == Strings{"A", "B", "D", "C", "D", "x"});
  CHECK(r3.injected.size() == 4);
}

TEST_CASE("Multi-hop: N-Triples rdfs:subClassOf chains become paths through their labels", "[tree][hops]") {
  // CGMES-style classes: Breaker < ProtectedSwitch < Switch < ConductingEquipment.
  const std::string label = "<http://www.w3.org/2000/01/rdf-schema#label>";
  const std::string sub = "<http://www.w3.org/2000/01/rdf-schema#subClassOf>";
  const kbert::test::TempFile nt("<http://cim/Breaker> " + label + " \"breaker\"@en .\n" +
                                 "<http://cim/ProtectedSwitch> " + label + " \"protected switch\"@en .\n" +
                                 "<http://cim/Switch> " + label + " \"switch\"@en .\n" +
                                 "<http://cim/ConductingEquipment> " + label + " \"conducting equipment\"@en .\n" +
                                 "<http://cim/Breaker> " + sub + " <http://cim/ProtectedSwitch> .\n" +
                                 "<http://cim/ProtectedSwitch> " + sub + " <http://cim/Switch> .\n" +
                                 "<http://cim/Switch> " + sub + " <http://cim/ConductingEquipment> .\n",
                                 ".nt");
  KnowledgeGraph kg;
  kg.load(nt.path());
  TreeOptions opt = hops_options(3);
  opt.predicate = true;
  const SentenceTree t = char_builder(kg, opt).build("the breaker tripped");
  REQUIRE(t.injected.size() == 3);
  CHECK(t.injected[0].entity == "breaker");
  CHECK(t.injected[0].relation == "subClassOf");
  CHECK(t.injected[0].object == "protected switch");
  CHECK(t.injected[1].entity == "protected switch");
  CHECK(t.injected[1].object == "switch");
  CHECK(t.injected[2].entity == "switch");
  CHECK(t.injected[2].object == "conducting equipment");
  CHECK(t.injected[2].hop == 3);
  CHECK(t.injected[2].parent == 1);
  // One hop is K-BERT's tree: the direct superclass only.
  TreeOptions one = opt;
  one.hops = 1;
  CHECK(char_builder(kg, one).build("the breaker tripped").injected.size() == 1);
}
