// BERT encoder configuration, read from Hugging Face config.json or a UER /
// K-BERT config (docs/KBERT_SPEC.md section 5). No LibTorch here.
//
//   auto c = kbert::BertConfig::from_hf_json("bert-base-chinese/config.json");
//   auto u = kbert::BertConfig::from_uer_json("google_config.json", /*vocab_size=*/21128);
#pragma once

#include <cstdint>
#include <string>

namespace kbert {

enum class LayerNormKind {
  kHuggingFace,  ///< (x - mean) / sqrt(biased var + eps), eps 1e-12
  kUer,          ///< gamma * (x - mean) / (unbiased std + eps) + beta, eps 1e-6 (UER / K-BERT)
};

struct BertConfig {
  std::int64_t vocab_size = 0;            ///< rows of the word embedding
  std::int64_t hidden_size = 768;
  std::int64_t num_layers = 12;
  std::int64_t num_heads = 12;
  std::int64_t intermediate_size = 3072;  ///< feed-forward width
  std::int64_t max_position = 512;        ///< rows of the position embedding
  std::int64_t type_vocab_size = 2;       ///< rows of the segment embedding (UER: 3)
  LayerNormKind layer_norm = LayerNormKind::kHuggingFace;
  double layer_norm_eps = 1e-12;
  double dropout = 0.1;                   ///< hidden dropout (training only)
  double attention_dropout = 0.1;         ///< attention-probability dropout (training only)

  /// Reads HF config.json (hidden_act must be "gelu"). Throws FileError / ParseError.
  static BertConfig from_hf_json(const std::string& path);
  /// Reads a UER config ({"emb_size", "feedforward_size", "hidden_size", "heads_num",
  /// "layers_num", "dropout"}); UER models have 512 positions, 3 segments, UER LayerNorm.
  static BertConfig from_uer_json(const std::string& path, std::int64_t vocab_size);
  /// Writes HF config.json (plus "kbert_layer_norm" when it is UER's), atomically.
  void save_hf_json(const std::string& path) const;
  /// Throws std::invalid_argument naming the first inconsistent field.
  void validate() const;
};

}  // namespace kbert
