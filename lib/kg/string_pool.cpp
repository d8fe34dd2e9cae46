#include "kg/string_pool.hpp"


#include <algorithm>
#include <cstring>

namespace kbert {
namespace {
constexpr std::size_t kFirstBlock = 1 << 16;  // blocks double up to kBlock
constexpr std::size_t kBlock = 1 << 22;
}

std::uint32_t StringPool::hash(std::string_view s) {
  // FNV-1a on 8-byte words, then a final mix: fast and good enough for interning.
  std::uint64_t h = 1469598103934665603ull;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 1099511628211ull;
    h ^= h >> 29;
  }
  for (; i < s.size(); ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 1099511628211ull;
  h ^= h >> 32;
  h *= 0x9E3779B97F4A7C15ull;
  return static_cast<std::uint32_t>(h >> 32);
}

const char* StringPool::store(std::string_view s) {
  if (s.size() > kBlock / 4) {
    big_.emplace_back(new char[s.size()]);
    std::memcpy(big_.back().get(), s.data(), s.size());
    bytes_ += s.size();
    return big_.back().get();
  }
  if (blocks_.empty() || block_used_ + s.size() > block_size_) {
    const std::size_t size = std::max(s.size(), blocks_.empty() ? kFirstBlock : std::min(kBlock, block_size_ * 2));
    blocks_.emplace_back(new char[size]);
    block_used_ = 0;
    block_size_ = size;
    bytes_ += size;
  }
  char* p = blocks_.back().get() + block_used_;
  std::memcpy(p, s.data(), s.size());
  block_used_ += s.size();
  return p;
}

void StringPool::grow() {
  const std::size_t cap = table_.empty() ? 1024 : table_.size() * 2;
  std::vector<std::uint64_t> t(cap, 0);
  const std::size_t mask = cap - 1;
  for (std::uint32_t id = 0; id < entries_.size(); ++id) {
    const std::uint32_t h = entries_[id].hash;
    std::size_t i = h & mask;
    while (t[i]) i = (i + 1) & mask;
    t[i] = (std::uint64_t{h} << 32) | (id + 1);
  }
  table_.swap(t);
}

std::size_t StringPool::probe(std::string_view s, std::uint32_t h) const {
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const std::uint64_t slot = table_[i];
    if (!slot) return i;
    if (static_cast<std::uint32_t>(slot >> 32) != h) continue;
    const Entry& e = entries_[static_cast<std::uint32_t>(slot) - 1];
    if (e.len == s.size() && std::memcmp(e.ptr, s.data(), s.size()) == 0) return i;
  }
}

std::uint32_t StringPool::find(std::string_view s) const {
  if (table_.empty()) return kNone;
  const std::uint64_t slot = table_[probe(s, hash(s))];
  return slot ? static_cast<std::uint32_t>(slot) - 1 : kNone;
}

std::uint32_t StringPool::intern(std::string_view s, std::uint32_t h) {
  if ((entries_.size() + 1) * 2 > table_.size()) grow();
  const std::size_t i = probe(s, h);
  if (table_[i]) return static_cast<std::uint32_t>(table_[i]) - 1;
  const auto id = static_cast<std::uint32_t>(entries_.size());
  entries_.push_back(Entry{store(s), static_cast<std::uint32_t>(s.size()), h});
  table_[i] = (std::uint64_t{h} << 32) | (id + 1);
  return id;
}

std::size_t StringPool::memory_bytes() const {
  return bytes_ + entries_.capacity() * sizeof(Entry) + table_.capacity() * sizeof(std::uint64_t);
}

}  // namespace kbert
