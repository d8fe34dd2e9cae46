// Fitting a classifier's lexical side channel alone, before fine-tuning
// (TrainOptions::lexical_fit "first"). Internal to the model library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kbert/train/data.hpp"
#include "kbert/train/trainer.hpp"
#include "model/model_impl.hpp"

namespace kbert {

// A dataset's texts as Model::Impl::lexical_batch takes them (`b` empty without pairs).
struct LexicalTexts {
  std::vector<std::string> a, b;
};
LexicalTexts lexical_texts(const Dataset& d);

struct LexicalFit {
  double c = 0;                    // the L2 setting used
  std::vector<std::string> notes;  // what was fitted and chosen, for the run's report
};

// Sets the head's IDF weights from the training texts, fits the side channel as an
// L2-regularised logistic regression (full-batch L-BFGS; `class_weight` as the run's, may be
// undefined), C = o.lexical_c or the grid's best on dev, and starts the head from it: its
// lexical weights, the regression's bias in the output bias, output weights zero.
LexicalFit fit_lexical_first(Model::Impl& im, const LexicalTexts& train, const std::vector<std::int64_t>& targets,
                             const Dataset* dev, const std::vector<std::int64_t>& dev_targets,
                             const torch::Tensor& class_weight, const TrainOptions& o);

}  // namespace kbert
