#include "kbert/tree/sentence_tree.hpp"
#include "kbert/tree/limits.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "kbert/common/env.hpp"
#include "kbert/common/error.hpp"
#include "kbert/kg/entity_matcher.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/text/utf8.hpp"

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
  KBERT_CHECK(options_.max_length > 0 && options_.max_length <= kMaxTreeLength, "max_length must be from 1 to ",
              kMaxTreeLength, ", got ", options_.max_length);
  KBERT_CHECK(options_.max_entities <= kMaxEntities, "max_entities must be at most ", kMaxEntities, ", got ",
              options_.max_entities);
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
  std::string_view relation, object;  // views into the KG
};


// Kept range (new indices) of a group of tokens; contiguous by construction.
struct Range {
  std::int32_t b = -1, e = -1;
  void add(std::int32_t k) {
    if (b < 0) b = k;
    e = k + 1;
  }
};

// Per-thread buffers, reused from tree to tree.
struct Scratch {
  TokenizedText seg;
  std::vector<FlatToken> flat;
  std::vector<Branch> branches;
  std::vector<std::int64_t> words;  // per word: its surface id, or -1
  std::vector<std::pair<std::string, KgFact>> values;
  std::unordered_set<std::string> seen;  // values already taken, once there are many
  std::vector<std::uint32_t> keep;
  std::vector<std::uint8_t> kept_branch, trunk_row;
  std::vector<Range> trunk_r, branches_r, branch_r;
  std::string text;
};

}  // namespace

SentenceTree SentenceTreeBuilder::build_impl(std::string_view a, const std::string_view* b) const {
  const Tokenizer& tok = *tokenizer_;
  thread_local Scratch sc;
  TokenizedText& seg = sc.seg;
  seg.clear();
  SentenceTree tree;
  tree.is_pair = b != nullptr;
  const std::size_t L = options_.max_length;
  const bool kbert_cut = options_.truncation == Truncation::kKbert;

  // 1. Words and their trunk tokens. Either policy keeps at most L trunk tokens, so
  // segmentation may stop there.
  if (tok.tags_in_text()) {
    // K-BERT builds the string "[CLS]" + a + "[SEP]" + b + "[SEP]" and segments it whole.
    // Each text is checked on its own first, so that an error's byte offset is the text's.
    check_utf8(a, "text");
    if (b) check_utf8(*b, "second text");
    std::string& text = sc.text;
    text.clear();
    if (options_.add_special) text += kClsToken;
    text += a;
    if (b) {
      if (options_.add_special) text += kSepToken;
      text += *b;
      if (options_.add_special) text += kSepToken;
    }
    tok.append_segments(text, matcher_.get(), seg, L);
  } else {
    if (options_.add_special) seg.push_special(kClsToken);
    tok.append_segments(a, matcher_.get(), seg, L);
    if (options_.add_special) seg.push_special(kSepToken);
    if (b) {
      tok.append_segments(*b, matcher_.get(), seg, L);
      if (options_.add_special) seg.push_special(kSepToken);
    }
  }

  // 2. The flattened tree: trunk of w1, branches of w1, trunk of w2, ... With kbert
  // truncation nothing after the first L tokens can survive, so stop there.
  std::vector<std::string>& tokens = tree.tokens;
  std::vector<FlatToken>& flat = sc.flat;
  std::vector<Branch>& branches = sc.branches;
  std::vector<std::int64_t>& words = sc.words;
  flat.clear();
  branches.clear();
  words.clear();
  const std::size_t cap = kbert_cut ? L : std::numeric_limits<std::size_t>::max();
  tokens.reserve(std::min(cap, seg.tokens.size() * 2));
  std::int32_t pos = -1;
  const std::string_view joiner = tok.predicate_joiner();
  for (std::uint32_t wi = 0; wi < seg.words.size() && tokens.size() < cap; ++wi) {
    const Word& w = seg.words[wi];
    const std::int64_t surface = w.special ? -1 : w.surface;
    for (std::uint32_t t = w.token_begin; t < w.token_end; ++t) {
      tokens.push_back(std::move(seg.tokens[t]));
      flat.push_back({++pos, wi, -1});
    }
    words.push_back(surface);
    if (surface < 0 || !kg_ || options_.max_entities == 0) continue;
    auto& values = sc.values;
    auto& seen = sc.seen;
    values.clear();
    kg_->for_each_fact(static_cast<std::uint32_t>(surface), [&](const KgFact& f) {
      std::string value;
      if (options_.predicate) {
        value.reserve(f.relation.size() + joiner.size() + f.object.size());
        value.append(f.relation).append(joiner).append(f.object);
      } else {
        value.assign(f.object);
      }
      // K-BERT keeps a set of values: a repeated one is skipped. A hash set once there are
      // many, so that a large max_entities stays linear in the entity's facts.
      if (values.size() < 8) {
        for (const auto& v : values)
          if (v.first == value) return true;
        if (values.size() == 7) {
          seen.clear();
          for (const auto& v : values) seen.insert(v.first);
          seen.insert(value);
        }
      } else if (!seen.insert(value).second) {
        return true;
      }
      values.emplace_back(std::move(value), f);
      return values.size() < options_.max_entities;
    });
    const std::int32_t base = pos;  // the last trunk token of w
    for (const auto& [value, fact] : values) {
      if (tokens.size() >= cap) break;
      const auto start = static_cast<std::uint32_t>(tokens.size());
      tok.tokenize_into(value, tokens);
      if (tokens.size() == start) continue;
      const auto bi = static_cast<std::int32_t>(branches.size());
      std::int32_t p = base;
      for (std::size_t t = start; t < tokens.size(); ++t) flat.push_back({++p, wi, bi});
      branches.push_back({wi, start, static_cast<std::uint32_t>(tokens.size()), fact.relation, fact.object});
    }
  }

  // 3. Which flattened tokens are kept.
  const std::size_t n = tokens.size();
  std::vector<std::uint32_t>& keep = sc.keep;
  keep.clear();
  if (kbert_cut || n <= L) {
    keep.resize(std::min(n, L));
    for (std::uint32_t i = 0; i < keep.size(); ++i) keep[i] = i;
  } else {
    std::size_t trunk = 0;
    for (const auto& f : flat) trunk += f.branch < 0;
    sc.kept_branch.assign(branches.size(), 0);
    if (trunk < L) {
      std::size_t budget = L - trunk;
      for (std::size_t bi = 0; bi < branches.size(); ++bi) {
        std::size_t len = branches[bi].end - branches[bi].start;
        if (len <= budget) {
          sc.kept_branch[bi] = 1;
          budget -= len;
        }
      }
    }
    std::size_t trunk_kept = 0;
    for (std::uint32_t i = 0; i < n && keep.size() < L; ++i) {
      if (flat[i].branch < 0) {
        if (trunk_kept < L) keep.push_back(i), ++trunk_kept;
      } else if (sc.kept_branch[flat[i].branch]) {
        keep.push_back(i);
      }
    }
  }
  const std::size_t m = keep.size();
  const bool identity = m == n || (m > 0 && keep[m - 1] == m - 1);
  if (!identity) {
    std::vector<std::string> kept;
    kept.reserve(m);
    for (std::uint32_t i : keep) kept.push_back(std::move(tokens[i]));
    tokens.swap(kept);
  } else {
    tokens.resize(m);
  }

  // 4. Outputs over the kept tokens.
  tree.positions.resize(m);
  tree.hard_index.resize(m);
  tree.segments.resize(m);
  for (std::uint32_t k = 0; k < m; ++k) {
    const FlatToken& f = flat[keep[k]];
    tree.positions[k] = f.position;
    tree.hard_index[k] = static_cast<std::int32_t>(keep[k]);
    tree.segments[k] = f.branch < 0 ? 0 : 1;
  }
  sc.trunk_r.assign(words.size(), Range{});
  sc.branches_r.assign(words.size(), Range{});
  sc.branch_r.assign(branches.size(), Range{});
  for (std::uint32_t k = 0; k < m; ++k) {
    const FlatToken& f = flat[keep[k]];
    if (f.branch < 0) {
      sc.trunk_r[f.word].add(static_cast<std::int32_t>(k));
    } else {
      sc.branches_r[f.word].add(static_cast<std::int32_t>(k));
      sc.branch_r[f.branch].add(static_cast<std::int32_t>(k));
    }
  }

  // Visible matrix: a trunk row sees the trunk and its word's branches; a branch row
  // sees its own branch and its word's trunk. Every row is written whole.
  tree.visible.resize(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
  if (m > 0) {
    std::uint8_t* data = tree.visible.data();
    sc.trunk_row.resize(m);
    for (std::uint32_t k = 0; k < m; ++k) sc.trunk_row[k] = tree.segments[k] == 0;
    auto fill = [](std::uint8_t* row, const Range& r) {
      if (r.b >= 0) std::memset(row + r.b, 1, static_cast<std::size_t>(r.e - r.b));
    };
    for (std::uint32_t k = 0; k < m; ++k) {
      std::uint8_t* row = data + static_cast<std::size_t>(k) * m;
      const FlatToken& f = flat[keep[k]];
      if (f.branch < 0) {
        std::memcpy(row, sc.trunk_row.data(), m);
        fill(row, sc.branches_r[f.word]);
      } else {
        std::memset(row, 0, m);
        fill(row, sc.branch_r[f.branch]);
        fill(row, sc.trunk_r[f.word]);
      }
    }
  }

  // Model segment ids. UER (run_kbert_cls.py): pairs count [SEP]s, 1 then 2;
  // single texts are all 1; a [PAD] token is 0 either way. HF: 0, then 1 after the first [SEP].
  tree.uer_segments.resize(m);
  tree.hf_segments.resize(m);
  int seps = 0;
  for (std::uint32_t k = 0; k < m; ++k) {
    const bool pad = tokens[k] == kPadToken;
    if (tree.is_pair) {
      tree.uer_segments[k] = pad ? 0 : 1 + seps;
      tree.hf_segments[k] = pad ? 0 : std::min(seps, 1);
      if (tree.segments[k] == 0 && tokens[k] == kSepToken) ++seps;
    } else {
      tree.uer_segments[k] = pad ? 0 : 1;
      tree.hf_segments[k] = 0;
    }
  }

  if (const Vocab* vocab = tok.vocab()) {
    tree.ids.reserve(m);
    for (const auto& t : tokens) tree.ids.push_back(vocab->id(t));
  }

  for (std::size_t bi = 0; bi < branches.size(); ++bi) {
    const Range& r = sc.branch_r[bi];
    if (r.b < 0) continue;
    const Branch& br = branches[bi];
    const Range& t = sc.trunk_r[br.word];
    InjectedTriple inj;
    inj.entity = std::string(kg_->surface_form(static_cast<std::uint32_t>(words[br.word])));
    inj.relation = std::string(br.relation);
    inj.object = std::string(br.object);
    inj.start = static_cast<std::uint32_t>(r.b);
    inj.end = static_cast<std::uint32_t>(r.e);
    inj.entity_start = static_cast<std::uint32_t>(std::max(t.b, 0));
    inj.entity_end = static_cast<std::uint32_t>(std::max(t.e, 0));
    tree.injected.push_back(std::move(inj));
  }
  return tree;
}

SentenceTree remove_branch(const SentenceTree& tree, std::size_t index) {
  if (index >= tree.injected.size())
    throw std::out_of_range("remove_branch: injected fact " + std::to_string(index) + " of " +
                            std::to_string(tree.injected.size()));
  const std::uint32_t b = tree.injected[index].start, e = tree.injected[index].end, len = e - b;
  const std::size_t n = tree.size(), m = n - len;
  SentenceTree t;
  t.is_pair = tree.is_pair;
  auto cut = [&](const auto& v, auto& out) {
    if (v.empty()) return;
    out.assign(v.begin(), v.begin() + b);
    out.insert(out.end(), v.begin() + e, v.end());
  };
  cut(tree.tokens, t.tokens);
  cut(tree.ids, t.ids);
  cut(tree.positions, t.positions);
  cut(tree.hard_index, t.hard_index);
  cut(tree.segments, t.segments);
  cut(tree.uer_segments, t.uer_segments);
  cut(tree.hf_segments, t.hf_segments);
  t.visible.resize(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
  auto old = [&](std::size_t k) { return k < b ? k : k + len; };
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < m; ++j)
      t.visible(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) =
          tree.visible(static_cast<Eigen::Index>(old(i)), static_cast<Eigen::Index>(old(j)));
  auto shift = [&](std::uint32_t k) { return k >= e ? k - len : k; };
  for (std::size_t i = 0; i < tree.injected.size(); ++i) {
    if (i == index) continue;
    InjectedTriple x = tree.injected[i];
    x.start = shift(x.start);
    x.end = shift(x.end);
    x.entity_start = shift(x.entity_start);
    x.entity_end = shift(x.entity_end);
    t.injected.push_back(std::move(x));
  }
  return t;
}

std::vector<SentenceTree> SentenceTreeBuilder::build_batch(const std::vector<std::string>& texts,
                                                           const std::vector<std::string>& texts_b,
                                                           unsigned threads) const {
  KBERT_CHECK(texts_b.empty() || texts_b.size() == texts.size(), "build_batch: ", texts.size(), " texts but ",
              texts_b.size(), " second texts");
  std::vector<SentenceTree> out(texts.size());
  env::check_threads(threads);
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
