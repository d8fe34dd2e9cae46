// UTF-8 decoding and encoding with strict validation.
//
// Example: decode_utf8("a\xC3\xA9") -> U"a\u00e9"; decode_utf8("\xFF") throws
// std::invalid_argument("invalid UTF-8 at byte 0 of text: ...").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kbert {

/// Decodes strict UTF-8 (no overlongs, surrogates or values above U+10FFFF).
/// Throws std::invalid_argument naming `what` and the byte offset of the first bad byte.
std::u32string decode_utf8(std::string_view s, std::string_view what = "text");

/// Decodes and also records, for each code point, its byte offset in `s`
/// (offsets has size()+1 entries; the last is s.size()).
std::u32string decode_utf8(std::string_view s, std::vector<std::uint32_t>& offsets,
                           std::string_view what = "text");

/// The same into buffers the caller reuses (no allocation once they are large enough).
void decode_utf8_into(std::string_view s, std::u32string& out, std::vector<std::uint32_t>& offsets,
                      std::string_view what = "text");
/// The same into buffers that only grow (no zero-filling of their room text after text):
/// returns n, the code points decoded; out[0, n) and offsets[0, n] are set, the rest is
/// left as it was.
std::size_t decode_utf8_grow(std::string_view s, std::u32string& out, std::vector<std::uint32_t>& offsets,
                             std::string_view what = "text");

/// Returns the byte offset of the first invalid sequence, or std::string_view::npos.
std::size_t find_invalid_utf8(std::string_view s);
/// Throws std::invalid_argument ("invalid UTF-8 at byte N of `what` (bytes ...)") when `s` is not UTF-8.
void check_utf8(std::string_view s, std::string_view what);

/// Appends the UTF-8 encoding of `cp` to `out`.
void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(std::u32string_view s);

}  // namespace kbert
