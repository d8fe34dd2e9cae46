// K-BERT .spo files.
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

namespace kbert::kg_detail {

// SPO lines are parsed one by one, then interned a batch at a time with the
// batch's cache misses overlapped (see StringPool::prefetch_*): on KGs of
// millions of triples the hash tables do not fit in cache and misses dominate.
struct SpoBatch {
  static constexpr std::size_t kLines = 64;
  std::string arena;  // the batch's fields, copied: the reader's buffer moves
  struct Row {
    std::uint32_t off, ls, lp, lo;
    bool scored;
    float score;
  };
  std::vector<Row> rows;
  std::uint32_t hs[kLines], ho[kLines], sid[kLines], pid[kLines], oid[kLines];
  SpoBatch() {
    arena.reserve(1 << 16);
    rows.reserve(kLines);
  }
};

void spo_flush(KnowledgeGraph::Impl& g, SpoBatch& b, KgLoadReport& rep) {
  const std::size_t n = b.rows.size();
  if (n == 0) return;
  auto field = [&](std::size_t i, int k) {
    const auto& r = b.rows[i];
    const char* base = b.arena.data() + r.off;
    if (k == 0) return std::string_view(base, r.ls);
    if (k == 1) return std::string_view(base + r.ls, r.lp);
    return std::string_view(base + r.ls + r.lp, r.lo);
  };
  g.vertices.reserve_more(2 * n);
  g.surfaces.reserve_more(n);
  for (std::size_t i = 0; i < n; ++i) {
    b.hs[i] = StringPool::hash(field(i, 0));
    b.ho[i] = StringPool::hash(field(i, 2));
    g.vertices.prefetch_slot(b.hs[i]);
    g.vertices.prefetch_slot(b.ho[i]);
    g.surfaces.prefetch_slot(b.hs[i]);
  }
  for (std::size_t i = 0; i < n; ++i) g.vertices.prefetch_entry(b.hs[i]), g.vertices.prefetch_entry(b.ho[i]);
  for (std::size_t i = 0; i < n; ++i) g.vertices.prefetch_string(b.hs[i]), g.vertices.prefetch_string(b.ho[i]);
  for (std::size_t i = 0; i < n; ++i) {
    b.sid[i] = g.vertex(field(i, 0), false, b.hs[i]);
    b.pid[i] = g.relation(field(i, 1), false);
    b.oid[i] = g.vertex(field(i, 2), false, b.ho[i]);
    g.self_surface(b.sid[i], b.hs[i]);
  }
  if ((g.edges.size() + n + 1) * 2 > g.edge_table.size()) g.rebuild_edge_table((g.edges.size() + n + 1) * 2);
  for (std::size_t i = 0; i < n; ++i) g.prefetch_edge(b.sid[i], b.pid[i], b.oid[i]);
  for (std::size_t i = 0; i < n; ++i)
    if (g.add_edge(b.sid[i], b.pid[i], b.oid[i], b.rows[i].scored ? &b.rows[i].score : nullptr)) ++rep.triples;
  b.rows.clear();
  b.arena.clear();
}

void read_spo(KnowledgeGraph::Impl& g, const std::string& path, BadLines& bad, KgLoadReport& rep) {
  LineReader reader(path);
  std::string_view raw;
  SpoBatch batch;
  while (reader.next(raw)) {
    ++rep.lines;
    std::size_t invalid = find_invalid_utf8(raw);
    if (invalid != std::string_view::npos) {
      bad(reader.line_no(), "invalid UTF-8 at byte " + std::to_string(invalid) + " of the line");
      continue;
    }
    // The original strips the line, then splits on TAB and needs exactly 3 fields; a
    // 4th, the fact's score, is kbert's.
    std::string_view line = python_strip(raw);
    if (line.empty()) continue;  // blank lines are skipped silently
    std::string_view f[4];
    std::size_t n = 0, start = 0;
    for (std::size_t i = 0; i <= line.size(); ++i) {
      if (i == line.size() || line[i] == '\t') {
        if (n < 4) f[n] = line.substr(start, i - start);
        ++n;
        start = i + 1;
      }
    }
    if (n != 3 && n != 4) {
      bad(reader.line_no(),
          "expected 3 tab-separated fields (subject, predicate, object) or 4 (and a score), found " + std::to_string(n));
      continue;
    }
    float score = 0;
    if (n == 4 && !parse_score(f[3], score)) {
      bad(reader.line_no(), "the 4th field, the fact's score, must be a finite number; got '" +
                                std::string(f[3].substr(0, 40)) + "'");
      continue;
    }
    if (batch.arena.size() + line.size() > batch.arena.capacity()) spo_flush(g, batch, rep);
    const auto off = static_cast<std::uint32_t>(batch.arena.size());
    batch.arena.append(f[0]).append(f[1]).append(f[2]);
    batch.rows.push_back({off, static_cast<std::uint32_t>(f[0].size()), static_cast<std::uint32_t>(f[1].size()),
                          static_cast<std::uint32_t>(f[2].size()), n == 4, score});
    if (batch.rows.size() == SpoBatch::kLines) spo_flush(g, batch, rep);
  }
  spo_flush(g, batch, rep);
}

}  // namespace kbert::kg_detail
