#include "kbert/tree/sentence_tree.hpp"
#include "kbert/tree/limits.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "kbert/common/env.hpp"
#include "kbert/common/error.hpp"
#include "kbert/kg/entity_matcher.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/text/utf8.hpp"
#include "tree/tree_parts.hpp"

namespace kbert {

Truncation parse_truncation(std::string_view name) {
  if (name == "kbert") return Truncation::kKbert;
  if (name == "trunk_first" || name == "trunk-first") return Truncation::kTrunkFirst;
  throw std::invalid_argument("unknown truncation '" + std::string(name) + "' (expected kbert or trunk-first)");
}

const char* truncation_name(Truncation t) { return t == Truncation::kKbert ? "kbert" : "trunk_first"; }

namespace {
constexpr std::size_t kFactIndexMax = std::size_t{1} << 20;  // facts (at most): see the constructor
std::unique_ptr<tree_build::FactIndex> index_facts(const KnowledgeGraph& kg, const TreeOptions& options,
                                                   std::string_view joiner);
}  // namespace

SentenceTreeBuilder::SentenceTreeBuilder(const KnowledgeGraph* kg, std::shared_ptr<const Tokenizer> tokenizer,
                                         TreeOptions options)
    : kg_(kg), tokenizer_(std::move(tokenizer)), options_(options) {
  KBERT_CHECK(tokenizer_ != nullptr, "SentenceTreeBuilder needs a tokenizer");
  KBERT_CHECK(options_.max_length > 0 && options_.max_length <= kMaxTreeLength, "max_length must be from 1 to ",
              kMaxTreeLength, ", got ", options_.max_length);
  KBERT_CHECK(options_.max_entities <= kMaxEntities, "max_entities must be at most ", kMaxEntities, ", got ",
              options_.max_entities);
  KBERT_CHECK(options_.hops >= 1 && options_.hops <= kMaxHops, "hops must be from 1 to ", kMaxHops, ", got ",
              options_.hops);
  KBERT_CHECK(options_.max_facts <= kMaxFacts, "max_facts must be at most ", kMaxFacts, ", got ", options_.max_facts);
  if (kg_ && options_.max_entities > 0) {
    matcher_ = std::make_unique<EntityMatcher>();
    const std::size_t n = kg_->num_surface_forms();
    for (std::uint32_t id = 0; id < n; ++id) {
      if (!kg_->has_facts(id)) continue;
      std::u32string key = tokenizer_->match_key(kg_->surface_form(id));
      if (!key.empty()) matcher_->add(key, id);
    }
    // The index costs construction time and memory in proportion to the KG's forms: on a
    // 5M-triple KG (1.2M forms) 1.2-2.5 s and about 100 MB more, for a lookup that misses the
    // cache either way. Up to 2^20 facts it is built (HowNet: 90K, 20 ms, 4 MB).
    const std::size_t limit = options_.max_facts ? std::min(options_.max_facts, options_.max_entities)
                                                 : options_.max_entities;
    if (options_.hops == 1 && kg_->num_surface_forms() * limit <= kFactIndexMax)
      facts_ = index_facts(*kg_, options_, tokenizer_->predicate_joiner());
  }
}

SentenceTreeBuilder::~SentenceTreeBuilder() = default;
SentenceTreeBuilder::SentenceTreeBuilder(SentenceTreeBuilder&&) noexcept = default;
SentenceTreeBuilder& SentenceTreeBuilder::operator=(SentenceTreeBuilder&&) noexcept = default;

SentenceTree SentenceTreeBuilder::build(std::string_view text) const { return build_impl(text, nullptr); }

SentenceTree SentenceTreeBuilder::build(std::string_view text_a, std::string_view text_b) const {
  return build_impl(text_a, &text_b);
}

using namespace tree_build;

namespace {

// The facts of one entity mention, breadth first: each node's facts in KG order (by score
// when the KG has scores), a repeated value skipped as K-BERT does, at most max_entities
// per node and max_facts in all. With hops = 1 this is K-BERT's choice exactly.
void choose_facts(const KnowledgeGraph& kg, const TreeOptions& o, std::string_view joiner, std::uint32_t surface,
                  Scratch& sc) {
  auto& chosen = sc.chosen;
  auto& nodes = sc.nodes;
  chosen.clear();
  nodes.clear();
  const bool multi = o.hops > 1;
  const std::size_t total = o.max_facts ? o.max_facts : o.max_entities * o.hops;
  nodes.push_back({surface, -1, 1});
  if (multi) {
    sc.expanded.clear();
    sc.expanded.insert(surface);
  }
  // Whether surface id `v` is the mention or the object of a fact on the path ending at `from`.
  auto on_path = [&](std::int64_t v, std::int32_t from) {
    if (v == surface) return true;
    for (std::int32_t a = from; a >= 0; a = chosen[static_cast<std::size_t>(a)].parent)
      if (chosen[static_cast<std::size_t>(a)].object == v) return true;
    return false;
  };
  for (std::size_t q = 0; q < nodes.size() && chosen.size() < total; ++q) {
    const Node node = nodes[q];
    const std::size_t first = chosen.size();
    const std::size_t limit = std::min(o.max_entities, total - first);
    kg.for_each_fact(node.surface, [&](const KgFact& f) {
      std::int64_t object = -1;
      if (multi) {
        object = kg.surface_id(f.object);
        // No vertex twice on a path (hop 1 is K-BERT's and keeps its facts as they are).
        if (node.hop > 1 && object >= 0 && on_path(object, node.from)) return true;
      }
      std::string value;
      if (o.predicate) {
        value.reserve(f.relation.size() + joiner.size() + f.object.size());
        value.append(f.relation).append(joiner).append(f.object);
      } else {
        value.assign(f.object);
      }
      // K-BERT keeps a set of values per entity: a repeated one is skipped. A hash set once
      // there are many, so that a large max_entities stays linear in the entity's facts.
      const std::size_t taken = chosen.size() - first;
      if (taken < 8) {
        for (std::size_t i = first; i < chosen.size(); ++i)
          if (chosen[i].value == value) return true;
        if (taken == 7) {
          sc.seen.clear();
          for (std::size_t i = first; i < chosen.size(); ++i) sc.seen.insert(chosen[i].value);
          sc.seen.insert(value);
        }
      } else if (!sc.seen.insert(value).second) {
        return true;
      }
      chosen.push_back({std::move(value), f, node.from, node.hop, node.surface, object});
      return chosen.size() - first < limit;
    });
    if (node.hop >= o.hops) continue;
    for (std::size_t i = first; i < chosen.size(); ++i) {
      const std::int64_t v = chosen[i].object;
      if (v < 0 || !kg.has_facts(static_cast<std::uint32_t>(v))) continue;
      if (!sc.expanded.insert(static_cast<std::uint32_t>(v)).second) continue;  // once per mention
      nodes.push_back({static_cast<std::uint32_t>(v), static_cast<std::int32_t>(i), node.hop + 1});
    }
  }
}

std::unique_ptr<FactIndex> index_facts(const KnowledgeGraph& kg, const TreeOptions& options, std::string_view joiner) {
  auto index = std::make_unique<FactIndex>();
  index->joiner_size = static_cast<std::uint32_t>(joiner.size());
  index->predicate = options.predicate;
  const std::size_t n = kg.num_surface_forms();
  index->begin.resize(n + 1);
  index->entries.reserve(n * std::min<std::size_t>(options.max_entities, 4));
  Scratch sc;
  for (std::uint32_t id = 0; id < n; ++id) {
    index->begin[id] = static_cast<std::uint32_t>(index->entries.size());
    if (!kg.has_facts(id)) continue;
    choose_facts(kg, options, joiner, id, sc);
    for (const Chosen& c : sc.chosen) {
      const std::size_t offset = index->text.size();
      index->text.append(c.fact.relation).append(joiner).append(c.fact.object);
      // 32-bit offsets: a KG whose chosen facts exceed 4 GiB of text is looked up per mention.
      if (index->text.size() > UINT32_MAX || index->entries.size() >= UINT32_MAX) return nullptr;
      index->entries.push_back({static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(c.fact.relation.size()),
                                static_cast<std::uint32_t>(c.fact.object.size())});
    }
  }
  index->begin[n] = static_cast<std::uint32_t>(index->entries.size());
  index->entries.shrink_to_fit();
  index->text.shrink_to_fit();
  return index;
}

// The facts an entity mention injects, into sc.views: from the index (hops = 1), else chosen
// now (choose_facts).
const std::vector<ChosenView>& mention_facts(const KnowledgeGraph& kg, const FactIndex* index, const TreeOptions& o,
                                             std::string_view joiner, std::uint32_t surface, Scratch& sc) {
  std::vector<ChosenView>& views = sc.views;
  views.clear();
  if (index) {
    const std::string_view text = index->text;
    for (std::uint32_t e = index->begin[surface]; e < index->begin[surface + 1]; ++e) {
      const FactIndex::Entry& x = index->entries[e];
      const std::string_view relation = text.substr(x.offset, x.relation_size);
      const std::string_view object = text.substr(x.offset + x.relation_size + index->joiner_size, x.object_size);
      const std::string_view value =
          index->predicate ? text.substr(x.offset, x.relation_size + index->joiner_size + x.object_size) : object;
      views.push_back({value, relation, object, -1, 1, surface});
    }
    return views;
  }
  choose_facts(kg, o, joiner, surface, sc);
  for (const Chosen& c : sc.chosen) views.push_back({c.value, c.fact.relation, c.fact.object, c.parent, c.hop, c.node});
  return views;
}

// Lays the chosen facts out depth first after the mention's trunk: a branch, then its
// sub-branches (each followed by its own), then the next hop-1 branch. A branch's soft
// positions count on from the last token of its parent (hop 1: of the word's trunk). An
// empty branch (a value with no tokens) is left out with its sub-branches.
void lay_out(const Tokenizer& tok, std::uint32_t word, std::int32_t trunk_end, Scratch& sc, std::size_t cap) {
  const auto& chosen = sc.views;
  const std::size_t n = chosen.size();
  auto& first_child = sc.first_child;
  auto& next_sibling = sc.next_sibling;
  first_child.assign(n, -1);
  next_sibling.assign(n, -1);
  for (std::size_t i = n; i-- > 0;) {
    const std::int32_t p = chosen[i].parent;
    if (p >= 0) {
      next_sibling[i] = first_child[static_cast<std::size_t>(p)];
      first_child[static_cast<std::size_t>(p)] = static_cast<std::int32_t>(i);
    }
  }
  TokenBuffer& tokens = sc.seg.tokens;
  std::vector<FlatToken>& flat = sc.flat;
  // Depth is at most kMaxHops, so recursion is shallow.
  auto emit = [&](auto&& self, std::size_t i, std::int32_t base, std::int32_t parent_branch) -> void {
    if (flat.size() >= cap) return;
    const auto start = static_cast<std::uint32_t>(tokens.size());
    tok.tokenize_into(chosen[i].value, tokens);
    if (tokens.size() == start) return;
    const auto bi = static_cast<std::int32_t>(sc.branches.size());
    const auto flat_start = static_cast<std::uint32_t>(flat.size());
    std::int32_t p = base;
    for (std::uint32_t t = start; t < tokens.size(); ++t) {
      FlatToken& f = flat.emplace_back();  // in place, as in flatten()
      f.position = ++p;
      f.word = word;
      f.branch = bi;
      f.token = t;
    }
    sc.branches.push_back({word, flat_start, static_cast<std::uint32_t>(flat.size()), parent_branch, chosen[i].hop,
                           chosen[i].node, chosen[i].relation, chosen[i].object});
    for (std::int32_t c = first_child[i]; c >= 0; c = next_sibling[static_cast<std::size_t>(c)])
      self(self, static_cast<std::size_t>(c), p, bi);
  };
  for (std::size_t i = 0; i < n; ++i)
    if (chosen[i].parent < 0) emit(emit, i, trunk_end, -1);
}

// Step 1: words and their trunk tokens. Either truncation keeps at most L trunk tokens, so
// segmentation may stop there.
void segment(const Tokenizer& tok, const EntityMatcher* matcher, const TreeOptions& options, std::string_view a,
             const std::string_view* b, Scratch& sc) {
  TokenizedText& seg = sc.seg;
  const std::size_t L = options.max_length;
  if (tok.tags_in_text() && b) {
    // K-BERT builds the string "[CLS]" + a + "[SEP]" + b + "[SEP]" and segments it whole
    // (a mention in a may run into the [SEP] after it). Decoding validates it; on an error each
    // text is checked on its own, so that the error's byte offset is the text's (validating
    // twice up front cost 5% of a short text's tree). A single text needs no copy: a tag at the
    // start of the string is always taken whole, so "[CLS]" + a segments as [CLS], then a.
    std::string& text = sc.text;
    text.clear();
    if (options.add_special) text += kClsToken;
    text += a;
    if (options.add_special) text += kSepToken;
    text += *b;
    if (options.add_special) text += kSepToken;
    try {
      tok.append_segments(text, matcher, seg, L);
    } catch (const std::invalid_argument&) {
      check_utf8(a, "text");
      check_utf8(*b, "second text");
      throw;
    }
  } else {
    if (options.add_special) seg.push_special(kClsToken);
    tok.append_segments(a, matcher, seg, L);
    if (tok.tags_in_text()) return;  // K-BERT's single text: "[CLS]" + a, no [SEP]
    if (options.add_special) seg.push_special(kSepToken);
    if (b) {
      tok.append_segments(*b, matcher, seg, L);
      if (options.add_special) seg.push_special(kSepToken);
    }
  }
}

// Step 2: the flattened tree: trunk of w1, branches of w1, trunk of w2, ... With kbert
// truncation nothing after the first L tokens can survive, so it stops there. Returns the
// words laid out (kbert truncation may stop before the last).
std::size_t flatten(const Tokenizer& tok, const KnowledgeGraph* kg, const FactIndex* index, const TreeOptions& options,
                    Scratch& sc) {
  TokenizedText& seg = sc.seg;
  const std::size_t L = options.max_length;
  const bool kbert_cut = options.truncation == Truncation::kKbert;
  std::vector<FlatToken>& flat = sc.flat;
  std::vector<Branch>& branches = sc.branches;
  flat.clear();
  branches.clear();
  const std::size_t cap = kbert_cut ? L : std::numeric_limits<std::size_t>::max();
  flat.reserve(std::min(cap, seg.tokens.size() * 2));
  std::int32_t pos = -1;
  std::size_t words = 0;  // words laid out (kbert truncation may stop before the last)
  const std::string_view joiner = tok.predicate_joiner();
  for (std::uint32_t wi = 0; wi < seg.words.size() && flat.size() < cap; ++wi) {
    const Word& w = seg.words[wi];
    const std::int64_t surface = w.special ? -1 : w.surface;
    for (std::uint32_t t = w.token_begin; t < w.token_end; ++t) {
      // Written in place: push_back({...}) built the token on the stack with 32-bit stores and
      // read it back with a 64-bit load, a store-forwarding stall per token (a quarter of this
      // step's time on short texts).
      FlatToken& f = flat.emplace_back();
      f.position = ++pos;
      f.word = wi;
      f.branch = -1;
      f.token = t;
    }
    ++words;
    if (surface < 0 || !kg || options.max_entities == 0) continue;
    mention_facts(*kg, index, options, joiner, static_cast<std::uint32_t>(surface), sc);
    lay_out(tok, wi, pos, sc, cap);
  }
  return words;
}

}  // namespace

SentenceTree SentenceTreeBuilder::build_impl(std::string_view a, const std::string_view* b) const {
  const Tokenizer& tok = *tokenizer_;
  thread_local Scratch sc;
  sc.seg.clear();
  SentenceTree tree;
  tree.is_pair = b != nullptr;
  segment(tok, matcher_.get(), options_, a, b, sc);
  const std::size_t words = flatten(tok, kg_, facts_.get(), options_, sc);
  keep_tokens(options_, sc);
  write_outputs(tok, words, sc, tree);
  if (kg_) list_injected(*kg_, sc, tree);
  return tree;
}

std::vector<InjectedTriple> SentenceTreeBuilder::facts(std::string_view text) const {
  thread_local Scratch sc;
  sc.seg.clear();
  std::vector<InjectedTriple> out;
  check_utf8(text, "text");
  tokenizer_->append_segments(text, matcher_.get(), sc.seg, std::numeric_limits<std::size_t>::max());
  if (!kg_ || options_.max_entities == 0) return out;
  const std::string_view joiner = tokenizer_->predicate_joiner();
  for (const Word& w : sc.seg.words) {
    if (w.special || w.surface < 0) continue;
    const auto& views = mention_facts(*kg_, facts_.get(), options_, joiner, static_cast<std::uint32_t>(w.surface), sc);
    const auto base = static_cast<std::int32_t>(out.size());
    for (const ChosenView& c : views) {
      InjectedTriple t;
      t.entity = std::string(kg_->surface_form(c.node));
      t.relation = std::string(c.relation);
      t.object = std::string(c.object);
      t.hop = c.hop;
      t.parent = c.parent < 0 ? -1 : base + c.parent;
      out.push_back(std::move(t));
    }
  }
  return out;
}

SentenceTree remove_branch(const SentenceTree& tree, std::size_t index) {
  if (index >= tree.injected.size())
    throw std::out_of_range("remove_branch: injected fact " + std::to_string(index) + " of " +
                            std::to_string(tree.injected.size()));
  // The fact's sub-branches follow it (depth-first layout): its descendants are the facts
  // after it whose parent chain reaches it, and their tokens end the removed range.
  const std::size_t facts = tree.injected.size();
  std::vector<std::uint8_t> removed(facts, 0);
  removed[index] = 1;
  std::uint32_t e = tree.injected[index].end;
  for (std::size_t i = index + 1; i < facts; ++i) {
    const std::int32_t p = tree.injected[i].parent;
    if (p >= 0 && static_cast<std::size_t>(p) < i && removed[static_cast<std::size_t>(p)]) {
      removed[i] = 1;
      e = std::max(e, tree.injected[i].end);
    }
  }
  const std::uint32_t b = tree.injected[index].start, len = e - b;
  const std::size_t n = tree.size(), m = n - len;
  SentenceTree t;
  t.is_pair = tree.is_pair;
  auto cut = [&](const auto& v, auto& out) {
    if (v.empty()) return;
    out.assign(v.begin(), v.begin() + b);
    out.insert(out.end(), v.begin() + e, v.end());
  };
  t.tokens.append_range(tree.tokens, 0, b);
  t.tokens.append_range(tree.tokens, e, n - e);
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
  std::vector<std::int32_t> renumber(facts, -1);
  for (std::size_t i = 0; i < facts; ++i) {
    if (removed[i]) continue;
    InjectedTriple x = tree.injected[i];
    x.start = shift(x.start);
    x.end = shift(x.end);
    x.entity_start = shift(x.entity_start);
    x.entity_end = shift(x.entity_end);
    if (x.parent >= 0) x.parent = static_cast<std::size_t>(x.parent) < i ? renumber[static_cast<std::size_t>(x.parent)] : -1;
    renumber[i] = static_cast<std::int32_t>(t.injected.size());
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
