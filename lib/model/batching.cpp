// Trees to tensors: a batch's ids, soft positions, segments and visible-matrix mask, the
// facts the knowledge gate reads, the lexical side channel's features, and where a batch ends.
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <vector>

#include "kbert/model/model.hpp"
#include "kbert/text/lexical.hpp"
#include "model/model_impl.hpp"

namespace kbert {

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

}  // namespace kbert
