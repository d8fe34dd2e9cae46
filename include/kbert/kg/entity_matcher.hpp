// Leftmost-longest matching of knowledge-graph surface forms in a text.
//
// A trie over code points, stored as one open-addressing hash table of
// (node, code point) -> child: one probe per character. Each node keeps a 64-bit
// filter of its children's code points (a bit per code point mod 64, mixed), so
// most misses, the common case when scanning a text, end without touching the table. longest_at() walks at
// most as far as the longest key, so scanning a text costs O(length x longest key)
// and in practice a few probes per character. Since every position of a text is tried, two
// small bitmaps come first: the one-code-point keys (BMP) and a filter of keys' first two
// code points; most positions end there without a read of the trie's large arrays.
//
//   EntityMatcher m;
//   m.add(U"power", 0); m.add(U"power transformer", 1);
//   m.longest_at(U"power transformer fault", 0)  -> {length 17, payload 1}
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace kbert {

class EntityMatcher {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  struct Match {
    std::size_t length = 0;         ///< code points matched; 0 when nothing matched
    std::uint32_t payload = kNone;  ///< the payload given to add()
  };

  EntityMatcher();

  /// Adds a key; when the key is already present, the first payload stays.
  void add(std::u32string_view key, std::uint32_t payload);

  /// The longest key starting at text[pos]. With `ends`, a key only counts when
  /// ends[pos + length] is true (whole-word matching: ends marks word ends).
  Match longest_at(std::u32string_view text, std::size_t pos, const std::vector<std::uint8_t>* ends = nullptr) const;

  /// longest_at() at every position of [begin, end): out[k] is the match at begin + k (out is
  /// resized to end - begin). Same results as a call per position, faster: the positions'
  /// trie walks advance together, a character a round, with each round's reads prefetched,
  /// so their cache misses overlap instead of following one another.
  void longest_in(std::u32string_view text, std::size_t begin, std::size_t end, std::vector<Match>& out,
                  const std::vector<std::uint8_t>* ends = nullptr) const;

  std::size_t size() const { return keys_; }
  std::size_t max_key_length() const { return max_len_; }
  std::size_t memory_bytes() const;

 private:
  std::uint32_t child(std::uint32_t node, char32_t c) const;
  std::uint32_t add_child(std::uint32_t node, char32_t c);
  void grow();

  // An edge, with a copy of its child's payload and child filter: a walk reads the slot it
  // probes and nothing else (reading the child's Node too put a second dependent cache miss
  // on every step of longest_in's walks).
  struct Slot {
    std::uint64_t key;  // (node << 21 | code point) + 1; 0 = empty
    std::uint32_t child;
    std::uint32_t payload;   // the child's
    std::uint64_t children;  // the child's filter
  };
  struct Node {
    std::uint64_t children = 0;        // filter: bit filter_bit(c) set for each child's code point
    std::uint32_t payload = kNone;
  };
  static std::uint64_t filter_bit(char32_t c) { return std::uint64_t{1} << ((c ^ (c >> 6)) & 63); }
  // A bit per hash of a key's first two code points (no false negatives): most positions of
  // a text start no key's first two code points, and are rejected here without the probe of
  // the edge table, a cache miss per position on a large KG.
  static constexpr std::size_t kPairBits = std::size_t{1} << 20;
  static std::size_t pair_bit(char32_t a, char32_t b) {
    std::uint64_t k = (std::uint64_t{a} << 21 | b) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(k >> 44);  // the top 20 bits
  }
  bool has_pair(char32_t a, char32_t b) const {
    const std::size_t i = pair_bit(a, b);
    return (pairs_[i >> 6] >> (i & 63)) & 1;
  }
  std::vector<std::uint64_t> pairs_ = std::vector<std::uint64_t>(kPairBits / 64, 0);
  std::vector<Slot> table_;
  std::vector<Node> nodes_;             // per node
  std::vector<std::uint32_t> slot_of_;  // per node: its slot in table_, kNone for the root and root_'s children
  std::vector<std::uint32_t> root_;     // the root's children for BMP code points, direct
  std::vector<std::uint64_t> singles_ = std::vector<std::uint64_t>(0x10000 / 64, 0);  // BMP one-code-point keys
  std::size_t edges_ = 0;
  std::size_t keys_ = 0;
  std::size_t max_len_ = 0;
};

}  // namespace kbert
