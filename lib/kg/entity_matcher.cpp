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

EntityMatcher::EntityMatcher() : table_(1024, Slot{0, 0}), nodes_(1), root_(0x10000) {}

std::uint32_t EntityMatcher::child(std::uint32_t node, char32_t c) const {
  if (node == 0 && c < 0x10000) return root_[c].child;
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
  std::uint32_t node = 0;
  for (char32_t c : key) node = add_child(node, c);
  if (nodes_[node].payload == kNone) {
    nodes_[node].payload = payload;
    if (key.size() == 1 && key[0] < 0x10000) root_[key[0]].payload = payload;
    ++keys_;
    if (key.size() > max_len_) max_len_ = key.size();
  }
}

EntityMatcher::Match EntityMatcher::longest_at(std::u32string_view text, std::size_t pos,
                                               const std::vector<std::uint8_t>* ends) const {
  Match best;
  if (pos >= text.size()) return best;
  std::uint32_t node;
  if (text[pos] < 0x10000) {  // the first step from the root entry alone
    const RootEdge& r = root_[text[pos]];
    if (r.child == kNone) return best;
    node = r.child;
    if (r.payload != kNone && (!ends || (*ends)[pos + 1])) best = {1, r.payload};
  } else {
    node = child(0, text[pos]);
    if (node == kNone) return best;
    if (nodes_[node].payload != kNone && (!ends || (*ends)[pos + 1])) best = {1, nodes_[node].payload};
  }
  for (std::size_t i = pos + 1; i < text.size(); ++i) {
    // Past the first code point, only where some key starts with these two.
    if (i == pos + 1 && !has_pair(text[pos], text[i])) break;
    node = child(node, text[i]);
    if (node == kNone) break;
    if (nodes_[node].payload != kNone && (!ends || (*ends)[i + 1])) {
      best.length = i + 1 - pos;
      best.payload = nodes_[node].payload;
    }
  }
  return best;
}

std::size_t EntityMatcher::memory_bytes() const {
  return table_.capacity() * sizeof(Slot) + nodes_.capacity() * sizeof(Node) + root_.capacity() * sizeof(RootEdge) +
         pairs_.capacity() * sizeof(std::uint64_t);
}

}  // namespace kbert
