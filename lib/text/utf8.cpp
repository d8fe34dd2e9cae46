#include "kbert/text/utf8.hpp"

#include <stdexcept>

namespace kbert {
namespace {

// Decodes one code point at s[i]; returns its length, or 0 when invalid.
inline std::size_t decode_one(std::string_view s, std::size_t i, char32_t& cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  unsigned char c = p[i];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t len;
  char32_t min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > n) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    unsigned char d = p[i + k];
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

[[noreturn]] void throw_invalid(std::string_view s, std::size_t at, std::string_view what) {
  std::string hex;
  static const char* digits = "0123456789ABCDEF";
  for (std::size_t k = at; k < s.size() && k < at + 4; ++k) {
    auto b = static_cast<unsigned char>(s[k]);
    if (!hex.empty()) hex += ' ';
    hex += "0x";
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  throw std::invalid_argument("invalid UTF-8 at byte " + std::to_string(at) + " of " + std::string(what) +
                              " (bytes " + hex + ")");
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  char32_t cp;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    // Well-formed 3-byte sequences outside E0 (overlongs) and ED (surrogates).
    if ((p[i] & 0xF0) == 0xE0 && p[i] != 0xE0 && p[i] != 0xED && i + 2 < s.size() && (p[i + 1] & 0xC0) == 0x80 &&
        (p[i + 2] & 0xC0) == 0x80) {
      i += 3;
      continue;
    }
    std::size_t len = decode_one(s, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void check_utf8(std::string_view s, std::string_view what) {
  const std::size_t bad = find_invalid_utf8(s);
  if (bad != std::string_view::npos) throw_invalid(s, bad, what);
}

std::u32string decode_utf8(std::string_view s, std::string_view what) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    std::size_t len = decode_one(s, i, cp);
    if (len == 0) throw_invalid(s, i, what);
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::size_t decode_utf8_grow(std::string_view s, std::u32string& out, std::vector<std::uint32_t>& offsets,
                             std::string_view what) {
  // Room for the worst case (one code point a byte): no capacity check per code point.
  if (out.size() < s.size()) out.resize(s.size());
  if (offsets.size() < s.size() + 1) offsets.resize(s.size() + 1);
  char32_t* o = out.data();
  std::uint32_t* off = offsets.data();
  std::size_t n = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    // Fast paths: ASCII, and well-formed 3-byte sequences (CJK) outside the surrogates.
    const unsigned char c = p[i];
    off[n] = static_cast<std::uint32_t>(i);
    if (c < 0x80) {
      o[n++] = c;
      ++i;
      continue;
    }
    if ((c & 0xF0) == 0xE0 && c != 0xE0 && c != 0xED && i + 2 < s.size() && (p[i + 1] & 0xC0) == 0x80 &&
        (p[i + 2] & 0xC0) == 0x80) {
      o[n++] = (char32_t{c & 0x0Fu} << 12) | (char32_t{p[i + 1] & 0x3Fu} << 6) | (p[i + 2] & 0x3Fu);
      i += 3;
      continue;
    }
    char32_t cp;
    std::size_t len = decode_one(s, i, cp);
    if (len == 0) throw_invalid(s, i, what);
    o[n++] = cp;
    i += len;
  }
  off[n] = static_cast<std::uint32_t>(s.size());
  return n;
}

void decode_utf8_into(std::string_view s, std::u32string& out, std::vector<std::uint32_t>& offsets,
                      std::string_view what) {
  const std::size_t n = decode_utf8_grow(s, out, offsets, what);
  out.resize(n);
  offsets.resize(n + 1);
}

std::u32string decode_utf8(std::string_view s, std::vector<std::uint32_t>& offsets, std::string_view what) {
  std::u32string out;
  decode_utf8_into(s, out, offsets, what);
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

}  // namespace kbert
