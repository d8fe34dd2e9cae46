// Append-only string interning: each distinct string gets a dense id.
// Strings live in fixed blocks that never move, so views stay valid.
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
  std::uint32_t intern(std::string_view s);
  /// Returns the id of `s`, or kNone.
  std::uint32_t find(std::string_view s) const;
  std::string_view str(std::uint32_t id) const { return {ptr_[id], len_[id]}; }
  std::size_t size() const { return len_.size(); }
  std::size_t memory_bytes() const;
  void reserve(std::size_t n);

 private:
  static std::uint32_t hash(std::string_view s);
  void grow();
  const char* store(std::string_view s);

  std::vector<const char*> ptr_;
  std::vector<std::uint32_t> len_;
  std::vector<std::uint32_t> hash_;
  std::vector<std::uint32_t> table_;  // id + 1, 0 = empty; size is a power of two
  std::vector<std::unique_ptr<char[]>> blocks_;  // shared blocks of kBlock bytes
  std::vector<std::unique_ptr<char[]>> big_;     // one allocation per long string
  std::size_t block_used_ = 0;
  std::size_t block_size_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace kbert
