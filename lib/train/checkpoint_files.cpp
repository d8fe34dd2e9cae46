#include "train/checkpoint_files.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "encoder/head.hpp"
#include "kbert/common/error.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert {

namespace fs = std::filesystem;

namespace {

// A head in a checkpoint's fingerprint: the built-ins as the numbers older checkpoints hold
// (0 none, 1 kbert, 2 hf, 3 tagger), so that they still resume; a registered head by name.
nlohmann::json head_fingerprint(const HeadKind& head) {
  if (head == HeadKind::kNone) return 0;
  const HeadType& type = head_type(head);
  return type.fingerprint_id >= 0 ? nlohmann::json(type.fingerprint_id) : nlohmann::json(type.name);
}

}  // namespace

nlohmann::json run_fingerprint(const Model::Impl& im, const TrainOptions& o) {
  const TreeOptions& t = im.builder->options();
  nlohmann::json j = {{"epochs", o.epochs},
                      {"batch_size", o.batch_size},
                      {"accumulation", o.accumulation},
                      {"learning_rate", o.learning_rate},
                      {"warmup", o.warmup},
                      {"weight_decay", o.weight_decay},
                      {"max_grad_norm", o.max_grad_norm},
                      {"seed", o.seed},
                      {"shuffle", o.shuffle},
                      {"group_by_length", o.group_by_length},
                      {"metric", o.metric},
                      {"precision", precision_name(o.precision)},
                      {"labels", im.spec.labels},
                      {"head", head_fingerprint(im.spec.head)},
                      {"pooling", static_cast<int>(im.spec.pooling)},
                      {"max_length", t.max_length},
                      {"max_entities", t.max_entities},
                      {"predicate", t.predicate},
                      {"truncation", truncation_name(t.truncation)},
                      {"kg", im.kg_sources},
                      {"use_visible_matrix", im.spec.use_visible_matrix},
                      {"use_soft_positions", im.spec.use_soft_positions},
                      {"lexical_buckets", im.spec.lexical_buckets},
                      {"lexical_learning_rate", o.lexical_learning_rate},
                      {"layers", im.config.num_layers},
                      {"hidden", im.config.hidden_size},
                      {"vocab", im.config.vocab_size}};
  // Multi-hop settings only when set, so that checkpoints written before them still resume.
  if (t.hops != 1) j["hops"] = t.hops;
  if (t.max_facts != 0) j["max_facts"] = t.max_facts;
  if (im.spec.lexical_knowledge) j["lexical_knowledge"] = true;
  if (im.spec.knowledge_gate) {
    j["knowledge_gate"] = true;
    j["gate_learning_rate"] = o.gate_learning_rate;
  }
  return j;
}

TensorList module_tensors(torch::nn::Module& m) {
  TensorList out;
  for (auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value().detach());
  return out;
}
void load_module(torch::nn::Module& m, const TensorList& tensors, const std::string& path) {
  torch::NoGradGuard no_grad;
  auto params = m.named_parameters(true);
  std::size_t found = 0;
  for (const auto& [name, t] : tensors) {
    torch::Tensor* p = params.find(name);
    if (!p || !p->sizes().equals(t.sizes())) throw ParseError(path, 0, "tensor '" + name + "' does not fit the head");
    p->copy_(t);
    ++found;
  }
  if (found != params.size()) throw ParseError(path, 0, "the head's tensors are incomplete");
}

void save_optimizer(torch::optim::AdamW& opt, const std::string& path) {
  TensorList out;
  auto& groups = opt.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto it = opt.state().find(c10::guts::to_string(params[i].unsafeGetTensorImpl()));
      if (it == opt.state().end()) continue;
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      const std::string k = std::to_string(g) + "." + std::to_string(i) + ".";
      out.emplace_back(k + "exp_avg", s.exp_avg().detach());
      out.emplace_back(k + "exp_avg_sq", s.exp_avg_sq().detach());
      out.emplace_back(k + "step", torch::tensor({static_cast<std::int64_t>(s.step())}, torch::kLong));
    }
  }
  write_safetensors(path, out);
}

void load_optimizer(torch::optim::AdamW& opt, const std::string& path, std::int64_t max_step) {
  {  // names, dtypes and shapes against the parameters, from the header, before the data is read
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(path, "cannot open");
    std::error_code ec;
    const std::uint64_t size = fs::file_size(path, ec);
    unsigned char len[8] = {0};
    if (ec || size < 8 || !in.read(reinterpret_cast<char*>(len), 8)) throw ParseError(path, 0, "too short for a safetensors file");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
    if (n > io::kMaxSafetensorsHeader || n > size - 8) throw ParseError(path, 0, "bad safetensors header size");
    std::string header(static_cast<std::size_t>(n), '\0');
    if (!in.read(header.data(), static_cast<std::streamsize>(n))) throw ParseError(path, 0, "truncated header");
    std::vector<std::vector<std::vector<std::int64_t>>> shapes;
    for (auto& g : opt.param_groups()) {
      shapes.emplace_back();
      for (const auto& p : g.params()) shapes.back().push_back(p.sizes().vec());
    }
    io::check_optimizer_entries(path, io::parse_safetensors_header(path, header, size - 8 - n), shapes);
  }
  // Names, dtypes, shapes and completeness are checked above; here the values.
  const TensorList tensors = read_safetensors(path);
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [name, t] : tensors) by_name[name] = t;
  auto& groups = opt.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string k = std::to_string(g) + "." + std::to_string(i) + ".";
      const auto m = by_name.find(k + "exp_avg");
      if (m == by_name.end()) continue;  // no state yet (check_optimizer_entries: all three or none)
      const at::Tensor& v = by_name.at(k + "exp_avg_sq");
      const at::Tensor& s = by_name.at(k + "step");
      for (const auto& [name, t] : {std::pair{k + "exp_avg", m->second}, std::pair{k + "exp_avg_sq", v}})
        if (!at::isfinite(t).all().item<bool>()) throw ParseError(path, 0, "tensor '" + name + "' holds NaN or infinite values");
      if ((v < 0).any().item<bool>()) throw ParseError(path, 0, "tensor '" + k + "exp_avg_sq' holds negative values");
      const std::int64_t step = s.item<std::int64_t>();
      if (step < 0 || step > max_step)
        throw ParseError(path, 0, "tensor '" + k + "step' is " + std::to_string(step) + ", outside 0 to " + std::to_string(max_step));
      auto state = std::make_unique<torch::optim::AdamWParamState>();
      state->step(step);
      state->exp_avg(m->second.clone());
      state->exp_avg_sq(v.clone());
      opt.state()[c10::guts::to_string(params[i].unsafeGetTensorImpl())] = std::move(state);
    }
  }
}

io::RunState read_state(const std::string& path, const nlohmann::json& fingerprint, const io::RunShape& shape) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw FileError(path, "cannot open");
  if (size > (std::uintmax_t{64} << 20)) throw ParseError(path, 1, "over 64 MiB: not a kbert checkpoint's state");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  io::RunState s = io::parse_run_state(path, text, shape);
  std::string diff;
  const nlohmann::json& had = s.fingerprint;
  for (auto it = fingerprint.begin(); it != fingerprint.end(); ++it) {
    const nlohmann::json before = had.contains(it.key()) ? had[it.key()] : nlohmann::json("(not recorded)");
    if (before != it.value()) {
      std::string a = before.dump(), b = it.value().dump();
      if (a.size() > 60) a = a.substr(0, 57) + "...";
      if (b.size() > 60) b = b.substr(0, 57) + "...";
      diff += (diff.empty() ? "" : "; ") + it.key() + " was " + a + ", now " + b;
    }
  }
  if (!diff.empty())
    throw std::invalid_argument("--resume: the checkpoint " + path + " was made with other data or settings (" + diff +
                                "); resume with the same ones, or train without --resume");
  return s;
}

}  // namespace kbert
