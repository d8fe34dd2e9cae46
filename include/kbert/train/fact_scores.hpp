// Which facts of a knowledge graph tell a task's labels apart: scores for K-BERT's
// knowledge-noise control.
//
// K-BERT injects the first `max_entities` facts of each entity it finds. In file order a
// word gets whatever fact comes first ("stop is a ending"), useful or not. score_facts()
// scores facts on the labelled training texts with the G statistic (log-likelihood
// ratio) of the labels of a set of texts against the labels of all training texts:
//
//   G = 2 * sum_c n_c * ln(n_c / (n * p_c))
//
// n_c: texts of label c in the set, n their number, p_c the share of label c in all
// training texts. A set whose labels look like all the labels scores near 0, one
// concentrated on a few labels scores high, and more texts give more evidence. Under
// "the set says nothing about the label", G is chi-square distributed with (labels - 1)
// degrees of freedom: with 8 labels, 14.07 is the 5% level.
//
// A fact (subject, relation, object) has two such sets: the texts that mention its
// subject (where it is injected), and the texts its branch (relation, object) falls on,
// through any subject that carries the same branch (where the model learns what the
// branch means). Its score is the smaller of the two G values: a fact counts when the
// word it hangs from tells the labels apart and so does what it injects. A frequent,
// uninformative word ("get") scores low even when it shares a branch with an informative
// one ("tooth" is a grinding and crushing object); an informative word's facts are
// ranked by their branches. Facts whose subjects no training text mentions score 0.
//
// Written as a 4th column of a .spo file (`kbert kg score`), the scores order each
// entity's facts when the KG is loaded: the best facts are injected first.
//
//   kbert::KnowledgeGraph kg;  kg.load("energy.spo");
//   auto tok = kbert::make_tokenizer({...});
//   auto scores = kbert::score_facts(kg, tok, kbert::Dataset::load("train.tsv"));
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/train/data.hpp"

namespace kbert {

struct FactScore {
  std::string subject, relation, object;
  double score = 0;           ///< min(subject_score, branch_score)
  double subject_score = 0;   ///< G of the labels of the texts that mention the subject
  double branch_score = 0;    ///< G of the labels of the texts the branch (relation, object) falls on
  std::size_t texts = 0;      ///< training texts that mention the subject (the fact is injected into)
  std::size_t branch_texts = 0;  ///< training texts the branch falls on, through any subject
};

/// One score per triple of `kg`, in its load order (for_each_triple). Entity matching is
/// that of SentenceTreeBuilder with this tokenizer; every fact of every mention counts
/// (no max_entities cap, no truncation below the tree length limit). Pairs count both texts.
std::vector<FactScore> score_facts(const KnowledgeGraph& kg, std::shared_ptr<const Tokenizer> tokenizer,
                                   const Dataset& train, unsigned threads = 0);

/// Writes scores as a .spo file with a 4th column (subject TAB relation TAB object TAB
/// score), keeping those with score >= min_score, atomically. Returns the number written.
/// Throws std::invalid_argument when a field holds a TAB or a line break (it would not
/// read back).
std::size_t write_scored_spo(const std::vector<FactScore>& scores, const std::string& path, double min_score = 0);

}  // namespace kbert
