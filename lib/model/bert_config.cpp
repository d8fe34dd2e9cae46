#include "kbert/model/config.hpp"

#include <filesystem>
#include <fstream>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"

namespace kbert {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "cannot open (not a regular file)");
  if (std::filesystem::file_size(path, ec) > (16u << 20)) throw ParseError(path, 1, "over 16 MiB: not a model configuration");
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
  // Strict types: 32.5 is not a size, "12" is not a number, true is not a string.
  const nlohmann::json& v = j[key];
  bool ok;
  if constexpr (std::is_same_v<T, std::int64_t>) ok = v.is_number_integer();
  else if constexpr (std::is_same_v<T, double>) ok = v.is_number();
  else ok = v.is_string();
  if (!ok) {
    std::string text = v.dump();
    if (text.size() > 80) text = text.substr(0, 77) + "...";
    throw ParseError(path, 1, std::string("\"") + key + "\" has the wrong type: " + text);
  }
  return v.get<T>();
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
  const std::string ln = field<std::string>(j, "kbert_layer_norm", path, "hf");
  if (ln != "hf" && ln != "uer") throw ParseError(path, 1, "kbert_layer_norm must be \"hf\" or \"uer\", got \"" + ln + "\"");
  if (ln == "uer") c.layer_norm = LayerNormKind::kUer;
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
  // Upper limits far above any BERT (BERT-large: 24 layers, hidden 1024), so that a damaged
  // or hostile configuration is refused before it is allocated.
  KBERT_CHECK(vocab_size > 0 && vocab_size <= 10'000'000, "vocab_size must be from 1 to 10000000, got ", vocab_size);
  KBERT_CHECK(hidden_size > 0 && hidden_size <= 16384, "hidden_size must be from 1 to 16384, got ", hidden_size);
  KBERT_CHECK(num_heads > 0 && hidden_size % num_heads == 0, "hidden_size (", hidden_size,
              ") must be a positive multiple of num_heads (", num_heads, ")");
  KBERT_CHECK(num_layers > 0 && num_layers <= 256, "num_layers must be from 1 to 256, got ", num_layers);
  KBERT_CHECK(intermediate_size > 0 && intermediate_size <= 65536, "intermediate_size must be from 1 to 65536, got ",
              intermediate_size);
  KBERT_CHECK(max_position > 0 && max_position <= 65536, "max_position must be from 1 to 65536, got ", max_position);
  KBERT_CHECK(type_vocab_size > 0 && type_vocab_size <= 1024, "type_vocab_size must be from 1 to 1024, got ",
              type_vocab_size);
  KBERT_CHECK(layer_norm_eps > 0 && layer_norm_eps < 1, "layer_norm_eps must be in (0, 1), got ", layer_norm_eps);
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
