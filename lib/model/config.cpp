#include "kbert/model/config.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"

namespace kbert {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FileError(path, "cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 1, std::string("invalid JSON: ") + e.what());
  }
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& path, T fallback, bool required = false) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw ParseError(path, 1, std::string("missing \"") + key + "\"");
    return fallback;
  }
  try {
    return j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ParseError(path, 1, std::string("\"") + key + "\" has the wrong type: " + j[key].dump());
  }
}

}  // namespace

BertConfig BertConfig::from_hf_json(const std::string& path) {
  const nlohmann::json j = read_json(path);
  BertConfig c;
  c.vocab_size = field<std::int64_t>(j, "vocab_size", path, 0, true);
  c.hidden_size = field<std::int64_t>(j, "hidden_size", path, 768);
  c.num_layers = field<std::int64_t>(j, "num_hidden_layers", path, 12);
  c.num_heads = field<std::int64_t>(j, "num_attention_heads", path, 12);
  c.intermediate_size = field<std::int64_t>(j, "intermediate_size", path, 3072);
  c.max_position = field<std::int64_t>(j, "max_position_embeddings", path, 512);
  c.type_vocab_size = field<std::int64_t>(j, "type_vocab_size", path, 2);
  c.layer_norm_eps = field<double>(j, "layer_norm_eps", path, 1e-12);
  c.dropout = field<double>(j, "hidden_dropout_prob", path, 0.1);
  c.attention_dropout = field<double>(j, "attention_probs_dropout_prob", path, 0.1);
  const std::string act = field<std::string>(j, "hidden_act", path, "gelu");
  if (act != "gelu") throw ParseError(path, 1, "hidden_act \"" + act + "\" is not supported (only \"gelu\", the exact erf form)");
  const std::string pe = field<std::string>(j, "position_embedding_type", path, "absolute");
  if (pe != "absolute") throw ParseError(path, 1, "position_embedding_type \"" + pe + "\" is not supported");
  if (field<std::string>(j, "kbert_layer_norm", path, "hf") == "uer") c.layer_norm = LayerNormKind::kUer;
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw ParseError(path, 1, e.what());
  }
  return c;
}

BertConfig BertConfig::from_uer_json(const std::string& path, std::int64_t vocab_size) {
  const nlohmann::json j = read_json(path);
  BertConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = field<std::int64_t>(j, "hidden_size", path, 768, true);
  const auto emb = field<std::int64_t>(j, "emb_size", path, c.hidden_size);
  if (emb != c.hidden_size)
    throw ParseError(path, 1, "emb_size " + std::to_string(emb) + " differs from hidden_size " + std::to_string(c.hidden_size) +
                                  " (BERT needs them equal)");
  c.num_layers = field<std::int64_t>(j, "layers_num", path, 12, true);
  c.num_heads = field<std::int64_t>(j, "heads_num", path, 12, true);
  c.intermediate_size = field<std::int64_t>(j, "feedforward_size", path, 3072, true);
  c.dropout = c.attention_dropout = field<double>(j, "dropout", path, 0.1);
  c.max_position = 512;
  c.type_vocab_size = 3;
  c.layer_norm = LayerNormKind::kUer;
  c.layer_norm_eps = 1e-6;
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw ParseError(path, 1, e.what());
  }
  return c;
}

void BertConfig::validate() const {
  KBERT_CHECK(vocab_size > 0, "vocab_size must be positive, got ", vocab_size);
  KBERT_CHECK(hidden_size > 0 && num_heads > 0 && hidden_size % num_heads == 0, "hidden_size (", hidden_size,
              ") must be a positive multiple of num_heads (", num_heads, ")");
  KBERT_CHECK(num_layers > 0, "num_layers must be positive, got ", num_layers);
  KBERT_CHECK(intermediate_size > 0, "intermediate_size must be positive, got ", intermediate_size);
  KBERT_CHECK(max_position > 0, "max_position must be positive, got ", max_position);
  KBERT_CHECK(type_vocab_size > 0, "type_vocab_size must be positive, got ", type_vocab_size);
  KBERT_CHECK(layer_norm_eps > 0, "layer_norm_eps must be positive, got ", layer_norm_eps);
  KBERT_CHECK(dropout >= 0 && dropout < 1 && attention_dropout >= 0 && attention_dropout < 1,
              "dropout must be in [0, 1)");
}

void BertConfig::save_hf_json(const std::string& path) const {
  nlohmann::json j = {{"architectures", {"BertModel"}},
                      {"model_type", "bert"},
                      {"vocab_size", vocab_size},
                      {"hidden_size", hidden_size},
                      {"num_hidden_layers", num_layers},
                      {"num_attention_heads", num_heads},
                      {"intermediate_size", intermediate_size},
                      {"max_position_embeddings", max_position},
                      {"type_vocab_size", type_vocab_size},
                      {"layer_norm_eps", layer_norm_eps},
                      {"hidden_dropout_prob", dropout},
                      {"attention_probs_dropout_prob", attention_dropout},
                      {"hidden_act", "gelu"},
                      {"position_embedding_type", "absolute"},
                      {"kbert_layer_norm", layer_norm == LayerNormKind::kUer ? "uer" : "hf"}};
  write_file_atomically(path, [&](std::ostream& out) { out << j.dump(2) << "\n"; });
}

}  // namespace kbert
