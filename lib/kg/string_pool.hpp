// Append-only string interning: each distinct string gets a dense id.
// Strings live in blocks that never move, so views stay valid.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace kbert {

class StringPool {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  /// Returns the id of `s`, adding it when new.
  std::uint32_t intern(std::string_view s) { return intern(s, hash(s)); }
  /// As intern(), with h == hash(s) computed by the caller.
  std::uint32_t intern(std::string_view s, std::uint32_t h);
  static std::uint32_t hash(std::string_view s);

  // Batch loading: make room for n more strings (so that slots stay put), then touch
  // the memory a probe for (s, h) will read, stage by stage, many strings at a time,
  // so that the cache misses of a batch overlap instead of queueing.
  void reserve_more(std::size_t n) {
    while ((entries_.size() + n + 1) * 2 > table_.size()) grow();
  }
  void prefetch_slot(std::uint32_t h) const { __builtin_prefetch(&table_[h & (table_.size() - 1)]); }
  void prefetch_entry(std::uint32_t h) const {
    const std::uint64_t slot = table_[h & (table_.size() - 1)];
    if (slot && static_cast<std::uint32_t>(slot >> 32) == h) __builtin_prefetch(&entries_[static_cast<std::uint32_t>(slot) - 1]);
  }
  void prefetch_string(std::uint32_t h) const {
    const std::uint64_t slot = table_[h & (table_.size() - 1)];
    if (slot && static_cast<std::uint32_t>(slot >> 32) == h) __builtin_prefetch(entries_[static_cast<std::uint32_t>(slot) - 1].ptr);
  }
  /// Returns the id of `s`, or kNone.
  std::uint32_t find(std::string_view s) const;
  std::string_view str(std::uint32_t id) const { return {entries_[id].ptr, entries_[id].len}; }
  std::size_t size() const { return entries_.size(); }
  std::size_t memory_bytes() const;

 private:
  // One cache line holds several entries; the table slot carries the full hash, so a
  // probe touches an entry (and the string) only when the hashes agree.
  struct Entry {
    const char* ptr;
    std::uint32_t len;
    std::uint32_t hash;
  };
  void grow();
  const char* store(std::string_view s);
  std::size_t probe(std::string_view s, std::uint32_t h) const;  // slot holding s, or the empty slot for it

  std::vector<Entry> entries_;
  std::vector<std::uint64_t> table_;  // hash << 32 | (id + 1); 0 = empty; size is a power of two
  std::vector<std::unique_ptr<char[]>> blocks_;  // shared blocks, doubling up to kBlock bytes
  std::vector<std::unique_ptr<char[]>> big_;     // one allocation per long string
  std::size_t block_used_ = 0;
  std::size_t block_size_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace kbert
