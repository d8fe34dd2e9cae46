#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <limits>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "test_helpers.hpp"

using namespace kbert;
using kbert::test::TempFile;

namespace {
std::vector<std::string> objects(const KnowledgeGraph& kg, std::string_view s, std::size_t limit = 100) {
  std::vector<std::string> out;
  for (const auto& f : kg.lookup(s, limit)) out.push_back(std::string(f.relation) + "|" + std::string(f.object));
  return out;
}
}  // namespace

TEST_CASE("SPO files load in file order, deduplicated", "[kg]") {
  TempFile f("苹果\t是\t水果\n苹果\t产地\t山东\n北京\t首都\t中国\n苹果\t是\t水果\n苹果\t颜色\t红\n");
  KnowledgeGraph kg;
  KgLoadReport rep = kg.load(f.path());
  CHECK(rep.lines == 5);
  CHECK(rep.triples == 4);
  CHECK(kg.num_triples() == 4);
  CHECK(kg.duplicate_triples() == 1);
  CHECK(objects(kg, "苹果") == std::vector<std::string>{"是|水果", "产地|山东", "颜色|红"});
  CHECK(objects(kg, "苹果", 2) == std::vector<std::string>{"是|水果", "产地|山东"});
  CHECK(objects(kg, "北京") == std::vector<std::string>{"首都|中国"});
  CHECK(objects(kg, "中国").empty());  // an object is not a surface form in .spo
  CHECK(kg.lookup("香蕉").empty());
}

TEST_CASE("SPO lines are stripped and split as the original does", "[kg]") {
  // CRLF, a lone CR, surrounding whitespace (ideographic space too), a blank line,
  // an empty predicate (allowed), a subject with inner space (stored).
  TempFile f("  a\tp\to \r\nb\tq\tx\r\u3000c\t\td\u3000\n\n e f\tr\tg\n");
  KnowledgeGraph kg;
  KgLoadReport rep = kg.load(f.path());
  CHECK(rep.bad_lines == 0);
  CHECK(objects(kg, "a") == std::vector<std::string>{"p|o"});
  CHECK(objects(kg, "b") == std::vector<std::string>{"q|x"});
  CHECK(objects(kg, "c") == std::vector<std::string>{"|d"});
  CHECK(objects(kg, "e f") == std::vector<std::string>{"r|g"});
}

TEST_CASE("Bad SPO lines: strict mode names file and line, lenient mode counts", "[kg]") {
  TempFile f("a\tp\to\nonly two\tfields\nb\tp\to\textra\nc\tp\t\xFF\n\td\te\nz\tp\to\n");
  SECTION("strict") {
    KnowledgeGraph kg;
    kg.add("keep", "r", "v");
    try {
      kg.load(f.path());
      FAIL("no error");
    } catch (const ParseError& e) {
      CHECK(e.path() == f.path());
      CHECK(e.line() == 2);
      CHECK_THAT(e.what(), Catch::Contains(f.path() + ":2:") && Catch::Contains("found 2"));
    }
    // A failed load leaves the graph as it was.
    CHECK(kg.num_triples() == 1);
    CHECK(kg.lookup("a").empty());
    CHECK(objects(kg, "keep") == std::vector<std::string>{"r|v"});
    kg.add("a", "p2", "o2");
    CHECK(objects(kg, "a") == std::vector<std::string>{"p2|o2"});
  }
  SECTION("lenient") {
    KnowledgeGraph kg;
    KgLoadOptions opt;
    opt.strict = false;
    KgLoadReport rep = kg.load(f.path(), opt);
    CHECK(rep.bad_lines == 4);  // two fields, a 4th field that is no score, invalid UTF-8, leading TAB stripped -> 2 fields
    CHECK(rep.triples == 2);
    REQUIRE(rep.bad_samples.size() == 4);
    CHECK_THAT(rep.bad_samples[2], Catch::Contains(":4:") && Catch::Contains("invalid UTF-8"));
    CHECK(objects(kg, "z") == std::vector<std::string>{"p|o"});
  }
}

TEST_CASE("Missing files raise FileError", "[kg]") {
  KnowledgeGraph kg;
  CHECK_THROWS_AS(kg.load("/nonexistent/kg.spo"), FileError);
  CHECK_THROWS_WITH(kg.load("/nonexistent/kg.spo"), Catch::Contains("/nonexistent/kg.spo") && Catch::Contains("No such file"));
}

TEST_CASE("Several files merge in the order given", "[kg]") {
  TempFile f1("x\tr\t1\nx\tr\t2\n");
  TempFile f2("x\tr\t3\nx\tr\t1\ny\tr\t4\n");
  KnowledgeGraph kg;
  kg.load(std::vector<std::string>{f2.path(), f1.path()});
  CHECK(objects(kg, "x") == std::vector<std::string>{"r|3", "r|1", "r|2"});
  std::vector<std::string> all;
  kg.for_each_triple([&](const KgTriple& t) { all.push_back(std::string(t.subject) + std::string(t.object)); });
  CHECK(all == std::vector<std::string>{"x3", "x1", "y4", "x2"});
}

TEST_CASE("N-Triples: labels give surface forms, literals and escapes", "[kg]") {
  TempFile f(
      "# equipment\n"
      "<http://ex.org/Transformer> <http://www.w3.org/2000/01/rdf-schema#label> \"power transformer\"@en .\n"
      "<http://ex.org/Transformer> <http://www.w3.org/2004/02/skos/core#altLabel> \"transformer\" .\n"
      "<http://ex.org/Transformer> <http://www.w3.org/2000/01/rdf-schema#subClassOf> <http://ex.org/Equipment> .\n"
      "<http://ex.org/Equipment> <http://www.w3.org/2004/02/skos/core#prefLabel> \"equipment\"@en .\n"
      "<http://ex.org/Transformer> <http://ex.org/def#definition> \"A \\\"static\\\" device\\u00E9\"^^<http://www.w3.org/2001/XMLSchema#string> . # comment\n"
      "_:b1 <http://ex.org/p> \"blank\" .\n",
      ".nt");
  KnowledgeGraph kg;
  KgLoadReport rep = kg.load(f.path());
  CHECK(rep.bad_lines == 0);
  CHECK(kg.num_triples() == 3);
  const std::vector<std::string> expected{"subClassOf|equipment", "definition|A \"static\" device\u00E9"};
  CHECK(objects(kg, "power transformer") == expected);
  CHECK(objects(kg, "transformer") == expected);
  CHECK(objects(kg, "Transformer").empty());

  TempFile bad("<http://a> <http://b> \"unterminated .\n<http://a> \"lit\" <http://c> .\n<http://a> <http://b> <http://c>\n", ".nt");
  KgLoadOptions lenient;
  lenient.strict = false;
  KnowledgeGraph kg2;
  rep = kg2.load(bad.path(), lenient);
  CHECK(rep.bad_lines == 3);
  CHECK_THAT(rep.bad_samples[0], Catch::Contains("unterminated literal"));
  CHECK_THAT(rep.bad_samples[1], Catch::Contains("predicate is not an IRI"));
  CHECK_THAT(rep.bad_samples[2], Catch::Contains("missing '.'"));
  CHECK_THROWS_AS(KnowledgeGraph().load(bad.path()), ParseError);
}

TEST_CASE("CSV and TSV with a header", "[kg]") {
  TempFile csv("id,Head,relation,tail\n1,circuit breaker,has part,\"trip coil, main\"\n2,pump,\"has \"\"failure\"\" mode\",\"leak\nexternal\"\n3,,x,y\n", ".csv");
  KnowledgeGraph kg;
  KgLoadOptions lenient;
  lenient.strict = false;
  KgLoadReport rep = kg.load(csv.path(), lenient);
  CHECK(rep.triples == 2);
  CHECK(rep.bad_lines == 1);
  CHECK_THAT(rep.bad_samples[0], Catch::Contains(":5:") && Catch::Contains("empty subject"));
  CHECK(objects(kg, "circuit breaker") == std::vector<std::string>{"has part|trip coil, main"});
  CHECK(objects(kg, "pump") == std::vector<std::string>{"has \"failure\" mode|leak\nexternal"});

  TempFile tsv("subject\tpredicate\tobject\nvalve\tis a\tequipment\n", ".tsv");
  KnowledgeGraph kg2;
  kg2.load(tsv.path());
  CHECK(objects(kg2, "valve") == std::vector<std::string>{"is a|equipment"});

  TempFile nohead("a,b,c\n1,2,3\n", ".csv");
  CHECK_THROWS_WITH(KnowledgeGraph().load(nohead.path()), Catch::Contains("no subject column"));
  KgLoadOptions named;
  named.subject_column = "a";
  named.predicate_column = "b";
  named.object_column = "c";
  KnowledgeGraph kg3;
  kg3.load(nohead.path(), named);
  CHECK(objects(kg3, "1") == std::vector<std::string>{"2|3"});
  KgLoadOptions as_spo;
  as_spo.format = parse_kg_format("spo");
  CHECK_THROWS_AS(KnowledgeGraph().load(nohead.path(), as_spo), ParseError);
  CHECK_THROWS_AS(parse_kg_format("xml"), std::invalid_argument);
}

TEST_CASE("Surface forms and facts by id", "[kg]") {
  KnowledgeGraph kg;
  kg.add("a", "r", "b");
  kg.add_surface_form("a", "alpha");
  kg.add_surface_form("c", "gamma");  // an entity with no facts
  REQUIRE(kg.surface_id("alpha") >= 0);
  CHECK(kg.has_facts(static_cast<std::uint32_t>(kg.surface_id("alpha"))));
  CHECK_FALSE(kg.has_facts(static_cast<std::uint32_t>(kg.surface_id("gamma"))));
  CHECK(kg.surface_id("beta") == -1);
  CHECK_THROWS_AS(kg.facts(1000), std::out_of_range);
  CHECK(objects(kg, "alpha") == std::vector<std::string>{"r|b"});
}

TEST_CASE("Long strings and many triples intern correctly", "[kg]") {
  const std::string mid(300000, 'm'), big(2500000, 'b');
  std::string content = "s1\tr\t" + mid + "\ns2\tr\t" + big + "\n";
  for (int i = 0; i < 20000; ++i) content += "e" + std::to_string(i % 5000) + "\tr" + std::to_string(i % 7) + "\to" + std::to_string(i) + "\n";
  TempFile f(content);
  KnowledgeGraph kg;
  KgLoadReport rep = kg.load(f.path());
  CHECK(rep.triples == 20002);
  CHECK(kg.lookup("s1").at(0).object == mid);
  CHECK(kg.lookup("s2").at(0).object == big);
  auto facts = kg.lookup("e42");
  REQUIRE(facts.size() == 4);
  CHECK(facts[0].object == "o42");
  CHECK(facts[3].object == "o15042");
  CHECK(kg.num_surface_forms() == 5002);
}

TEST_CASE("Scored facts: a 4th .spo column orders each entity's facts, best first", "[kg][scores]") {
  TempFile f("stop\tis a\tending\t0.5\nstop\tpart of\tvalve\t20\nstop\tmeans\tshut\nvalve\tis a\tcontrol\t3\n"
             "stop\tis a\tending\t7\n");
  KnowledgeGraph kg;
  KgLoadReport rep = kg.load(f.path());
  CHECK(rep.bad_lines == 0);
  CHECK(kg.has_scores());
  // Unscored facts count as 0; a repeated triple keeps its higher score (7, not 0.5).
  CHECK(objects(kg, "stop") == std::vector<std::string>{"part of|valve", "is a|ending", "means|shut"});
  CHECK(objects(kg, "stop", 1) == std::vector<std::string>{"part of|valve"});
  auto facts = kg.lookup("stop");
  REQUIRE(facts.size() == 3);
  CHECK(facts[0].score == 20.f);
  CHECK(facts[1].score == 7.f);
  CHECK(facts[2].score == 0.f);
  // for_each_triple keeps load order and carries the scores.
  std::vector<float> scores;
  kg.for_each_triple([&](const KgTriple& t) { scores.push_back(t.score); });
  CHECK(scores == std::vector<float>{7.f, 20.f, 0.f, 3.f});
  // Without any score, file order as before.
  KnowledgeGraph plain;
  plain.add("stop", "is a", "ending");
  plain.add("stop", "part of", "valve");
  CHECK_FALSE(plain.has_scores());
  CHECK(objects(plain, "stop") == std::vector<std::string>{"is a|ending", "part of|valve"});
  plain.add("stop", "means", "shut", 1.5f);
  CHECK(objects(plain, "stop") == std::vector<std::string>{"means|shut", "is a|ending", "part of|valve"});
  CHECK_THROWS_WITH(plain.add("a", "b", "c", std::numeric_limits<float>::infinity()), Catch::Contains("finite"));
}

TEST_CASE("Bad scores are errors naming the line; CSV/TSV take a score column", "[kg][scores]") {
  for (const char* bad : {"x\tr\ty\thigh\n", "x\tr\ty\tnan\n", "x\tr\ty\t1e99\n", "x\tr\ty\t-\n", "x\tr\ty\t1\t2\n"}) {
    TempFile f(std::string("a\tr\tb\t1\n") + bad);
    KnowledgeGraph kg;
    try {
      kg.load(f.path());
      FAIL("no error for " << bad);
    } catch (const ParseError& e) {
      CHECK(e.line() == 2);
    }
  }
  TempFile csv("subject,relation,object,score\nvalve,is a,control,1\nvalve,fails by,leak,9.5\n", ".csv");
  KnowledgeGraph kg;
  kg.load(csv.path());
  CHECK(kg.has_scores());
  CHECK(objects(kg, "valve") == std::vector<std::string>{"fails by|leak", "is a|control"});
  TempFile bad_csv("subject,relation,object,score\nvalve,is a,control,one\n", ".csv");
  KnowledgeGraph kg2;
  CHECK_THROWS_WITH(kg2.load(bad_csv.path()), Catch::Contains(":2:") && Catch::Contains("score"));
  TempFile other("subject,relation,object,confidence\nvalve,is a,control,x\n", ".csv");
  KnowledgeGraph kg3;
  kg3.load(other.path());  // only a column named score (or KgLoadOptions::score_column) is read
  CHECK_FALSE(kg3.has_scores());
  KgLoadOptions opt;
  opt.score_column = "confidence";
  KnowledgeGraph kg4;
  CHECK_THROWS_WITH(kg4.load(other.path(), opt), Catch::Contains("score"));
}

namespace {
// Everything a KG answers, as text: counts, every triple in load order, every surface form's facts.
std::string dump(const KnowledgeGraph& kg) {
  std::string out = std::to_string(kg.num_triples()) + " " + std::to_string(kg.num_vertices()) + " " +
                    std::to_string(kg.num_relations()) + " " + std::to_string(kg.num_surface_forms()) + " " +
                    std::to_string(kg.duplicate_triples()) + " " + std::to_string(kg.has_scores()) + "\n";
  kg.for_each_triple([&](const KgTriple& t) {
    out += std::string(t.subject) + "|" + std::string(t.relation) + "|" + std::string(t.object) + "|" +
           std::to_string(t.score) + "\n";
  });
  for (std::uint32_t id = 0; id < kg.num_surface_forms(); ++id) {
    const std::string_view form = kg.surface_form(id);
    out += std::string(form) + " #" + std::to_string(kg.surface_id(form)) + " " + std::to_string(kg.has_facts(id)) + ":";
    for (const auto& f : kg.facts(id)) out += " " + std::string(f.relation) + "=" + std::string(f.object) + "@" + std::to_string(f.score);
    out += "\n";
  }
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("A compiled KG answers exactly as the KG it was compiled from", "[kg][compiled]") {
  TempFile spo("stop\tis a\tending\t0.5\nstop\tpart of\tvalve\t20\nstop\tmeans\tshut\nvalve\tis a\tcontrol\t3\n"
               "stop\tis a\tending\t7\n苹果\t是\t水果\n");
  TempFile nt(
      "<http://ex.org/Transformer> <http://www.w3.org/2000/01/rdf-schema#label> \"power transformer\"@en .\n"
      "<http://ex.org/Transformer> <http://www.w3.org/2004/02/skos/core#altLabel> \"transformer\" .\n"
      "<http://ex.org/Transformer> <http://www.w3.org/2000/01/rdf-schema#subClassOf> <http://ex.org/Equipment> .\n"
      "<http://ex.org/Equipment> <http://www.w3.org/2004/02/skos/core#prefLabel> \"equipment\"@en .\n"
      "<http://ex.org/Equipment2> <http://www.w3.org/2000/01/rdf-schema#label> \"transformer\" .\n"
      "<http://ex.org/Equipment2> <http://ex.org/p> \"other\" .\n",
      ".nt");
  TempFile out("", ".kbkg");
  for (const std::string* path : {&spo.path(), &nt.path()}) {
    KnowledgeGraph kg;
    kg.load(*path);
    kg.save_compiled(out.path());
    KnowledgeGraph mapped;
    const KgLoadReport rep = mapped.load(out.path());
    CHECK(rep.triples == kg.num_triples());
    CHECK(mapped.is_compiled());
    CHECK_FALSE(kg.is_compiled());
    CHECK(dump(mapped) == dump(kg));
    CHECK(mapped.surface_id("no such form") == -1);
    CHECK(mapped.lookup("stop", 1).size() == (path == &spo.path() ? 1u : 0u));
    CHECK_THROWS_AS(mapped.facts(static_cast<std::uint32_t>(mapped.num_surface_forms())), std::out_of_range);
    // Saving a mapped KG writes the same bytes.
    TempFile again("", ".kbkg");
    mapped.save_compiled(again.path());
    CHECK(read_bytes(again.path()) == read_bytes(out.path()));
  }
  // Any file that starts with the magic is recognised; --kg-format kbkg forces it.
  TempFile renamed(read_bytes(out.path()), ".bin");
  KnowledgeGraph by_magic;
  by_magic.load(renamed.path());
  CHECK(by_magic.is_compiled());
  KgLoadOptions forced;
  forced.format = parse_kg_format("kbkg");
  CHECK_THROWS_AS(KnowledgeGraph().load(spo.path(), forced), ParseError);
  // An empty KG compiles too.
  KnowledgeGraph empty;
  empty.save_compiled(out.path());
  KnowledgeGraph empty_mapped;
  empty_mapped.load(out.path());
  CHECK(empty_mapped.num_triples() == 0);
  CHECK(empty_mapped.lookup("stop").empty());
}

TEST_CASE("A compiled KG is read-only and loaded alone", "[kg][compiled]") {
  TempFile spo("pump\thas part\tseal\n");
  TempFile out("", ".kbkg");
  KnowledgeGraph kg;
  kg.load(spo.path());
  kg.save_compiled(out.path());
  KnowledgeGraph mapped;
  mapped.load(out.path());
  CHECK_THROWS_WITH(mapped.add("a", "b", "c"), Catch::Contains("read-only") && Catch::Contains(out.path()));
  CHECK_THROWS_WITH(mapped.add_surface_form("pump", "pumps"), Catch::Contains("read-only"));
  CHECK_THROWS_WITH(mapped.load(spo.path()), Catch::Contains("read-only"));
  CHECK_THROWS_WITH(kg.load(out.path()), Catch::Contains("loaded alone"));
  CHECK(kg.num_triples() == 1);  // the refused load left it as it was
  CHECK(mapped.lookup("pump").size() == 1);
}

TEST_CASE("Corrupt or truncated compiled KGs are refused, never read out of bounds", "[kg][compiled]") {
  TempFile spo("stop\tis a\tending\t0.5\nstop\tpart of\tvalve\t20\nvalve\tis a\tcontrol\t3\n苹果\t是\t水果\n");
  TempFile out("", ".kbkg");
  KnowledgeGraph kg;
  kg.load(spo.path());
  kg.save_compiled(out.path());
  const std::string good = read_bytes(out.path());
  auto try_load = [](const std::string& bytes) -> std::string {
    TempFile f(bytes, ".kbkg");
    try {
      KnowledgeGraph g;
      g.load(f.path());
      for (std::uint32_t id = 0; id < g.num_surface_forms(); ++id) g.facts(id);
      g.for_each_triple([](const KgTriple&) {});
      return "ok";
    } catch (const ParseError& e) {
      return e.what();
    }
  };
  CHECK(try_load(good) == "ok");
  // Every truncation is refused, naming the file's problem.
  for (std::size_t cut : {std::size_t{0}, std::size_t{7}, std::size_t{127}, std::size_t{128}, good.size() / 2, good.size() - 1})
    CHECK_THAT(try_load(good.substr(0, cut)), Catch::Contains("not a valid compiled KG"));
  CHECK_THAT(try_load(good + "x"), Catch::Contains("truncated or damaged"));
  // A wrong version names both versions.
  std::string v2 = good;
  v2[8] = 2;
  CHECK_THAT(try_load(v2), Catch::Contains("format version 2"));
  // Every single-byte change is either refused or harmless (no crash; ASan checks the reads).
  std::size_t refused = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0xA5);
    refused += try_load(bad) != "ok";
  }
  CHECK(refused > 0);
}
