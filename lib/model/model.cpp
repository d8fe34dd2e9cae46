#include "kbert/model/model.hpp"
#include "kbert/index/vector_index.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <iostream>
#include <numeric>
#include <set>
#include <nlohmann/json.hpp>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/env.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/output_dir.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/text/lexical.hpp"
#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"
#include "kbert/train/ner.hpp"
#include "encoder/bert.hpp"
#include "encoder/checkpoint.hpp"
#include "encoder/packed_linear.hpp"
#include "model/model_impl.hpp"
#include "model/run_batches.hpp"
#include "model/model_spec.hpp"
#include "encoder/tensor_io.hpp"

namespace kbert {

namespace {

namespace fs = std::filesystem;

std::string basename(const std::string& p) { return fs::path(p).filename().string(); }

void make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw FileError(dir, "cannot create directory" + (ec ? ": " + ec.message() : ""));
}

void copy_file(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) throw FileError(from, "cannot open");
  write_file_atomically(to, [&](std::ostream& out) { out << in.rdbuf(); });
}

}  // namespace

void Model::Impl::setup_text() {
  TokenizerOptions t = spec.tokenizer;
  // A loaded directory's files are named by its kbert.json: they must lie inside it.
  if (!dir.empty()) {
    if (t.kind == "sentencepiece") {
      t.spm_model_path = model_file(dir, t.spm_model_path, "tokenizer.spm_model");
    } else {
      t.vocab_path = model_file(dir, t.vocab_path, "tokenizer.vocab");
    }
  }
  vocab_source = t.kind == "sentencepiece" ? t.spm_model_path : t.vocab_path;
  tokenizer = make_tokenizer(t);
  const Vocab* vocab = tokenizer->vocab();
  if (!vocab) throw std::invalid_argument("a model needs a tokenizer with a vocabulary");
  if (static_cast<std::int64_t>(vocab->size()) > config.vocab_size)
    throw ParseError(vocab_source, 0, "the vocabulary has " + std::to_string(vocab->size()) + " tokens but the model's " +
                                          "word embedding has " + std::to_string(config.vocab_size) + " rows");
  pad_id = vocab->find(kPadToken) >= 0 ? vocab->find(kPadToken) : 0;

  kg_sources.clear();
  if (run.kg) {
    if (*run.kg != "none") kg_sources.push_back(*run.kg);
  } else {
    for (const auto& f : spec.kg_files) kg_sources.push_back(dir.empty() ? f : model_file(dir, f, "kg"));
  }
  kg.reset();
  if (!kg_sources.empty()) {
    kg = std::make_unique<KnowledgeGraph>();
    kg->load(kg_sources);
  }
  TreeOptions tree = spec.tree;
  if (run.max_length) tree.max_length = *run.max_length;
  if (static_cast<std::int64_t>(tree.max_length) > config.max_position)
    throw std::invalid_argument("max_length " + std::to_string(tree.max_length) + " exceeds the model's " +
                                std::to_string(config.max_position) + " positions");
  max_length = tree.max_length;
  builder = std::make_unique<SentenceTreeBuilder>(kg.get(), tokenizer, tree);
}

AutocastScope::AutocastScope(Precision p) {
  if (p != Precision::kBFloat16) return;
  on_ = true;
  was_enabled_ = at::autocast::is_cpu_enabled();
  was_dtype_ = at::autocast::get_autocast_cpu_dtype();
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!on_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(was_enabled_);
  at::autocast::set_autocast_cpu_dtype(was_dtype_);
}

void check_bf16(Precision p) {
  static std::once_flag once;
  if (p == Precision::kBFloat16) nn::require_bf16_products();
  if (p == Precision::kBFloat16 && !cpu_has_native_bf16())
    std::call_once(once, [] {
      std::cerr << "kbert: bf16 asked for, but this CPU has neither AMX-BF16 nor AVX512-BF16: bfloat16 is emulated "
                   "and slower than fp32 here\n";
    });
}

void Model::Impl::settle_precision(Precision requested) {
  run.precision = resolve_precision(requested, cpu::info());
  if (requested != Precision::kAuto || run.precision == Precision::kFloat32) return;
  // auto chose a lower precision: one batch of random token ids (fixed seed) through both, and
  // the lower one only if its outputs stay close (logits with a plain head, else hidden states).
  const std::int64_t B = 4, L = std::min<std::int64_t>(64, static_cast<std::int64_t>(max_length));
  c10::InferenceMode guard;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(20261207);
  const torch::Tensor ids = at::randint(1, config.vocab_size, {B, L}, gen, torch::kLong);
  const torch::Tensor positions = torch::arange(L, torch::kLong).expand({B, L}).contiguous();
  const torch::Tensor segments = torch::zeros({B, L}, torch::kLong), mask = torch::zeros({1, 1, L, L});
  // A side channel adds the same term in both precisions: compared without it (no features).
  const std::array<torch::Tensor, 3> no_features = {torch::empty({0}, torch::kLong), torch::zeros({B}, torch::kLong),
                                                    torch::empty({0})};
  const bool logits = static_cast<bool>(net->head);
  auto outputs = [&](Precision p) {
    net->bert->set_precision(p);
    torch::Tensor h = net->bert->forward(ids, positions, segments, mask);
    if (!logits) return h.to(torch::kFloat);
    return (spec.lexical_buckets ? net->head->forward(h, &no_features) : net->head->forward(h)).to(torch::kFloat);
  };
  const torch::Tensor reference = outputs(Precision::kFloat32), low = outputs(run.precision);
  const double diff = (reference - low).abs().max().item<double>();
  constexpr double kTolerance = 0.1;
  const bool ok = diff <= kTolerance;
  std::cerr << "kbert: precision auto: " << precision_name(run.precision) << " (" << cpu::bf16_path(cpu::info())
            << "); one-batch check against fp32: max |" << (logits ? "logit" : "hidden state") << " difference| "
            << diff << (ok ? "" : " > 0.1: fp32 instead") << "\n";
  if (!ok) run.precision = Precision::kFloat32;
  net->bert->set_precision(run.precision);
}

Model::Model() : impl_(std::make_unique<Impl>()) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

namespace {
void set_threads(unsigned threads) {
  env::check_threads(threads);
  const unsigned n = threads ? threads : env::num_threads();
  if (static_cast<int>(n) != at::get_num_threads()) at::set_num_threads(static_cast<int>(n));
}
}  // namespace

Model Model::load(const std::string& dir, const RunOptions& options) {
  check_path(dir);
  set_threads(options.threads);
  check_bf16(options.precision);
  Model m;
  Impl& im = *m.impl_;
  im.dir = dir;
  im.run = options;
  im.spec = spec_from_json(model_file(dir, "kbert.json", "kbert.json"));
  im.config = BertConfig::from_hf_json(model_file(dir, "config.json", "config.json"));
  const std::string weights = model_file(dir, "model.safetensors", "model.safetensors");
  TensorList tensors = read_safetensors(weights);
  // Sizes in config.json are checked against the weights before the network is allocated.
  check_config_against(im.config, tensors, weights);
  im.setup_text();
  const std::int64_t labels = im.spec.head == HeadKind::kNone ? 0 : static_cast<std::int64_t>(im.spec.labels.size());
  if (im.spec.head != HeadKind::kNone && labels == 0) throw ParseError(dir + "/kbert.json", 1, "a head needs labels");
  {
    nn::SkipInit skip;
    try {  // an unknown head, or a side channel its kind does not take
      im.net = nn::Network(im.config, im.spec.head, im.spec.pooling, labels, static_cast<std::int64_t>(im.spec.lexical_buckets));
    } catch (const std::invalid_argument& e) {
      throw ParseError(dir + "/kbert.json", 1, std::string("bad kbert.json: ") + e.what());
    }
    im.net->bert->set_knowledge_gate(im.spec.knowledge_gate);
  }
  load_weights(im.net, tensors, weights);
  im.net->eval();
  im.settle_precision(options.precision);
  return m;
}

Model Model::create(const BertConfig& config, ModelSpec spec, const std::string& vocab_path, const RunOptions& options) {
  config.validate();
  KBERT_CHECK(!spec.lexical_knowledge || spec.lexical_buckets,
              "lexical knowledge needs a lexical side channel (lexical buckets > 0)");
  set_threads(options.threads);
  Model m;
  Impl& im = *m.impl_;
  im.config = config;
  im.spec = std::move(spec);
  im.run = options;
  if (im.spec.tokenizer.kind == "sentencepiece") {
    im.spec.tokenizer.spm_model_path = vocab_path;
  } else {
    im.spec.tokenizer.vocab_path = vocab_path;
  }
  im.setup_text();
  const std::int64_t labels = im.spec.head == HeadKind::kNone ? 0 : static_cast<std::int64_t>(im.spec.labels.size());
  KBERT_CHECK(im.spec.head == HeadKind::kNone || labels > 0, "a head needs at least one label");
  im.net = nn::Network(im.config, im.spec.head, im.spec.pooling, labels, static_cast<std::int64_t>(im.spec.lexical_buckets));
  im.net->bert->set_knowledge_gate(im.spec.knowledge_gate);
  im.net->eval();
  im.run.precision = resolve_precision(options.precision, cpu::info());  // untrained: nothing to check
  return m;
}

Model Model::create(const std::string& config_json, ModelSpec spec, const std::string& vocab_path,
                    const RunOptions& options) {
  std::ifstream probe(config_json);
  if (!probe) throw FileError(config_json, "cannot open");
  const nlohmann::json j = nlohmann::json::parse(probe, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw ParseError(config_json, 1, "not a JSON object");
  BertConfig config;
  if (j.contains("heads_num")) {  // UER's keys; the vocabulary size comes from the vocabulary
    TokenizerOptions t = spec.tokenizer;
    (t.kind == "sentencepiece" ? t.spm_model_path : t.vocab_path) = vocab_path;
    const auto tokenizer = make_tokenizer(t);
    const Vocab* vocab = tokenizer->vocab();
    if (!vocab) throw std::invalid_argument("a model needs a tokenizer with a vocabulary");
    config = BertConfig::from_uer_json(config_json, static_cast<std::int64_t>(vocab->size()));
  } else {
    config = BertConfig::from_hf_json(config_json);
  }
  return create(config, std::move(spec), vocab_path, options);
}

void Model::save(const std::string& dir) const {
  OutputDir out(dir);
  out.replace([&](const std::string& tmp) { impl_->write_files(tmp); });
}

void Model::Impl::write_files(const std::string& dir) const {
  const Impl& im = *this;
  make_dir(dir);
  ModelSpec spec = im.spec;
  const std::string vocab_name = spec.tokenizer.kind == "sentencepiece" ? "spm.model" : "vocab.txt";
  if (im.vocab_source != dir + "/" + vocab_name) copy_file(im.vocab_source, dir + "/" + vocab_name);
  if (spec.tokenizer.kind == "sentencepiece") {
    spec.tokenizer.spm_model_path = vocab_name;
    spec.tokenizer.vocab_path.clear();
  } else {
    spec.tokenizer.vocab_path = vocab_name;
  }
  spec.kg_files.clear();
  if (!im.kg_sources.empty()) make_dir(dir + "/kg");
  std::set<std::string> used;
  for (const auto& src : im.kg_sources) {
    std::string name = basename(src);
    for (int k = 2; !used.insert(name).second; ++k) name = std::to_string(k) + "-" + basename(src);
    const std::string rel = "kg/" + name;
    if (src != dir + "/" + rel) copy_file(src, dir + "/" + rel);
    spec.kg_files.push_back(rel);
  }
  im.config.save_hf_json(dir + "/config.json");
  write_safetensors(dir + "/model.safetensors", export_weights(im.net));
  const nlohmann::json j = spec_to_json(spec);
  write_file_atomically(dir + "/kbert.json", [&](std::ostream& out) { out << j.dump(2) << "\n"; });
}



void Model::set_ablation(bool use_visible_matrix, bool use_soft_positions) {
  impl_->spec.use_visible_matrix = use_visible_matrix;
  impl_->spec.use_soft_positions = use_soft_positions;
}

void Model::set_tree_options(const TreeOptions& tree) {
  Impl& im = *impl_;
  const TreeOptions before = im.spec.tree;
  const std::optional<std::size_t> run_max = im.run.max_length;
  im.spec.tree = tree;
  im.spec.tree.add_special = before.add_special;  // the head's [CLS] convention is the model's
  im.run.max_length.reset();
  try {
    im.setup_text();
  } catch (...) {
    im.spec.tree = before;
    im.run.max_length = run_max;
    im.setup_text();
    throw;
  }
}

void Model::reset_head(const HeadKind& head, Pooling pooling, std::vector<std::string> labels, std::size_t lexical_buckets,
                       bool lexical_knowledge) {
  Impl& im = *impl_;
  KBERT_CHECK(head == HeadKind::kNone || !labels.empty(), "a head needs at least one label");
  KBERT_CHECK(lexical_buckets == 0 || (head != HeadKind::kNone && head_type(head).lexical),
              "a lexical side channel is for sentence classifiers (kbert or hf heads), not head ", head.name());
  KBERT_CHECK(!lexical_knowledge || lexical_buckets, "lexical knowledge needs a lexical side channel (lexical buckets > 0)");
  nn::Network fresh(im.config, head, pooling, static_cast<std::int64_t>(labels.size()),
                    static_cast<std::int64_t>(lexical_buckets));
  fresh->bert->set_knowledge_gate(im.spec.knowledge_gate);
  {
    torch::NoGradGuard no_grad;
    auto from = im.net->bert->named_parameters(true);
    auto to = fresh->bert->named_parameters(true);
    for (auto& p : to) p.value().copy_(*from.find(p.key()));
  }
  im.net = fresh;
  im.net->eval();
  im.spec.head = head;
  im.spec.pooling = pooling;
  im.spec.labels = std::move(labels);
  im.spec.lexical_buckets = lexical_buckets;
  im.spec.lexical_knowledge = lexical_knowledge;
  im.spec.pad_to_max_length = head != HeadKind::kNone && head_type(head).pooled && pooling != Pooling::kFirst;
}

void Model::set_knowledge_gate(bool on) {
  Impl& im = *impl_;
  KBERT_CHECK(!on || im.spec.use_visible_matrix,
              "the knowledge gate needs the visible matrix (it gates what a mention sees of its branches)");
  im.net->bert->set_knowledge_gate(on);
  im.spec.knowledge_gate = on;
}


const BertConfig& Model::config() const { return impl_->config; }
const ModelSpec& Model::spec() const { return impl_->spec; }
const std::string& Model::directory() const { return impl_->dir; }
const RunOptions& Model::run_options() const { return impl_->run; }
const std::string& Model::fingerprint() const {
  std::call_once(impl_->fingerprint_once, [&] {
    if (!impl_->dir.empty()) impl_->fingerprint = model_fingerprint(impl_->dir);
  });
  return impl_->fingerprint;
}
const SentenceTreeBuilder& Model::builder() const { return *impl_->builder; }

std::size_t Model::parameter_bytes() const {
  std::size_t b = 0;
  for (const auto& p : impl_->net->parameters()) b += static_cast<std::size_t>(p.numel()) * sizeof(float);
  return b;
}

void set_random_seed(std::uint64_t seed) { torch::manual_seed(seed); }

double measure_gemm_gflops() {
  c10::InferenceMode guard;
  const std::int64_t n = 2048;
  torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  at::mm_out(c, a, b);  // warm-up
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    at::mm_out(c, a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * n * n * n / best / 1e9;
}

}  // namespace kbert
