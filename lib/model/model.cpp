#include "kbert/model/model.hpp"
#include "kbert/index/vector_index.hpp"

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

Batch Model::Impl::make_batch(const std::vector<SentenceTree>& trees, const std::vector<std::size_t>& order,
                              std::size_t begin, std::size_t end) const {
  Batch b;
  const auto B = static_cast<std::int64_t>(end - begin);
  std::int64_t L = 1;
  for (std::size_t k = begin; k < end; ++k) L = std::max<std::int64_t>(L, static_cast<std::int64_t>(trees[order[k]].size()));
  if (spec.pad_to_max_length) L = static_cast<std::int64_t>(max_length);
  b.L = L;
  b.ids = torch::full({B, L}, pad_id, torch::kLong);
  b.positions = torch::full({B, L}, L - 1, torch::kLong);  // K-BERT gives pads position max_length - 1
  b.segments = torch::zeros({B, L}, torch::kLong);
  b.mask = torch::full({B, 1, L, L}, -10000.0f, torch::kFloat);
  auto* ids = b.ids.data_ptr<std::int64_t>();
  auto* pos = b.positions.data_ptr<std::int64_t>();
  auto* seg = b.segments.data_ptr<std::int64_t>();
  float* mask = b.mask.data_ptr<float>();
  for (std::int64_t r = 0; r < B; ++r) {
    const SentenceTree& t = trees[order[begin + static_cast<std::size_t>(r)]];
    const auto n = static_cast<std::int64_t>(t.size());
    b.lengths.push_back(n);
    const auto& segs = spec.segments == SegmentConvention::kUer ? t.uer_segments : t.hf_segments;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t id = t.ids[static_cast<std::size_t>(i)];
      if (id < 0 || id >= config.vocab_size)
        throw std::out_of_range("token id " + std::to_string(id) + " outside the embedding of " + std::to_string(config.vocab_size));
      ids[r * L + i] = id;
      pos[r * L + i] = spec.use_soft_positions ? t.positions[static_cast<std::size_t>(i)] : i;
      seg[r * L + i] = std::min<std::int64_t>(segs[static_cast<std::size_t>(i)], config.type_vocab_size - 1);
      float* row = mask + (r * L + i) * L;
      const std::uint8_t* vis = t.visible.data() + i * n;
      if (spec.use_visible_matrix) {
        for (std::int64_t j = 0; j < n; ++j) row[j] = vis[j] ? 0.0f : -10000.0f;
      } else {
        for (std::int64_t j = 0; j < n; ++j) row[j] = 0.0f;
      }
    }
  }
  if (net && net->bert->gate) {
    std::vector<SentenceTree const*> rows;
    for (std::size_t k = begin; k < end; ++k) rows.push_back(&trees[order[k]]);
    b.gate = gate_input(rows);
  }
  return b;
}

nn::GateInput Model::Impl::gate_input(const std::vector<const SentenceTree*>& trees) const {
  // Each fact with tokens left after truncation: its branch tokens' ids, and the (mention
  // token, branch token) pairs the visible matrix lets the mention attend to.
  std::vector<std::int64_t> ids, offsets, entries[4];
  nn::GateInput in;
  for (std::size_t r = 0; r < trees.size(); ++r) {
    const SentenceTree& t = *trees[r];
    const auto n = static_cast<std::uint32_t>(t.size());
    for (std::size_t f = 0; f < t.injected.size(); ++f) {
      const InjectedTriple& x = t.injected[f];
      const std::uint32_t s = std::min(x.start, n), e = std::min(x.end, n);
      if (s >= e) continue;
      const auto q = static_cast<std::int64_t>(in.fact.size());
      in.row.push_back(static_cast<std::int64_t>(r));
      in.fact.push_back(static_cast<std::int64_t>(f));
      offsets.push_back(static_cast<std::int64_t>(ids.size()));
      for (std::uint32_t j = s; j < e; ++j) ids.push_back(t.ids[j]);
      for (std::uint32_t i = x.entity_start; i < std::min(x.entity_end, n); ++i)
        for (std::uint32_t j = s; j < e; ++j)
          if (t.visible(i, j)) {
            entries[0].push_back(static_cast<std::int64_t>(r));
            entries[1].push_back(i);
            entries[2].push_back(j);
            entries[3].push_back(q);
          }
    }
  }
  in.ids = torch::tensor(ids, torch::kLong);
  in.offsets = torch::tensor(offsets, torch::kLong);
  in.entries = torch::stack({torch::tensor(entries[0], torch::kLong), torch::tensor(entries[1], torch::kLong),
                             torch::tensor(entries[2], torch::kLong), torch::tensor(entries[3], torch::kLong)});
  return in;
}

LexicalFeatures Model::Impl::lexical_of(std::string_view a, std::string_view b, const float* idf,
                                        const InjectedTriple* drop) const {
  if (!spec.lexical_knowledge || !builder || !builder->knowledge_graph())
    return lexical_features(a, spec.lexical_buckets, b, idf);
  // The objects of the facts the KG holds for the whole text (a tree may have cut some).
  LexicalKnowledge k;
  for (InjectedTriple& f : builder->facts(a)) {
    if (drop && f.entity == drop->entity && f.relation == drop->relation && f.object == drop->object) {
      drop = nullptr;  // one occurrence: the fact whose branch explain removed
      continue;
    }
    k.a.push_back(std::move(f.object));
  }
  if (!b.empty())
    for (InjectedTriple& f : builder->facts(b)) k.b.push_back(std::move(f.object));
  return lexical_features(a, spec.lexical_buckets, b, idf, &k);
}

std::array<torch::Tensor, 3> Model::Impl::lexical_batch(const std::vector<std::string>& a, const std::vector<std::string>& b,
                                                        const std::vector<std::size_t>& texts,
                                                        const std::vector<const InjectedTriple*>* drops) const {
  std::vector<std::int64_t> index, offsets;
  std::vector<float> weights;
  const torch::Tensor& idf_weights = net->head->lexical_idf;
  const float* idf = idf_weights.defined() ? idf_weights.data_ptr<float>() : nullptr;
  for (std::size_t q = 0; q < texts.size(); ++q) {
    const std::size_t i = texts[q];
    offsets.push_back(static_cast<std::int64_t>(index.size()));
    const LexicalFeatures f = lexical_of(a[i], b.empty() ? std::string_view() : b[i], idf, drops ? (*drops)[q] : nullptr);
    index.insert(index.end(), f.index.begin(), f.index.end());
    weights.insert(weights.end(), f.value.begin(), f.value.end());
  }
  return {torch::tensor(index, torch::kLong), torch::tensor(offsets, torch::kLong), torch::tensor(weights, torch::kFloat)};
}

// Where the batch that starts at order[begin] ends (trees sorted longest first): at most
// `batch_size` trees and `run.max_tokens` padded tokens, and cut where lengths jump, so that
// padded tokens stay within 1.3x of the real ones whatever the length distribution (one long
// text among short ones gets a batch of its own instead of padding all of them).
std::size_t Model::Impl::batch_end(const std::vector<SentenceTree>& trees, const std::vector<std::size_t>& order,
                                   std::size_t begin, std::size_t batch_size) const {
  const std::size_t n = order.size();
  if (spec.pad_to_max_length) return std::min(n, begin + batch_size);  // every batch is max_length long anyway
  const std::size_t longest = std::max<std::size_t>(trees[order[begin]].size(), 1);
  std::size_t end = begin + 1, real = longest;
  while (end < n && end - begin < batch_size) {
    const std::size_t len = std::max<std::size_t>(trees[order[end]].size(), 1);
    const std::size_t padded = (end - begin + 1) * longest;
    if (run.max_tokens && padded > run.max_tokens) break;
    if (static_cast<double>(padded) > 1.3 * static_cast<double>(real + len)) break;
    real += len;
    ++end;
  }
  return end;
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

void warn_if_bf16_slow(Precision p) {
  static std::once_flag once;
  if (p == Precision::kBFloat16 && !cpu_has_native_bf16())
    std::call_once(once, [] {
      std::cerr << "kbert: bf16 asked for, but this CPU has no AMX-BF16: bfloat16 matrix products run slower than "
                   "fp32 here (AVX512-BF16 alone, or emulated); fp32 is the faster choice on this machine\n";
    });
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
  warn_if_bf16_slow(options.precision);
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
    im.net = nn::Network(im.config, im.spec.head, im.spec.pooling, labels, static_cast<std::int64_t>(im.spec.lexical_buckets));
    im.net->bert->set_knowledge_gate(im.spec.knowledge_gate);
  }
  load_weights(im.net, tensors, weights);
  im.net->eval();
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


namespace {

// One row of logits: refuses NaN or infinity, naming the text (1-based).
void check_finite(const float* logits, std::int64_t classes, std::size_t text) {
  for (std::int64_t c = 0; c < classes; ++c)
    if (!std::isfinite(logits[c]))
      throw std::runtime_error("text " + std::to_string(text + 1) + ": the model's output is not a number (NaN or " +
                               "infinite logits): its weights or the input are broken");
}

// The predicted label of a row of logits: the first largest.
std::int64_t argmax(const std::vector<float>& logits) {
  return std::max_element(logits.begin(), logits.end()) - logits.begin();
}

}  // namespace

std::string Model::label_name(std::int64_t id) const {
  const auto& labels = impl_->spec.labels;
  return id >= 0 && static_cast<std::size_t>(id) < labels.size() ? labels[static_cast<std::size_t>(id)]
                                                                   : std::to_string(id);
}

std::vector<Prediction> Model::predict(const std::vector<std::string>& texts, const std::vector<std::string>& texts_b) const {
  const Impl& im = *impl_;
  KBERT_CHECK(im.net->head, "this model has no classification head (kbert.json head is none)");
  KBERT_CHECK(im.spec.head != HeadKind::kTagger, "this is a token-classification (NER) model: use tag()");
  std::vector<Prediction> out(texts.size());
  im.run_batches(texts, texts_b, [&](const Batch&, const torch::Tensor&, const torch::Tensor& logits,
                                     const std::vector<std::size_t>& idx, std::vector<SentenceTree>& trees,
                                     const std::vector<std::size_t>& order, std::size_t k, std::size_t) {
    torch::Tensor probs = at::softmax(logits, -1).contiguous();
    torch::Tensor lg = logits.contiguous();
    const auto C = lg.size(1);
    for (std::size_t r = 0; r < idx.size(); ++r) {
      Prediction& p = out[idx[r]];
      const float* l = lg.data_ptr<float>() + r * C;
      const float* pr = probs.data_ptr<float>() + r * C;
      check_finite(l, C, idx[r]);
      p.logits.assign(l, l + C);
      p.probs.assign(pr, pr + C);
      p.label = argmax(p.logits);
      p.label_name = label_name(p.label);
      p.injected = std::move(trees[order[k + r]].injected);
    }
  });
  return out;
}

std::vector<Explanation> Model::explain(const std::vector<std::string>& texts) const {
  const Impl& im = *impl_;
  KBERT_CHECK(im.net->head, "this model has no classification head (kbert.json head is none)");
  KBERT_CHECK(im.spec.head != HeadKind::kTagger, "explain is for classifiers; this is a token-classification (NER) model");
  std::vector<Explanation> out(texts.size());
  // A few texts at a time: each brings one tree per injected fact.
  const std::size_t group = 64;
  for (std::size_t g0 = 0; g0 < texts.size(); g0 += group) {
    const std::size_t g1 = std::min(texts.size(), g0 + group);
    std::vector<SentenceTree> base(g1 - g0);
    std::vector<std::pair<std::size_t, std::int64_t>> items;  // (text, injected fact or -1 for the whole tree)
    for (std::size_t i = g0; i < g1; ++i) {
      try {
        base[i - g0] = im.builder->build(texts[i]);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("text " + std::to_string(i + 1) + ": " + e.what());
      }
      for (std::int64_t j = -1; j < static_cast<std::int64_t>(base[i - g0].injected.size()); ++j) items.push_back({i, j});
    }
    std::vector<std::vector<float>> probs(items.size()), logit_rows(items.size());
    im.run_tree_batches(
        items.size(),
        [&](std::size_t k) {
          const SentenceTree& t = base[items[k].first - g0];
          return items[k].second < 0 ? t : remove_branch(t, static_cast<std::size_t>(items[k].second));
        },
        [&](std::size_t k) { return items[k].first; }, texts, {},
        [&](const Batch&, const torch::Tensor&, const torch::Tensor& logits, const std::vector<std::size_t>& idx,
            std::vector<SentenceTree>&, const std::vector<std::size_t>&, std::size_t, std::size_t) {
          torch::Tensor p = at::softmax(logits, -1).contiguous(), l = logits.contiguous();
          const auto C = p.size(1);
          for (std::size_t r = 0; r < idx.size(); ++r) {
            const float* row = p.data_ptr<float>() + r * C;
            const float* lrow = l.data_ptr<float>() + r * C;
            check_finite(lrow, C, items[idx[r]].first);
            probs[idx[r]].assign(row, row + C);
            logit_rows[idx[r]].assign(lrow, lrow + C);
          }
        },
        // A fact's removal removes it from the lexical side channel too, where the model counts
        // its words there (lexical_knowledge): the change is then the fact's whole effect.
        [&](std::size_t k) -> const InjectedTriple* {
          if (items[k].second < 0 || !im.spec.lexical_knowledge) return nullptr;
          return &base[items[k].first - g0].injected[static_cast<std::size_t>(items[k].second)];
        });
    std::size_t k = 0;
    for (std::size_t i = g0; i < g1; ++i) {
      Explanation& e = out[i];
      const std::vector<float>& p = probs[k];
      e.prediction.logits = logit_rows[k++];
      e.prediction.probs = p;
      e.prediction.label = argmax(e.prediction.logits);  // as predict() decides
      e.prediction.label_name = label_name(e.prediction.label);
      e.prediction.injected = base[i - g0].injected;
      const float with = p[static_cast<std::size_t>(e.prediction.label)];
      const std::vector<float> gates = im.gate_values(base[i - g0]);
      for (std::size_t f = 0; f < base[i - g0].injected.size(); ++f) {
        const InjectedTriple& fact = base[i - g0].injected[f];
        const std::vector<float>& q = probs[k++];
        FactAttribution a;
        a.fact = fact;
        if (!gates.empty()) a.gate = gates[f];
        a.prob_without = q[static_cast<std::size_t>(e.prediction.label)];
        a.change = a.prob_without - with;
        a.label_without = argmax(logit_rows[k - 1]);
        e.facts.push_back(std::move(a));
      }
    }
  }
  return out;
}

Matrix Model::embed(const std::vector<std::string>& texts, EmbedPooling pooling, bool normalize,
                    const std::vector<std::string>& texts_b) const {
  const Impl& im = *impl_;
  const auto H = im.config.hidden_size;
  Matrix m;
  m.cols = static_cast<std::size_t>(H);
  std::vector<std::vector<float>> rows(texts.size());
  std::vector<std::vector<std::vector<float>>> token_rows(pooling == EmbedPooling::kTokens ? texts.size() : 0);
  im.run_batches(texts, texts_b, [&](const Batch& b, const torch::Tensor& hidden, const torch::Tensor&,
                                     const std::vector<std::size_t>& idx, std::vector<SentenceTree>&,
                                     const std::vector<std::size_t>&, std::size_t, std::size_t) {
    torch::Tensor h = hidden.contiguous();
    for (std::size_t r = 0; r < idx.size(); ++r) {
      const std::int64_t n = b.lengths[r];
      torch::Tensor x = h[static_cast<std::int64_t>(r)].narrow(0, 0, std::max<std::int64_t>(n, 1));
      if (n == 0) x = torch::zeros({1, H});
      if (pooling == EmbedPooling::kTokens) {
        torch::Tensor t = normalize ? x / x.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12) : x;
        t = t.contiguous();
        for (std::int64_t i = 0; i < n; ++i) {
          const float* p = t.data_ptr<float>() + i * H;
          token_rows[idx[r]].emplace_back(p, p + H);
        }
        continue;
      }
      torch::Tensor v = pooling == EmbedPooling::kCls ? x[0] : pooling == EmbedPooling::kMean ? x.mean(0) : std::get<0>(x.max(0));
      if (normalize) v = v / v.norm().clamp_min(1e-12);
      v = v.contiguous();
      rows[idx[r]].assign(v.data_ptr<float>(), v.data_ptr<float>() + H);
    }
  });
  if (pooling == EmbedPooling::kTokens) {
    for (std::size_t t = 0; t < token_rows.size(); ++t)
      for (auto& row : token_rows[t]) {
        m.data.insert(m.data.end(), row.begin(), row.end());
        m.row_text.push_back(t);
      }
    m.rows = m.row_text.size();
  } else {
    m.rows = rows.size();
    for (auto& row : rows) m.data.insert(m.data.end(), row.begin(), row.end());
  }
  return m;
}

EncoderBench Model::bench(const std::vector<std::string>& texts) const {
  const Impl& im = *impl_;
  EncoderBench r;
  r.texts = texts.size();
  r.threads = at::get_num_threads();
  const double H = static_cast<double>(im.config.hidden_size), I = static_cast<double>(im.config.intermediate_size);
  const double layers = static_cast<double>(im.config.num_layers);
  im.forward_seconds = 0;
  auto t0 = std::chrono::steady_clock::now();
  im.run_batches(texts, {}, [&](const Batch& b, const torch::Tensor&, const torch::Tensor&, const std::vector<std::size_t>& idx,
                                std::vector<SentenceTree>&, const std::vector<std::size_t>&, std::size_t, std::size_t) {
    const double L = static_cast<double>(b.L), B = static_cast<double>(idx.size());
    // Per layer and sequence: QKV 6LH^2, scores and context 4L^2H, output 2LH^2, FFN 4LHI.
    r.flops += B * layers * (8.0 * L * H * H + 4.0 * L * L * H + 4.0 * L * H * I);
    r.padded_tokens += static_cast<std::size_t>(B * L);
    for (auto n : b.lengths) r.tokens += static_cast<std::size_t>(n);
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.forward_seconds = im.forward_seconds;
  return r;
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

void Model::reset_head(HeadKind head, Pooling pooling, std::vector<std::string> labels, std::size_t lexical_buckets,
                       bool lexical_knowledge) {
  Impl& im = *impl_;
  KBERT_CHECK(head == HeadKind::kNone || !labels.empty(), "a head needs at least one label");
  KBERT_CHECK(lexical_buckets == 0 || head == HeadKind::kKbert || head == HeadKind::kHf,
              "a lexical side channel is for sentence classifiers (kbert or hf heads)");
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
  im.spec.pad_to_max_length = head == HeadKind::kKbert && pooling != Pooling::kFirst;
}

void Model::set_knowledge_gate(bool on) {
  Impl& im = *impl_;
  KBERT_CHECK(!on || im.spec.use_visible_matrix,
              "the knowledge gate needs the visible matrix (it gates what a mention sees of its branches)");
  im.net->bert->set_knowledge_gate(on);
  im.spec.knowledge_gate = on;
}

std::vector<float> Model::Impl::gate_values(const SentenceTree& tree) const {
  if (!net->bert->gate) return {};
  std::vector<float> out(tree.injected.size(), -1.0f);
  nn::GateInput in = gate_input({&tree});
  if (in.fact.empty()) return out;
  c10::InferenceMode guard;
  torch::Tensor g = net->bert->gate(net->bert->embeddings->word_embeddings, in).contiguous();
  for (std::size_t q = 0; q < in.fact.size(); ++q)
    out[static_cast<std::size_t>(in.fact[q])] = g[static_cast<std::int64_t>(q)].item<float>();
  return out;
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
