#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/char_tokenizer.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"
#include "kbert/train/ner.hpp"
#include "kbert/tree/sentence_tree.hpp"

using namespace kbert;
using Strings = std::vector<std::string>;
using Spans = std::vector<EntitySpan>;

namespace {

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = std::string("/tmp/kbert_test_ner_") + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

Strings split(const std::string& s) {
  Strings out;
  std::size_t b = 0;
  while (b <= s.size()) {
    const auto e = s.find(' ', b);
    out.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("bio_entities chunks as conlleval does", "[ner]") {
  CHECK(bio_entities(split("B-PER I-PER O")) == Spans{{"PER", 0, 2}});
  // Adjacent entities: B- starts a new one even of the same type.
  CHECK(bio_entities(split("B-PER B-PER I-PER")) == Spans{{"PER", 0, 1}, {"PER", 1, 3}});
  // I- without B- starts an entity; I- of another type ends one and starts another.
  CHECK(bio_entities(split("I-LOC I-LOC O I-PER")) == Spans{{"LOC", 0, 2}, {"PER", 3, 4}});
  CHECK(bio_entities(split("B-LOC I-PER I-PER")) == Spans{{"LOC", 0, 1}, {"PER", 1, 3}});
  // An entity at the very end, and one of length one at the start.
  CHECK(bio_entities(split("B-X O B-Y I-Y")) == Spans{{"X", 0, 1}, {"Y", 2, 4}});
  // Other tags (K-BERT's [ENT] of injected tokens) end a chunk and are never entities.
  CHECK(bio_entities(split("B-X [ENT] I-X")) == Spans{{"X", 0, 1}, {"X", 2, 3}});
  CHECK(bio_entities(split("O O")).empty());
  CHECK(bio_entities({}).empty());
}

TEST_CASE("Entity-level scores: type and both boundaries must match", "[ner]") {
  const std::vector<Strings> gold = {split("B-S I-S O B-D I-D I-D"), split("O B-S"), split("B-S I-S")};
  const std::vector<Strings> pred = {split("B-S I-S O B-D I-D O"),  // D: right type, wrong end: wrong
                                     split("O B-D"),                // wrong type
                                     split("B-S I-S")};             // right
  const EntityReport r = EntityReport::compute(gold, pred);
  CHECK(r.gold == 4);
  CHECK(r.predicted == 4);
  CHECK(r.correct == 2);
  CHECK(r.precision == Approx(0.5));
  CHECK(r.recall == Approx(0.5));
  CHECK(r.f1 == Approx(0.5));
  REQUIRE(r.types.size() == 2);
  CHECK(r.types[0].type == "D");
  CHECK(r.types[0].correct == 0);
  CHECK(r.types[0].predicted == 2);
  CHECK(r.types[1].type == "S");
  CHECK(r.types[1].precision == Approx(1.0));
  CHECK(r.types[1].recall == Approx(2.0 / 3));
  CHECK(r.token_accuracy == Approx(8.0 / 10));
  // Partial overlap is not a match; predicting nothing gives 0, not a division by zero.
  const EntityReport none = EntityReport::compute({split("B-S I-S I-S")}, {split("O O O")});
  CHECK(none.f1 == 0.0);
  CHECK(none.precision == 0.0);
  const EntityReport overlap = EntityReport::compute({split("B-S I-S I-S")}, {split("O B-S I-S")});
  CHECK(overlap.correct == 0);
  CHECK_THROWS_WITH(EntityReport::compute({split("O O")}, {split("O")}), Catch::Contains("sentence 1"));
  CHECK(overlap.to_json().find("\"f1\"") != std::string::npos);
  CHECK(overlap.to_table().find("all (micro)") != std::string::npos);
}

TEST_CASE("Tagged data: K-BERT BIO TSV and CoNLL, with errors naming file and line", "[ner]") {
  const auto tsv = write_temp("a.tsv", "text_a\tlabel\n腹 痛 3 天\tB-Symptom I-Symptom O O\n\n患 者\tO O\n");
  const TaggedDataset d = TaggedDataset::load(tsv);
  REQUIRE(d.size() == 2);
  CHECK_FALSE(d.word_level);
  CHECK(d.text(0) == "腹痛3天");
  CHECK(d.sentences[0].tags == split("B-Symptom I-Symptom O O"));
  CHECK(d.tag_names() == Strings{"O", "B-Symptom", "I-Symptom"});

  const auto conll = write_temp("b.conll", "-DOCSTART- O\n\nGas NN B-MAT\nleak VB O\n\n\nValve NN B-EQ\n");
  const TaggedDataset c = TaggedDataset::load(conll);
  REQUIRE(c.size() == 2);
  CHECK(c.word_level);
  CHECK(c.text(0) == "Gas leak");
  CHECK(c.sentences[1].tags == Strings{"B-EQ"});

  CHECK_THROWS_AS(TaggedDataset::load("/tmp/kbert_test_ner_missing.tsv"), FileError);
  const auto short_tags = write_temp("c.tsv", "text_a\tlabel\n腹 痛\tO O\n腹 痛 3\tO O\n");
  CHECK_THROWS_WITH(TaggedDataset::load(short_tags), Catch::Contains("c.tsv:3") && Catch::Contains("3 tokens but 2 tags"));
  const auto bad_tag = write_temp("d.tsv", "text_a\tlabel\n腹\tX-Symptom\n");
  CHECK_THROWS_WITH(TaggedDataset::load(bad_tag), Catch::Contains("d.tsv:2") && Catch::Contains("X-Symptom"));
  const auto no_tag = write_temp("e.conll", "Gas B-MAT\nleak\n");
  CHECK_THROWS_WITH(TaggedDataset::load(no_tag), Catch::Contains("e.conll:2"));
  const auto no_header = write_temp("f.tsv", "text\ttags\n腹\tO\n");
  CHECK_THROWS_WITH(TaggedDataset::load(no_header, TaggedFormat::kBioTsv), Catch::Contains("text_a and label"));
}

TEST_CASE("Labels line up with trunk tokens when knowledge is injected", "[ner]") {
  KnowledgeGraph kg;
  kg.add("腹痛", "症状", "腹部疼痛");
  kg.add("腹痛", "部位", "腹部");
  kg.add("发热", "症状", "体温升高");
  kg.add("天", "单位", "时间");
  TreeOptions opt;
  opt.add_special = true;
  opt.max_entities = 2;
  opt.max_length = 64;
  auto tok = std::make_shared<CharTokenizer>();
  SentenceTreeBuilder b(&kg, tok, opt);
  TaggedSentence s{split("腹 痛 伴 发 热 3 天"), split("B-S I-S O B-S I-S O O")};
  const SentenceTree t = b.build("腹痛伴发热3天");
  REQUIRE(t.injected.size() == 4);  // dense: every word but 伴 and 3 gets knowledge
  const TreeTokenSource src = align_tree(t, s, *tok);
  CHECK(src.tokens_covered == 7);
  const std::vector<std::int64_t> ids = {1, 2, 0, 1, 2, 0, 0};
  const auto labels = tree_labels(src, t, ids, /*ent=*/9, /*ignore=*/-100);
  Strings trunk;
  std::vector<std::int64_t> trunk_labels;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t.segments[i] == 0 && t.tokens[i] != "[CLS]") {
      trunk.emplace_back(t.tokens[i]);
      trunk_labels.push_back(labels[i]);
    } else if (t.segments[i] == 1) {
      CHECK(labels[i] == 9);  // every injected token is [ENT]
    }
  }
  CHECK(trunk == s.tokens);
  CHECK(trunk_labels == ids);
  CHECK(labels[0] == -100);  // [CLS]

  // Truncation drops the sentence's tail: only the covered tokens get labels.
  opt.max_length = 12;
  SentenceTreeBuilder short_b(&kg, tok, opt);
  const SentenceTree cut = short_b.build("腹痛伴发热3天");
  const TreeTokenSource cut_src = align_tree(cut, s, *tok);
  CHECK(cut_src.tokens_covered < 7);
  CHECK(cut.size() == 12);

  // A tree of another sentence does not line up.
  TaggedSentence other{split("头 痛"), split("B-S I-S")};
  CHECK_THROWS_AS(align_tree(t, other, *tok), std::invalid_argument);
}

TEST_CASE("WordPiece: the first piece of a word carries its tag", "[ner]") {
  const auto vocab = write_temp("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ngas\nleak\n##ed\nvalve\nis\na\ncontrol\n");
  auto tok = std::make_shared<WordPieceTokenizer>(std::make_shared<const Vocab>(Vocab::from_file(vocab)));
  KnowledgeGraph kg;
  kg.add("valve", "is a", "control");
  TreeOptions opt;
  opt.add_special = true;
  opt.predicate = true;
  SentenceTreeBuilder b(&kg, tok, opt);
  TaggedSentence s{Strings{"Gas", "leaked", "valve"}, Strings{"B-M", "O", "B-E"}};
  const SentenceTree t = b.build("Gas leaked valve");
  CHECK(t.tokens == Strings{"[CLS]", "gas", "leak", "##ed", "valve", "is", "a", "control", "[SEP]"});
  const TreeTokenSource src = align_tree(t, s, *tok);
  const auto labels = tree_labels(src, t, {1, 0, 2}, 7, -100);
  CHECK(labels == std::vector<std::int64_t>{-100, 1, 0, -100, 2, 7, 7, 7, -100});
}
