#include "kbert/model/suggest.hpp"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>
#include <sstream>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/text/utf8.hpp"

namespace kbert {

namespace {

constexpr std::size_t kDefinitionLimit = 400;

// "name: definition", the definition cut at kDefinitionLimit bytes at a space (as the
// example's splits.with_definition builds text_b).
std::string child_text(const Term& t) {
  if (t.definition.empty()) return t.name;
  std::string d = t.definition;
  if (d.size() > kDefinitionLimit) {
    d.resize(kDefinitionLimit);
    const std::size_t space = d.rfind(' ');
    if (space != std::string::npos) d.resize(space);
  }
  return t.name + ": " + d;
}

std::string clean_field(const std::string& s) {
  std::string out = s;
  std::replace(out.begin(), out.end(), '\t', ' ');
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

}  // namespace

std::vector<Term> read_terms(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open the terms file");
  std::vector<Term> out;
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos || line[0] == '#') continue;
    if (find_invalid_utf8(line) != std::string_view::npos) throw ParseError(path, n, "invalid UTF-8");
    Term t;
    const std::size_t tab = line.find('\t');
    t.name = line.substr(0, tab);
    if (tab != std::string::npos) t.definition = line.substr(tab + 1);
    if (t.name.find_first_not_of(' ') == std::string::npos) throw ParseError(path, n, "a term needs a name before its TAB");
    out.push_back(std::move(t));
  }
  if (in.bad()) throw FileError(path, "read error");
  return out;
}

std::vector<std::string> term_names(const std::vector<Term>& terms) {
  std::vector<std::string> out;
  for (const auto& t : terms) out.push_back(t.name);
  return out;
}

std::vector<SuggestedFact> suggest_facts(const Model& model, const std::vector<Term>& children,
                                         const std::vector<std::string>& parents, const SuggestOptions& o) {
  const auto& labels = model.spec().labels;
  const auto it = std::find(labels.begin(), labels.end(), o.label);
  KBERT_CHECK(it != labels.end(), "the model has no label '", o.label, "' (it has ", labels.size(),
              " labels): train it on pairs labelled ", o.label, " when text_a is a superclass of text_b");
  KBERT_CHECK(!model.is_tagger(), "kg suggest needs a pair classifier, not a tagger");
  const auto yes = static_cast<std::size_t>(it - labels.begin());
  const KnowledgeGraph* kg = o.skip_known ? model.builder().knowledge_graph() : nullptr;
  std::vector<SuggestedFact> out;
  for (const Term& child : children) {
    std::vector<std::string> a, b;
    std::vector<std::size_t> parent_of;
    const std::string text = child_text(child);
    // What the KG already implies: the child's ancestors through `relation`, transitively.
    std::set<std::string> known;
    if (kg) {
      std::vector<std::string> frontier = {child.name};
      while (!frontier.empty()) {
        const std::string node = std::move(frontier.back());
        frontier.pop_back();
        for (const KgFact& f : kg->lookup(node))
          if (f.relation == o.relation && known.insert(std::string(f.object)).second) frontier.emplace_back(f.object);
      }
    }
    for (std::size_t p = 0; p < parents.size(); ++p) {
      if (parents[p] == child.name || known.count(parents[p])) continue;
      a.push_back(parents[p]);
      b.push_back(text);
      parent_of.push_back(p);
    }
    if (a.empty()) continue;
    std::vector<Prediction> preds = model.predict(a, b);
    std::vector<std::size_t> order(preds.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t x, std::size_t y) { return preds[x].probs[yes] > preds[y].probs[yes]; });
    std::size_t kept = 0;
    for (std::size_t k : order) {
      const double score = preds[k].probs[yes];
      if (score < o.min_score || (o.top && kept == o.top)) break;
      out.push_back({child.name, o.relation, parents[parent_of[k]], score, std::move(preds[k].injected)});
      ++kept;
    }
  }
  return out;
}

void write_suggestions(const std::vector<SuggestedFact>& facts, const std::string& path) {
  write_file_atomically(path, [&](std::ostream& os) {
    os << "subject\tpredicate\tobject\tscore\tevidence\n";
    for (const auto& f : facts) {
      std::ostringstream ev;
      for (std::size_t i = 0; i < f.evidence.size(); ++i)
        ev << (i ? " | " : "") << f.evidence[i].entity << " " << f.evidence[i].relation << " " << f.evidence[i].object;
      os << clean_field(f.subject) << "\t" << clean_field(f.relation) << "\t" << clean_field(f.object) << "\t" << f.score
         << "\t" << clean_field(ev.str()) << "\n";
    }
  });
}

}  // namespace kbert
