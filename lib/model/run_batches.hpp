// Model::Impl::run_batches, the batching loop of every inference path (predict, embed, tag,
// bench): a template, so it lives in a header of its own, included by the units that run it.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kbert/common/error.hpp"
#include "encoder/bert.hpp"
#include "model/model_impl.hpp"

namespace kbert {

// Builds trees chunk by chunk, sorts each chunk by length so that batches carry little
// padding, runs the network, and calls fn(batch, hidden, logits, indices of its texts).
template <typename Fn>
void Model::Impl::run_batches(const std::vector<std::string>& a, const std::vector<std::string>& b, Fn&& fn) const {
  KBERT_CHECK(b.empty() || b.size() == a.size(), a.size(), " texts but ", b.size(), " second texts");
  run_tree_batches(
      a.size(),
      [&](std::size_t i) {
        try {
          return b.empty() ? builder->build(a[i]) : builder->build(a[i], b[i]);
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument("text " + std::to_string(i + 1) + ": " + e.what());
        }
      },
      [](std::size_t i) { return i; }, a, b, std::forward<Fn>(fn));
}

template <typename Make, typename TextOf, typename Fn, typename DropOf>
void Model::Impl::run_tree_batches(std::size_t count, Make&& make, TextOf&& text_of, const std::vector<std::string>& a,
                                   const std::vector<std::string>& b, Fn&& fn, DropOf&& drop_of) const {
  c10::InferenceMode guard;
  const std::size_t chunk = std::max<std::size_t>(run.batch_size * 16, 512);
  const std::size_t bs = std::max<std::size_t>(run.batch_size, 1);
  std::size_t done = 0;
  for (std::size_t c0 = 0; c0 < count; c0 += chunk) {
    const std::size_t c1 = std::min(count, c0 + chunk);
    std::vector<SentenceTree> trees(c1 - c0);
    for (std::size_t i = c0; i < c1; ++i) trees[i - c0] = make(i);
    std::vector<std::size_t> order(trees.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return trees[x].size() > trees[y].size(); });
    for (std::size_t k = 0, e = 0; k < order.size(); k = e) {
      e = batch_end(trees, order, k, bs);
      Batch batch = make_batch(trees, order, k, e);
      torch::Tensor hidden, logits;
      std::array<torch::Tensor, 3> lex;  // the lexical features need no lock: built before taking it
      const bool lexical = net->head && spec.lexical_buckets;
      if (lexical) {
        std::vector<std::size_t> texts;
        for (std::size_t q = k; q < e; ++q) texts.push_back(text_of(c0 + order[q]));
        if constexpr (std::is_same_v<std::decay_t<DropOf>, std::nullptr_t>) {
          lex = lexical_batch(a, b, texts);
        } else {
          std::vector<const InjectedTriple*> drops;
          for (std::size_t q = k; q < e; ++q) drops.push_back(drop_of(c0 + order[q]));
          lex = lexical_batch(a, b, texts, &drops);
        }
      }
      {
        std::lock_guard<std::mutex> lock(forward_mutex);
        const auto f0 = std::chrono::steady_clock::now();
        {
          net->bert->set_precision(run.precision);
          hidden = net->bert->forward(batch.ids, batch.positions, batch.segments, batch.mask, &batch.gate);
          if (lexical) {
            logits = net->head->forward(hidden, &lex);
          } else {
            logits = net->head ? net->head->forward(hidden) : torch::Tensor();
          }
        }
        hidden = hidden.to(torch::kFloat);  // outputs are float32 in every precision
        if (logits.defined()) logits = logits.to(torch::kFloat);
        forward_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - f0).count();
      }
      std::vector<std::size_t> idx;
      for (std::size_t q = k; q < e; ++q) idx.push_back(c0 + order[q]);
      fn(batch, hidden, logits, idx, trees, order, k, c0);
      done += e - k;
      if (run.on_progress) run.on_progress(done, count);
    }
  }
}

}  // namespace kbert
