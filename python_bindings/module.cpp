// The Python module kbert._kbert: thin wrappers over the C++ API, same names.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/model/model.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace py = pybind11;
using namespace kbert;

namespace {

// numpy arrays that own a moved std::vector (no copy of the data).
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owner = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({owner->size()}, {sizeof(T)}, owner->data(), free_when_done);
}

py::object tree_to_python(SentenceTree&& t) {
  static py::object Injected = py::module_::import("collections").attr("namedtuple")(
      "InjectedTriple", py::make_tuple("entity", "relation", "object", "start", "end", "entity_start", "entity_end"));
  py::list injected;
  for (const auto& x : t.injected)
    injected.append(Injected(x.entity, x.relation, x.object, x.start, x.end, x.entity_start, x.entity_end));
  const auto n = static_cast<py::ssize_t>(t.size());
  auto* vis = new VisibleMatrix(std::move(t.visible));
  py::capsule free_vis(vis, [](void* p) { delete static_cast<VisibleMatrix*>(p); });
  py::array_t<std::uint8_t> visible({n, n}, {n * static_cast<py::ssize_t>(sizeof(std::uint8_t)), static_cast<py::ssize_t>(1)},
                                    vis->data(), free_vis);
  py::dict d;
  d["tokens"] = t.tokens;
  d["ids"] = to_numpy(std::move(t.ids));
  d["positions"] = to_numpy(std::move(t.positions));
  d["segments"] = to_numpy(std::move(t.segments));
  d["uer_segments"] = to_numpy(std::move(t.uer_segments));
  d["hf_segments"] = to_numpy(std::move(t.hf_segments));
  d["hard_index"] = to_numpy(std::move(t.hard_index));
  d["visible"] = visible;
  d["injected"] = injected;
  static py::object Tree = py::module_::import("types").attr("SimpleNamespace");
  return Tree(**d);
}

}  // namespace

PYBIND11_MODULE(_kbert, m) {
  m.doc() = "kbert: knowledge-aware BERT (K-BERT) in C++ -- the native part; import kbert instead.";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      PyErr_SetString(PyExc_FileNotFoundError, e.what());
    } catch (const ParseError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  py::class_<KnowledgeGraph>(m, "KnowledgeGraph", R"(A knowledge graph of (subject, relation, object) triples.

Example:
    kg = kbert.KnowledgeGraph()
    kg.load("HowNet.spo")
    kg.lookup("不高兴")  # [("义原", "喜悦")]
)")
      .def(py::init<>())
      .def(
          "load",
          [](KnowledgeGraph& kg, const std::string& path, bool strict, const std::string& format) {
            KgLoadOptions o;
            o.strict = strict;
            o.format = parse_kg_format(format);
            KgLoadReport r;
            {
              py::gil_scoped_release release;
              r = kg.load(path, o);
            }
            return py::dict(py::arg("lines") = r.lines, py::arg("triples") = r.triples, py::arg("bad_lines") = r.bad_lines,
                            py::arg("bad_samples") = r.bad_samples);
          },
          py::arg("path"), py::arg("strict") = true, py::arg("format") = "auto",
          R"(Loads a .spo / .nt / .csv / .tsv file and merges it after earlier ones.

Arguments:
    path: the file. strict: the first bad line raises ValueError (else skipped and counted).
    format: auto, spo, nt, csv or tsv.
Returns:
    dict with lines, triples, bad_lines, bad_samples.)")
      .def("add", &KnowledgeGraph::add, py::arg("subject"), py::arg("relation"), py::arg("object"))
      .def(
          "lookup",
          [](const KnowledgeGraph& kg, const std::string& s, std::size_t limit) {
            std::vector<std::pair<std::string, std::string>> out;
            for (const auto& f : kg.lookup(s, limit)) out.emplace_back(std::string(f.relation), std::string(f.object));
            return out;
          },
          py::arg("surface"), py::arg("limit") = static_cast<std::size_t>(-1),
          "Facts of a surface form, first seen first, without repeats: a list of (relation, object).")
      .def("__len__", &KnowledgeGraph::num_triples)
      .def("triples", [](const KnowledgeGraph& kg) {
        std::vector<std::tuple<std::string, std::string, std::string>> out;
        kg.for_each_triple([&](const KgTriple& t) {
          out.emplace_back(std::string(t.subject), std::string(t.relation), std::string(t.object));
        });
        return out;
      }, "Every stored triple as (subject, relation, object), in load order.");

  py::class_<TreeOptions>(m, "TreeOptions", "Sentence-tree options (see the C++ TreeOptions).")
      .def(py::init([](std::size_t max_entities, std::size_t max_length, bool predicate, const std::string& truncation,
                       bool add_special) {
             TreeOptions o;
             o.max_entities = max_entities;
             o.max_length = max_length;
             o.predicate = predicate;
             o.truncation = parse_truncation(truncation);
             o.add_special = add_special;
             return o;
           }),
           py::arg("max_entities") = 2, py::arg("max_length") = 256, py::arg("predicate") = false,
           py::arg("truncation") = "kbert", py::arg("add_special") = false)
      .def_readwrite("max_entities", &TreeOptions::max_entities)
      .def_readwrite("max_length", &TreeOptions::max_length)
      .def_readwrite("predicate", &TreeOptions::predicate)
      .def_readwrite("add_special", &TreeOptions::add_special);

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
          py::arg("text"), py::arg("text_b") = py::none(), "The tree of one text (or pair).")
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
          py::arg("texts"), py::arg("threads") = 0, "Trees of many texts, built on several threads.");

  py::class_<Model>(m, "Model", R"(A kbert model directory, loaded for inference.

Example:
    model = kbert.Model.load("models/senti")
    model.predict(["这家酒店服务很好"])          # label names
    model.embed(["..."], pooling="mean")        # numpy (N, H) float32
)")
      .def_static(
          "load",
          [](const std::string& dir, const std::optional<std::string>& kg, std::size_t batch_size, unsigned threads) {
            RunOptions r;
            r.kg = kg;
            r.batch_size = batch_size;
            r.threads = threads;
            py::gil_scoped_release release;
            return Model::load(dir, r);
          },
          py::arg("dir"), py::arg("kg") = py::none(), py::arg("batch_size") = 32, py::arg("threads") = 0)
      .def(
          "predict_proba",
          [](const Model& m, const std::vector<std::string>& texts) {
            std::vector<Prediction> p;
            {
              py::gil_scoped_release release;
              p = m.predict(texts);
            }
            const std::size_t C = p.empty() ? m.spec().labels.size() : p[0].probs.size();
            py::array_t<float> out({p.size(), C});
            auto w = out.mutable_unchecked<2>();
            for (std::size_t i = 0; i < p.size(); ++i)
              for (std::size_t c = 0; c < C; ++c) w(i, c) = p[i].probs[c];
            return out;
          },
          py::arg("texts"), "Class probabilities, numpy (N, labels) float32.")
      .def(
          "predict",
          [](const Model& m, const std::vector<std::string>& texts) {
            std::vector<Prediction> p;
            {
              py::gil_scoped_release release;
              p = m.predict(texts);
            }
            std::vector<std::string> labels;
            for (const auto& x : p) labels.push_back(x.label_name);
            return labels;
          },
          py::arg("texts"), "Predicted label names.")
      .def(
          "embed",
          [](const Model& m, const std::vector<std::string>& texts, const std::string& pooling, bool normalize) {
            Matrix e;
            {
              py::gil_scoped_release release;
              e = m.embed(texts, parse_embed_pooling(pooling), normalize);
            }
            py::array_t<float> out({e.rows, e.cols});
            std::copy(e.data.begin(), e.data.end(), out.mutable_data());
            return out;
          },
          py::arg("texts"), py::arg("pooling") = "mean", py::arg("normalize") = false,
          "Sentence vectors, numpy (N, H) float32 (pooling cls, mean or max).")
      .def_property_readonly("labels", [](const Model& m) { return m.spec().labels; });
}
