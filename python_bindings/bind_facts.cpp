// Facts and reports: kbert.score_facts (kbert kg score), kbert.suggest_facts (kbert kg suggest)
// and kbert.report (kbert report).
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/error.hpp"
#include "kbert/common/options.hpp"
#include "kbert/index/vector_index.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/model/model.hpp"
#include "kbert/model/suggest.hpp"
#include "kbert/report/collect.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/tokenizer/vocab_builder.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/fact_scores.hpp"
#include "kbert/train/trainer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace py = pybind11;
using namespace kbert;
#include "convert.hpp"

namespace kbert::python {

namespace {

void bind_score_facts(py::module_& m) {
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
      py::arg("min_score") = options::default_number("kg score", "min-score"),
      py::arg("threads") = static_cast<unsigned>(options::default_number("kg score", "threads")),
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
}

void bind_report(py::module_& m) {
  m.def(
      "report",
      [](const Model& model, const std::string& data, const std::string& out, const Model* baseline,
         const VectorIndex* index, std::size_t similar, const std::string& title) {
        report::Data d;
        {
          py::gil_scoped_release release;
          report::CollectOptions o;
          o.baseline = baseline;
          o.index = index;
          o.similar = similar;
          d = report::collect(model, Dataset::load(data), o);
          d.title = title;
          d.about = {{"data", data + " (" + std::to_string(d.items.size()) + " texts)"},
                     {"kbert", std::string(options::version())}};
          if (baseline) d.baseline_name = "baseline";
          report::write_html(out, d);
        }
        return py::module_::import("json").attr("loads")(d.metrics.to_json());
      },
      py::arg("model"), py::arg("data"), py::arg("out") = options::default_text("report", "out"), py::kw_only(),
      py::arg("baseline") = nullptr, py::arg("index") = nullptr,
      py::arg("similar") = static_cast<std::size_t>(options::default_number("report", "similar")),
      py::arg("title") = options::default_text("report", "title"),
      R"(Writes the HTML report of a classifier on labelled data, as `kbert report`: metrics, a
confusion-matrix heat map, F1 per class (beside `baseline`'s), and per text the narrative
with its mentions marked, the injected facts with what removing each changes (and its gate),
the prediction and, with `index` (built with `model`), the `similar` most similar indexed
texts. One self-contained file; returns the metrics.

Example:
    m = kbert.Model.load("models/faults")
    kbert.report(m, "test.tsv", "report.html", baseline=kbert.Model.load("models/no_kg"),
                 index=kbert.Index.open("train.kbix"))
    # in a notebook: IPython.display.IFrame("report.html", 1000, 700))");
}

void bind_suggest_facts(py::module_& m) {
  const SuggestOptions kOpt;
  m.def(
      "suggest_facts",
      [](const Model& model, const std::vector<std::pair<std::string, std::string>>& terms,
         const std::optional<std::vector<std::string>>& parents, const std::string& relation, const std::string& label,
         std::size_t top, double min_score, bool skip_known, const std::optional<std::string>& out) {
        std::vector<Term> children;
        for (const auto& [name, definition] : terms) children.push_back({name, definition});
        SuggestOptions o;
        o.relation = relation;
        o.label = label;
        o.top = top;
        o.min_score = min_score;
        o.skip_known = skip_known;
        std::vector<SuggestedFact> facts;
        {
          py::gil_scoped_release release;
          facts = suggest_facts(model, children, parents ? *parents : term_names(children), o);
          if (out) write_suggestions(facts, *out);
        }
        py::list rows;
        for (const auto& f : facts) {
          py::list evidence;
          for (const auto& e : f.evidence) evidence.append(py::make_tuple(e.entity, e.relation, e.object));
          py::dict d;
          d["subject"] = f.subject;
          d["relation"] = f.relation;
          d["object"] = f.object;
          d["score"] = f.score;
          d["evidence"] = evidence;
          rows.append(d);
        }
        return rows;
      },
      py::arg("model"), py::arg("terms"), py::kw_only(), py::arg("parents") = py::none(),
      py::arg("relation") = kOpt.relation, py::arg("label") = kOpt.label, py::arg("top") = kOpt.top,
      py::arg("min_score") = kOpt.min_score, py::arg("skip_known") = kOpt.skip_known, py::arg("out") = py::none(),
      R"(The facts a pair classifier believes, as `kbert kg suggest`: every (parent, term) pair scored
(text_a the parent, text_b "name: definition"), each term's best `top` parents with probability at
least `min_score`, facts the model's KG holds left out (skip_known). terms: (name, definition)
pairs (definition may be ""); parents: names (default: the terms'). out: also write the
reviewable TSV. Returns a dict per fact: subject, relation, object, score, evidence (the
injected facts as (entity, relation, object)).

Example:
    kbert.suggest_facts(kbert.Model.load("models/taxonomy"), [("ground disconnector", "A switch ...")],
                        parents=["switch", "conductor"]))");
}

}  // namespace

void bind_facts(py::module_& m) {
  bind_score_facts(m);
  bind_suggest_facts(m);
  bind_report(m);
}

}  // namespace kbert::python
