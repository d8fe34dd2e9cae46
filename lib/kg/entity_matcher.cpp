#include "kbert/kg/entity_matcher.hpp"

#include <algorithm>

namespace kbert {
namespace {
inline std::uint64_t slot_key(std::uint32_t node, char32_t c) {
  return ((std::uint64_t{node} << 21) | c) + 1;
}
inline std::size_t slot_hash(std::uint64_t k) {
  k ^= k >> 31;
  k *= 0x7fb5d329728ea185ull;
  k ^= k >> 27;
  return static_cast<std::size_t>(k);
}
}  // namespace

EntityMatcher::EntityMatcher() : table_(1024, Slot{0, 0, kNone, 0}), nodes_(1), slot_of_(1, kNone), root_(0x10000, kNone) {}

std::uint32_t EntityMatcher::child(std::uint32_t node, char32_t c) const {
  if (node == 0 && c < 0x10000) return root_[c];
  if ((nodes_[node].children & filter_bit(c)) == 0) return kNone;
  const std::uint64_t k = slot_key(node, c);
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = slot_hash(k) & mask;; i = (i + 1) & mask) {
    const Slot& s = table_[i];
    if (s.key == k) return s.child;
    if (s.key == 0) return kNone;
  }
}

void EntityMatcher::grow() {
  std::vector<Slot> t(table_.size() * 2, Slot{0, 0, kNone, 0});
  const std::size_t mask = t.size() - 1;
  for (const Slot& s : table_) {
    if (!s.key) continue;
    std::size_t i = slot_hash(s.key) & mask;
    while (t[i].key) i = (i + 1) & mask;
    t[i] = s;
    slot_of_[s.child] = static_cast<std::uint32_t>(i);
  }
  table_.swap(t);
}

std::uint32_t EntityMatcher::add_child(std::uint32_t node, char32_t c) {
  std::uint32_t found = child(node, c);
  if (found != kNone) return found;
  if (node == 0 && c < 0x10000) {
    root_[c] = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
    slot_of_.push_back(kNone);
    return root_[c];
  }
  if ((edges_ + 1) * 2 > table_.size()) grow();
  const std::uint64_t k = slot_key(node, c);
  const std::size_t mask = table_.size() - 1;
  std::size_t i = slot_hash(k) & mask;
  while (table_[i].key) i = (i + 1) & mask;
  const auto id = static_cast<std::uint32_t>(nodes_.size());
  nodes_[node].children |= filter_bit(c);
  if (slot_of_[node] != kNone) table_[slot_of_[node]].children |= filter_bit(c);
  nodes_.emplace_back();
  slot_of_.push_back(static_cast<std::uint32_t>(i));
  table_[i] = Slot{k, id, kNone, 0};
  ++edges_;
  return id;
}

void EntityMatcher::add(std::u32string_view key, std::uint32_t payload) {
  if (key.empty()) return;
  if (key.size() >= 2) {
    const std::size_t i = pair_bit(key[0], key[1]);
    pairs_[i >> 6] |= std::uint64_t{1} << (i & 63);
  }
  std::uint32_t node = 0;
  for (char32_t c : key) node = add_child(node, c);
  if (nodes_[node].payload == kNone) {
    nodes_[node].payload = payload;
    if (slot_of_[node] != kNone) table_[slot_of_[node]].payload = payload;
    if (key.size() == 1 && key[0] < 0x10000) singles_[key[0] >> 6] |= std::uint64_t{1} << (key[0] & 63);
    ++keys_;
    if (key.size() > max_len_) max_len_ = key.size();
  }
}

EntityMatcher::Match EntityMatcher::longest_at(std::u32string_view text, std::size_t pos,
                                               const std::vector<std::uint8_t>* ends) const {
  Match best;
  const std::size_t n = text.size();
  if (pos >= n) return best;
  auto ends_at = [&](std::size_t e) { return !ends || (*ends)[e]; };
  const char32_t c0 = text[pos];
  // Most positions start no key: the filters say so from small arrays (L1, L2) before any
  // read of the trie's larger arrays (on HowNet, 78% of positions end at the pair filter).
  // A key of one code point: in the BMP, a bitmap says whether there is one.
  const bool bmp = c0 < 0x10000;
  std::uint32_t node = kNone;  // the first node, read only where a key may start with c0
  if (bmp) {
    if ((singles_[c0 >> 6] >> (c0 & 63)) & 1) node = root_[c0];
  } else {
    node = child(0, c0);
  }
  if (node != kNone && nodes_[node].payload != kNone && ends_at(pos + 1)) best = {1, nodes_[node].payload};
  // Longer keys only where the filter of keys' first two code points passes.
  if (pos + 1 == n || !has_pair(c0, text[pos + 1])) return best;
  if (bmp) node = root_[c0];
  if (node == kNone) return best;
  for (std::size_t i = pos + 1; i < n; ++i) {
    node = child(node, text[i]);
    if (node == kNone) break;
    const Node& nd = nodes_[node];
    if (nd.payload != kNone && ends_at(i + 1)) best = {i + 1 - pos, nd.payload};
  }
  return best;
}

void EntityMatcher::longest_in(std::u32string_view text, std::size_t begin, std::size_t end, std::vector<Match>& out,
                               const std::vector<std::uint8_t>* ends) const {
  const std::size_t n = text.size();
  end = std::min(end, n);
  begin = std::min(begin, end);
  out.resize(end - begin);  // every entry is reset in round 0's first loop (assign() was a loop of its own)
  if (begin == end) return;
  Match* res = out.data();
  auto ends_at = [&](std::size_t e) { return !ends || (*ends)[e]; };
  // A walk: a position whose first two code points may start a key, at its current node.
  struct Walk {
    std::uint32_t at;    // index into out
    std::uint32_t node;  // the node after `depth` code points
    std::size_t slot;    // where this round's probe starts
  };
  thread_local std::vector<Walk> walks;
  thread_local std::vector<std::uint32_t> starts;
  walks.clear();
  // Round 0, as longest_at: the one-code-point keys and the pair filter (small arrays). First
  // without a branch on the data, so that the filters' loads overlap (a branch per position,
  // mispredicted wherever a key may start, made each load's latency count): the positions
  // where a key may start, compacted into `starts`.
  if (starts.size() < end - begin + 1) starts.resize(end - begin + 1);
  std::uint32_t* st = starts.data();
  const char32_t* t = text.data();
  const std::uint64_t* singles = singles_.data();
  const std::uint64_t* pairs = pairs_.data();
  std::size_t count = 0;
  const std::size_t last = end < n ? end : n - 1;  // positions with a next code point
  std::size_t p = begin;
  for (; p < last; ++p) {
    const char32_t c0 = t[p];
    const std::size_t i = pair_bit(c0, t[p + 1]);
    const bool bmp = c0 < 0x10000;
    const char32_t b = bmp ? c0 : 0;
    const std::uint64_t maybe = ((singles[b >> 6] >> (b & 63)) | (pairs[i >> 6] >> (i & 63)) | !bmp) & 1;
    st[count] = static_cast<std::uint32_t>(p);
    count += maybe;
    res[p - begin] = Match{};
  }
  if (p < end) {  // the text's last code point: checked below
    st[count++] = static_cast<std::uint32_t>(p);
    res[p - begin] = Match{};
  }
  // Then each such position's first node (root_, a direct array), its one-code-point key,
  // and where its second code point's edge is probed (prefetched). The first node itself is
  // not read: the pair filter stands in for its child filter.
  const std::size_t mask = table_.size() - 1;
  const Slot* table = table_.data();
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t q = st[k];
    const char32_t c0 = t[q];
    const bool pair = q + 1 < n && has_pair(c0, t[q + 1]);
    std::uint32_t node;
    if (c0 < 0x10000) {
      node = root_[c0];
      if (((singles[c0 >> 6] >> (c0 & 63)) & 1) && ends_at(q + 1)) out[q - begin] = {1, nodes_[node].payload};
    } else {
      node = child(0, c0);
      if (node == kNone) continue;
      if (nodes_[node].payload != kNone && ends_at(q + 1)) out[q - begin] = {1, nodes_[node].payload};
    }
    if (!pair || node == kNone) continue;
    const std::size_t slot = slot_hash(slot_key(node, t[q + 1])) & mask;
    __builtin_prefetch(&table[slot]);
    walks.push_back({static_cast<std::uint32_t>(q - begin), node, slot});
  }
  // Each round, one pass: probe each walk's edge for its next code point (prefetched the
  // round before); the slot found has the child's payload (a key that ends there) and child
  // filter, which says whether the walk goes on and where its next probe starts (prefetched).
  for (std::size_t depth = 1; !walks.empty(); ++depth) {
    std::size_t live = 0;
    for (const Walk& w0 : walks) {
      Walk w = w0;
      const std::size_t p = begin + w.at;
      const std::uint64_t k = slot_key(w.node, t[p + depth]);
      const Slot* s = nullptr;
      for (std::size_t i = w.slot;; i = (i + 1) & mask) {
        if (table[i].key == k) {
          s = &table[i];
          break;
        }
        if (table[i].key == 0) break;
      }
      if (!s) continue;
      const std::size_t j = p + depth + 1;  // code points matched: depth + 1
      if (s->payload != kNone && ends_at(j)) out[w.at] = {depth + 1, s->payload};
      if (j >= n) continue;
      const char32_t c = t[j];
      if ((s->children & filter_bit(c)) == 0) continue;
      w.node = s->child;
      w.slot = slot_hash(slot_key(w.node, c)) & mask;
      __builtin_prefetch(&table[w.slot]);
      walks[live++] = w;
    }
    walks.resize(live);
  }
}

std::size_t EntityMatcher::memory_bytes() const {
  return table_.capacity() * sizeof(Slot) + nodes_.capacity() * sizeof(Node) +
         (root_.capacity() + slot_of_.capacity()) * sizeof(std::uint32_t) +
         (pairs_.capacity() + singles_.capacity()) * sizeof(std::uint64_t);
}

}  // namespace kbert
