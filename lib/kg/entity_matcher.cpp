#include "kbert/kg/entity_matcher.hpp"

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

EntityMatcher::EntityMatcher() : table_(1024, Slot{0, 0}), nodes_(1), root_(0x10000), pair_table_(1024) {}

std::uint32_t EntityMatcher::child(std::uint32_t node, char32_t c) const {
  if (node == 0 && c < 0x10000) return root_[c].child;
  if ((nodes_[node].children & filter_bit(c)) == 0) return kNone;
  return probe(node, c);
}

std::uint32_t EntityMatcher::probe(std::uint32_t node, char32_t c) const {
  const std::uint64_t k = slot_key(node, c);
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = slot_hash(k) & mask;; i = (i + 1) & mask) {
    const Slot& s = table_[i];
    if (s.key == k) return s.child;
    if (s.key == 0) return kNone;
  }
}

const EntityMatcher::PairEntry* EntityMatcher::find_pair(char32_t a, char32_t b) const {
  const std::uint64_t k = slot_key(a, b);
  const std::size_t mask = pair_table_.size() - 1;
  for (std::size_t i = slot_hash(k) & mask;; i = (i + 1) & mask) {
    const PairEntry& e = pair_table_[i];
    if (e.key == k) return &e;
    if (e.key == 0) return nullptr;
  }
}

void EntityMatcher::set_pair(char32_t a, char32_t b, std::uint32_t node) {
  if ((pair_count_ + 1) * 2 > pair_table_.size()) {
    std::vector<PairEntry> t(pair_table_.size() * 2);
    const std::size_t mask = t.size() - 1;
    for (const PairEntry& e : pair_table_) {
      if (!e.key) continue;
      std::size_t i = slot_hash(e.key) & mask;
      while (t[i].key) i = (i + 1) & mask;
      t[i] = e;
    }
    pair_table_.swap(t);
  }
  const std::uint64_t k = slot_key(a, b);
  const std::size_t mask = pair_table_.size() - 1;
  std::size_t i = slot_hash(k) & mask;
  while (pair_table_[i].key && pair_table_[i].key != k) i = (i + 1) & mask;
  PairEntry& e = pair_table_[i];
  if (!e.key) ++pair_count_;
  e = PairEntry{k, node, nodes_[node].payload, nodes_[node].children};
}

void EntityMatcher::grow() {
  std::vector<Slot> t(table_.size() * 2, Slot{0, 0});
  const std::size_t mask = t.size() - 1;
  for (const Slot& s : table_) {
    if (!s.key) continue;
    std::size_t i = slot_hash(s.key) & mask;
    while (t[i].key) i = (i + 1) & mask;
    t[i] = s;
  }
  table_.swap(t);
}

std::uint32_t EntityMatcher::add_child(std::uint32_t node, char32_t c) {
  std::uint32_t found = child(node, c);
  if (found != kNone) return found;
  if (node == 0 && c < 0x10000) {
    root_[c].child = static_cast<std::uint32_t>(nodes_.size());
    nodes_.emplace_back();
    return root_[c].child;
  }
  if ((edges_ + 1) * 2 > table_.size()) grow();
  const std::uint64_t k = slot_key(node, c);
  const std::size_t mask = table_.size() - 1;
  std::size_t i = slot_hash(k) & mask;
  while (table_[i].key) i = (i + 1) & mask;
  const auto id = static_cast<std::uint32_t>(nodes_.size());
  nodes_[node].children |= filter_bit(c);
  nodes_.emplace_back();
  table_[i] = Slot{k, id};
  ++edges_;
  return id;
}

void EntityMatcher::add(std::u32string_view key, std::uint32_t payload) {
  if (key.empty()) return;
  if (key.size() >= 2) {
    const std::size_t i = pair_bit(key[0], key[1]);
    pairs_[i >> 6] |= std::uint64_t{1} << (i & 63);
  }
  std::uint32_t node = 0, second = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    node = add_child(node, key[i]);
    if (i == 1) second = node;
  }
  if (nodes_[node].payload == kNone) {
    nodes_[node].payload = payload;
    if (key.size() == 1 && key[0] < 0x10000) {
      root_[key[0]].payload = payload;
      singles_[key[0] >> 6] |= std::uint64_t{1} << (key[0] & 63);
    }
    ++keys_;
    if (key.size() > max_len_) max_len_ = key.size();
  }
  // The pair entry copies the second node's payload and child filter, which only a key
  // through that node changes: refreshed after every such key.
  if (key.size() >= 2) set_pair(key[0], key[1], second);
}

EntityMatcher::Match EntityMatcher::longest_at(std::u32string_view text, std::size_t pos,
                                               const std::vector<std::uint8_t>* ends) const {
  Match best;
  const std::size_t n = text.size();
  if (pos >= n) return best;
  auto ends_at = [&](std::size_t e) { return !ends || (*ends)[e]; };
  const char32_t c0 = text[pos];
  // A key of one code point: in the BMP, the bitmap says whether there is one (no read of the
  // root table where there is none).
  if (c0 < 0x10000) {
    if ((singles_[c0 >> 6] >> (c0 & 63)) & 1 && ends_at(pos + 1)) best = {1, root_[c0].payload};
  } else {
    const std::uint32_t one = child(0, c0);
    if (one != kNone && nodes_[one].payload != kNone && ends_at(pos + 1)) best = {1, nodes_[one].payload};
  }
  // Most positions start no longer key: the pair filter (L2) says so. Where it passes, one
  // probe of the pair table gives the second node with its payload and child filter (three
  // random reads of large arrays through the trie).
  if (pos + 1 == n || !has_pair(c0, text[pos + 1])) return best;
  const PairEntry* e = find_pair(c0, text[pos + 1]);
  if (!e) return best;  // the filter's false positive
  if (e->payload != kNone && ends_at(pos + 2)) best = {2, e->payload};
  std::uint32_t node = e->node;
  std::uint64_t filter = e->children;
  for (std::size_t i = pos + 2; i < n; ++i) {
    if ((filter & filter_bit(text[i])) == 0) break;
    node = probe(node, text[i]);
    if (node == kNone) break;
    const Node& nd = nodes_[node];
    if (nd.payload != kNone && ends_at(i + 1)) best = {i + 1 - pos, nd.payload};
    filter = nd.children;
  }
  return best;
}

std::size_t EntityMatcher::memory_bytes() const {
  return table_.capacity() * sizeof(Slot) + nodes_.capacity() * sizeof(Node) + root_.capacity() * sizeof(RootEdge) +
         (pairs_.capacity() + singles_.capacity()) * sizeof(std::uint64_t) +
         pair_table_.capacity() * sizeof(PairEntry);
}

}  // namespace kbert
