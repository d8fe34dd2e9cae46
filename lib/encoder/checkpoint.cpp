#include "encoder/checkpoint.hpp"

#include <torch/torch.h>

#include <map>
#include <set>

#include "kbert/common/error.hpp"

namespace kbert {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// HF names as the table below spells them: no "bert." prefix, LayerNorm weight/bias.
std::string normalise_hf(std::string n) {
  if (starts_with(n, "bert.")) n = n.substr(5);
  if (n.find("LayerNorm") != std::string::npos) {
    if (ends_with(n, ".gamma")) n = n.substr(0, n.size() - 6) + ".weight";
    if (ends_with(n, ".beta")) n = n.substr(0, n.size() - 5) + ".bias";
  }
  return n;
}

bool ignorable(const std::string& normalised, CheckpointFormat f) {
  if (f == CheckpointFormat::kUer) return starts_with(normalised, "target.");
  return starts_with(normalised, "cls.") || normalised == "embeddings.position_ids";
}

// One parameter: its internal name and the file tensors (concatenated on dim 0) it comes from.
struct Slot {
  std::string internal;
  std::vector<std::string> external;
  bool optional = false;  // files written before it existed lack it: the parameter keeps its initial value
};

std::vector<Slot> table(const nn::NetworkImpl& net, CheckpointFormat f) {
  std::vector<Slot> t;
  const bool uer = f == CheckpointFormat::kUer;
  auto wb = [&](const std::string& in, const std::string& ex) {
    t.push_back({in + ".weight", {ex + ".weight"}});
    t.push_back({in + ".bias", {ex + ".bias"}});
  };
  if (uer) {
    t.push_back({"bert.embeddings.word_embeddings", {"embedding.word_embedding.weight"}});
    t.push_back({"bert.embeddings.position_embeddings", {"embedding.position_embedding.weight"}});
    t.push_back({"bert.embeddings.token_type_embeddings", {"embedding.segment_embedding.weight"}});
    t.push_back({"bert.embeddings.LayerNorm.weight", {"embedding.layer_norm.gamma"}});
    t.push_back({"bert.embeddings.LayerNorm.bias", {"embedding.layer_norm.beta"}});
  } else {
    t.push_back({"bert.embeddings.word_embeddings", {"embeddings.word_embeddings.weight"}});
    t.push_back({"bert.embeddings.position_embeddings", {"embeddings.position_embeddings.weight"}});
    t.push_back({"bert.embeddings.token_type_embeddings", {"embeddings.token_type_embeddings.weight"}});
    wb("bert.embeddings.LayerNorm", "embeddings.LayerNorm");
  }
  for (std::size_t i = 0; i < net.bert->layers.size(); ++i) {
    const std::string in = "bert.layer" + std::to_string(i) + ".";
    if (uer) {
      const std::string ex = "encoder.transformer." + std::to_string(i) + ".";
      const std::string a = ex + "self_attn.linear_layers.";
      t.push_back({in + "qkv.weight", {a + "0.weight", a + "1.weight", a + "2.weight"}});
      t.push_back({in + "qkv.bias", {a + "0.bias", a + "1.bias", a + "2.bias"}});
      wb(in + "attention_output", ex + "self_attn.final_linear");
      t.push_back({in + "attention_norm.weight", {ex + "layer_norm_1.gamma"}});
      t.push_back({in + "attention_norm.bias", {ex + "layer_norm_1.beta"}});
      wb(in + "intermediate", ex + "feed_forward.linear_1");
      wb(in + "output", ex + "feed_forward.linear_2");
      t.push_back({in + "output_norm.weight", {ex + "layer_norm_2.gamma"}});
      t.push_back({in + "output_norm.bias", {ex + "layer_norm_2.beta"}});
    } else {
      const std::string ex = "encoder.layer." + std::to_string(i) + ".";
      const std::string a = ex + "attention.self.";
      t.push_back({in + "qkv.weight", {a + "query.weight", a + "key.weight", a + "value.weight"}});
      t.push_back({in + "qkv.bias", {a + "query.bias", a + "key.bias", a + "value.bias"}});
      wb(in + "attention_output", ex + "attention.output.dense");
      wb(in + "attention_norm", ex + "attention.output.LayerNorm");
      wb(in + "intermediate", ex + "intermediate.dense");
      wb(in + "output", ex + "output.dense");
      wb(in + "output_norm", ex + "output.LayerNorm");
    }
  }
  if (net.bert->gate) {  // kbert's own: the knowledge gate
    t.push_back({"bert.gate.weight", {"knowledge_gate.weight"}});
    t.push_back({"bert.gate.bias", {"knowledge_gate.bias"}});
  }
  if (net.head) {
    for (const auto& [internal, external] : net.head_type->file_names(uer)) wb("head." + internal, external);
    if (net.head->lexical.defined()) {  // kbert's own
      t.push_back({"head.lexical", {"lexical.weight"}});
      t.push_back({"head.lexical_idf", {"lexical.idf"}, true});  // kbert before 2026-12 wrote none: all 1
    }
  }
  return t;
}

}  // namespace

void check_config_against(const BertConfig& c, const TensorList& tensors, const std::string& path) {
  // Every encoder parameter comes from the file, so a configuration that describes far more
  // values than the file holds does not belong to it, and is not allocated. (Within twice
  // the file's size, load_weights names each missing or mis-shaped tensor instead.)
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double need = (static_cast<double>(c.vocab_size + c.max_position + c.type_vocab_size) + 2) * H +
                      static_cast<double>(c.num_layers) * (4 * H * H + 2 * H * I + 9 * H + I);
  double have = 0;
  for (const auto& [name, t] : tensors) have += static_cast<double>(t.numel());
  if (need > 2 * have + (1 << 20))
    throw ParseError(path, 0, "config.json describes an encoder of " + std::to_string(static_cast<long long>(need)) +
                                  " values but this file holds " + std::to_string(static_cast<long long>(have)) +
                                  ": the configuration does not belong to these weights");
}

CheckpointFormat detect_format(const TensorList& tensors) {
  for (const auto& [name, t] : tensors)
    if (starts_with(name, "embedding.") || starts_with(name, "encoder.transformer.")) return CheckpointFormat::kUer;
  return CheckpointFormat::kHuggingFace;
}

HeadInFile find_head(const TensorList& tensors, CheckpointFormat f) {
  HeadInFile h;
  for (const auto& [name0, t] : tensors) {
    const std::string name = f == CheckpointFormat::kHuggingFace ? normalise_hf(name0) : name0;
    if (name == "output_layer_2.weight" && t.dim() == 2) h.kind = HeadKind::kKbert, h.labels = t.size(0);
    if (name == "output_layer.weight" && t.dim() == 2 && h.kind == HeadKind::kNone) h.kind = HeadKind::kTagger, h.labels = t.size(0);
    if (name == "classifier.weight" && t.dim() == 2 && h.kind == HeadKind::kNone) h.kind = HeadKind::kHf, h.labels = t.size(0);
    if (name == "pooler.dense.weight") h.has_pooler = true;
  }
  return h;
}

void load_weights(nn::Network& net, const TensorList& tensors, const std::string& path, bool allow_missing_head) {
  const CheckpointFormat f = detect_format(tensors);
  std::map<std::string, std::pair<std::string, at::Tensor>> file;  // normalised -> (name in file, tensor)
  for (const auto& [name, t] : tensors) {
    const std::string n = f == CheckpointFormat::kHuggingFace ? normalise_hf(name) : name;
    file[n] = {name, t};
  }
  auto params = net->named_parameters(/*recurse=*/true);
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (const Slot& s : table(*net, f)) {
    std::vector<at::Tensor> parts;
    bool complete = true;
    for (const auto& ex : s.external) {
      auto it = file.find(ex);
      if (it == file.end()) {
        const bool head = starts_with(s.internal, "head.");
        if (!(allow_missing_head && head) && !s.optional) missing.push_back(ex);
        complete = false;
        continue;
      }
      used.insert(ex);
      parts.push_back(it->second.second);
    }
    if (!complete) continue;
    at::Tensor value = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
    torch::Tensor* p = params.find(s.internal);
    if (!p) throw std::logic_error("kbert: no parameter " + s.internal);
    if (value.is_floating_point() && !at::isfinite(value).all().item<bool>())
      throw ParseError(path, 0, "tensor '" + file[s.external[0]].first + "' holds NaN or infinite values: the weights are damaged");
    if (!value.sizes().equals(p->sizes())) {
      std::ostringstream os;
      os << file[s.external[0]].first << (s.external.size() > 1 ? " (+q/k/v)" : "") << " has shape " << value.sizes()
         << ", the model needs " << p->sizes();
      mismatched.push_back(os.str());
      continue;
    }
    // Take the loaded tensor's storage when it is the tensor's alone: no second copy of
    // the weights in memory (the parameter's own, untouched buffer is released).
    if (value.is_contiguous() && value.scalar_type() == p->scalar_type() &&
        value.storage().nbytes() == static_cast<std::size_t>(value.numel()) * value.element_size() &&
        value.storage_offset() == 0) {
      p->set_data(value);
    } else {
      p->copy_(value);
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [n, named] : file)
    if (!used.count(n) && !ignorable(n, f)) unexpected.push_back(named.first);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream os;
    os << "checkpoint does not fit the model (" << (f == CheckpointFormat::kUer ? "UER/K-BERT" : "Hugging Face") << " names)";
    auto list = [&](const char* what, const std::vector<std::string>& xs) {
      if (xs.empty()) return;
      os << "; " << xs.size() << " " << what << ":";
      for (std::size_t i = 0; i < xs.size(); ++i) os << (i ? ", " : " ") << xs[i];
    };
    list("missing", missing);
    list("unexpected", unexpected);
    list("with the wrong shape", mismatched);
    throw ParseError(path, 0, os.str());
  }
}

TensorList export_weights(nn::Network& net) {
  auto params = net->named_parameters(true);
  TensorList out;
  torch::NoGradGuard no_grad;
  for (const Slot& s : table(*net, CheckpointFormat::kHuggingFace)) {
    const torch::Tensor* p = params.find(s.internal);
    if (!p) continue;
    auto prefix = [](const std::string& ex) {
      const bool head = starts_with(ex, "classifier") || starts_with(ex, "output_layer_") || starts_with(ex, "lexical.");
      return head ? ex : "bert." + ex;
    };
    if (s.external.size() == 1) {
      out.emplace_back(prefix(s.external[0]), p->detach().contiguous());
    } else {
      auto chunks = p->detach().chunk(static_cast<std::int64_t>(s.external.size()), 0);
      for (std::size_t k = 0; k < chunks.size(); ++k) out.emplace_back(prefix(s.external[k]), chunks[k].contiguous());
    }
  }
  return out;
}

}  // namespace kbert
