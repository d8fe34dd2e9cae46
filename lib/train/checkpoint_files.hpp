// The files of a training checkpoint beside the model's own (Model::Impl::write_files):
// the optimizer's state and an auxiliary module's weights as safetensors (read back through
// the same bounded reader as the weights, never LibTorch's loader), and state.json (where
// the run stopped, refused when it was made under other settings). Internal to the loop.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

#include "encoder/tensor_io.hpp"
#include "io/run_state.hpp"
#include "kbert/train/trainer.hpp"
#include "model/model_impl.hpp"

namespace kbert {

/// The settings that decide the course of a run (the model's, the tree's, the options'): a
/// checkpoint resumes only under the same ones.
nlohmann::json run_fingerprint(const Model::Impl& im, const TrainOptions& o);

/// A module's parameters by name, and back (ParseError naming `path` when they do not fit).
TensorList module_tensors(torch::nn::Module& m);
void load_module(torch::nn::Module& m, const TensorList& tensors, const std::string& path);

/// AdamW's state: per parameter (group g, index i) "g.i.exp_avg", "g.i.exp_avg_sq" (float32,
/// the parameter's shape) and "g.i.step" (int64 [1]); a parameter without state yet has none.
void save_optimizer(torch::optim::AdamW& opt, const std::string& path);
/// Reads what save_optimizer wrote, every tensor checked against its parameter (shape, dtype,
/// finite, second moments >= 0, 0 <= step <= max_step) before it replaces the optimizer's.
void load_optimizer(torch::optim::AdamW& opt, const std::string& path, std::int64_t max_step);

/// state.json, range-checked (io::parse_run_state), refused naming each difference when its
/// fingerprint is not `fingerprint`.
io::RunState read_state(const std::string& path, const nlohmann::json& fingerprint, const io::RunShape& shape);

}  // namespace kbert
