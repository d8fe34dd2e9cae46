#include "kbert/kg/knowledge_graph.hpp"

#include <algorithm>
#include <cmath>
#include <boost/graph/graph_traits.hpp>
#include <boost/iterator/transform_iterator.hpp>
#include <unordered_set>

#include "kbert/text/utf8.hpp"
#include "kg/kg_impl.hpp"

namespace kbert {

std::string_view iri_local_name(std::string_view iri) {
  std::size_t cut = iri.find_last_of("#/:");
  if (cut == std::string_view::npos || cut + 1 >= iri.size()) return iri;
  return iri.substr(cut + 1);
}

namespace {
inline std::uint64_t edge_hash(const KgEdge& e) {
  std::uint64_t x = (std::uint64_t{e.subject} << 32) ^ (std::uint64_t{e.relation} << 16) ^ e.object;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}
}  // namespace

std::uint32_t KnowledgeGraph::Impl::vertex(std::string_view name, bool iri, std::uint32_t h) {
  std::uint32_t id = vertices.intern(name, h);
  if (id == is_iri.size()) {
    is_iri.push_back(iri ? 1 : 0);
    vertex_self_surface.push_back(0);
  }
  return id;
}

std::uint32_t KnowledgeGraph::Impl::relation(std::string_view name, bool iri) {
  std::uint32_t id = relations.intern(name);
  if (id == relation_is_iri.size()) relation_is_iri.push_back(iri ? 1 : 0);
  return id;
}

void KnowledgeGraph::Impl::surface(std::string_view form, std::uint32_t v) {
  std::uint32_t s = surfaces.intern(form);
  // Most forms name one vertex; a repeat of the same pair is rare and removed in build().
  surface_vertex.emplace_back(s, v);
}

void KnowledgeGraph::Impl::self_surface(std::uint32_t v, std::uint32_t h) {
  if (vertex_self_surface[v]) return;
  vertex_self_surface[v] = 1;
  surface_vertex.emplace_back(surfaces.intern(vertices.str(v), h), v);
}

void KnowledgeGraph::Impl::require_mutable(const char* what) const {
  if (compiled)
    throw std::invalid_argument(std::string("cannot ") + what + ": the KG is the compiled file " + compiled->path +
                                " (read-only); compile the KG again from its source files with the additions");
}

void KnowledgeGraph::Impl::prefetch_edge(std::uint32_t s, std::uint32_t p, std::uint32_t o) const {
  if (edge_table.empty()) return;
  __builtin_prefetch(&edge_table[edge_hash(KgEdge{s, p, o}) & (edge_table.size() - 1)]);
}


// Edge table slots: fingerprint << 32 | (edge index + 1), so most probes settle
// without touching the edge list.
void KnowledgeGraph::Impl::rebuild_edge_table(std::size_t capacity) {
  std::size_t cap = 4096;
  while (cap < std::max(capacity, (edges.size() + 1) * 2)) cap *= 2;
  std::vector<std::uint64_t> t(cap, 0);
  for (std::uint32_t i = 0; i < edges.size(); ++i) {
    const std::uint64_t h = edge_hash(edges[i]);
    std::size_t k = h & (cap - 1);
    while (t[k]) k = (k + 1) & (cap - 1);
    t[k] = ((h >> 32) << 32) | (i + 1);
  }
  edge_table.swap(t);
}

bool KnowledgeGraph::Impl::add_edge(std::uint32_t s, std::uint32_t p, std::uint32_t o, const float* score) {
  if (score) has_scores = true;
  if ((edges.size() + 1) * 2 > edge_table.size()) rebuild_edge_table(edge_table.size() * 2);
  const KgEdge e{s, p, o};
  const std::uint64_t h = edge_hash(e);
  const std::uint64_t fp = (h >> 32) << 32;
  const std::size_t mask = edge_table.size() - 1;
  std::size_t k = h & mask;
  for (; edge_table[k]; k = (k + 1) & mask) {
    if ((edge_table[k] & 0xFFFFFFFF00000000ull) != fp) continue;
    const KgEdge& f = edges[static_cast<std::uint32_t>(edge_table[k]) - 1];
    if (f.subject == s && f.relation == p && f.object == o) {
      ++duplicates;
      float& kept = edge_score[static_cast<std::uint32_t>(edge_table[k]) - 1];
      if (score && *score > kept) {
        kept = *score;
        invalidate();
      }
      return false;
    }
  }
  edges.push_back(e);
  edge_score.push_back(score ? *score : 0.f);
  edge_table[k] = fp | edges.size();
  invalidate();
  return true;
}

void KnowledgeGraph::Impl::ensure_built() const {
  if (built.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(build_mutex);
  if (built.load(std::memory_order_relaxed)) return;
  build();
  built.store(true, std::memory_order_release);
}

std::string_view KnowledgeGraph::Impl::display(std::uint32_t v) const {
  if (!vertex_label.empty()) {
    auto it = std::lower_bound(vertex_label.begin(), vertex_label.end(), std::make_pair(v, std::string_view()),
                               [](const auto& a, const auto& b) { return a.first < b.first; });
    if (it != vertex_label.end() && it->first == v) return it->second;
  }
  return is_iri[v] ? iri_local_name(vertices.str(v)) : vertices.str(v);
}

void KnowledgeGraph::Impl::build() const {
  const std::uint32_t nv = static_cast<std::uint32_t>(vertices.size());
  // CSR graph straight from the edge list; the multi-pass constructor places each
  // vertex's edges in input order, so out-edges come out in load order (tests check this).
  // With scores, the edges go in by falling score (ties in load order), so each vertex's
  // out-edges, and lookup(), come out best first.
  std::vector<std::uint32_t> order(edges.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  if (has_scores)
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return edge_score[a] > edge_score[b]; });
  struct Ends {
    const std::vector<KgEdge>* edges;
    std::pair<std::uint32_t, std::uint32_t> operator()(std::uint32_t i) const {
      return {(*edges)[i].subject, (*edges)[i].object};
    }
  };
  struct Prop {
    const std::vector<KgEdge>* edges;
    const std::vector<float>* scores;
    KgEdgeProp operator()(std::uint32_t i) const { return KgEdgeProp{(*edges)[i].relation, (*scores)[i]}; }
  };
  graph = KgGraph(boost::edges_are_unsorted_multi_pass, boost::make_transform_iterator(order.begin(), Ends{&edges}),
                  boost::make_transform_iterator(order.end(), Ends{&edges}),
                  boost::make_transform_iterator(order.begin(), Prop{&edges, &edge_score}), nv);

  // Display names of labelled vertices: skos:prefLabel, else rdfs:label, else altLabel.
  vertex_label.clear();
  std::vector<std::pair<std::uint32_t, std::uint8_t>> rank;  // (vertex, rank) of the chosen label
  for (const Label& l : labels) {
    vertex_label.emplace_back(l.vertex, vertices.str(l.literal));
    rank.emplace_back(l.vertex, static_cast<std::uint8_t>(l.kind));
  }
  {
    std::vector<std::size_t> order(vertex_label.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return rank[a].first != rank[b].first ? rank[a].first < rank[b].first : rank[a].second < rank[b].second;
    });
    std::vector<std::pair<std::uint32_t, std::string_view>> best;
    for (std::size_t i : order)
      if (best.empty() || best.back().first != vertex_label[i].first) best.push_back(vertex_label[i]);
    vertex_label.swap(best);
  }
  relation_display.assign(relations.size(), {});
  for (std::uint32_t r = 0; r < relations.size(); ++r) {
    std::string_view key = relations.str(r);
    if (relation_is_iri[r]) {
      std::uint32_t v = vertices.find(key);
      relation_display[r] = v != StringPool::kNone ? display(v) : iri_local_name(key);
    } else {
      relation_display[r] = key;
    }
  }

  // Surface -> vertices, stable by surface id, without repeated pairs.
  const std::size_t ns = surfaces.size();
  surface_begin.assign(ns + 1, 0);
  for (auto& sv : surface_vertex) ++surface_begin[sv.first + 1];
  for (std::size_t i = 0; i < ns; ++i) surface_begin[i + 1] += surface_begin[i];
  surface_vertices.assign(surface_vertex.size(), 0);
  std::vector<std::uint32_t> fill(surface_begin.begin(), surface_begin.end() - 1);
  for (auto& sv : surface_vertex) surface_vertices[fill[sv.first]++] = sv.second;
  // Remove repeats inside each group (rare: the same label given twice).
  std::vector<std::uint32_t> compact_begin(ns + 1, 0);
  std::size_t w = 0;
  for (std::size_t s = 0; s < ns; ++s) {
    std::size_t start = w;
    for (std::uint32_t i = surface_begin[s]; i < surface_begin[s + 1]; ++i) {
      std::uint32_t v = surface_vertices[i];
      bool seen = false;
      for (std::size_t j = start; j < w; ++j) seen = seen || surface_vertices[j] == v;
      if (!seen) surface_vertices[w++] = v;
    }
    compact_begin[s + 1] = static_cast<std::uint32_t>(w);
  }
  surface_vertices.resize(w);
  surface_begin.swap(compact_begin);
}

KnowledgeGraph::KnowledgeGraph() : impl_(std::make_unique<Impl>()) {}
KnowledgeGraph::~KnowledgeGraph() = default;
KnowledgeGraph::KnowledgeGraph(KnowledgeGraph&&) noexcept = default;
KnowledgeGraph& KnowledgeGraph::operator=(KnowledgeGraph&&) noexcept = default;

std::vector<KgLoadReport> KnowledgeGraph::load(const std::vector<std::string>& paths, const KgLoadOptions& options) {
  std::vector<KgLoadReport> out;
  for (const auto& p : paths) out.push_back(load(p, options));
  return out;
}

namespace {
void require_utf8(std::string_view s, const char* what) {
  std::size_t bad = find_invalid_utf8(s);
  if (bad != std::string_view::npos)
    throw std::invalid_argument(std::string(what) + " has invalid UTF-8 at byte " + std::to_string(bad));
}
}  // namespace

void KnowledgeGraph::add(std::string_view subject, std::string_view relation, std::string_view object) {
  add_impl(subject, relation, object, nullptr);
}

void KnowledgeGraph::add(std::string_view subject, std::string_view relation, std::string_view object, float score) {
  if (!std::isfinite(score)) throw std::invalid_argument("a fact's score must be a finite number");
  add_impl(subject, relation, object, &score);
}

void KnowledgeGraph::add_impl(std::string_view subject, std::string_view relation, std::string_view object,
                              const float* score) {
  impl_->require_mutable("add a triple");
  require_utf8(subject, "subject");
  require_utf8(relation, "relation");
  require_utf8(object, "object");
  std::uint32_t s = impl_->vertex(subject, false);
  std::uint32_t p = impl_->relation(relation, false);
  std::uint32_t o = impl_->vertex(object, false);
  impl_->self_surface(s);
  impl_->add_edge(s, p, o, score);
}

bool KnowledgeGraph::has_scores() const { return impl_->compiled ? impl_->compiled->has_scores : impl_->has_scores; }

bool KnowledgeGraph::is_compiled() const { return impl_->compiled != nullptr; }

void KnowledgeGraph::add_surface_form(std::string_view entity, std::string_view form) {
  impl_->require_mutable("add a surface form");
  require_utf8(entity, "entity");
  require_utf8(form, "surface form");
  std::uint32_t v = impl_->vertex(entity, false);
  impl_->surface(form, v);
  impl_->invalidate();
}

namespace {
void check_surface_id(std::uint32_t id, std::size_t n) {
  if (id >= n) throw std::out_of_range("surface id " + std::to_string(id) + " out of range");
}
}  // namespace

void KnowledgeGraph::for_each_fact(std::uint32_t surface_id, const std::function<bool(const KgFact&)>& fn) const {
  check_surface_id(surface_id, num_surface_forms());
  // A form that names several entities: different entities may share a fact; report it once.
  bool several = false;
  std::vector<std::pair<std::string_view, std::string_view>> seen;
  auto emit = [&](const KgFact& f) {  // false: stop
    if (several) {
      if (std::any_of(seen.begin(), seen.end(), [&](auto& x) { return x.first == f.relation && x.second == f.object; }))
        return true;
      seen.emplace_back(f.relation, f.object);
    }
    return fn(f);
  };
  if (const CompiledKg* c = impl_->compiled.get()) {
    const std::uint32_t b = c->surface_begin[surface_id], e = c->surface_begin[surface_id + 1];
    several = e - b > 1;
    for (std::uint32_t i = b; i < e; ++i) {
      const std::uint32_t v = c->surface_vertices[i];
      for (std::uint32_t k = c->out_begin[v]; k < c->out_begin[v + 1]; ++k) {
        const CompiledTriple& t = c->triples[c->out_edges[k]];
        if (!emit(KgFact{c->relation(t.relation), c->vertex(t.object), t.score})) return;
      }
    }
    return;
  }
  impl_->ensure_built();
  const Impl& m = *impl_;
  const std::uint32_t b = m.surface_begin[surface_id], e = m.surface_begin[surface_id + 1];
  several = e - b > 1;
  for (std::uint32_t i = b; i < e; ++i) {
    const std::uint32_t v = m.surface_vertices[i];
    auto range = boost::out_edges(v, m.graph);
    for (auto it = range.first; it != range.second; ++it) {
      const KgEdgeProp& prop = m.graph[*it];
      if (!emit(KgFact{m.relation_display[prop.relation], m.display(boost::target(*it, m.graph)), prop.score})) return;
    }
  }
}

std::vector<KgFact> KnowledgeGraph::facts(std::uint32_t surface_id, std::size_t limit) const {
  std::vector<KgFact> out;
  if (limit == 0) return out;
  for_each_fact(surface_id, [&](const KgFact& f) {
    out.push_back(f);
    return out.size() < limit;
  });
  return out;
}

std::vector<KgFact> KnowledgeGraph::lookup(std::string_view surface, std::size_t limit) const {
  std::int64_t id = surface_id(surface);
  if (id < 0) return {};
  return facts(static_cast<std::uint32_t>(id), limit);
}

std::size_t KnowledgeGraph::num_triples() const { return impl_->compiled ? impl_->compiled->ne : impl_->edges.size(); }
std::size_t KnowledgeGraph::num_vertices() const { return impl_->compiled ? impl_->compiled->nv : impl_->vertices.size(); }
std::size_t KnowledgeGraph::num_relations() const { return impl_->compiled ? impl_->compiled->nr : impl_->relations.size(); }
std::size_t KnowledgeGraph::duplicate_triples() const {
  return impl_->compiled ? impl_->compiled->duplicates : impl_->duplicates;
}

std::size_t KnowledgeGraph::num_surface_forms() const {
  return impl_->compiled ? impl_->compiled->ns : impl_->surfaces.size();
}

bool KnowledgeGraph::has_facts(std::uint32_t surface_id) const {
  check_surface_id(surface_id, num_surface_forms());
  if (const CompiledKg* c = impl_->compiled.get()) {
    for (std::uint32_t i = c->surface_begin[surface_id]; i < c->surface_begin[surface_id + 1]; ++i) {
      const std::uint32_t v = c->surface_vertices[i];
      if (c->out_begin[v + 1] > c->out_begin[v]) return true;
    }
    return false;
  }
  impl_->ensure_built();
  const Impl& m = *impl_;
  for (std::uint32_t i = m.surface_begin[surface_id]; i < m.surface_begin[surface_id + 1]; ++i)
    if (boost::out_degree(m.surface_vertices[i], m.graph) > 0) return true;
  return false;
}

std::string_view KnowledgeGraph::surface_form(std::uint32_t surface_id) const {
  check_surface_id(surface_id, num_surface_forms());
  if (impl_->compiled) return impl_->compiled->surface(surface_id);
  return impl_->surfaces.str(surface_id);
}

std::int64_t KnowledgeGraph::surface_id(std::string_view surface) const {
  if (impl_->compiled) return impl_->compiled->find_surface(surface);
  std::uint32_t id = impl_->surfaces.find(surface);
  return id == StringPool::kNone ? -1 : static_cast<std::int64_t>(id);
}

void KnowledgeGraph::for_each_triple(const std::function<void(const KgTriple&)>& fn) const {
  if (const CompiledKg* c = impl_->compiled.get()) {
    for (std::uint32_t i = 0; i < c->ne; ++i) {
      const CompiledTriple& t = c->triples[i];
      fn(KgTriple{c->vertex(t.subject), c->relation(t.relation), c->vertex(t.object), t.score});
    }
    return;
  }
  impl_->ensure_built();
  const Impl& m = *impl_;
  for (std::size_t i = 0; i < m.edges.size(); ++i) {
    const KgEdge& e = m.edges[i];
    fn(KgTriple{m.display(e.subject), m.relation_display[e.relation], m.display(e.object), m.edge_score[i]});
  }
}

std::size_t KnowledgeGraph::memory_bytes() const {
  const Impl& m = *impl_;
  if (m.compiled) return m.compiled->bytes;
  std::size_t b = m.vertices.memory_bytes() + m.relations.memory_bytes() + m.surfaces.memory_bytes();
  b += m.edges.capacity() * sizeof(KgEdge) + m.edge_score.capacity() * sizeof(float) + m.edge_table.capacity() * 8 + m.surface_vertex.capacity() * 8;
  b += m.is_iri.capacity() + m.vertex_self_surface.capacity() + m.labels.capacity() * sizeof(Impl::Label);
  if (m.built.load()) {
    b += (boost::num_vertices(m.graph) + 1) * 4 + boost::num_edges(m.graph) * 8;
    b += (m.surface_begin.capacity() + m.surface_vertices.capacity()) * 4;
    b += m.vertex_label.capacity() * 24 + m.relation_display.capacity() * sizeof(std::string_view);
  }
  return b;
}

}  // namespace kbert
