// Private state of KnowledgeGraph, shared by knowledge_graph.cpp and loaders.cpp.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <mutex>
#include <vector>

#include "kbert/kg/knowledge_graph.hpp"
#include "common/mapped_file.hpp"
#include "kg/string_pool.hpp"

namespace kbert {

struct KgEdgeProp {
  std::uint32_t relation = 0;
  float score = 0;  // the fact's score (0 when its file gave none)
};

using KgGraph = boost::compressed_sparse_row_graph<boost::directedS, boost::no_property, KgEdgeProp,
                                                   boost::no_property, std::uint32_t, std::uint32_t>;

struct KgEdge {
  std::uint32_t subject, relation, object;
};

enum class LabelKind : std::uint8_t { kPref = 0, kRdfs = 1, kAlt = 2 };

// One triple of a compiled KG file, in load order.
struct CompiledTriple {
  std::uint32_t subject, relation, object;
  float score;
};
static_assert(sizeof(CompiledTriple) == 16, "the compiled KG format stores triples as 16 bytes");

// A compiled KG (.kbkg) mapped read-only: the format is described in compiled_kg.cpp.
// Every index in it was checked against its range when the file was opened.
struct CompiledKg {
  MappedFile file;
  std::size_t bytes = 0;  // file.size()
  std::string path;
  std::uint32_t nv = 0, nr = 0, ns = 0, ne = 0;  // vertices, relations, surface forms, triples
  std::uint64_t duplicates = 0;
  bool has_scores = false;
  const std::uint64_t* str_begin = nullptr;  // nv + nr + ns + 1 offsets into blob
  const char* blob = nullptr;
  const std::uint32_t* surface_slots = nullptr;  // open addressing: surface id + 1, 0 = empty
  std::uint64_t surface_cap = 0;                 // a power of two
  const std::uint32_t* surface_begin = nullptr;  // ns + 1
  const std::uint32_t* surface_vertices = nullptr;
  const std::uint32_t* out_begin = nullptr;  // nv + 1, CSR over out_edges
  const std::uint32_t* out_edges = nullptr;  // triple indices: per subject, best score first, then load order
  const CompiledTriple* triples = nullptr;   // ne, load order

  std::string_view str(std::uint64_t i) const {
    return {blob + str_begin[i], static_cast<std::size_t>(str_begin[i + 1] - str_begin[i])};
  }
  std::string_view vertex(std::uint32_t v) const { return str(v); }
  std::string_view relation(std::uint32_t r) const { return str(std::uint64_t{nv} + r); }
  std::string_view surface(std::uint32_t s) const { return str(std::uint64_t{nv} + nr + s); }
  std::int64_t find_surface(std::string_view form) const;
  static std::unique_ptr<CompiledKg> open(const std::string& path);
};

// Whether a file starts with the compiled KG magic (false when it cannot be read).
bool is_compiled_kg_file(const std::string& path);

struct KnowledgeGraph::Impl {
  StringPool vertices;                 // entity names (IRIs or plain strings) and literals
  std::vector<std::uint8_t> is_iri;    // per vertex: 1 when the name is an IRI
  StringPool relations;                // relation keys (IRIs or plain names)
  std::vector<std::uint8_t> relation_is_iri;
  StringPool surfaces;                 // surface forms
  std::vector<std::pair<std::uint32_t, std::uint32_t>> surface_vertex;  // (surface, vertex), first-seen order
  std::vector<std::uint8_t> vertex_self_surface;  // vertex already its own surface form
  std::vector<KgEdge> edges;           // distinct triples in load order
  std::vector<float> edge_score;       // per edge: its score (0 when none was given)
  bool has_scores = false;             // some file gave scores: facts are ordered by them
  std::vector<std::uint64_t> edge_table;  // open addressing over edges (fingerprint << 32 | index + 1)
  std::size_t duplicates = 0;
  struct Label {
    std::uint32_t vertex;
    std::uint32_t literal;  // vertex id of the label literal
    LabelKind kind;
  };
  std::vector<Label> labels;
  std::unique_ptr<CompiledKg> compiled;  // set: the graph is a mapped .kbkg file, read-only

  // Built on demand from the above (see build()).
  mutable std::mutex build_mutex;
  mutable std::atomic<bool> built{false};
  mutable KgGraph graph;
  mutable std::vector<std::uint32_t> surface_begin;  // CSR over surface_vertex
  mutable std::vector<std::uint32_t> surface_vertices;
  mutable std::vector<std::pair<std::uint32_t, std::string_view>> vertex_label;  // labelled vertices, sorted
  mutable std::vector<std::string_view> relation_display;

  std::uint32_t vertex(std::string_view name, bool iri) { return vertex(name, iri, StringPool::hash(name)); }
  std::uint32_t vertex(std::string_view name, bool iri, std::uint32_t h);
  std::uint32_t relation(std::string_view name, bool iri);
  void surface(std::string_view form, std::uint32_t v);
  void self_surface(std::uint32_t v) { self_surface(v, StringPool::hash(vertices.str(v))); }
  void self_surface(std::uint32_t v, std::uint32_t h);  // h: hash of the vertex name
  void prefetch_edge(std::uint32_t s, std::uint32_t p, std::uint32_t o) const;
  // false when a duplicate; a scored duplicate raises the stored triple's score to the higher one
  bool add_edge(std::uint32_t s, std::uint32_t p, std::uint32_t o, const float* score = nullptr);
  void rebuild_edge_table(std::size_t capacity = 0);
  void invalidate() { built.store(false, std::memory_order_release); }
  void ensure_built() const;
  /// Readable name: its best label, else an IRI's local name, else the string itself.
  std::string_view display(std::uint32_t v) const;
  void build() const;
  // Throws when the graph is a compiled file (read-only) and `what` would change it.
  void require_mutable(const char* what) const;
  bool empty() const { return !compiled && edges.empty() && surface_vertex.empty() && labels.empty(); }
};

// Local name of an IRI: the part after the last '#', '/' or ':'.
std::string_view iri_local_name(std::string_view iri);

}  // namespace kbert
