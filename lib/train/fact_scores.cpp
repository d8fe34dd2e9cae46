#include "kbert/train/fact_scores.hpp"

#include <cmath>
#include <iomanip>
#include <stdexcept>
#include <unordered_map>

#include "kbert/common/atomic_file.hpp"
#include "kbert/tree/limits.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert {

std::vector<FactScore> score_facts(const KnowledgeGraph& kg, std::shared_ptr<const Tokenizer> tokenizer,
                                   const Dataset& train, unsigned threads) {
  if (train.examples.empty()) throw std::invalid_argument(train.path + ": no training examples to score facts on");
  const LabelSet labels = LabelSet::from(train);
  const std::size_t k = labels.size();

  // Every fact of every mention: no cap, no truncation below the tree limit.
  TreeOptions opt;
  opt.max_entities = kMaxEntities;
  opt.max_length = kMaxTreeLength;
  opt.predicate = true;
  opt.add_special = false;
  const SentenceTreeBuilder builder(&kg, std::move(tokenizer), opt);
  std::vector<std::string> a, b;
  for (const Example& e : train.examples) {
    a.push_back(e.text_a);
    if (train.has_pairs) b.push_back(e.text_b);
  }
  const std::vector<SentenceTree> trees = builder.build_batch(a, b, threads);

  // Label counts of the texts each branch (relation, object) falls on and of the texts that
  // mention each subject, each text once.
  struct Counts {
    std::unordered_map<std::string, std::size_t> id;
    std::vector<std::vector<double>> n;
    std::vector<std::size_t> last;  // the last text counted (+1)
    void add(const std::string& key, std::size_t text, std::size_t label, std::size_t k) {
      auto [it, added] = id.emplace(key, n.size());
      if (added) {
        n.emplace_back(k, 0.0);
        last.push_back(0);
      }
      if (last[it->second] == text + 1) return;
      last[it->second] = text + 1;
      n[it->second][label] += 1;
    }
    const std::vector<double>* find(const std::string& key) const {
      auto it = id.find(key);
      return it == id.end() ? nullptr : &n[it->second];
    }
  } branches, subjects;
  std::vector<double> prior(k, 0);
  for (std::size_t i = 0; i < trees.size(); ++i) {
    const std::size_t y = static_cast<std::size_t>(labels.id(train.examples[i].label));
    prior[y] += 1;
    for (const InjectedTriple& t : trees[i].injected) {
      branches.add(t.relation + '\t' + t.object, i, y, k);
      subjects.add(t.entity, i, y, k);
    }
  }
  const double n_all = static_cast<double>(trees.size());
  auto g_statistic = [&](const std::vector<double>* n_c) {
    if (!n_c) return 0.0;
    double n = 0;
    for (double x : *n_c) n += x;
    double g = 0;
    for (std::size_t c = 0; c < k; ++c)
      if ((*n_c)[c] > 0) g += (*n_c)[c] * std::log((*n_c)[c] / (n * prior[c] / n_all));
    return std::max(0.0, 2 * g);
  };

  std::vector<FactScore> out;
  out.reserve(kg.num_triples());
  kg.for_each_triple([&](const KgTriple& t) {
    FactScore s;
    s.subject = std::string(t.subject);
    s.relation = std::string(t.relation);
    s.object = std::string(t.object);
    const auto* nb = branches.find(s.relation + '\t' + s.object);
    const auto* ns = subjects.find(s.subject);
    if (ns)
      for (double x : *ns) s.texts += static_cast<std::size_t>(x);
    if (nb)
      for (double x : *nb) s.branch_texts += static_cast<std::size_t>(x);
    s.subject_score = g_statistic(ns);
    s.branch_score = g_statistic(nb);
    s.score = std::min(s.subject_score, s.branch_score);
    out.push_back(std::move(s));
  });
  return out;
}

std::size_t write_scored_spo(const std::vector<FactScore>& scores, const std::string& path, double min_score) {
  auto check = [](const std::string& field, const char* what) {
    if (field.find_first_of("\t\r\n") != std::string::npos)
      throw std::invalid_argument(std::string("a fact's ") + what + " holds a TAB or a line break and cannot be written as .spo: '" +
                                  field.substr(0, 60) + "'");
  };
  std::size_t written = 0;
  write_file_atomically(path, [&](std::ostream& os) {
    os << std::setprecision(6);
    for (const FactScore& s : scores) {
      if (s.score < min_score) continue;
      check(s.subject, "subject");
      check(s.relation, "relation");
      check(s.object, "object");
      os << s.subject << '\t' << s.relation << '\t' << s.object << '\t' << s.score << '\n';
      ++written;
    }
  });
  return written;
}

}  // namespace kbert
