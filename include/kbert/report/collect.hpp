// The data of an HTML report (kbert/report/report.hpp) from a classifier run on labelled
// texts: predictions and per-fact attributions (Model::explain), metrics, a baseline model's
// predictions, and each text's most similar indexed texts. Part of kbert::model.
#pragma once

#include <cstddef>
#include <string>

#include "kbert/index/vector_index.hpp"
#include "kbert/model/model.hpp"
#include "kbert/report/report.hpp"
#include "kbert/train/data.hpp"

namespace kbert::report {

struct CollectOptions {
  const Model* baseline = nullptr;     ///< a second model on the same data (e.g. without knowledge)
  const VectorIndex* index = nullptr;  ///< past texts to retrieve (built with `model`)
  std::size_t similar = 3;             ///< neighbours per text
};

/// Throws std::invalid_argument when the data holds a label the model does not know, or the
/// index was not built with the model.
Data collect(const Model& model, const Dataset& data, const CollectOptions& options = {});

}  // namespace kbert::report
