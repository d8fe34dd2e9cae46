// Conversions between kbert's C++ results and Python objects, shared by the binding units.
#pragma once

#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kbert/model/model.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert::python {

namespace py = pybind11;

// numpy arrays that own a moved std::vector (no copy of the data).
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owner = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>({owner->size()}, {sizeof(T)}, owner->data(), free_when_done);
}

py::list injected_to_python(const std::vector<InjectedTriple>& xs);
py::list entities_to_python(const std::vector<TaggedEntity>& xs);
py::object tree_to_python(SentenceTree&& t);

// The parts of the module, one unit each (module.cpp calls them in this order).
void bind_kg(py::module_& m);
void bind_text(py::module_& m);
void bind_model(py::module_& m);
void bind_jobs(py::module_& m);
void bind_facts(py::module_& m);  // bind_facts.cpp: score_facts, suggest_facts, report
void bind_index(py::module_& m);

}  // namespace kbert::python
