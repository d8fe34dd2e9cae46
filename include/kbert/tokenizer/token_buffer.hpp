// TokenBuffer: a list of tokens stored as one byte buffer and each token's end offset.
//
//   kbert::TokenBuffer t;
//   t.push_back("水"); t.push_back("果");
//   t.size() == 2; t[1] == "果"; for (std::string_view tok : t) ...; t == std::vector<std::string>{"水", "果"}
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kbert/common/default_init_allocator.hpp"

namespace kbert {

/// Tokens stored as one byte buffer and each token's end offset: appending a token copies its
/// bytes, with no string object, allocation or free per token (a sentence tree of a short text
/// has some sixty tokens of one character: as std::strings they cost a fifth of its build).
/// Element i is a std::string_view, valid until the buffer next changes.
class TokenBuffer {
 public:
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::string_view;
    const_iterator() = default;
    const_iterator(const TokenBuffer* b, std::size_t i) : b_(b), i_(i) {}
    std::string_view operator*() const { return (*b_)[i_]; }
    std::string_view operator[](difference_type d) const { return (*b_)[static_cast<std::size_t>(static_cast<difference_type>(i_) + d)]; }
    const_iterator& operator++() { ++i_; return *this; }
    const_iterator operator++(int) { auto t = *this; ++i_; return t; }
    const_iterator& operator--() { --i_; return *this; }
    const_iterator operator--(int) { auto t = *this; --i_; return t; }
    const_iterator& operator+=(difference_type d) { i_ = static_cast<std::size_t>(static_cast<difference_type>(i_) + d); return *this; }
    const_iterator& operator-=(difference_type d) { return *this += -d; }
    friend const_iterator operator+(const_iterator a, difference_type d) { return a += d; }
    friend const_iterator operator+(difference_type d, const_iterator a) { return a += d; }
    friend const_iterator operator-(const_iterator a, difference_type d) { return a -= d; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
      return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) { return a.i_ == b.i_; }
    friend bool operator!=(const const_iterator& a, const const_iterator& b) { return a.i_ != b.i_; }
    friend bool operator<(const const_iterator& a, const const_iterator& b) { return a.i_ < b.i_; }
    friend bool operator>(const const_iterator& a, const const_iterator& b) { return a.i_ > b.i_; }
    friend bool operator<=(const const_iterator& a, const const_iterator& b) { return a.i_ <= b.i_; }
    friend bool operator>=(const const_iterator& a, const const_iterator& b) { return a.i_ >= b.i_; }

   private:
    const TokenBuffer* b_ = nullptr;
    std::size_t i_ = 0;
  };
  using iterator = const_iterator;
  using value_type = std::string_view;
  using size_type = std::size_t;

  TokenBuffer() = default;
  TokenBuffer(std::initializer_list<std::string_view> tokens) {
    for (std::string_view t : tokens) push_back(t);
  }
  explicit TokenBuffer(const std::vector<std::string>& tokens) {
    for (const auto& t : tokens) push_back(t);
  }

  std::size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  /// Bytes of all tokens together.
  std::size_t bytes() const { return used_; }
  /// All tokens' bytes, one after another (no separators).
  std::string_view text() const { return {bytes_.data(), used_}; }
  std::string_view operator[](std::size_t i) const {
    const std::uint32_t b = i ? ends_[i - 1] : 0;
    return {bytes_.data() + b, ends_[i] - b};
  }
  /// As operator[], with a bounds check (std::out_of_range).
  std::string_view at(std::size_t i) const {
    if (i >= size()) throw std::out_of_range("TokenBuffer::at: token " + std::to_string(i) + " of " + std::to_string(size()));
    return (*this)[i];
  }
  std::string_view front() const { return (*this)[0]; }
  std::string_view back() const { return (*this)[size() - 1]; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size()}; }

  void push_back(std::string_view token) {
    const std::size_t at = used_;
    if (at + token.size() > bytes_.size()) grow(at + token.size());
    char* d = bytes_.data() + at;
    // Inline for the short tokens that are the rule (a call to memcpy per token showed in
    // profiles of short-text trees).
    if (token.size() <= 8) {
      for (std::size_t k = 0; k < token.size(); ++k) d[k] = token[k];
    } else {
      token.copy(d, token.size());
    }
    used_ = at + token.size();
    ends_.push_back(static_cast<std::uint32_t>(used_));
  }
  /// Appends `count` consecutive pieces of `source` as tokens: piece k is
  /// source[offsets[k], offsets[k + 1]) (offsets ascending, count + 1 of them). One copy of
  /// their bytes; what a character tokenizer appends for a run of characters.
  void append_pieces(std::string_view source, const std::uint32_t* offsets, std::size_t count) {
    const std::size_t b = offsets[0], len = offsets[count] - b;
    if (used_ + len > bytes_.size()) grow(used_ + len);
    source.copy(bytes_.data() + used_, len, b);
    const std::size_t first = ends_.size();
    ends_.resize(first + count);
    std::uint32_t* e = ends_.data() + first;
    const auto shift = static_cast<std::uint32_t>(used_ - b);
    for (std::size_t k = 0; k < count; ++k) e[k] = offsets[k + 1] + shift;
    used_ += len;
  }
  /// Appends src[first], ..., src[first + count - 1] (`src` must not be this buffer).
  void append_range(const TokenBuffer& src, std::size_t first, std::size_t count) {
    if (count == 0) return;
    const std::uint32_t b = first ? src.ends_[first - 1] : 0;
    const std::size_t len = src.ends_[first + count - 1] - b;
    if (used_ + len > bytes_.size()) grow(used_ + len);
    std::copy(src.bytes_.data() + b, src.bytes_.data() + b + len, bytes_.data() + used_);
    const std::size_t at = ends_.size();
    ends_.resize(at + count);
    std::uint32_t* e = ends_.data() + at;
    const std::uint32_t* s = src.ends_.data() + first;
    const auto shift = static_cast<std::uint32_t>(used_ - b);
    for (std::size_t k = 0; k < count; ++k) e[k] = s[k] + shift;
    used_ += len;
  }
  /// Room for `tokens` tokens of `bytes` bytes in all.
  void reserve(std::size_t tokens, std::size_t bytes) {
    ends_.reserve(tokens);
    if (bytes > bytes_.size()) grow(bytes);
  }
  void clear() {
    ends_.clear();
    used_ = 0;
  }
  std::vector<std::string> to_vector() const {
    std::vector<std::string> out;
    out.reserve(size());
    for (std::size_t i = 0; i < size(); ++i) out.emplace_back((*this)[i]);
    return out;
  }

  friend bool operator==(const TokenBuffer& a, const TokenBuffer& b) {
    return a.ends_ == b.ends_ && std::string_view(a.bytes_.data(), a.used_) == std::string_view(b.bytes_.data(), b.used_);
  }
  friend bool operator!=(const TokenBuffer& a, const TokenBuffer& b) { return !(a == b); }
  friend bool operator==(const TokenBuffer& a, const std::vector<std::string>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < b.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  friend bool operator==(const std::vector<std::string>& b, const TokenBuffer& a) { return a == b; }
  friend bool operator!=(const TokenBuffer& a, const std::vector<std::string>& b) { return !(a == b); }
  friend bool operator!=(const std::vector<std::string>& b, const TokenBuffer& a) { return !(a == b); }

 private:
  // Room for `need` bytes; offsets are 32-bit, so a buffer holds at most 4 GiB of tokens.
  void grow(std::size_t need) {
    if (need > UINT32_MAX) throw std::length_error("TokenBuffer: more than 4 GiB of tokens");
    bytes_.resize(std::min<std::size_t>(UINT32_MAX, std::max<std::size_t>(2 * bytes_.size(), need + 64)));
  }
  std::vector<char> bytes_;  // capacity; the first used_ bytes hold the tokens
  std::size_t used_ = 0;
  std::vector<std::uint32_t, DefaultInitAllocator<std::uint32_t>> ends_;  // resized, then written
};

}  // namespace kbert
