// Readers of triple files: K-BERT .spo, N-Triples, CSV/TSV with a header.
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

namespace kbert {

using namespace kg_detail;  // the line reader and string helpers (kg/line_reader.hpp)

namespace {

constexpr std::size_t kMaxBadSamples = 5;
constexpr std::string_view kRdfsLabel = "http://www.w3.org/2000/01/rdf-schema#label";
constexpr std::string_view kSkosPref = "http://www.w3.org/2004/02/skos/core#prefLabel";
constexpr std::string_view kSkosAlt = "http://www.w3.org/2004/02/skos/core#altLabel";

}  // namespace

// Collects the outcome of one file; throws in strict mode.
class BadLines {
 public:
  BadLines(KgLoadReport& report, bool strict) : report_(report), strict_(strict) {}
  void operator()(std::size_t line, const std::string& why) {
    if (strict_) throw ParseError(report_.path, line, why);
    ++report_.bad_lines;
    if (report_.bad_samples.size() < kMaxBadSamples)
      report_.bad_samples.push_back(report_.path + ":" + std::to_string(line) + ": " + why);
  }

 private:
  KgLoadReport& report_;
  bool strict_;
};

// A fact's score: a finite decimal number (spaces around it allowed).
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

struct KgLoader {
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

  static void spo_flush(KnowledgeGraph::Impl& g, SpoBatch& b, KgLoadReport& rep) {
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

  static void spo(KnowledgeGraph::Impl& g, const std::string& path, BadLines& bad, KgLoadReport& rep) {
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

  // --- N-Triples ---------------------------------------------------------
  struct NtTerm {
    enum Kind { kIri, kBlank, kLiteral } kind;
    std::string value;
  };

  static bool hex_escape(std::string_view s, std::size_t& i, int digits, std::string& out, std::string& err) {
    if (i + digits > s.size()) {
      err = "truncated \\u escape";
      return false;
    }
    char32_t cp = 0;
    for (int k = 0; k < digits; ++k) {
      char c = s[i + k];
      int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (v < 0) {
        err = "bad hex digit in escape";
        return false;
      }
      cp = cp * 16 + static_cast<char32_t>(v);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      err = "escape is not a Unicode scalar value";
      return false;
    }
    append_utf8(out, cp);
    i += digits;
    return true;
  }

  // Parses one term at s[i]; advances i past it and following blanks.
  static bool nt_term(std::string_view s, std::size_t& i, NtTerm& t, std::string& err) {
    auto skip = [&] {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    };
    if (i >= s.size()) {
      err = "missing term";
      return false;
    }
    t.value.clear();
    if (s[i] == '<') {
      t.kind = NtTerm::kIri;
      ++i;
      while (i < s.size() && s[i] != '>') {
        if (s[i] == '\\') {
          if (i + 1 >= s.size() || (s[i + 1] != 'u' && s[i + 1] != 'U')) {
            err = "bad escape in IRI";
            return false;
          }
          i += 2;
          if (!hex_escape(s, i, s[i - 1] == 'u' ? 4 : 8, t.value, err)) return false;
        } else {
          if (s[i] == ' ' || s[i] == '<' || s[i] == '"') {
            err = "bad character in IRI";
            return false;
          }
          t.value.push_back(s[i++]);
        }
      }
      if (i >= s.size()) {
        err = "unterminated IRI";
        return false;
      }
      ++i;
      if (t.value.empty()) {
        err = "empty IRI";
        return false;
      }
    } else if (s.compare(i, 2, "_:") == 0) {
      t.kind = NtTerm::kBlank;
      std::size_t b = i;
      i += 2;
      while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '.') ++i;
      if (i == b + 2) {
        err = "empty blank node label";
        return false;
      }
      t.value.assign(s.substr(b, i - b));
    } else if (s[i] == '"') {
      t.kind = NtTerm::kLiteral;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i];
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        if (c == '\\') {
          if (i + 1 >= s.size()) break;
          char e = s[i + 1];
          i += 2;
          switch (e) {
            case 't': t.value.push_back('\t'); break;
            case 'b': t.value.push_back('\b'); break;
            case 'n': t.value.push_back('\n'); break;
            case 'r': t.value.push_back('\r'); break;
            case 'f': t.value.push_back('\f'); break;
            case '"': t.value.push_back('"'); break;
            case '\'': t.value.push_back('\''); break;
            case '\\': t.value.push_back('\\'); break;
            case 'u':
              if (!hex_escape(s, i, 4, t.value, err)) return false;
              break;
            case 'U':
              if (!hex_escape(s, i, 8, t.value, err)) return false;
              break;
            default:
              err = std::string("unknown escape \\") + e + " in literal";
              return false;
          }
          continue;
        }
        t.value.push_back(c);
        ++i;
      }
      if (!closed) {
        err = "unterminated literal";
        return false;
      }
      if (i < s.size() && s[i] == '@') {
        ++i;
        std::size_t b = i;
        while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-')) ++i;
        if (i == b) {
          err = "empty language tag";
          return false;
        }
      } else if (s.compare(i, 2, "^^") == 0) {
        i += 2;
        NtTerm dt;
        if (i >= s.size() || s[i] != '<' || !nt_term(s, i, dt, err)) {
          if (err.empty()) err = "bad datatype IRI";
          return false;
        }
      }
    } else {
      err = std::string("unexpected character '") + s[i] + "' where a term should start";
      return false;
    }
    skip();
    return true;
  }

  static void ntriples(KnowledgeGraph::Impl& g, const std::string& path, BadLines& bad, KgLoadReport& rep) {
    LineReader reader(path);
    std::string_view raw;
    NtTerm s, p, o;
    std::string err;
    while (reader.next(raw)) {
      ++rep.lines;
      std::string_view line = trim_ascii(raw);
      if (line.empty() || line[0] == '#') continue;
      std::size_t invalid = find_invalid_utf8(line);
      if (invalid != std::string_view::npos) {
        bad(reader.line_no(), "invalid UTF-8 at byte " + std::to_string(invalid) + " of the line");
        continue;
      }
      std::size_t i = 0;
      err.clear();
      bool ok = nt_term(line, i, s, err) && nt_term(line, i, p, err) && nt_term(line, i, o, err);
      if (ok && s.kind == NtTerm::kLiteral) ok = false, err = "subject is a literal";
      if (ok && p.kind != NtTerm::kIri) ok = false, err = "predicate is not an IRI";
      if (ok) {
        if (i >= line.size() || line[i] != '.') {
          ok = false, err = "missing '.' at the end of the triple";
        } else {
          std::string_view rest = trim_ascii(line.substr(i + 1));
          if (!rest.empty() && rest[0] != '#') ok = false, err = "unexpected text after '.'";
        }
      }
      if (!ok) {
        bad(reader.line_no(), err);
        continue;
      }
      std::uint32_t sv = g.vertex(s.value, s.kind == NtTerm::kIri);
      bool label = p.value == kRdfsLabel || p.value == kSkosPref || p.value == kSkosAlt;
      if (label) {
        if (o.kind != NtTerm::kLiteral) {
          bad(reader.line_no(), "label object is not a literal");
          continue;
        }
        std::uint32_t lv = g.vertex(o.value, false);
        LabelKind kind = p.value == kSkosPref ? LabelKind::kPref : p.value == kRdfsLabel ? LabelKind::kRdfs : LabelKind::kAlt;
        g.labels.push_back({sv, lv, kind});
        g.surface(o.value, sv);
        g.invalidate();
        ++rep.triples;
        continue;
      }
      std::uint32_t pv = g.relation(p.value, true);
      std::uint32_t ov = g.vertex(o.value, o.kind == NtTerm::kIri);
      if (g.add_edge(sv, pv, ov)) ++rep.triples;
    }
  }

  // --- CSV / TSV ---------------------------------------------------------
  // Splits one record; CSV fields may be quoted ("" is a quote) and span lines.
  static bool next_record(LineReader& reader, char sep, std::vector<std::string>& fields, std::size_t& first_line,
                          std::string& err) {
    std::string_view line;
    if (!reader.next(line)) return false;
    first_line = reader.line_no();
    fields.assign(1, std::string());
    if (sep == '\t') {
      for (char c : line) {
        if (c == '\t') {
          fields.emplace_back();
        } else {
          fields.back().push_back(c);
        }
      }
      return true;
    }
    bool quoted = false;
    for (;;) {
      detail::csv_split_line(line, fields, quoted);
      if (!quoted) return true;
      fields.back().push_back('\n');
      if (!reader.next(line)) {
        err = "unterminated quoted field";
        return true;
      }
    }
  }

  static std::size_t find_column(const std::vector<std::string>& header, const std::string& wanted,
                                 std::initializer_list<const char*> aliases, const std::string& path, const char* role) {
    auto find = [&](std::string_view name) -> std::size_t {
      std::string n = lower_ascii(name);
      for (std::size_t i = 0; i < header.size(); ++i)
        if (lower_ascii(trim_ascii(header[i])) == n) return i;
      return std::string::npos;
    };
    if (!wanted.empty()) {
      std::size_t i = find(wanted);
      if (i == std::string::npos)
        throw ParseError(path, 1, std::string("no ") + role + " column named '" + wanted + "' in the header");
      return i;
    }
    for (const char* a : aliases) {
      std::size_t i = find(a);
      if (i != std::string::npos) return i;
    }
    std::string names;
    for (const char* a : aliases) names += std::string(names.empty() ? "" : ", ") + a;
    throw ParseError(path, 1, std::string("no ") + role + " column in the header (looked for " + names + ")");
  }

  static void table(KnowledgeGraph::Impl& g, const std::string& path, char sep, const KgLoadOptions& opt, BadLines& bad,
                    KgLoadReport& rep) {
    LineReader reader(path);
    std::vector<std::string> fields;
    std::size_t line_no = 0;
    std::string err;
    if (!next_record(reader, sep, fields, line_no, err)) throw ParseError(path, 1, "empty file: a header row is needed");
    if (!fields.empty() && fields[0].compare(0, 3, "\xEF\xBB\xBF") == 0) fields[0].erase(0, 3);  // BOM
    const std::size_t cs = find_column(fields, opt.subject_column, {"subject", "head", "s", "source"}, path, "subject");
    const std::size_t cp = find_column(fields, opt.predicate_column, {"predicate", "relation", "p", "rel"}, path, "predicate");
    const std::size_t co = find_column(fields, opt.object_column, {"object", "tail", "o", "target"}, path, "object");
    // The optional score column: named by the options, else `score` when the header has one.
    std::size_t csc = std::string::npos;
    if (!opt.score_column.empty()) {
      csc = find_column(fields, opt.score_column, {}, path, "score");
    } else {
      for (std::size_t c = 0; c < fields.size(); ++c)
        if (csc == std::string::npos && lower_ascii(trim_ascii(fields[c])) == "score") csc = c;
    }
    const std::size_t need = std::max({cs, cp, co, csc == std::string::npos ? 0 : csc}) + 1;
    const std::size_t width = fields.size();
    for (;;) {
      err.clear();
      if (!next_record(reader, sep, fields, line_no, err)) break;
      ++rep.lines;
      if (!err.empty()) {
        bad(line_no, err);
        continue;
      }
      if (fields.size() == 1 && trim_ascii(fields[0]).empty()) continue;  // blank line
      if (fields.size() < need) {
        bad(line_no, "expected " + std::to_string(width) + " fields as in the header, found " + std::to_string(fields.size()));
        continue;
      }
      std::size_t invalid = std::string::npos;
      for (std::size_t c : {cs, cp, co})
        if (invalid == std::string::npos && find_invalid_utf8(fields[c]) != std::string_view::npos) invalid = c;
      if (invalid != std::string::npos) {
        bad(line_no, "invalid UTF-8 in column " + std::to_string(invalid + 1));
        continue;
      }
      if (fields[cs].empty() || fields[co].empty()) {
        bad(line_no, fields[cs].empty() ? "empty subject" : "empty object");
        continue;
      }
      float score = 0;
      if (csc != std::string::npos && !parse_score(fields[csc], score)) {
        bad(line_no, "the score (column " + std::to_string(csc + 1) + ") must be a finite number; got '" +
                         fields[csc].substr(0, 40) + "'");
        continue;
      }
      std::uint32_t s = g.vertex(fields[cs], false);
      std::uint32_t p = g.relation(fields[cp], false);
      std::uint32_t o = g.vertex(fields[co], false);
      g.self_surface(s);
      if (g.add_edge(s, p, o, csc != std::string::npos ? &score : nullptr)) ++rep.triples;
    }
  }
};

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
      case KgFormat::kSpo: KgLoader::spo(g, path, bad, rep); break;
      case KgFormat::kNTriples: KgLoader::ntriples(g, path, bad, rep); break;
      case KgFormat::kCsv: KgLoader::table(g, path, ',', options, bad, rep); break;
      case KgFormat::kTsv: KgLoader::table(g, path, '\t', options, bad, rep); break;
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
