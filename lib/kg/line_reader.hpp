// Line-level reading for the KG loaders: a chunked reader with Python's universal newlines,
// and the small string helpers the formats share. Internal to lib/kg.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "kbert/common/error.hpp"
#include "kbert/text/unicode.hpp"

namespace kbert::kg_detail {

// Reads a file in chunks and yields lines with Python's universal newlines
// (\n, \r\n and a lone \r all end a line); the terminator is not included.
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) throw FileError(path, std::string("cannot open: ") + std::strerror(errno));
    buf_.resize(1 << 16);  // grows for long lines
  }
  ~LineReader() {
    if (file_) std::fclose(file_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Returns false at end of file. A UTF-8 byte-order mark before the first line is dropped.
  bool next(std::string_view& line) {
    if (!next_raw(line)) return false;
    if (line_no_ == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    return true;
  }

 private:
  bool next_raw(std::string_view& line) {
    for (;;) {
      const char* base = buf_.data();
      for (std::size_t i = pos_; i < end_; ++i) {
        char c = base[i];
        if (c == '\n' || c == '\r') {
          if (c == '\r' && i + 1 == end_ && !eof_) break;  // a \n may follow in the next chunk
          line = std::string_view(base + pos_, i - pos_);
          pos_ = i + 1;
          if (c == '\r' && pos_ < end_ && base[pos_] == '\n') ++pos_;
          ++line_no_;
          return true;
        }
      }
      if (eof_) {
        if (pos_ < end_) {
          line = std::string_view(base + pos_, end_ - pos_);
          pos_ = end_;
          ++line_no_;
          return true;
        }
        return false;
      }
      fill();
    }
  }

 public:
  std::size_t line_no() const { return line_no_; }

 private:
  void fill() {
    std::size_t keep = end_ - pos_;
    if (keep > 0) std::memmove(buf_.data(), buf_.data() + pos_, keep);
    pos_ = 0;
    end_ = keep;
    if (end_ * 2 > buf_.size() && buf_.size() < (1u << 20)) {
      buf_.resize(1 << 20);  // a big file: read in larger chunks
    } else if (end_ * 2 > buf_.size()) {
      if (buf_.size() >= kMaxLine)  // no KG line is this long: a binary file, or a device such as /dev/zero
        throw ParseError(path_, line_no_ + 1, "a line longer than " + std::to_string(kMaxLine >> 20) + " MiB: not a KG file");
      buf_.resize(buf_.size() * 2);  // a very long line
    }
    std::size_t got = std::fread(buf_.data() + end_, 1, buf_.size() - end_, file_);
    if (got == 0) {
      if (std::ferror(file_)) throw FileError(path_, std::string("read error: ") + std::strerror(errno));
      eof_ = true;
    }
    end_ += got;
  }

  static constexpr std::size_t kMaxLine = std::size_t{64} << 20;
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<char> buf_;
  std::size_t pos_ = 0, end_ = 0, line_no_ = 0;
  bool eof_ = false;
};

// Decodes the code point of valid UTF-8 starting at s[i] (the caller validated the line).
inline char32_t code_point_at(std::string_view s, std::size_t i, std::size_t& len) {
  auto c = static_cast<unsigned char>(s[i]);
  len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

// Python's str.strip() on a valid UTF-8 line: removes leading and trailing
// characters that isspace().
inline std::string_view python_strip(std::string_view s) {
  std::size_t b = 0, e = s.size(), len = 0;
  while (b < e && unicode::is_python_space(code_point_at(s, b, len))) b += len;
  while (e > b) {
    std::size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!unicode::is_python_space(code_point_at(s, start, len))) break;
    e = start;
  }
  return s.substr(b, e - b);
}

inline std::string_view trim_ascii(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

inline std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

}  // namespace kbert::kg_detail
