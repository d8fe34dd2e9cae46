// A knowledge-aware BERT classifier / encoder, loaded from a kbert model directory.
//
// A model directory holds config.json (HF BertConfig), the vocabulary (vocab.txt or a
// sentencepiece model), model.safetensors, and kbert.json with everything else needed
// to reproduce predictions: tokenizer and its normalisation, tree options, segment-id
// convention, head and pooling, label names, and the KG files (copied in, so the
// directory is self-contained). LibTorch stays out of this header.
//
//   kbert::Model m = kbert::Model::load("models/chnsenticorp");
//   auto preds = m.predict({"这家酒店服务很好"});      // label, logits, probs, injected knowledge
//   auto emb = m.embed({"..."}, kbert::EmbedPooling::kMean, /*normalize=*/true);
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kbert/common/cpu.hpp"
#include "kbert/model/config.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert {

/// A model's head, by its kbert.json name ("head"). The built-in heads are the constants;
/// a head registered in the encoder's head registry (lib/encoder/head.hpp: a module, its
/// weight names, and optionally its own loss and evaluation) is named by its own string.
class HeadKind {
 public:
  HeadKind() = default;  ///< none
  explicit HeadKind(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  bool operator==(const HeadKind& o) const { return name_ == o.name_; }
  bool operator!=(const HeadKind& o) const { return name_ != o.name_; }

  static const HeadKind kNone;    ///< encoder only (embeddings)
  static const HeadKind kKbert;   ///< K-BERT / UER: pool, tanh(output_layer_1), output_layer_2
  static const HeadKind kHf;      ///< Hugging Face: tanh(pooler.dense([CLS])), classifier
  static const HeadKind kTagger;  ///< token classification (NER): a linear layer over every position
                                  ///< (K-BERT's output_layer, HF's classifier of BertForTokenClassification)
 private:
  std::string name_ = "none";
};
inline const HeadKind HeadKind::kNone{"none"};
inline const HeadKind HeadKind::kKbert{"kbert"};
inline const HeadKind HeadKind::kHf{"hf"};
inline const HeadKind HeadKind::kTagger{"tagger"};
enum class Pooling { kFirst, kMean, kMax, kLast };  ///< K-BERT head pooling (over all positions, pads included)
enum class EmbedPooling { kCls, kMean, kMax, kTokens };  ///< sentence vectors; kTokens: every token's vector
enum class SegmentConvention { kUer, kHuggingFace };   ///< which SentenceTree segment ids feed the model

/// Arithmetic of the matrix products.
/// - kFloat32: everything in float32; the parity reference.
/// - kBFloat16: inference: the Linear layers and the attention products in bfloat16 with
///   weights converted once (oneDNN: AMX where the CPU has it, else AVX512-BF16, else
///   emulated); LayerNorm, softmax statistics and the residual stream in float32. Training:
///   mixed precision (autocast), master weights, loss and optimizer state in float32.
/// - kInt8: inference only: the Linear layers in int8 (weights per channel, activations per
///   token, quantised dynamically; oneDNN: AMX-INT8, AVX512-VNNI or AVX2); the rest float32.
/// - kAuto (the default): resolve_precision picks for the CPU (docs/PERFORMANCE.md).
/// Outputs (logits, vectors) are float32 in every precision.
enum class Precision { kAuto, kFloat32, kBFloat16, kInt8 };
Precision parse_precision(const std::string& name);        ///< auto|fp32|bf16|int8
const char* precision_name(Precision p);
/// True when the CPU multiplies bfloat16 natively (AMX-BF16 or AVX512-BF16), not emulated.
bool cpu_has_native_bf16();
/// What kAuto means on a CPU with `c`'s features (any other `p` is returned as it is): the
/// environment's KBERT_PRECISION when set (fp32|bf16|int8; the test suites set fp32), else
/// for inference kBFloat16 where the CPU multiplies bfloat16 natively (AMX or AVX512-BF16),
/// for training kBFloat16 only with AMX (autocast's per-step casts cost more than AVX512-BF16
/// gains), kFloat32 elsewhere.
Precision resolve_precision(Precision p, const cpu::Info& c, bool training = false);

Pooling parse_pooling(const std::string& name);            ///< first|mean|max|last
EmbedPooling parse_embed_pooling(const std::string& name); ///< cls|mean|max|tokens
const char* pooling_name(Pooling p);

/// Everything in kbert.json.
struct ModelSpec {
  TokenizerOptions tokenizer;           ///< paths relative to the model directory
  TreeOptions tree;
  std::vector<std::string> kg_files;    ///< relative to the model directory; empty: no knowledge
  SegmentConvention segments = SegmentConvention::kHuggingFace;
  HeadKind head = HeadKind::kNone;
  Pooling pooling = Pooling::kFirst;
  std::vector<std::string> labels;
  bool pad_to_max_length = false;       ///< pad every batch to tree.max_length (K-BERT's mean/max/last pooling see pads)
  bool use_visible_matrix = true;       ///< off (ablation): every real token sees every real token
  bool use_soft_positions = true;       ///< off (ablation): hard positions 0, 1, 2, ...
  std::size_t lexical_buckets = 0;      ///< classifiers: a lexical side channel of this many hashed n-gram
                                        ///< slots beside the pooled vector (kbert/text/lexical.hpp); 0: none
  bool lexical_knowledge = false;       ///< the side channel also counts the words of the objects of the
                                        ///< facts the KG injects for the whole text (SentenceTreeBuilder::facts)
  bool knowledge_gate = false;          ///< a learned gate per injected fact on what its mention takes from
                                        ///< its branch, starting closed (docs/DESIGN.md, "The knowledge gate");
                                        ///< off: K-BERT exactly
};

/// Options that change how a loaded model runs, not what it is.
struct RunOptions {
  std::size_t batch_size = 32;          ///< trees per forward pass, at most
  std::size_t max_tokens = 0;           ///< padded tokens per forward pass, at most (0: no budget; a
                                        ///< longer tree still gets a batch of its own)
  unsigned threads = 0;                 ///< LibTorch threads; 0: KBERT_NUM_THREADS or all cores
  std::optional<std::string> kg;        ///< override the directory's KG: a file, or "none" for no injection
  std::optional<std::size_t> max_length;  ///< override tree.max_length
  Precision precision = Precision::kAuto;  ///< see Precision; run_options() holds what auto resolved to
  /// Called after every batch of a predict / embed / explain / evaluate call with the trees done
  /// and the call's total (kbert's commands draw their progress line with it); may be empty.
  std::function<void(std::size_t done, std::size_t total)> on_progress;
};

struct Prediction {
  std::int64_t label = -1;
  std::string label_name;
  std::vector<float> logits, probs;
  std::vector<InjectedTriple> injected;
};

/// What one injected fact did to a prediction (Model::explain).
struct FactAttribution {
  InjectedTriple fact;           ///< as in Prediction::injected (the tree's order)
  float prob_without = 0;        ///< the predicted class's probability with this branch (and its
                                 ///< sub-branches, with hops > 1) removed
  float change = 0;              ///< prob_without - the probability with every fact: negative when
                                 ///< the fact supported the prediction, positive when it worked against it
  std::int64_t label_without = -1;  ///< the prediction without this branch
  float gate = -1;               ///< with a knowledge gate: the fact's gate (0 closed: the mention ignores
                                 ///< the fact); -1 without one, or where truncation left the fact no token
};

/// A prediction and, for every injected fact, what removing it would change.
struct Explanation {
  Prediction prediction;
  std::vector<FactAttribution> facts;
};

/// An entity a tagger model found in a text.
struct TaggedEntity {
  std::string type;                 ///< the X of B-X / I-X
  std::string text;                 ///< the entity's characters in the input
  std::size_t start = 0, end = 0;   ///< [start, end) in Unicode code points of the input (Python's str indices)
  float score = 0;                  ///< mean probability of its tags
};

/// What a tagger model says about one text.
struct TagResult {
  std::vector<std::string> tokens;  ///< the units that carry tags: characters (char models) or words
  std::vector<std::string> tags;    ///< one per token; tokens cut off by max_length are "O"
  std::vector<std::size_t> starts;  ///< each token's first code point in the input
  std::vector<TaggedEntity> entities;
  std::vector<InjectedTriple> injected;
};

/// Row-major float matrix (rows = texts, or tokens with EmbedPooling::kTokens).
struct Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<float> data;
  std::vector<std::size_t> row_text;  ///< kTokens: the text each row belongs to
};

/// Timing of trees + batching + forward (kbert bench encoder).
struct EncoderBench {
  std::size_t texts = 0, tokens = 0, padded_tokens = 0;
  double seconds = 0, flops = 0;
  double forward_seconds = 0;  ///< the network alone (no trees, no batching)
  int threads = 0;
  Precision precision = Precision::kFloat32;  ///< what the forward ran in (auto resolved)
  std::string kernels;  ///< what the matrix products ran on (e.g. "int8 via oneDNN avx512_core_vnni")
};

class Model {
 public:
  Model();
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  /// Loads a model directory. Throws FileError / ParseError naming the file and tensor.
  static Model load(const std::string& dir, const RunOptions& options = {});
  /// A fresh, randomly initialised model (for training from scratch and tests).
  static Model create(const BertConfig& config, ModelSpec spec, const std::string& vocab_path,
                      const RunOptions& options = {});
  /// A fresh model from a configuration file: UER's (it has "heads_num") or Hugging Face's
  /// config.json, and a vocabulary file.
  static Model create(const std::string& config_json, ModelSpec spec, const std::string& vocab_path,
                      const RunOptions& options = {});
  /// Writes a model directory (KG files copied in): a new directory, or one replacing a kbert
  /// model directory whole (kbert/common/output_dir.hpp); any other existing path is refused
  /// with FileError. Readers see the old model or the new one, never a mix.
  void save(const std::string& dir) const;

  /// Classifies texts (pairs when texts_b is given). Needs a head.
  std::vector<Prediction> predict(const std::vector<std::string>& texts, const std::vector<std::string>& texts_b = {}) const;
  /// Per-fact attribution: predicts each text, then each text again once per injected fact
  /// with that fact's branch removed from the tree (remove_branch: nothing takes its place,
  /// the lexical side channel stays), all in batches; reports the predicted class's
  /// probability without each fact. Needs a classification head.
  std::vector<Explanation> explain(const std::vector<std::string>& texts) const;
  /// Token classification (a tagger head): splits each text into characters (char models)
  /// or words and punctuation (other tokenizers), tags them, and returns the entities
  /// (conlleval chunking) with code-point offsets. Branch tokens are never tagged; a trunk
  /// token's tag is the best label of its first piece among O, B-X and I-X.
  std::vector<TagResult> tag(const std::vector<std::string>& texts) const;
  /// Tags of sentences already split into tokens (evaluation), one per token. The text the
  /// tree is built from is the tokens joined by nothing (char models) or a space.
  std::vector<std::vector<std::string>> tag_tokens(const std::vector<std::vector<std::string>>& sentences) const;
  /// True when the model has a token-classification head.
  bool is_tagger() const;
  /// Sentence (or token) vectors of the last layer.
  Matrix embed(const std::vector<std::string>& texts, EmbedPooling pooling, bool normalize,
               const std::vector<std::string>& texts_b = {}) const;
  /// Builds trees, batches and runs the encoder (and head) over the texts, timed.
  EncoderBench bench(const std::vector<std::string>& texts) const;

  /// Ablations: full attention over the injected sentence, and/or hard positions.
  void set_ablation(bool use_visible_matrix, bool use_soft_positions);
  /// New sentence-tree options (max_entities, max_length, predicate, truncation); the
  /// KG and tokenizer stay. Throws std::invalid_argument past the model's positions.
  void set_tree_options(const TreeOptions& tree);
  /// Replaces the head by a new, randomly initialised one (fine-tuning to new labels), with a
  /// lexical side channel of `lexical_buckets` slots (0: none) that counts the KG's facts too
  /// when `lexical_knowledge` (ModelSpec).
  void reset_head(const HeadKind& head, Pooling pooling, std::vector<std::string> labels, std::size_t lexical_buckets = 0,
                  bool lexical_knowledge = false);
  /// Adds (closed: the model then computes what it computes without facts) or removes the
  /// knowledge gate (ModelSpec::knowledge_gate). Needs the visible matrix.
  void set_knowledge_gate(bool on);

  const BertConfig& config() const;
  const ModelSpec& spec() const;
  /// The name of label `id` (spec().labels), or the number as text when it has none.
  std::string label_name(std::int64_t id) const;
  const SentenceTreeBuilder& builder() const;
  /// The directory the model was loaded from ("" for a created model).
  const std::string& directory() const;
  const RunOptions& run_options() const;
  /// model_fingerprint() of directory() (kbert/index/vector_index.hpp), read once when first
  /// asked for; "" for a created model.
  const std::string& fingerprint() const;
  std::size_t parameter_bytes() const;

  struct Impl;

 private:
  friend void import_uer(const struct ImportUerOptions&);
  friend void import_hf(const struct ImportHfOptions&);
  friend struct TrainAccess;
  std::unique_ptr<Impl> impl_;
};

/// kbert import-uer: a classifier saved by the original K-BERT (torch.save(state_dict)).
struct ImportUerOptions {
  std::string checkpoint, config, vocab, out;
  std::string tokenizer = "char";
  Pooling pooling = Pooling::kFirst;
  bool predicate = false;
  std::size_t max_entities = 2, max_length = 256;
  std::string labels_file;                   ///< one label name per line; default "0", "1", ...
                                             ///< (a tagger, run_kbert_ner.py's output_layer, needs the file:
                                             ///< its labels_map order, [PAD] and [ENT] included)
  std::vector<std::string> kg_files;         ///< copied into the model directory
};
void import_uer(const ImportUerOptions& options);

/// kbert import-hf: a Hugging Face BERT directory (config.json, vocab.txt,
/// model.safetensors or pytorch_model.bin, tokenizer_config.json when present).
struct ImportHfOptions {
  std::string from, out;
  std::string labels_file;
  std::vector<std::string> kg_files;
  TreeOptions tree;
};
void import_hf(const ImportHfOptions& options);

/// Seeds LibTorch's generator (parameter initialisation, dropout).
void set_random_seed(std::uint64_t seed);

/// Float32 GEMM speed of this machine on the current LibTorch threads (GFLOP/s).
double measure_gemm_gflops();

}  // namespace kbert
