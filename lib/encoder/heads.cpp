// The built-in heads and the registry of head kinds (encoder/head.hpp).
#include "encoder/head.hpp"

#include <torch/torch.h>

#include <map>
#include <mutex>
#include <stdexcept>

namespace kbert::nn {

torch::Tensor HeadImpl::forward(const torch::Tensor& hidden, const std::array<torch::Tensor, 3>* lex) {
  torch::Tensor logits = outputs(hidden);
  if (!lexical.defined()) return logits;
  if (!lex) throw std::logic_error("kbert: a head with a lexical side channel needs the texts' features");
  // Sum over each text's slots of weight * lexical[slot]: a linear model on hashed n-grams.
  auto bag = at::embedding_bag(lexical, (*lex)[0], (*lex)[1], false, /*mode=sum*/ 0, false, (*lex)[2]);
  return logits.to(torch::kFloat) + std::get<0>(bag);
}

void HeadImpl::add_lexical(std::int64_t buckets, std::int64_t labels) {
  lexical = register_parameter("lexical", torch::zeros({buckets, labels}));
  lexical_idf = register_parameter("lexical_idf", torch::ones({buckets}), /*requires_grad=*/false);
}

namespace {

// K-BERT / UER: pool (first, mean, max or last position, pads included), tanh(dense), out.
class KbertHeadImpl : public HeadImpl {
 public:
  explicit KbertHeadImpl(const HeadShape& s) : pooling_(s.pooling) {
    dense = register_module("dense", Linear(s.hidden, s.hidden));
    out = register_module("out", Linear(s.hidden, s.labels));
  }
  torch::Tensor outputs(const torch::Tensor& hidden) override {
    torch::Tensor pooled;
    switch (pooling_) {
      case Pooling::kMean: pooled = hidden.mean(1); break;
      case Pooling::kMax: pooled = std::get<0>(hidden.max(1)); break;
      case Pooling::kLast: pooled = hidden.select(1, hidden.size(1) - 1); break;
      case Pooling::kFirst: pooled = hidden.select(1, 0); break;
    }
    return out(at::tanh(dense(pooled)));  // K-BERT's head has no dropout
  }
  Linear dense{nullptr};

 private:
  Pooling pooling_;
};

// Hugging Face: tanh(pooler.dense([CLS])), dropout, classifier.
class HfHeadImpl : public HeadImpl {
 public:
  explicit HfHeadImpl(const HeadShape& s) : dropout_(s.dropout) {
    dense = register_module("dense", Linear(s.hidden, s.hidden));
    out = register_module("out", Linear(s.hidden, s.labels));
  }
  torch::Tensor outputs(const torch::Tensor& hidden) override {
    torch::Tensor h = at::tanh(dense(hidden.select(1, 0)));
    return out(torch::dropout(h, dropout_, is_training()));
  }
  Linear dense{nullptr};

 private:
  double dropout_;
};

// Token classification (K-BERT's BertTagger): a linear layer over every position, no
// dropout, no CRF.
class TaggerHeadImpl : public HeadImpl {
 public:
  explicit TaggerHeadImpl(const HeadShape& s) { out = register_module("out", Linear(s.hidden, s.labels)); }
  torch::Tensor outputs(const torch::Tensor& hidden) override { return out(hidden); }
};

}  // namespace

NetworkImpl::NetworkImpl(const BertConfig& c, const HeadKind& head_kind, Pooling pooling, std::int64_t labels,
                         std::int64_t lexical_buckets) {
  bert = register_module("bert", Bert(c));
  if (head_kind == HeadKind::kNone) return;
  const HeadType& type = kbert::head_type(head_kind);
  if (lexical_buckets > 0 && !type.lexical)
    throw std::invalid_argument("head " + type.name + " takes no lexical side channel");
  head = register_module("head", Head(type.make(HeadShape{c.hidden_size, labels, c.dropout, pooling})));
  head_type = &type;
  if (lexical_buckets > 0) head->add_lexical(lexical_buckets, labels);
}

namespace {

std::vector<HeadType> builtin_types() {
  HeadType kbert;
  kbert.name = HeadKind::kKbert.name();
  kbert.fingerprint_id = 1;
  kbert.pooled = kbert.lexical = true;
  kbert.make = [](const HeadShape& s) { return std::make_shared<KbertHeadImpl>(s); };
  kbert.file_names = [](bool) {
    return std::vector<std::pair<std::string, std::string>>{{"dense", "output_layer_1"}, {"out", "output_layer_2"}};
  };
  HeadType hf;
  hf.name = HeadKind::kHf.name();
  hf.fingerprint_id = 2;
  hf.lexical = true;
  hf.make = [](const HeadShape& s) { return std::make_shared<HfHeadImpl>(s); };
  hf.file_names = [](bool) {
    return std::vector<std::pair<std::string, std::string>>{{"dense", "pooler.dense"}, {"out", "classifier"}};
  };
  HeadType tagger;
  tagger.name = HeadKind::kTagger.name();
  tagger.fingerprint_id = 3;
  tagger.make = [](const HeadShape& s) { return std::make_shared<TaggerHeadImpl>(s); };
  tagger.file_names = [](bool uer) {
    return std::vector<std::pair<std::string, std::string>>{{"out", uer ? "output_layer" : "classifier"}};
  };
  return {kbert, hf, tagger};
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, HeadType> types;
  Registry() {
    for (auto& t : builtin_types()) types.emplace(t.name, std::move(t));
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

}  // namespace kbert::nn

namespace kbert {

const HeadType& head_type(const HeadKind& kind) {
  auto& r = nn::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto it = r.types.find(kind.name());
  if (it != r.types.end()) return it->second;  // entries are never removed: the reference stays valid
  std::string known;
  for (const auto& [name, t] : r.types) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown head \"" + kind.name() + "\" (this program knows " + known + " and none)");
}

HeadRegistration::HeadRegistration(HeadType type) {
  if (type.name.empty() || type.name == "none" || !type.make || !type.file_names)
    throw std::logic_error("kbert: a head kind needs a name (not \"none\"), make and file_names");
  auto& r = nn::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const std::string name = type.name;
  if (!r.types.emplace(name, std::move(type)).second) throw std::logic_error("kbert: head \"" + name + "\" registered twice");
}

}  // namespace kbert
