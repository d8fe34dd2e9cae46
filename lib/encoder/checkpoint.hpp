// Checkpoint names <-> kbert's parameter names, and strict loading.
//
// Hugging Face: [bert.]embeddings.*, [bert.]encoder.layer.N.*, [bert.]pooler.dense,
// classifier, old gamma/beta names; K-BERT / UER: embedding.*, encoder.transformer.N.*,
// output_layer_1/2, and the NER tagger's output_layer (docs/KBERT_SPEC.md sections 5 and 8).
// Q, K and V are fused into one tensor.
#pragma once

#include <string>
#include <vector>

#include "kbert/model/model.hpp"
#include "encoder/head.hpp"
#include "encoder/tensor_io.hpp"

namespace kbert {

enum class CheckpointFormat { kHuggingFace, kUer };

/// Refuses (ParseError naming `path`) a configuration that describes more encoder values
/// than `tensors` hold: checked before the network is allocated.
void check_config_against(const BertConfig& config, const TensorList& tensors, const std::string& path);

/// UER when any name is UER-style (embedding.*, encoder.transformer.*), else HF.
CheckpointFormat detect_format(const TensorList& tensors);

/// What the file says about the head: K-BERT's output_layer_2 or HF's classifier rows.
struct HeadInFile {
  HeadKind kind = HeadKind::kNone;
  std::int64_t labels = 0;
  bool has_pooler = false;
};
HeadInFile find_head(const TensorList& tensors, CheckpointFormat format);

/// Copies the tensors into the network's parameters. Strict: every missing, unexpected
/// (pre-training heads and position_ids excepted) and shape-mismatched tensor is listed by
/// its name in the file, and ParseError names `path`. `allow_missing_head` lets a new
/// head start from its random initialisation.
void load_weights(nn::Network& net, const TensorList& tensors, const std::string& path, bool allow_missing_head = false);

/// The network's parameters under Hugging Face names (bert.*, classifier) or, for the
/// K-BERT head, output_layer_1/2.
TensorList export_weights(nn::Network& net);

}  // namespace kbert
