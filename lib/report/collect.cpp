#include "kbert/report/collect.hpp"

#include <stdexcept>

#include "kbert/index/retrieval.hpp"
#include "kbert/train/trainer.hpp"

namespace kbert::report {
namespace {

std::vector<std::int64_t> gold_ids(const Model& model, const Dataset& data) {
  const LabelSet set(model.spec().labels);
  std::vector<std::int64_t> gold;
  for (const Example& e : data.examples) {
    try {
      gold.push_back(set.id(e.label));
    } catch (const std::out_of_range&) {
      throw std::invalid_argument(data.path + ":" + std::to_string(e.line) + ": label '" + e.label +
                                  "' is not one of the model's labels");
    }
  }
  return gold;
}

}  // namespace

Data collect(const Model& model, const Dataset& data, const CollectOptions& options) {
  if (data.has_pairs) throw std::invalid_argument(data.path + ": a report explains single texts, not pairs");
  if (model.spec().labels.empty() || model.is_tagger())
    throw std::invalid_argument("a report is of a classifier (this model has no labelled classification head)");
  Data out;
  const std::vector<std::int64_t> gold = gold_ids(model, data);
  std::vector<std::string> texts;
  for (const Example& e : data.examples) texts.push_back(e.text_a);

  const std::vector<Explanation> ex = model.explain(texts);
  std::vector<std::int64_t> predicted;
  for (const Explanation& e : ex) predicted.push_back(e.prediction.label);
  out.metrics = ClassificationReport::compute(gold, predicted, model.spec().labels);

  std::vector<Prediction> base;
  if (options.baseline) {
    if (options.baseline->spec().labels != model.spec().labels)
      throw std::invalid_argument("the baseline model's labels differ from the model's");
    base = options.baseline->predict(texts);
    std::vector<std::int64_t> ids;
    for (const Prediction& p : base) ids.push_back(p.label);
    out.baseline = ClassificationReport::compute(gold, ids, model.spec().labels);
  }
  std::vector<std::vector<SearchHit>> hits;
  if (options.index && options.similar > 0) hits = search_index(*options.index, model, texts, options.similar);

  for (std::size_t i = 0; i < texts.size(); ++i) {
    Item it;
    it.text = texts[i];
    it.gold = data.examples[i].label;
    it.predicted = ex[i].prediction.label_name;
    it.probability = ex[i].prediction.probs[static_cast<std::size_t>(ex[i].prediction.label)];
    if (!base.empty()) it.baseline_predicted = base[i].label_name;
    for (const FactAttribution& a : ex[i].facts)
      it.facts.push_back({a.fact.entity, a.fact.relation, a.fact.object, a.change, a.gate});
    if (!hits.empty())
      for (const SearchHit& h : hits[i])
        it.similar.push_back({options.index->id(h.row), options.index->label(h.row), options.index->text(h.row), h.score});
    out.items.push_back(std::move(it));
  }
  return out;
}

}  // namespace kbert::report
