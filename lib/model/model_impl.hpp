// Private state of kbert::Model, shared by model.cpp and trainer.cpp.
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/model/model.hpp"
#include "kbert/text/lexical.hpp"
#include "encoder/head.hpp"

namespace kbert {

// A batch of trees as tensors, padded to the longest tree (or to a fixed length).
struct Batch {
  torch::Tensor ids, positions, segments, mask;
  nn::GateInput gate;  // the facts the knowledge gate reads (only for a model with one)
  std::vector<std::int64_t> lengths;
  std::int64_t L = 0;
};

// bfloat16 autocast for the matrix products while it lives (kBFloat16), nothing otherwise.
class AutocastScope {
 public:
  explicit AutocastScope(Precision p);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_ = false, was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

// bf16 asked for: throws where the CPU has no bfloat16 products at all (below AVX-512:
// nn::require_bf16_products), and says once per process, on stderr, where oneDNN emulates them.
void check_bf16(Precision p);

struct Model::Impl {
  BertConfig config;
  ModelSpec spec;
  std::string dir;                      // where vocab / KG files live ("" for a created model)
  std::string vocab_source;             // absolute path of the vocabulary file
  std::vector<std::string> kg_sources;  // absolute paths of KG files
  RunOptions run;
  std::shared_ptr<Tokenizer> tokenizer;
  std::unique_ptr<KnowledgeGraph> kg;
  std::unique_ptr<SentenceTreeBuilder> builder;
  mutable nn::Network net{nullptr};  // forward() is not const in LibTorch; inference does not modify it
  std::int32_t pad_id = 0;
  std::size_t max_length = 256;
  mutable double forward_seconds = 0;  // accumulated by run_batches (bench)
  // The inference path reuses one set of buffers (nn::Workspace): one forward pass at a
  // time. Each pass already uses every core; callers on other threads wait their turn.
  mutable std::mutex forward_mutex;
  mutable std::once_flag fingerprint_once;  // model_fingerprint(dir), computed when first asked for
  mutable std::string fingerprint;

  void setup_text();
  // Resolves `requested` (kAuto: resolve_precision) into run.precision; where auto picks a
  // lower precision, a one-batch check against fp32 decides (and is logged on stderr).
  void settle_precision(Precision requested);
  // Writes the model's files into `dir` (a fresh directory; OutputDir swaps it into place).
  void write_files(const std::string& dir) const;
  // A tagger's output for sentences given as tokens: a tag and its probability per token.
  struct Tagged {
    std::vector<std::string> tags;
    std::vector<float> probs;
    std::vector<InjectedTriple> injected;
  };
  std::vector<Tagged> tag_sentences(const std::vector<std::vector<std::string>>& sentences) const;
  // The side channel's features of a text (a pair: a, b), the KG's facts included when
  // spec.lexical_knowledge; `idf` as in lexical_features. `drop`: a fact of a's to leave out
  // (explain: the side channel without the fact whose branch is removed).
  LexicalFeatures lexical_of(std::string_view a, std::string_view b, const float* idf,
                             const InjectedTriple* drop = nullptr) const;
  // The lexical features of texts a[i] (b[i]) for i in `texts`, as embedding_bag takes them;
  // `drops`, when given, one fact (or nullptr) per entry of `texts` to leave out.
  std::array<torch::Tensor, 3> lexical_batch(const std::vector<std::string>& a, const std::vector<std::string>& b,
                                             const std::vector<std::size_t>& texts,
                                             const std::vector<const InjectedTriple*>* drops = nullptr) const;
  std::size_t batch_end(const std::vector<SentenceTree>& trees, const std::vector<std::size_t>& order, std::size_t begin,
                        std::size_t batch_size) const;
  Batch make_batch(const std::vector<SentenceTree>& trees, const std::vector<std::size_t>& order, std::size_t begin,
                   std::size_t end) const;
  // The knowledge gate's view of a batch of trees (row r = trees[r]).
  nn::GateInput gate_input(const std::vector<const SentenceTree*>& trees) const;
  // Each injected fact's gate in `tree` (-1 where truncation left the fact no token); empty
  // without a knowledge gate.
  std::vector<float> gate_values(const SentenceTree& tree) const;
  template <typename Fn>
  void run_batches(const std::vector<std::string>& a, const std::vector<std::string>& b, Fn&& fn) const;
  // The loop itself over `count` trees made by make(i); text_of(i) is the text (of a, b) whose
  // lexical features go with tree i (explain: several trees of one text); drop_of(i), when
  // given, the fact the side channel leaves out for tree i (nullptr: none).
  template <typename Make, typename TextOf, typename Fn, typename DropOf = std::nullptr_t>
  void run_tree_batches(std::size_t count, Make&& make, TextOf&& text_of, const std::vector<std::string>& a,
                        const std::vector<std::string>& b, Fn&& fn, DropOf&& drop_of = nullptr) const;
};


}  // namespace kbert
