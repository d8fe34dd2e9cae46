// A training checkpoint's files as the trainer reads them back, parsed without LibTorch so
// that they can be fuzzed: state.json (where the run is) and the header of
// optimizer.safetensors (AdamW's state, checked against the model's parameters before a
// byte of it is read). Every value is range-checked; errors are ParseErrors naming the file
// and the field or tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/checkpoint_formats.hpp"

namespace kbert::io {

/// The run's shape, against which a checkpoint's position is checked.
struct RunShape {
  std::size_t epochs = 1, batches = 1, steps_per_epoch = 1, accumulation = 1;
};

/// Where a run is, as state.json records it.
struct RunState {
  std::size_t epoch = 0, batch = 0, step = 0, best_epoch = 0, bad_epochs = 0;
  double best = -1, first_loss = 0;
  nlohmann::json log = nlohmann::json::array();
  nlohmann::json fingerprint;  ///< the settings the run was made with (compared by the trainer)
};

/// Parses state.json (`text`, read from `path`): epoch <= epochs, batch <= batches (0 at the
/// end), step = what epoch and batch imply, best_epoch and bad_epochs <= epoch, best in
/// [-1, 1], first_loss >= 0, log a list of objects (one per epoch at most), fingerprint an
/// object. Text over 64 MiB is refused before it is parsed.
RunState parse_run_state(const std::string& path, const std::string& text, const RunShape& shape);

/// Checks the header of optimizer.safetensors against the optimizer's parameters (`shapes`
/// [group][index]): only tensors "g.i.exp_avg" / "g.i.exp_avg_sq" (F32, the parameter's
/// shape) and "g.i.step" (I64, one element), all three or none per parameter.
void check_optimizer_entries(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                             const std::vector<std::vector<std::vector<std::int64_t>>>& shapes);

}  // namespace kbert::io
