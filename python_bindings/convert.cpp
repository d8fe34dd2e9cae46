#include "convert.hpp"

namespace kbert::python {

py::list injected_to_python(const std::vector<InjectedTriple>& xs) {
  static py::object Injected = py::module_::import("collections").attr("namedtuple")(
      "InjectedTriple",
      py::make_tuple("entity", "relation", "object", "start", "end", "entity_start", "entity_end", "hop", "parent"));
  py::list injected;
  for (const auto& x : xs)
    injected.append(Injected(x.entity, x.relation, x.object, x.start, x.end, x.entity_start, x.entity_end, x.hop, x.parent));
  return injected;
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
  py::list tokens(static_cast<py::size_t>(t.tokens.size()));
  for (std::size_t i = 0; i < t.tokens.size(); ++i) {
    const std::string_view tok = t.tokens[i];
    tokens[i] = py::str(tok.data(), tok.size());
  }
  d["tokens"] = tokens;
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


}  // namespace kbert::python
