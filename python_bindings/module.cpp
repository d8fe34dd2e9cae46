// The Python module kbert._kbert: thin wrappers over the C++ API, same names.
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

namespace {

// numpy arrays that own a moved std::vector (no copy of the data).
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owner = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({owner->size()}, {sizeof(T)}, owner->data(), free_when_done);
}

py::list injected_to_python(const std::vector<InjectedTriple>& xs) {
  static py::object Injected = py::module_::import("collections").attr("namedtuple")(
      "InjectedTriple", py::make_tuple("entity", "relation", "object", "start", "end", "entity_start", "entity_end"));
  py::list injected;
  for (const auto& x : xs)
    injected.append(Injected(x.entity, x.relation, x.object, x.start, x.end, x.entity_start, x.entity_end));
  return injected;
}

// Model::predict with the GIL released (it runs on all cores; other Python threads go on).
std::vector<Prediction> predict_without_gil(const Model& m, const std::vector<std::string>& texts) {
  py::gil_scoped_release release;
  return m.predict(texts);
}

std::vector<TagResult> tag_without_gil(const Model& m, const std::vector<std::string>& texts) {
  py::gil_scoped_release release;
  return m.tag(texts);
}

py::list entities_to_python(const std::vector<TaggedEntity>& xs) {
  static py::object Entity = py::module_::import("collections").attr("namedtuple")(
      "Entity", py::make_tuple("type", "start", "end", "text", "score"));
  py::list out;
  for (const auto& e : xs) out.append(Entity(e.type, e.start, e.end, e.text, e.score));
  return out;
}

py::object tree_to_python(SentenceTree&& t) {
  py::list injected = injected_to_python(t.injected);
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
    } catch (const OutputError& e) {
      PyErr_SetString(PyExc_FileExistsError, e.what());
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
      .def(
          "add",
          [](KnowledgeGraph& kg, const std::string& s, const std::string& r, const std::string& o, std::optional<float> score) {
            if (score) {
              kg.add(s, r, o, *score);
            } else {
              kg.add(s, r, o);
            }
          },
          py::arg("subject"), py::arg("relation"), py::arg("object"), py::arg("score") = py::none(),
          R"(Adds one triple (stored once however often it is added). With a score, each entity's
facts are looked up (and injected) by falling score; a repeated triple keeps its higher score.

Example:
    kg.add("valve", "is a", "control"))")
      .def_property_readonly("has_scores", &KnowledgeGraph::has_scores,
                             "Whether any triple came with a score (a 4th .spo column, a CSV/TSV score column).")
      .def(
          "lookup",
          [](const KnowledgeGraph& kg, const std::string& s, std::size_t limit) {
            std::vector<std::pair<std::string, std::string>> out;
            for (const auto& f : kg.lookup(s, limit)) out.emplace_back(std::string(f.relation), std::string(f.object));
            return out;
          },
          py::arg("surface"), py::arg("limit") = static_cast<std::size_t>(-1),
          R"(The facts of a surface form, first loaded first (best first when the KG has scores), without repeats.

Arguments:
    surface: the entity as written in the KG. limit: at most this many facts.
Returns:
    a list of (relation, object) tuples; empty when the KG does not know the surface form.
Example:
    kg.lookup("valve", 2)   # [("is a", "control"), ("has failure mode", ...)])")
      .def("__len__", &KnowledgeGraph::num_triples)
      .def("triples", [](const KnowledgeGraph& kg) {
        std::vector<std::tuple<std::string, std::string, std::string>> out;
        kg.for_each_triple([&](const KgTriple& t) {
          out.emplace_back(std::string(t.subject), std::string(t.relation), std::string(t.object));
        });
        return out;
      }, R"(Every stored triple, in load order.

Returns:
    a list of (subject, relation, object) tuples.
Example:
    collections.Counter(r for _, r, _ in kg.triples()).most_common(5))")
      .def("__repr__", [](const KnowledgeGraph& kg) {
        return "kbert.KnowledgeGraph(" + std::to_string(kg.num_triples()) + " triples)";
      });

  py::class_<Tokenizer, std::shared_ptr<Tokenizer>>(m, "Tokenizer", R"(A tokenizer: K-BERT's char mode, BERT WordPiece or sentencepiece.

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
           py::arg("kind") = "char", py::arg("vocab") = "", py::arg("spm_model") = "", py::arg("lower_case") = py::none())
      .def_property_readonly("kind", [](const Tokenizer& t) { return std::string(t.kind()); })
      .def("tokenize", [](const Tokenizer& t, const std::string& text) { return t.tokenize(text); }, py::arg("text"),
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
        return "kbert.Tokenizer(" + std::string(t.kind()) + ", " + std::to_string(t.vocab() ? t.vocab()->size() : 0) + " tokens)";
      });

  py::class_<TreeOptions>(m, "TreeOptions", R"(Sentence-tree options.

Arguments:
    max_entities: triples injected per matched entity (K-BERT: 2).
    max_length: tokens per tree after truncation.
    predicate: inject relation + object (True) or the object only (False).
    truncation: "kbert" (the original's) or "trunk_first" (knowledge yields before the sentence).
    add_special: start with [CLS] (and [SEP] between pairs).
)")
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

  py::class_<Model>(m, "Model", R"(A kbert model directory, loaded for inference.

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
          py::arg("dir"), py::arg("kg") = py::none(), py::arg("batch_size") = 32, py::arg("threads") = 0,
          py::arg("precision") = "fp32", py::arg("max_tokens") = 0,
          R"(Loads a model directory (config.json, vocabulary, model.safetensors, kbert.json, kg/).

Arguments:
    dir: the directory. kg: another KG file, or "none" to run without knowledge.
    batch_size: trees per forward pass, at most. max_tokens: padded tokens per forward pass, at
        most (0: no budget); batches are also cut where text lengths jump.
    threads: LibTorch threads (0: all cores).
    precision: "fp32" (default) or "bf16" (matrix products in bfloat16: faster on CPUs with
        AVX512-BF16 or AMX; outputs stay float32).
Raises:
    FileNotFoundError (missing file), ValueError (bad file: names it and the tensor or line).
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
            static py::object Detail = py::module_::import("collections").attr("namedtuple")(
                "Prediction", py::make_tuple("label", "probability", "probs", "injected"));
            py::list out;
            for (auto& x : p) {
              const float probability = x.probs.empty() ? 0.f : x.probs[static_cast<std::size_t>(x.label)];
              out.append(Detail(x.label_name, probability, to_numpy(std::move(x.probs)), injected_to_python(x.injected)));
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
      .def_property_readonly("labels", [](const Model& m) { return m.spec().labels; }, "Label names, in output order.")
      .def_property_readonly("hidden_size", [](const Model& m) { return m.config().hidden_size; })
      .def("__repr__", [](const Model& m) {
        return "kbert.Model(" + std::to_string(m.config().num_layers) + " layers, hidden " +
               std::to_string(m.config().hidden_size) + ", " + std::to_string(m.spec().labels.size()) + " labels)";
      });

  m.def(
      "train",
      [](const std::string& train, const std::string& out, const std::optional<std::string>& dev,
         const std::optional<std::string>& test, const std::optional<std::string>& model,
         const std::optional<std::string>& config, const std::optional<std::string>& vocab, const std::string& tokenizer,
         const std::optional<std::vector<std::string>>& kg, std::size_t epochs, std::size_t batch_size,
         std::size_t accumulation, double learning_rate, double warmup, double weight_decay, double max_grad_norm,
         std::uint64_t seed, const std::optional<std::string>& metric, const std::string& class_weights, std::size_t patience,
         bool resume, const std::string& pooling,
         const std::string& head, std::optional<std::size_t> max_length, std::optional<std::size_t> max_entities,
         std::optional<bool> predicate, const std::optional<std::string>& truncation, bool visible_matrix,
         bool soft_positions, bool shuffle, bool length_grouping, unsigned threads, bool progress,
         const std::string& task, const std::string& format, const std::string& precision,
         std::size_t lexical_buckets, double lexical_learning_rate) {
        if (task != "classify" && task != "ner") throw std::invalid_argument("task must be \"classify\" or \"ner\", not \"" + task + "\"");
        const bool ner = task == "ner";
        const TaggedFormat tagged_format = parse_tagged_format(format);
        ClassifierSetup setup;
        setup.model_dir = model.value_or("");
        setup.config = config.value_or("");
        setup.vocab = vocab.value_or("");
        setup.tokenizer = tokenizer;
        if (kg) {  // as the CLI: "none" entries are no files; only "none" means no knowledge
          for (const auto& f : *kg)
            if (f != "none") setup.kg_files.push_back(f);
          setup.kg_none = setup.kg_files.empty();
        }
        setup.max_length = max_length;
        setup.max_entities = max_entities;
        setup.predicate = predicate;
        if (truncation) setup.truncation = parse_truncation(*truncation);
        setup.pooling = parse_pooling(pooling);
        if (head != "kbert" && head != "hf") throw std::invalid_argument("head must be \"kbert\" or \"hf\", not \"" + head + "\"");
        setup.head = ner ? HeadKind::kTagger : head == "hf" ? HeadKind::kHf : HeadKind::kKbert;
        setup.use_visible_matrix = visible_matrix;
        setup.use_soft_positions = soft_positions;
        setup.batch_size = batch_size;
        setup.threads = threads;
        setup.seed = seed;
        if (ner && lexical_buckets) throw std::invalid_argument("lexical_buckets is for classifiers, not task=\"ner\"");
        setup.lexical_buckets = lexical_buckets;
        TrainOptions o;
        o.epochs = epochs;
        o.batch_size = batch_size;
        o.accumulation = accumulation;
        o.learning_rate = learning_rate;
        o.warmup = warmup;
        o.weight_decay = weight_decay;
        o.max_grad_norm = max_grad_norm;
        o.seed = seed;
        o.metric = metric.value_or("");  // empty: the task's usual metric (TrainOptions)
        o.class_weights = class_weights;
        o.patience = patience;
        o.resume = resume;
        o.shuffle = shuffle;
        o.group_by_length = length_grouping;
        o.progress = progress;
        o.precision = parse_precision(precision);
        o.lexical_learning_rate = lexical_learning_rate;
        std::string result;
        {
          py::gil_scoped_release release;
          if (ner) {
            TaggedDataset train_set = TaggedDataset::load(train, tagged_format);
            std::optional<TaggedDataset> dev_set, test_set;
            if (dev) dev_set = TaggedDataset::load(*dev, tagged_format);
            if (test) test_set = TaggedDataset::load(*test, tagged_format);
            Model start = prepare_classifier(setup, tagger_labels(train_set));
            result = to_json(train_tagger(start, train_set, dev_set ? &*dev_set : nullptr,
                                          test_set ? &*test_set : nullptr, o, out));
          } else {
            Dataset train_set = Dataset::load(train);
            std::optional<Dataset> dev_set, test_set;
            if (dev) dev_set = Dataset::load(*dev);
            if (test) test_set = Dataset::load(*test);
            Model start = prepare_classifier(setup, LabelSet::from(train_set).names());
            result = to_json(train_classifier(start, train_set, dev_set ? &*dev_set : nullptr,
                                              test_set ? &*test_set : nullptr, o, out));
          }
        }
        return py::module_::import("json").attr("loads")(result);
      },
      py::arg("train"), py::arg("out"), py::kw_only(), py::arg("dev") = py::none(), py::arg("test") = py::none(),
      py::arg("model") = py::none(), py::arg("config") = py::none(), py::arg("vocab") = py::none(),
      py::arg("tokenizer") = "char", py::arg("kg") = py::none(), py::arg("epochs") = 5, py::arg("batch_size") = 32,
      py::arg("accumulation") = 1, py::arg("learning_rate") = 2e-5, py::arg("warmup") = 0.1,
      py::arg("weight_decay") = 0.01, py::arg("max_grad_norm") = 1.0, py::arg("seed") = 7,
      py::arg("metric") = py::none(), py::arg("class_weights") = "none", py::arg("patience") = 0, py::arg("resume") = false, py::arg("pooling") = "first",
      py::arg("head") = "kbert", py::arg("max_length") = py::none(), py::arg("max_entities") = py::none(),
      py::arg("predicate") = py::none(), py::arg("truncation") = py::none(), py::arg("visible_matrix") = true,
      py::arg("soft_positions") = true, py::arg("shuffle") = true, py::arg("length_grouping") = true,
      py::arg("threads") = 0, py::arg("progress") = true, py::arg("task") = "classify", py::arg("format") = "auto",
      py::arg("precision") = "fp32", py::arg("lexical_buckets") = 0, py::arg("lexical_learning_rate") = 1e-2,
      R"(Fine-tunes a classifier (or a tagger, task="ner"), as `kbert train` does; the best model
(dev metric) goes to `out`.

Arguments:
    train, dev, test: data files (TSV with a header naming label and text_a [text_b], CSV, JSONL).
    out: the model directory to write (replaced atomically); <out>.checkpoint holds the resumable state.
    model: start from this model directory (a new head when the labels differ), or
    config + vocab (+ tokenizer "char" | "wordpiece" | "sentencepiece"): a new model.
    kg: KG files to inject, or ["none"] for no knowledge (default: the model directory's).
    epochs, batch_size, accumulation, learning_rate, warmup, weight_decay, max_grad_norm, seed,
    metric ("accuracy" | "macro_f1"; taggers "f1" | "accuracy"; default accuracy, taggers f1), class_weights ("none" | "balanced": each class weighs
    N / (classes * its count) in the loss), patience, resume, pooling ("first" | "mean" | "max" | "last"),
    head ("kbert" | "hf"), max_length, max_entities, predicate, truncation: as the CLI's options.
    visible_matrix, soft_positions: False for the ablations. progress: progress lines on stderr.
    task: "classify" or "ner" (K-BERT's NER: BIO TSV or CoNLL files, injected tokens labelled
    [ENT]). format: "auto" | "bio-tsv" | "conll" (task="ner"). precision: "fp32" | "bf16"
    (matrix products in bfloat16, forward and backward; the rest float32).
    lexical_buckets: a lexical side channel in the classifier head (hashed word and word-pair
    counts, a linear model added to the logits; 0: none), lexical_learning_rate its learning rate.
Returns:
    dict: epochs, steps, best_epoch, seconds, examples_per_s, first_loss, final_loss, and the
    dev and test reports (accuracy, macro_f1, classes with precision/recall/f1, confusion;
    for a tagger entity-level precision, recall, f1, token_accuracy and per-type scores).
Example:
    r = kbert.train("train.tsv", "models/faults", dev="dev.tsv", test="test.tsv",
                    model="pretrained", kg=["energy.spo"], predicate=True, epochs=3,
                    learning_rate=3e-4, metric="macro_f1")
    r["test"]["macro_f1"])");

  m.def(
      "import_uer",
      [](const std::string& checkpoint, const std::string& config, const std::string& vocab, const std::string& out,
         const std::string& tokenizer, const std::string& pooling, bool predicate, std::size_t max_entities,
         std::size_t max_length, const std::string& labels_file, const std::vector<std::string>& kg) {
        ImportUerOptions o;
        o.checkpoint = checkpoint;
        o.config = config;
        o.vocab = vocab;
        o.out = out;
        o.tokenizer = tokenizer;
        o.pooling = parse_pooling(pooling);
        o.predicate = predicate;
        o.max_entities = max_entities;
        o.max_length = max_length;
        o.labels_file = labels_file;
        o.kg_files = kg;
        py::gil_scoped_release release;
        import_uer(o);
      },
      py::arg("checkpoint"), py::arg("config"), py::arg("vocab"), py::arg("out"), py::kw_only(),
      py::arg("tokenizer") = "char", py::arg("pooling") = "first", py::arg("predicate") = false,
      py::arg("max_entities") = 2, py::arg("max_length") = 256, py::arg("labels_file") = "",
      py::arg("kg") = std::vector<std::string>{},
      R"(Converts a classifier saved by the original K-BERT (UER) into a model directory, as `kbert import-uer`.

Arguments:
    checkpoint: the .bin state dict; config: UER's config JSON; vocab: its vocabulary; out: the directory.
    tokenizer, pooling ("first" | "mean" | "max" | "last"), predicate, max_entities, max_length: as trained.
    labels_file: one label name per line (default "0", "1", ...). kg: KG files copied into the directory.
Example:
    kbert.import_uer("kbert_cls.bin", "google_config.json", "google_vocab.txt", "models/senti",
                     kg=["HowNet.spo"], predicate=True))");

  m.def(
      "score_facts",
      [](const KnowledgeGraph& kg, const std::string& train, std::shared_ptr<Tokenizer> tokenizer,
         const std::optional<std::string>& out, double min_score, unsigned threads) {
        std::vector<FactScore> scores;
        {
          py::gil_scoped_release release;
          const Dataset data = Dataset::load(train);
          scores = score_facts(kg, tokenizer, data, threads);
          if (out) write_scored_spo(scores, *out, min_score);
        }
        py::list rows;
        for (const FactScore& f : scores) {
          py::dict d;
          d["subject"] = f.subject;
          d["relation"] = f.relation;
          d["object"] = f.object;
          d["score"] = f.score;
          d["subject_score"] = f.subject_score;
          d["branch_score"] = f.branch_score;
          d["texts"] = f.texts;
          d["branch_texts"] = f.branch_texts;
          rows.append(d);
        }
        return rows;
      },
      py::arg("kg"), py::arg("train"), py::arg("tokenizer"), py::kw_only(), py::arg("out") = py::none(),
      py::arg("min_score") = 0.0, py::arg("threads") = 0,
      R"(Scores every fact of `kg` on labelled training texts, as `kbert kg score`: the G statistic
of the labels of the texts that mention its subject and of the texts its branch (relation,
object) falls on, against all training labels; the smaller of the two (0: no evidence; under
independence chi-square with labels - 1 degrees of freedom).

Arguments:
    kg: the KnowledgeGraph. train: a labelled data file (TSV, CSV, JSONL). tokenizer: the model's.
    out: also write a .spo file with the score as a 4th column (facts below min_score left out);
    loaded, it injects each entity's best facts first.
Returns:
    list of dict: subject, relation, object, score, subject_score, branch_score, texts, branch_texts,
    in the KG's load order.
Example:
    rows = kbert.score_facts(kg, "train.tsv", kbert.Tokenizer("wordpiece", vocab="vocab.txt"),
                             out="energy_scored.spo", min_score=14.07))");

  m.def(
      "import_hf",
      [](const std::string& from, const std::string& out, const std::string& labels_file,
         const std::vector<std::string>& kg, std::size_t max_entities, std::size_t max_length, bool predicate) {
        ImportHfOptions o;
        o.from = from;
        o.out = out;
        o.labels_file = labels_file;
        o.kg_files = kg;
        o.tree.max_entities = max_entities;
        o.tree.max_length = max_length;
        o.tree.predicate = predicate;
        py::gil_scoped_release release;
        import_hf(o);
      },
      py::arg("from_dir"), py::arg("out"), py::kw_only(), py::arg("labels_file") = "",
      py::arg("kg") = std::vector<std::string>{}, py::arg("max_entities") = 2, py::arg("max_length") = 256,
      py::arg("predicate") = false,
      R"(Converts a Hugging Face BERT directory (config.json, vocab.txt, model.safetensors or
pytorch_model.bin) into a model directory, as `kbert import-hf`.

Example:
    kbert.import_hf("bert-base-uncased", "models/base", kg=["energy.spo"], predicate=True))");
}
