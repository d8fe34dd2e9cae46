// The Python module kbert._kbert: thin wrappers over the C++ API, same names; one unit per part.
#include <pybind11/pybind11.h>

#include "convert.hpp"
#include "kbert/common/error.hpp"

namespace py = pybind11;
using namespace kbert;

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

  python::bind_kg(m);
  python::bind_text(m);
  python::bind_model(m);
  python::bind_index(m);  // before the jobs: kbert.report takes an Index (its signature names the type)
  python::bind_jobs(m);
  python::bind_facts(m);
}
