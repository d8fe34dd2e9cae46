#include "kbert/tree/sentence_tree.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "kbert/common/env.hpp"
#include "kbert/common/error.hpp"
#include "kbert/kg/entity_matcher.hpp"
#include "kbert/kg/knowledge_graph.hpp"

namespace kbert {

Truncation parse_truncation(std::string_view name) {
  if (name == "kbert") return Truncation::kKbert;
  if (name == "trunk_first" || name == "trunk-first") return Truncation::kTrunkFirst;
  throw std::invalid_argument("unknown truncation '" + std::string(name) + "' (expected kbert or trunk-first)");
}

SentenceTreeBuilder::SentenceTreeBuilder(const KnowledgeGraph* kg, std::shared_ptr<const Tokenizer> tokenizer,
                                         TreeOptions options)
    : kg_(kg), tokenizer_(std::move(tokenizer)), options_(options) {
  KBERT_CHECK(tokenizer_ != nullptr, "SentenceTreeBuilder needs a tokenizer");
  KBERT_CHECK(options_.max_length > 0, "max_length must be positive, got ", options_.max_length);
  if (kg_ && options_.max_entities > 0) {
    matcher_ = std::make_unique<EntityMatcher>();
    const std::size_t n = kg_->num_surface_forms();
    for (std::uint32_t id = 0; id < n; ++id) {
      if (!kg_->has_facts(id)) continue;
      std::u32string key = tokenizer_->match_key(kg_->surface_form(id));
      if (!key.empty()) matcher_->add(key, id);
    }
  }
}

SentenceTreeBuilder::~SentenceTreeBuilder() = default;
SentenceTreeBuilder::SentenceTreeBuilder(SentenceTreeBuilder&&) noexcept = default;
SentenceTreeBuilder& SentenceTreeBuilder::operator=(SentenceTreeBuilder&&) noexcept = default;

SentenceTree SentenceTreeBuilder::build(std::string_view text) const { return build_impl(text, nullptr); }

SentenceTree SentenceTreeBuilder::build(std::string_view text_a, std::string_view text_b) const {
  return build_impl(text_a, &text_b);
}

namespace {

// A token of the flattened, untruncated tree.
struct FlatToken {
  std::int32_t position;
  std::uint32_t word;
  std::int32_t branch;  // index into branches, -1 for trunk
};

struct Branch {
  std::uint32_t word, start, end;  // flat token range
  std::string relation, object;
};

struct WordSpan {
  std::uint32_t trunk_start, trunk_end;
  std::int64_t surface;
};

}  // namespace

SentenceTree SentenceTreeBuilder::build_impl(std::string_view a, const std::string_view* b) const {
  const Tokenizer& tok = *tokenizer_;
  TokenizedText seg;
  SentenceTree tree;
  tree.is_pair = b != nullptr;

  // 1. Words and their trunk tokens.
  if (tok.tags_in_text()) {
    // K-BERT builds the string "[CLS]" + a + "[SEP]" + b + "[SEP]" and segments it whole.
    std::string text;
    if (options_.add_special) text += kClsToken;
    text += a;
    if (b) {
      if (options_.add_special) text += kSepToken;
      text += *b;
      if (options_.add_special) text += kSepToken;
    }
    tok.segment(text, matcher_.get(), seg);
  } else {
    auto special = [&](std::string_view t) {
      Word w;
      w.token_begin = static_cast<std::uint32_t>(seg.tokens.size());
      seg.tokens.emplace_back(t);
      w.token_end = w.token_begin + 1;
      w.special = true;
      seg.words.push_back(w);
    };
    auto append = [&](std::string_view text) {
      TokenizedText part;
      tok.segment(text, matcher_.get(), part);
      const auto shift = static_cast<std::uint32_t>(seg.tokens.size());
      for (auto& t : part.tokens) seg.tokens.push_back(std::move(t));
      for (Word w : part.words) {
        w.token_begin += shift;
        w.token_end += shift;
        seg.words.push_back(w);
      }
    };
    if (options_.add_special) special(kClsToken);
    append(a);
    if (options_.add_special) special(kSepToken);
    if (b) {
      append(*b);
      if (options_.add_special) special(kSepToken);
    }
  }

  // 2. The flattened tree: trunk of w1, branches of w1, trunk of w2, ...
  std::vector<std::string> tokens;
  std::vector<FlatToken> flat;
  std::vector<Branch> branches;
  std::vector<WordSpan> words;
  tokens.reserve(seg.tokens.size() * 2);
  flat.reserve(seg.tokens.size() * 2);
  std::int32_t pos = -1;
  std::vector<std::pair<std::string, KgFact>> values;
  const std::string_view joiner = tok.predicate_joiner();
  for (std::uint32_t wi = 0; wi < seg.words.size(); ++wi) {
    const Word& w = seg.words[wi];
    WordSpan span{static_cast<std::uint32_t>(tokens.size()), 0, w.special ? -1 : w.surface};
    for (std::uint32_t t = w.token_begin; t < w.token_end; ++t) {
      tokens.push_back(std::move(seg.tokens[t]));
      flat.push_back({++pos, wi, -1});
    }
    span.trunk_end = static_cast<std::uint32_t>(tokens.size());
    words.push_back(span);
    if (span.surface < 0 || !kg_ || options_.max_entities == 0) continue;
    values.clear();
    kg_->for_each_fact(static_cast<std::uint32_t>(span.surface), [&](const KgFact& f) {
      std::string value;
      if (options_.predicate) {
        value.reserve(f.relation.size() + joiner.size() + f.object.size());
        value.append(f.relation).append(joiner).append(f.object);
      } else {
        value.assign(f.object);
      }
      for (const auto& v : values)
        if (v.first == value) return true;  // K-BERT keeps a set of values
      values.emplace_back(std::move(value), f);
      return values.size() < options_.max_entities;
    });
    const std::int32_t base = pos;  // the last trunk token of w
    for (const auto& [value, fact] : values) {
      std::vector<std::string> btoks = tok.tokenize(value);
      if (btoks.empty()) continue;
      Branch br{wi, static_cast<std::uint32_t>(tokens.size()), 0, std::string(fact.relation), std::string(fact.object)};
      const auto bi = static_cast<std::int32_t>(branches.size());
      std::int32_t p = base;
      for (auto& t : btoks) {
        tokens.push_back(std::move(t));
        flat.push_back({++p, wi, bi});
      }
      br.end = static_cast<std::uint32_t>(tokens.size());
      branches.push_back(std::move(br));
    }
  }

  // 3. Which flattened tokens are kept.
  const std::size_t n = tokens.size();
  const std::size_t L = options_.max_length;
  std::vector<std::uint32_t> keep;
  if (options_.truncation == Truncation::kKbert || n <= L) {
    keep.resize(std::min(n, L));
    for (std::uint32_t i = 0; i < keep.size(); ++i) keep[i] = i;
  } else {
    std::size_t trunk = 0;
    for (const auto& f : flat) trunk += f.branch < 0;
    std::vector<std::uint8_t> kept_branch(branches.size(), 0);
    if (trunk < L) {
      std::size_t budget = L - trunk;
      for (std::size_t bi = 0; bi < branches.size(); ++bi) {
        std::size_t len = branches[bi].end - branches[bi].start;
        if (len <= budget) {
          kept_branch[bi] = 1;
          budget -= len;
        }
      }
    }
    std::size_t trunk_kept = 0;
    for (std::uint32_t i = 0; i < n && keep.size() < L; ++i) {
      if (flat[i].branch < 0) {
        if (trunk_kept < L) keep.push_back(i), ++trunk_kept;
      } else if (kept_branch[flat[i].branch]) {
        keep.push_back(i);
      }
    }
  }

  // 4. Outputs over the kept tokens.
  const std::size_t m = keep.size();
  std::vector<std::int32_t> new_index(n, -1);
  for (std::uint32_t k = 0; k < m; ++k) new_index[keep[k]] = static_cast<std::int32_t>(k);
  tree.tokens.reserve(m);
  tree.positions.reserve(m);
  tree.hard_index.reserve(m);
  tree.segments.reserve(m);
  for (std::uint32_t k = 0; k < m; ++k) {
    const std::uint32_t i = keep[k];
    tree.tokens.push_back(std::move(tokens[i]));
    tree.positions.push_back(flat[i].position);
    tree.hard_index.push_back(static_cast<std::int32_t>(i));
    tree.segments.push_back(flat[i].branch < 0 ? 0 : 1);
  }

  // Kept ranges (new indices) of each word's trunk, each word's branches, each branch.
  struct Range {
    std::int32_t b = -1, e = -1;
    void add(std::int32_t k) {
      if (b < 0) b = k;
      e = k + 1;
    }
  };
  std::vector<Range> trunk_r(words.size()), branches_r(words.size()), branch_r(branches.size());
  for (std::uint32_t k = 0; k < m; ++k) {
    const FlatToken& f = flat[keep[k]];
    if (f.branch < 0) {
      trunk_r[f.word].add(static_cast<std::int32_t>(k));
    } else {
      branches_r[f.word].add(static_cast<std::int32_t>(k));
      branch_r[f.branch].add(static_cast<std::int32_t>(k));
    }
  }

  // Visible matrix: trunk rows see the trunk and their word's branches; a branch row
  // sees its own branch and its word's trunk.
  tree.visible.setZero(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
  if (m > 0) {
    std::uint8_t* data = tree.visible.data();
    std::vector<std::uint8_t> trunk_row(m, 0);
    for (std::uint32_t k = 0; k < m; ++k) trunk_row[k] = tree.segments[k] == 0;
    auto fill = [&](std::uint8_t* row, const Range& r) {
      if (r.b >= 0) std::memset(row + r.b, 1, static_cast<std::size_t>(r.e - r.b));
    };
    for (std::uint32_t k = 0; k < m; ++k) {
      std::uint8_t* row = data + static_cast<std::size_t>(k) * m;
      const FlatToken& f = flat[keep[k]];
      if (f.branch < 0) {
        std::memcpy(row, trunk_row.data(), m);
        fill(row, branches_r[f.word]);
      } else {
        fill(row, branch_r[f.branch]);
        fill(row, trunk_r[f.word]);
      }
    }
  }

  // Model segment ids. UER (run_kbert_cls.py): pairs count [SEP]s, 1 then 2;
  // single texts are all 1; a [PAD] token is 0 either way. HF: 0, then 1 after the first [SEP].
  tree.uer_segments.resize(m);
  tree.hf_segments.resize(m);
  int seps = 0;
  for (std::uint32_t k = 0; k < m; ++k) {
    const bool pad = tree.tokens[k] == kPadToken;
    if (tree.is_pair) {
      tree.uer_segments[k] = pad ? 0 : 1 + seps;
      tree.hf_segments[k] = pad ? 0 : std::min(seps, 1);
      if (tree.tokens[k] == kSepToken && tree.segments[k] == 0) ++seps;
    } else {
      tree.uer_segments[k] = pad ? 0 : 1;
      tree.hf_segments[k] = 0;
    }
  }

  if (const Vocab* vocab = tok.vocab()) {
    tree.ids.reserve(m);
    for (const auto& t : tree.tokens) tree.ids.push_back(vocab->id(t));
  }

  for (std::size_t bi = 0; bi < branches.size(); ++bi) {
    const Range& r = branch_r[bi];
    if (r.b < 0) continue;
    const Branch& br = branches[bi];
    const Range& t = trunk_r[br.word];
    InjectedTriple inj;
    inj.entity = std::string(kg_->surface_form(static_cast<std::uint32_t>(words[br.word].surface)));
    inj.relation = br.relation;
    inj.object = br.object;
    inj.start = static_cast<std::uint32_t>(r.b);
    inj.end = static_cast<std::uint32_t>(r.e);
    inj.entity_start = static_cast<std::uint32_t>(std::max(t.b, 0));
    inj.entity_end = static_cast<std::uint32_t>(std::max(t.e, 0));
    tree.injected.push_back(std::move(inj));
  }
  return tree;
}

std::vector<SentenceTree> SentenceTreeBuilder::build_batch(const std::vector<std::string>& texts,
                                                           const std::vector<std::string>& texts_b,
                                                           unsigned threads) const {
  KBERT_CHECK(texts_b.empty() || texts_b.size() == texts.size(), "build_batch: ", texts.size(), " texts but ",
              texts_b.size(), " second texts");
  std::vector<SentenceTree> out(texts.size());
  if (threads == 0) threads = env::num_threads();
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(1, texts.size() / 16)));
  std::exception_ptr error;
  std::size_t error_index = 0;
  std::mutex error_mutex;
  auto work = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      try {
        out[i] = texts_b.empty() ? build(texts[i]) : build(texts[i], texts_b[i]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error || i < error_index) error = std::current_exception(), error_index = i;
        return;
      }
    }
  };
  if (threads <= 1) {
    work(0, texts.size());
  } else {
    std::vector<std::thread> pool;
    const std::size_t chunk = (texts.size() + threads - 1) / threads;
    for (unsigned t = 0; t < threads; ++t) {
      std::size_t b = t * chunk, e = std::min(texts.size(), b + chunk);
      if (b < e) pool.emplace_back(work, b, e);
    }
    for (auto& th : pool) th.join();
  }
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("text " + std::to_string(error_index + 1) + ": " + e.what());
    }
  }
  return out;
}

}  // namespace kbert
