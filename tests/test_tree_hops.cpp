// Sentence trees with multi-hop knowledge paths (TreeOptions::hops), facts(), and
// remove_branch on paths.
#include <catch2/catch.hpp>

#include <ostream>
#include <tuple>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tree/limits.hpp"
#include "kbert/tree/sentence_tree.hpp"
#include "test_helpers.hpp"
#include "tree_fixtures.hpp"

using namespace kbert;
using kbert::test::Bytes;
using kbert::test::char_builder;
using kbert::test::fruit_kg;
using kbert::test::rows;
using Strings = std::vector<std::string>;
using Ints = std::vector<std::int32_t>;

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
