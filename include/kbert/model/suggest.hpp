// Facts a trained pair classifier believes (ontology learning, `kbert kg suggest`): for every
// candidate child term and candidate parent, the probability that the parent is a superclass
// of the child, as a reviewable table with the knowledge the model saw for each pair.
//
// The model is a classifier of pairs (text_a = the parent, text_b = the child with its
// definition) whose label `label` means "text_a is a superclass of text_b", as
// examples/ontology_learning trains it.
//
//   auto children = kbert::read_terms("terms.tsv");            // name [TAB definition]
//   auto facts = kbert::suggest_facts(model, children, kbert::term_names(children), {});
//   kbert::write_suggestions(facts, "suggested.tsv");          // loadable as a KG (score column)
#pragma once

#include <string>
#include <vector>

#include "kbert/model/model.hpp"

namespace kbert {

struct Term {
  std::string name;
  std::string definition;  ///< may be empty
};

struct SuggestOptions {
  std::string relation = "subclass of";  ///< the predicate of every suggested fact
  std::string label = "1";               ///< the model's label for "text_a is a superclass of text_b"
  std::size_t top = 3;                   ///< suggestions per child at most, best first (0: every parent)
  double min_score = 0.5;                ///< leave out pairs the model gives less probability
  bool skip_known = true;                ///< leave out facts the model's KG holds or implies (child relation
                                         ///< parent, directly or through a chain of `relation` facts)
};

/// A suggested fact: `subject relation object`, the model's probability, and the facts the
/// KG injected into the pair when the model decided (its evidence).
struct SuggestedFact {
  std::string subject, relation, object;
  double score = 0;
  std::vector<InjectedTriple> evidence;
};

/// Terms of a file, one a line: a name, optionally a TAB and its definition; blank lines and
/// lines starting with '#' are skipped. FileError / ParseError naming the file and line.
std::vector<Term> read_terms(const std::string& path);
std::vector<std::string> term_names(const std::vector<Term>& terms);

/// Scores every (parent, child) pair with the model (a child is never its own parent; with
/// skip_known, a parent the model's KG already gives the child, directly or through a chain
/// of `relation` facts, is not suggested again) and
/// keeps, per child, the best `top` parents scoring at least `min_score`. The child's text
/// is "name: definition" (the definition cut at 400 bytes, at a space) or the name alone.
/// Children in their order, each child's parents best first (ties: parents' order).
/// std::invalid_argument when the model has no label `label` or is not a pair classifier.
std::vector<SuggestedFact> suggest_facts(const Model& model, const std::vector<Term>& children,
                                         const std::vector<std::string>& parents, const SuggestOptions& options = {});

/// Writes a TSV with the header `subject predicate object score evidence` (evidence: the
/// injected facts as "entity relation object" joined by " | "), atomically. Loaded as a KG
/// (kbert's CSV/TSV reader), the score column orders each subject's facts.
void write_suggestions(const std::vector<SuggestedFact>& facts, const std::string& path);

}  // namespace kbert
