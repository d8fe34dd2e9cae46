// kbert.KnowledgeGraph.
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/options.hpp"
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

void bind_kg(py::module_& m) {
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
          py::arg("path"), py::arg("strict") = true, py::arg("format") = options::default_text("tree", "kg-format"),
          R"(Loads a .spo / .nt / .csv / .tsv file and merges it after earlier ones, or maps a
compiled KG (.kbkg, see save_compiled), which must then be the graph's only file (read-only).

Arguments:
    path: the file. strict: the first bad line raises ValueError (else skipped and counted).
    format: auto, spo, nt, csv, tsv or kbkg.
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
      .def(
          "save_compiled",
          [](const KnowledgeGraph& kg, const std::string& path) {
            py::gil_scoped_release release;
            kg.save_compiled(path);
          },
          py::arg("path"),
          R"(Writes the graph as one compiled file (as `kbert kg compile`), atomically. Loading it
maps it: it opens in milliseconds, processes share its pages, and it answers every lookup
exactly as this graph does.

Example:
    kg.save_compiled("energy.kbkg"); fast = kbert.KnowledgeGraph(); fast.load("energy.kbkg"))")
      .def_property_readonly("is_compiled", &KnowledgeGraph::is_compiled,
                             "Whether the graph is a mapped compiled file (read-only).")
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
}

}  // namespace kbert::python
