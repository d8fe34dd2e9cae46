// CSV and TSV files with a header.
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

// Splits one record; CSV fields may be quoted ("" is a quote) and span lines.
bool next_record(LineReader& reader, char sep, std::vector<std::string>& fields, std::size_t& first_line,
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

std::size_t find_column(const std::vector<std::string>& header, const std::string& wanted,
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

void read_table(KnowledgeGraph::Impl& g, const std::string& path, char sep, const KgLoadOptions& opt, BadLines& bad,
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

}  // namespace kbert::kg_detail
