// kbert.Tokenizer, kbert.TreeOptions, kbert.SentenceTreeBuilder.
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/model/model.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/fact_scores.hpp"
#include "kbert/train/trainer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace py = pybind11;
using namespace kbert;
#include "convert.hpp"

namespace kbert::python {

namespace {

void bind_tokenizer(py::module_& m) {
  py::class_<Tokenizer, std::shared_ptr<Tokenizer>>(m, "Tokenizer",
                                                    R"(A tokenizer: K-BERT's char mode, BERT WordPiece or sentencepiece.

Arguments:
    kind: "char", "wordpiece" or "sentencepiece".
    vocab: vocab.txt (needed by wordpiece; gives ids in char mode).
    spm_model: the sentencepiece .model file (sentencepiece only).
    lower_case: wordpiece only; None reads tokenizer_config.json beside the vocabulary, else True.
Raises:
    FileNotFoundError (missing file), ValueError (bad file or kind).
Example:
    tok = kbert.Tokenizer("wordpiece", vocab="vocab.txt")
    tok.tokenize("gas main leaked")      # ['gas', 'main', 'leak', '##ed']
    tok.encode("gas main leaked")        # numpy int32 ids
)")
      .def(py::init([](const std::string& kind, const std::string& vocab, const std::string& spm_model,
                       std::optional<bool> lower_case) {
             TokenizerOptions o;
             o.kind = kind;
             o.vocab_path = vocab;
             o.spm_model_path = spm_model;
             o.lower_case = lower_case;
             return make_tokenizer(o);
           }),
           py::arg("kind") = "char", py::arg("vocab") = "", py::arg("spm_model") = "",
           py::arg("lower_case") = py::none())
      .def_property_readonly("kind", [](const Tokenizer& t) { return std::string(t.kind()); })
      .def(
          "tokenize", [](const Tokenizer& t, const std::string& text) { return t.tokenize(text); }, py::arg("text"),
          "The tokens of a text (no knowledge matching): a list of str.")
      .def(
          "encode",
          [](const Tokenizer& t, const std::string& text) {
            const Vocab* v = t.vocab();
            if (!v) throw std::invalid_argument("this tokenizer has no vocabulary: give vocab=... to get ids");
            std::vector<std::int32_t> ids;
            for (const auto& tok : t.tokenize(text)) ids.push_back(v->id(tok));
            return to_numpy(std::move(ids));
          },
          py::arg("text"), "Vocabulary ids of the tokens (unknown tokens get [UNK]'s id): numpy int32.")
      .def_property_readonly("vocab_size", [](const Tokenizer& t) { return t.vocab() ? t.vocab()->size() : 0; })
      .def("__repr__", [](const Tokenizer& t) {
        return "kbert.Tokenizer(" + std::string(t.kind()) + ", " + std::to_string(t.vocab() ? t.vocab()->size() : 0) +
               " tokens)";
      });
}

void bind_tree_options(py::module_& m) {
  py::class_<TreeOptions>(m, "TreeOptions", R"(Sentence-tree options.

Arguments:
    max_entities: triples injected per matched entity (K-BERT: 2).
    max_length: tokens per tree after truncation.
    predicate: inject relation + object (True) or the object only (False).
    truncation: "kbert" (the original's) or "trunk_first" (knowledge yields before the sentence).
    add_special: start with [CLS] (and [SEP] between pairs).
    hops: fact chains followed per mention (1: K-BERT; 2: the facts of each injected
        object that is itself a KG entity, as sub-branches; up to 8).
    max_facts: facts per mention over all hops (0: max_entities * hops).
)")
      .def(py::init([](std::size_t max_entities, std::size_t max_length, bool predicate, const std::string& truncation,
                       bool add_special, std::size_t hops, std::size_t max_facts) {
             TreeOptions o;
             o.max_entities = max_entities;
             o.max_length = max_length;
             o.predicate = predicate;
             o.truncation = parse_truncation(truncation);
             o.add_special = add_special;
             o.hops = hops;
             o.max_facts = max_facts;
             return o;
           }),
           // TreeOptions' own defaults (tests/test_options.cpp ties them to the option table)
           py::arg("max_entities") = TreeOptions().max_entities, py::arg("max_length") = TreeOptions().max_length,
           py::arg("predicate") = TreeOptions().predicate,
           py::arg("truncation") = truncation_name(TreeOptions().truncation),
           py::arg("add_special") = TreeOptions().add_special, py::arg("hops") = TreeOptions().hops,
           py::arg("max_facts") = TreeOptions().max_facts)
      .def_readwrite("max_entities", &TreeOptions::max_entities)
      .def_readwrite("max_length", &TreeOptions::max_length)
      .def_readwrite("predicate", &TreeOptions::predicate)
      .def_readwrite("add_special", &TreeOptions::add_special)
      .def_readwrite("hops", &TreeOptions::hops)
      .def_readwrite("max_facts", &TreeOptions::max_facts);
}

void bind_tree_builder(py::module_& m) {
  py::class_<SentenceTreeBuilder>(m, "SentenceTreeBuilder", R"(Builds K-BERT sentence trees.

Example:
    b = kbert.SentenceTreeBuilder(kg, tokenizer="char", options=kbert.TreeOptions(predicate=True))
    t = b.build("我不高兴")   # t.tokens, t.positions, t.segments, t.visible (numpy), t.injected
)")
      .def(py::init([](const KnowledgeGraph* kg, const std::string& tokenizer, const std::string& vocab,
                       const std::string& spm_model, const TreeOptions& options) {
             TokenizerOptions t;
             t.kind = tokenizer;
             t.vocab_path = vocab;
             t.spm_model_path = spm_model;
             return std::make_unique<SentenceTreeBuilder>(kg, make_tokenizer(t), options);
           }),
           py::arg("kg"), py::arg("tokenizer") = "char", py::arg("vocab") = "", py::arg("spm_model") = "",
           py::arg("options") = TreeOptions{}, py::keep_alive<1, 2>())
      .def(py::init([](const KnowledgeGraph* kg, std::shared_ptr<Tokenizer> tokenizer, const TreeOptions& options) {
             return std::make_unique<SentenceTreeBuilder>(kg, std::move(tokenizer), options);
           }),
           py::arg("kg"), py::arg("tokenizer"), py::arg("options") = TreeOptions{}, py::keep_alive<1, 2>())
      .def(
          "build",
          [](const SentenceTreeBuilder& b, const std::string& a, const std::optional<std::string>& text_b) {
            SentenceTree t;
            {
              py::gil_scoped_release release;
              t = text_b ? b.build(a, *text_b) : b.build(a);
            }
            return tree_to_python(std::move(t));
          },
          py::arg("text"), py::arg("text_b") = py::none(), R"(The sentence tree of one text (or of a pair, with text_b).

Returns:
    an object with tokens (list of str) and numpy arrays ids (int32), positions (int32, soft
    positions), segments (uint8: 0 sentence, 1 injected), uer_segments / hf_segments (int32),
    hard_index (int32), visible (uint8, tokens x tokens), and injected: a list of
    InjectedTriple(entity, relation, object, start, end, entity_start, entity_end).
Raises:
    ValueError on invalid UTF-8 (strings with lone surrogates).
Example:
    t = builder.build("the regulator valve failed")
    [(x.entity, x.relation, x.object) for x in t.injected])")
      .def(
          "build_batch",
          [](const SentenceTreeBuilder& b, const std::vector<std::string>& texts, unsigned threads) {
            std::vector<SentenceTree> trees;
            {
              py::gil_scoped_release release;
              trees = b.build_batch(texts, {}, threads);
            }
            py::list out;
            for (auto& t : trees) out.append(tree_to_python(std::move(t)));
            return out;
          },
          py::arg("texts"), py::arg("threads") = 0, R"(Trees of many texts, built on several threads (0: all cores).

Returns:
    a list of trees as build() returns them, in input order.)");
}

}  // namespace

void bind_text(py::module_& m) {
  bind_tokenizer(m);
  bind_tree_options(m);
  bind_tree_builder(m);
}

}  // namespace kbert::python
