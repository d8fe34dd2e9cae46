// The one training loop of kbert. Fine-tuning a classifier or a tagger and pre-training an
// encoder (MLM) are tasks it runs: each brings its examples, its loss and its evaluation; the
// loop owns the rest (optimizer groups, schedule, clipping, accumulation, length grouping,
// checkpoints and resume, early stopping, progress). Internal to the model library.
#pragma once

#include <cstdint>
#include <functional>
#include <iomanip>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kbert/train/trainer.hpp"
#include "model/model_impl.hpp"

namespace kbert {

struct TrainAccess {
  static Model::Impl& impl(Model& m) { return *m.impl_; }
  static const Model::Impl& impl(const Model& m) { return *m.impl_; }
};

// What a task brings to the shared fine-tuning loop.
struct Evaluation {
  double metric = 0;    // the dev metric (higher is better)
  std::string json;     // the report, for train_log.jsonl
  std::optional<ClassificationReport> classification;
  std::optional<EntityReport> entities;
};
// A batch's loss: its mean and the units it is a mean over (encoder/head.hpp).
using TaskLoss = HeadLoss;
struct TrainTask {
  std::size_t size = 0;                                          // training examples
  std::function<std::size_t(std::size_t)> length;                // an example's length, for length grouping
  std::function<TaskLoss(const std::vector<std::size_t>&, std::uint64_t)> loss;  // examples, the batch seed (dropout is seeded by the loop)
  std::function<Evaluation(const Model&, bool test)> evaluate;  // on dev (false) or test (true)
  nlohmann::json fingerprint = nlohmann::json::object();         // what a checkpoint must match to be resumed
  std::shared_ptr<torch::nn::Module> aux;                        // trained too, kept in the checkpoint only (MLM head)
  bool evaluate_first = false;  // also evaluate before the first epoch (epoch 0 may be the best: a fitted head alone)
  std::vector<std::string> notes;                                // reported when the run starts
};

// FNV-1a over strings, each followed by a separator byte: a fingerprint of a dataset.
struct Fnv {
  std::uint64_t h = 1469598103934665603ull;
  void add(const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
  }
  std::string hex() const {
    std::ostringstream os;
    os << std::hex << std::setw(16) << std::setfill('0') << h;
    return os.str();
  }
};

// Runs `task` on `model`: trains, evaluates on dev after each epoch when `has_dev` (keeping
// the best epoch's weights), on test at the end when `has_test`, and writes `out_dir`
// (model, checkpoint, train_log.jsonl) when it is not empty.
TrainResult run_training(Model& model, const TrainTask& task, bool has_dev, bool has_test, const TrainOptions& o,
                         const std::string& out_dir);

}  // namespace kbert
