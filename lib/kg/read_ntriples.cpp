// N-Triples files.
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

namespace {

constexpr std::string_view kRdfsLabel = "http://www.w3.org/2000/01/rdf-schema#label";
constexpr std::string_view kSkosPref = "http://www.w3.org/2004/02/skos/core#prefLabel";
constexpr std::string_view kSkosAlt = "http://www.w3.org/2004/02/skos/core#altLabel";

}  // namespace

struct NtTerm {
  enum Kind { kIri, kBlank, kLiteral } kind;
  std::string value;
};

bool hex_escape(std::string_view s, std::size_t& i, int digits, std::string& out, std::string& err) {
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
bool nt_term(std::string_view s, std::size_t& i, NtTerm& t, std::string& err) {
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

void read_ntriples(KnowledgeGraph::Impl& g, const std::string& path, BadLines& bad, KgLoadReport& rep) {
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

}  // namespace kbert::kg_detail
