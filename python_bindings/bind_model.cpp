// kbert.Model.
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/error.hpp"
#include "kbert/common/options.hpp"
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

// Model::predict with the GIL released (it runs on all cores; other Python threads go on).
std::vector<Prediction> predict_without_gil(const Model& m, const std::vector<std::string>& texts) {
  py::gil_scoped_release release;
  return m.predict(texts);
}

std::vector<TagResult> tag_without_gil(const Model& m, const std::vector<std::string>& texts) {
  py::gil_scoped_release release;
  return m.tag(texts);
}

}  // namespace

namespace {

// The class: loading, prediction and tagging.
py::class_<Model> bind_model_class(py::module_& m) {
  return py::class_<Model>(m, "Model", R"(A kbert model directory, loaded for inference.

Example:
    model = kbert.Model.load("models/senti")
    model.predict(["这家酒店服务很好"])          # label names
    model.embed(["..."], pooling="mean")        # numpy (N, H) float32
)")
      .def_static(
          "load",
          [](const std::string& dir, const std::optional<std::string>& kg, std::size_t batch_size, unsigned threads,
             const std::string& precision, std::size_t max_tokens) {
            RunOptions r;
            r.kg = kg;
            r.batch_size = batch_size;
            r.max_tokens = max_tokens;
            r.threads = threads;
            r.precision = parse_precision(precision);
            py::gil_scoped_release release;
            return Model::load(dir, r);
          },
          // Defaults: RunOptions' own, the precision the option table's (tests check both).
          py::arg("dir"), py::arg("kg") = py::none(), py::arg("batch_size") = RunOptions().batch_size,
          py::arg("threads") = RunOptions().threads,
          py::arg("precision") = options::default_text("predict", "precision"),
          py::arg("max_tokens") = RunOptions().max_tokens,
          R"(Loads a model directory (config.json, vocabulary, model.safetensors, kbert.json, kg/).

Arguments:
    dir: the directory. kg: another KG file, or "none" to run without knowledge.
    batch_size: trees per forward pass, at most. max_tokens: padded tokens per forward pass, at
        most (0: no budget); batches are also cut where text lengths jump.
    threads: LibTorch threads (0: all cores).
    precision: "auto" (default: bf16 where the CPU multiplies bfloat16 natively, AMX or
        AVX512-BF16, after a one-batch check against fp32; else fp32), "fp32", "bf16" or "int8"
        (Linear layers in int8, quantised dynamically); outputs stay float32.
Raises:
    FileNotFoundError (missing file), ValueError (bad file: names it and the tensor or line),
    RuntimeError (precision="bf16" on a CPU without AVX-512: no usable bfloat16 products).
Example:
    model = kbert.Model.load("build/fault_reports/kbert"))")
      .def(
          "predict_proba",
          [](const Model& m, const std::vector<std::string>& texts) {
            std::vector<Prediction> p = predict_without_gil(m, texts);
            const std::size_t C = p.empty() ? m.spec().labels.size() : p[0].probs.size();
            py::array_t<float> out({p.size(), C});
            auto w = out.mutable_unchecked<2>();
            for (std::size_t i = 0; i < p.size(); ++i)
              for (std::size_t c = 0; c < C; ++c) w(i, c) = p[i].probs[c];
            return out;
          },
          py::arg("texts"), R"(Class probabilities.

Returns:
    numpy (N, labels) float32; columns in the order of Model.labels.)")
      .def(
          "predict",
          [](const Model& m, const std::vector<std::string>& texts) -> py::list {
            py::list out;
            if (m.is_tagger()) {
              for (const auto& r : tag_without_gil(m, texts)) out.append(entities_to_python(r.entities));
              return out;
            }
            for (const auto& x : predict_without_gil(m, texts)) out.append(x.label_name);
            return out;
          },
          py::arg("texts"), R"(Predicted label names, one per text; for a tagger (NER) model, the entities
of each text.

Returns:
    a list of label names, or for a tagger a list of lists of Entity(type, start, end, text,
    score) named tuples: start and end are str indices of the text (text[start:end] == text).
Example:
    model.predict(["a backhoe struck the gas main"])   # ["excavation_damage"]
    ner.predict(["患者左上肢疼痛3天"])[0]                  # [Entity(type='BodyPart', start=2, end=5, ...), ...])")
      .def(
          "tag",
          [](const Model& m, const std::vector<std::string>& texts) {
            py::list out;
            static py::object Tagged = py::module_::import("types").attr("SimpleNamespace");
            for (auto& r : tag_without_gil(m, texts)) {
              py::dict d;
              d["tokens"] = r.tokens;
              d["tags"] = r.tags;
              d["starts"] = r.starts;
              d["entities"] = entities_to_python(r.entities);
              d["injected"] = injected_to_python(r.injected);
              out.append(Tagged(**d));
            }
            return out;
          },
          py::arg("texts"), R"(Token classification with everything the tagger saw (tagger models only).

Returns:
    one namespace a text: tokens (characters for char models, else words and punctuation),
    tags (one per token), starts (each token's str index in the text), entities (as
    predict returns them) and injected (the knowledge in the text's tree).
Example:
    r = ner.tag(["患者左上肢疼痛3天"])[0]
    list(zip(r.tokens, r.tags)))")
      .def_property_readonly("is_tagger", &Model::is_tagger, "True for a token-classification (NER) model.")
      .def_property_readonly(
          "precision", [](const Model& m) { return std::string(precision_name(m.run_options().precision)); },
          "What the model runs in: \"fp32\", \"bf16\" or \"int8\" (\"auto\" resolved at load).");
}

// Embedding, explaining, benchmarking and the properties.
void bind_model_methods(py::class_<Model>& cls) {
  cls.def(
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
         py::arg("texts"), py::arg("pooling") = options::default_text("embed", "pooling"), py::arg("normalize") = false,
         R"(Sentence vectors from the last layer.

Arguments:
    pooling: "cls", "mean" or "max" (over the text's real tokens). normalize: L2-normalise rows.
Returns:
    numpy (N, hidden) float32.
Example:
    v = model.embed(reports, normalize=True); v @ v[0]   # cosine similarities to the first)")
      .def(
          "predict_details",
          [](const Model& m, const std::vector<std::string>& texts) {
            std::vector<Prediction> p = predict_without_gil(m, texts);
            static py::object Detail =
                py::module_::import("collections")
                    .attr("namedtuple")("Prediction", py::make_tuple("label", "probability", "probs", "injected"));
            py::list out;
            for (auto& x : p) {
              const float probability = x.probs.empty() ? 0.f : x.probs[static_cast<std::size_t>(x.label)];
              out.append(
                  Detail(x.label_name, probability, to_numpy(std::move(x.probs)), injected_to_python(x.injected)));
            }
            return out;
          },
          py::arg("texts"), R"(Predictions with what the model saw.

Returns:
    a list of Prediction(label, probability, probs, injected) named tuples: the label name,
    its probability, all class probabilities (numpy, in the order of Model.labels) and the
    knowledge injected into the text (InjectedTriple: entity, relation, object, token spans).
Example:
    p = model.predict_details(["the backhoe struck the gas main"])[0]
    p.label, p.probability, [(x.entity, x.relation, x.object) for x in p.injected])")
      .def(
          "explain",
          [](const Model& m, const std::vector<std::string>& texts) {
            std::vector<Explanation> ex;
            {
              py::gil_scoped_release release;
              ex = m.explain(texts);
            }
            static py::object Expl =
                py::module_::import("collections")
                    .attr("namedtuple")("Explanation", py::make_tuple("label", "probability", "probs", "facts"));
            static py::object Fact =
                py::module_::import("collections")
                    .attr("namedtuple")("FactAttribution",
                                        py::make_tuple("entity", "relation", "object", "start", "end", "prob_without",
                                                       "change", "label_without", "hop", "parent", "gate"));
            py::list out;
            for (auto& e : ex) {
              py::list facts;
              for (const FactAttribution& a : e.facts)
                facts.append(Fact(a.fact.entity, a.fact.relation, a.fact.object, a.fact.start, a.fact.end,
                                  a.prob_without, a.change, m.label_name(a.label_without), a.fact.hop, a.fact.parent,
                                  m.spec().knowledge_gate ? py::object(py::float_(a.gate)) : py::object(py::none())));
              const float probability = e.prediction.probs[static_cast<std::size_t>(e.prediction.label)];
              out.append(Expl(e.prediction.label_name, probability, to_numpy(std::move(e.prediction.probs)), facts));
            }
            return out;
          },
          py::arg("texts"), R"(Per-fact attribution: what removing each injected fact does to the prediction.

Each text is predicted, then again once per injected fact with that fact's branch (and,
with hops > 1, its sub-branches) removed from its tree (nothing takes its place; the
lexical side channel stays), in batches.
Returns:
    a list of Explanation(label, probability, probs, facts); facts, in tree order, are
    FactAttribution(entity, relation, object, start, end, prob_without, change, label_without,
    hop, parent, gate): the predicted class's probability without the fact, change = prob_without -
    probability (negative: the fact supported the prediction), the label the model gives
    without it, the fact's hop (1: a fact of the mention), its parent's index (-1 at hop 1) and,
    for a model with a knowledge gate, the fact's gate (0: closed; None without a gate).
Example:
    e = model.explain(["the backhoe struck the gas main"])[0]
    sorted(e.facts, key=lambda f: f.change)[:3]   # the facts that supported the label most)")
      .def(
          "tree",
          [](const Model& m, const std::string& text) {
            SentenceTree t;
            {
              py::gil_scoped_release release;
              t = m.builder().build(text);
            }
            return tree_to_python(std::move(t));
          },
          py::arg("text"), "The sentence tree the model builds for a text (its KG, tokenizer and options).")
      .def_property_readonly(
          "labels", [](const Model& m) { return m.spec().labels; }, "Label names, in output order.")
      .def_property_readonly("hidden_size", [](const Model& m) { return m.config().hidden_size; })
      .def("__repr__", [](const Model& m) {
        return "kbert.Model(" + std::to_string(m.config().num_layers) + " layers, hidden " +
               std::to_string(m.config().hidden_size) + ", " + std::to_string(m.spec().labels.size()) + " labels)";
      });
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<Model> cls = bind_model_class(m);
  bind_model_methods(cls);
}

}  // namespace kbert::python
