// kbert.Index: similar-text retrieval.
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/common/options.hpp"
#include "kbert/index/retrieval.hpp"
#include "kbert/index/vector_index.hpp"
#include "kbert/model/model.hpp"

namespace py = pybind11;
using namespace kbert;
#include "convert.hpp"

namespace kbert::python {

namespace {

py::object hits_to_python(const VectorIndex& ix, const std::vector<std::vector<SearchHit>>& hits) {
  static py::object Hit = py::module_::import("collections").attr("namedtuple")(
      "Hit", std::vector<std::string>{"id", "score", "label", "text", "row"});
  py::list out;
  for (const auto& q : hits) {
    py::list row;
    for (const SearchHit& h : q) row.append(Hit(ix.id(h.row), h.score, ix.label(h.row), ix.text(h.row), h.row));
    out.append(std::move(row));
  }
  return std::move(out);
}

std::vector<std::string> optional_strings(const std::optional<std::vector<std::string>>& v) {
  return v ? *v : std::vector<std::string>{};
}

}  // namespace

void bind_index(py::module_& m) {
  py::class_<VectorIndex>(m, "Index", R"(An exact cosine index of sentence vectors (similar-report retrieval).

Example:
    ix = kbert.Index.build(model, train_texts, labels=train_labels)
    ix.save("train.kbix")
    ix = kbert.Index.open("train.kbix")          # memory-mapped
    ix.search(model, ["a new report"], k=5)[0]   # [Hit(id, score, label, text, row), ...]
)")
      .def_static(
          "build",
          [](const Model& model, const std::vector<std::string>& texts, const std::optional<std::vector<std::string>>& ids,
             const std::optional<std::vector<std::string>>& labels, const std::string& pooling, bool store_texts) {
            IndexBuildOptions o;
            o.pooling = parse_embed_pooling(pooling);
            o.store_texts = store_texts;
            py::gil_scoped_release release;
            return build_index(model, texts, optional_strings(ids), optional_strings(labels), o);
          },
          py::arg("model"), py::arg("texts"), py::arg("ids") = py::none(), py::arg("labels") = py::none(),
          py::arg("pooling") = options::default_text("index", "pooling"), py::arg("store_texts") = true,
          R"(Embeds texts with the model (its KG included) and indexes the normalised vectors.

Arguments:
    ids, labels: one a text (ids default to "1", "2", ...). pooling: "cls", "mean" or "max".)")
      .def_static(
          "open",
          [](const std::string& path) {
            py::gil_scoped_release release;
            return VectorIndex::open(path);
          },
          py::arg("path"), "Memory-maps an index file written by save() or `kbert index`.")
      .def(
          "save",
          [](const VectorIndex& ix, const std::string& path) {
            py::gil_scoped_release release;
            ix.save(path);
          },
          py::arg("path"), "Writes the index atomically.")
      .def(
          "search",
          [](const VectorIndex& ix, const Model& model, const std::vector<std::string>& texts, std::size_t k) {
            std::vector<std::vector<SearchHit>> hits;
            {
              py::gil_scoped_release release;
              hits = search_index(ix, model, texts, k);
            }
            return hits_to_python(ix, hits);
          },
          py::arg("model"), py::arg("texts"), py::arg("k") = static_cast<std::size_t>(options::default_number("search", "k")),
          R"(The k most similar indexed texts of each text, best first: a list of Hit lists.
The model must be the one the index was built with (ValueError otherwise).)")
      .def(
          "search_vectors",
          [](const VectorIndex& ix, py::array_t<float, py::array::c_style | py::array::forcecast> q, std::size_t k) {
            if (q.ndim() != 2 || static_cast<std::size_t>(q.shape(1)) != ix.dim())
              throw std::invalid_argument("search_vectors needs an (n, " + std::to_string(ix.dim()) + ") array");
            std::vector<std::vector<SearchHit>> hits;
            {
              py::gil_scoped_release release;
              hits = ix.search(q.data(), static_cast<std::size_t>(q.shape(0)), k);
            }
            return hits_to_python(ix, hits);
          },
          py::arg("vectors"), py::arg("k") = static_cast<std::size_t>(options::default_number("search", "k")), "As search, for vectors already made (normalised here).")
      .def("__len__", &VectorIndex::size)
      .def_property_readonly("dim", &VectorIndex::dim)
      .def_property_readonly("ids",
                             [](const VectorIndex& ix) {
                               std::vector<std::string> v;
                               for (std::size_t r = 0; r < ix.size(); ++r) v.push_back(ix.id(r));
                               return v;
                             })
      .def_property_readonly("labels",
                             [](const VectorIndex& ix) {
                               std::vector<std::string> v;
                               for (std::size_t r = 0; ix.has_labels() && r < ix.size(); ++r) v.push_back(ix.label(r));
                               return v;
                             })
      .def_property_readonly(
          "vectors",
          [](py::object self) {
            const auto& ix = self.cast<const VectorIndex&>();
            // A read-only view of the (mapped) vectors that keeps the index alive.
            py::array_t<float> a({ix.size(), ix.dim()}, {ix.dim() * sizeof(float), sizeof(float)},
                                 ix.size() ? ix.vector(0) : nullptr, self);
            py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
            return a;
          },
          "numpy (N, dim) float32, the normalised vectors (read-only, no copy).")
      .def_property_readonly("model", [](const VectorIndex& ix) { return ix.source().model; })
      .def_property_readonly("pooling", [](const VectorIndex& ix) { return ix.source().pooling; });
}

}  // namespace kbert::python
