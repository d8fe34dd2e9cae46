// KnowledgeGraph::load: picks the reader of a file's format (kg/readers.hpp) and leaves the
// graph as it was when a file fails.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include "common/csv.hpp"
#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"
#include "kg/kg_impl.hpp"
#include "kg/line_reader.hpp"
#include "kg/readers.hpp"

namespace kbert {

using namespace kg_detail;  // the line reader and string helpers (kg/line_reader.hpp), the readers

namespace kg_detail {

bool parse_score(std::string_view text, float& out) {
  const std::string t(trim_ascii(text));
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v)) return false;
  out = v;
  return true;
}

}  // namespace kg_detail

KgFormat parse_kg_format(std::string_view name) {
  std::string n = lower_ascii(name);
  if (n == "auto") return KgFormat::kAuto;
  if (n == "spo") return KgFormat::kSpo;
  if (n == "nt" || n == "ntriples" || n == "n-triples") return KgFormat::kNTriples;
  if (n == "csv") return KgFormat::kCsv;
  if (n == "tsv") return KgFormat::kTsv;
  if (n == "kbkg" || n == "compiled") return KgFormat::kCompiled;
  throw std::invalid_argument("unknown knowledge-graph format '" + std::string(name) +
                              "' (expected auto, spo, nt, csv, tsv or kbkg)");
}

KgLoadReport KnowledgeGraph::load(const std::string& path, const KgLoadOptions& options) {
  check_path(path);
  KgFormat fmt = options.format;
  if (fmt == KgFormat::kAuto) {
    std::string lower = lower_ascii(path);
    auto ends = [&](std::string_view ext) {
      return lower.size() >= ext.size() && lower.compare(lower.size() - ext.size(), ext.size(), ext) == 0;
    };
    fmt = ends(".nt")     ? KgFormat::kNTriples
          : ends(".csv")  ? KgFormat::kCsv
          : ends(".tsv")  ? KgFormat::kTsv
          : ends(".kbkg") || is_compiled_kg_file(path) ? KgFormat::kCompiled
                          : KgFormat::kSpo;
  }
  KgLoadReport rep;
  rep.path = path;
  if (fmt == KgFormat::kCompiled) {
    if (!impl_->empty())
      throw std::invalid_argument(path + ": a compiled KG is loaded alone, into an empty graph; compile all the KG's "
                                  "files into one (kbert kg compile --kg A --kg B --out KG.kbkg)");
    auto fresh = std::make_unique<Impl>();
    fresh->compiled = CompiledKg::open(path);
    impl_ = std::move(fresh);
    rep.triples = impl_->compiled->ne;
    return rep;
  }
  impl_->require_mutable("load more triples");
  BadLines bad(rep, options.strict);
  Impl& g = *impl_;
  const std::size_t edges0 = g.edges.size(), surfaces0 = g.surface_vertex.size(), labels0 = g.labels.size();
  const std::size_t dups0 = g.duplicates;
  try {
    switch (fmt) {
      case KgFormat::kSpo: read_spo(g, path, bad, rep); break;
      case KgFormat::kNTriples: read_ntriples(g, path, bad, rep); break;
      case KgFormat::kCsv: read_table(g, path, ',', options, bad, rep); break;
      case KgFormat::kTsv: read_table(g, path, '\t', options, bad, rep); break;
      case KgFormat::kAuto:
      case KgFormat::kCompiled: break;
    }
  } catch (...) {
    // A failed load leaves the graph as it was (interned strings stay, unused).
    for (std::size_t i = surfaces0; i < g.surface_vertex.size(); ++i) g.vertex_self_surface[g.surface_vertex[i].second] = 0;
    g.surface_vertex.resize(surfaces0);
    g.labels.resize(labels0);
    g.edges.resize(edges0);
    g.duplicates = dups0;
    g.rebuild_edge_table();
    g.invalidate();
    throw;
  }
  std::vector<std::uint64_t>().swap(g.edge_table);  // rebuilt on the next add
  g.ensure_built();
  return rep;
}

}  // namespace kbert
