// A knowledge graph of (subject, relation, object) triples, stored on Boost.Graph.
//
// Entities and literals are interned once as vertices; relations are labelled
// edges. Surface forms (the strings a text can mention) map to entity vertices:
// in .spo and CSV/TSV files the subject string is its own surface form; in
// N-Triples, rdfs:label, skos:prefLabel and skos:altLabel give them.
//
//   kbert::KnowledgeGraph kg;
//   kg.load("HowNet.spo");                      // strict: first bad line throws
//   auto facts = kg.lookup("苹果", 2);           // first two facts (file order, or by score), deduplicated
//   for (auto& f : facts) std::cout << f.relation << " " << f.object << "\n";
//
// Lookup and iteration are const and safe from many threads once loading is done.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kbert {

/// File formats the loader reads.
enum class KgFormat {
  kAuto,      ///< from the extension: .spo, .nt, .csv, .tsv (anything else: .spo)
  kSpo,       ///< K-BERT: subject TAB predicate TAB object [TAB score], one triple a line
  kNTriples,  ///< W3C N-Triples: <s> <p> <o|"literal"@lang|"literal"^^<dt>> .
  kCsv,       ///< comma-separated, RFC 4180 quoting, header names the columns
  kTsv,       ///< tab-separated, header names the columns
  kCompiled,  ///< kbert's compiled binary KG (.kbkg, `kbert kg compile`): memory-mapped, read-only
};

/// Parses "auto", "spo", "nt"/"ntriples", "csv", "tsv", "kbkg"/"compiled"; throws std::invalid_argument otherwise.
KgFormat parse_kg_format(std::string_view name);

/// How a file is loaded.
struct KgLoadOptions {
  KgFormat format = KgFormat::kAuto;  ///< file format; kAuto guesses from the extension
  bool strict = true;                 ///< true: the first bad line throws ParseError; false: skip and count it
  std::string subject_column;         ///< CSV/TSV column of subjects; empty: subject|head|s|source
  std::string predicate_column;       ///< CSV/TSV column of predicates; empty: predicate|relation|p|rel
  std::string object_column;          ///< CSV/TSV column of objects; empty: object|tail|o|target
  std::string score_column;           ///< CSV/TSV column of fact scores; empty: `score` when the header has one
};

/// What one load() did.
struct KgLoadReport {
  std::string path;
  std::size_t lines = 0;         ///< lines read (N-Triples/SPO) or records (CSV/TSV)
  std::size_t triples = 0;       ///< triples added (label triples of N-Triples included)
  std::size_t bad_lines = 0;     ///< lines skipped in lenient mode
  std::vector<std::string> bad_samples;  ///< the first few skipped lines as "path:line: why"
};

/// One fact about a surface form, as lookup() returns it.
struct KgFact {
  std::string_view relation;  ///< readable relation name (label, or the IRI's local name)
  std::string_view object;    ///< readable object (label, local name, or literal)
  float score = 0;            ///< the fact's score (0 when its file gave none)
};

/// One stored triple, as for_each_triple() yields it.
struct KgTriple {
  std::string_view subject;
  std::string_view relation;
  std::string_view object;
  float score = 0;
};

class KnowledgeGraph {
 public:
  KnowledgeGraph();
  ~KnowledgeGraph();
  KnowledgeGraph(KnowledgeGraph&&) noexcept;
  KnowledgeGraph& operator=(KnowledgeGraph&&) noexcept;
  KnowledgeGraph(const KnowledgeGraph&) = delete;
  KnowledgeGraph& operator=(const KnowledgeGraph&) = delete;

  /// Loads one file and merges its triples after those already loaded.
  /// Throws FileError (missing, unreadable) or ParseError (strict mode, bad line).
  /// A compiled KG (.kbkg, or any file that starts with its magic when the format is
  /// kAuto) is memory-mapped instead: it must be the only file of an empty graph, and
  /// the graph is then read-only (add() throws std::invalid_argument). A corrupt or
  /// truncated compiled file throws ParseError.
  KgLoadReport load(const std::string& path, const KgLoadOptions& options = {});
  /// Loads several files in the order given.
  std::vector<KgLoadReport> load(const std::vector<std::string>& paths, const KgLoadOptions& options = {});

  /// Adds one triple whose subject string is also a surface form.
  void add(std::string_view subject, std::string_view relation, std::string_view object);
  /// As add(), with a score (finite): facts are then looked up by falling score. A triple
  /// added twice keeps its higher score.
  void add(std::string_view subject, std::string_view relation, std::string_view object, float score);
  /// Whether any triple came with a score (a 4th .spo column, a CSV/TSV `score` column).
  bool has_scores() const;
  /// Makes `form` a surface form of the entity named `entity` (created if new).
  void add_surface_form(std::string_view entity, std::string_view form);

  /// Facts of a surface form: the out-edges of every entity it names, in the order the
  /// triples were first seen (or, when the KG has scores, by falling score, ties in that
  /// order: unscored facts count as 0), without repeats of the same (relation, object);
  /// at most `limit`.
  std::vector<KgFact> lookup(std::string_view surface, std::size_t limit = std::numeric_limits<std::size_t>::max()) const;
  /// As lookup(), by surface id (0 <= id < num_surface_forms()).
  std::vector<KgFact> facts(std::uint32_t surface_id, std::size_t limit = std::numeric_limits<std::size_t>::max()) const;
  /// Calls `fn` for facts of `surface_id` in order until it returns false (no allocation).
  void for_each_fact(std::uint32_t surface_id, const std::function<bool(const KgFact&)>& fn) const;

  std::size_t num_triples() const;        ///< distinct stored triples (label triples excluded)
  std::size_t num_vertices() const;       ///< entities and literals
  std::size_t num_relations() const;      ///< distinct relation names
  std::size_t num_surface_forms() const;  ///< distinct surface forms; their ids are 0 .. n-1
  bool has_facts(std::uint32_t surface_id) const;  ///< whether lookup of this form finds anything
  std::size_t duplicate_triples() const;  ///< triples dropped because they repeated an earlier one

  /// Surface form by id, and id by surface form (-1 when unknown).
  std::string_view surface_form(std::uint32_t surface_id) const;
  std::int64_t surface_id(std::string_view surface) const;

  /// Calls `fn` for every stored triple, in load order.
  void for_each_triple(const std::function<void(const KgTriple&)>& fn) const;

  /// Approximate heap bytes used by the store (for a compiled KG: the mapped file's size).
  std::size_t memory_bytes() const;

  /// Writes the graph as a compiled KG (atomically: a temporary file, then rename), which
  /// load() maps in milliseconds and processes share: the facts, their order, readable
  /// names and surface forms exactly as this graph looks them up.
  void save_compiled(const std::string& path) const;
  /// Whether this graph is a mapped compiled file (read-only).
  bool is_compiled() const;

  struct Impl;  ///< the store (lib/kg/kg_impl.hpp; its readers and compiled form live in lib/kg)

 private:
  void add_impl(std::string_view subject, std::string_view relation, std::string_view object, const float* score);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kbert
