// Task heads: what sits on the encoder's last hidden states, and the registry of their kinds.
//
// A head kind is one HeadType: its kbert.json name, how its module is made, what its
// parameters are called in checkpoint files, and (for heads that are not classifiers over
// the model's labels) its own loss and evaluation. The built-in heads (kbert, hf, tagger)
// are registered in heads.cpp. A new head is one file: its module (a HeadImpl) and a
// HeadRegistration with its HeadType, compiled into the program (lib/encoder or the
// caller's own sources); tests/model/test_heads.cpp adds a regression head that way.
// Internal to kbert::model (LibTorch).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "encoder/bert.hpp"
#include "kbert/model/model.hpp"

namespace kbert {
struct Example;
struct Dataset;
struct HeadType;
}  // namespace kbert

namespace kbert::nn {

/// What a head is made from.
struct HeadShape {
  std::int64_t hidden = 0;  ///< the encoder's width
  std::int64_t labels = 0;  ///< outputs per text (or per token): the model's labels
  double dropout = 0;       ///< the encoder's hidden dropout
  Pooling pooling = Pooling::kFirst;
};

/// A task head over hidden states [B, L, H]. Every head ends in a Linear named "out" (the
/// lexical side channel's first fit starts the model with it at zero); a sentence head may
/// carry the lexical side channel, which adds a linear model of each text's hashed words.
class HeadImpl : public torch::nn::Module {
 public:
  /// hidden [B, L, H] -> [B, labels] (sentence heads) or [B, L, labels] (token heads).
  virtual torch::Tensor outputs(const torch::Tensor& hidden) = 0;
  /// outputs() plus, with a side channel, its scores of each text's features (`lexical`:
  /// index, offsets, weights in embedding_bag form).
  torch::Tensor forward(const torch::Tensor& hidden, const std::array<torch::Tensor, 3>* lexical = nullptr);
  /// Adds the lexical side channel: `buckets` hashed slots x the head's outputs.
  void add_lexical(std::int64_t buckets, std::int64_t labels);

  Linear out{nullptr};
  torch::Tensor lexical;      ///< [buckets, labels]; undefined without a side channel
  torch::Tensor lexical_idf;  ///< [buckets]: each slot's IDF weight (1 until a fit sets it; no gradient)
};
TORCH_MODULE(Head);

/// The whole network: encoder and (optionally) a head; its parameter names are the
/// internal names encoder/checkpoint.cpp maps to and from.
class NetworkImpl : public torch::nn::Module {
 public:
  /// A head of kind `head` (none: an encoder alone) with `labels` outputs and, when
  /// `lexical_buckets` > 0, the lexical side channel (a kind that allows it).
  NetworkImpl(const BertConfig& c, const HeadKind& head, Pooling pooling, std::int64_t labels,
              std::int64_t lexical_buckets = 0);
  Bert bert{nullptr};
  Head head{nullptr};                  ///< null for HeadKind::kNone
  const HeadType* head_type = nullptr; ///< the head's kind (registered: never freed); null without a head
};
TORCH_MODULE(Network);

}  // namespace kbert::nn

namespace kbert {

/// A batch's loss: the mean over `units` (examples, labelled tokens, masked tokens, or the
/// sum of class weights): ranks sharing a batch weigh their means by their units. What a
/// head's own loss returns, and what the training loop's tasks return (TaskLoss).
struct HeadLoss {
  torch::Tensor mean;
  double units = 0;
};

/// One kind of head.
struct HeadType {
  std::string name;             ///< kbert.json "head"
  int fingerprint_id = -1;      ///< built-ins: their number in older checkpoints' state (resume)
  bool pooled = false;          ///< pools over every position: mean/max/last pooling pads batches to max_length
  bool lexical = false;         ///< may carry the lexical side channel
  std::function<std::shared_ptr<nn::HeadImpl>(const nn::HeadShape&)> make;
  /// Its parameters (internal names below "head.", without ".weight"/".bias") and their names
  /// in UER (`uer`) or Hugging Face files; kbert writes Hugging Face names.
  std::function<std::vector<std::pair<std::string, std::string>>(bool uer)> file_names;
  /// A head that is not a classifier over the model's labels brings its own loss (outputs
  /// [B, labels] in float32 and the batch's examples) and evaluation (`metric`, higher is
  /// better, and its report as JSON); without them, training is cross-entropy over the labels
  /// and evaluation a ClassificationReport.
  std::function<HeadLoss(const torch::Tensor& outputs, const std::vector<const Example*>& batch, const std::string& path)> loss;
  std::function<std::pair<double, std::string>(const Model& model, const Dataset& data)> evaluate;
};

/// The registered kind named `kind`; std::invalid_argument naming the known ones otherwise.
const HeadType& head_type(const HeadKind& kind);

/// Registers a head kind while the program starts (a static HeadRegistration in the head's
/// own file); a second kind of the same name is a std::logic_error.
struct HeadRegistration {
  explicit HeadRegistration(HeadType type);
};

}  // namespace kbert
