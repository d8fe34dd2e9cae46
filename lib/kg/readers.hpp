// The readers of triple files, one per format (read_spo.cpp, read_ntriples.cpp,
// read_table.cpp), and what they share: the bad-line collector and score parsing.
// KnowledgeGraph::load (loaders.cpp) picks the reader. Internal to lib/kg.
#pragma once

#include <string>
#include <string_view>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kg/kg_impl.hpp"

namespace kbert::kg_detail {

inline constexpr std::size_t kMaxBadSamples = 5;

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
bool parse_score(std::string_view text, float& out);

/// K-BERT's .spo: subject, predicate, object (and an optional score) separated by tabs.
void read_spo(KnowledgeGraph::Impl& g, const std::string& path, BadLines& bad, KgLoadReport& rep);
/// N-Triples: IRIs, blank nodes and literals; rdfs:label / skos labels give surface forms.
void read_ntriples(KnowledgeGraph::Impl& g, const std::string& path, BadLines& bad, KgLoadReport& rep);
/// CSV (sep ',') or TSV ('\t') with a header naming the subject, predicate, object (and score) columns.
void read_table(KnowledgeGraph::Impl& g, const std::string& path, char sep, const KgLoadOptions& opt, BadLines& bad,
                KgLoadReport& rep);

}  // namespace kbert::kg_detail
