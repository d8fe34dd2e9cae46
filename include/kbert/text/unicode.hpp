// Unicode character classes and normalisation, equal to what Python's
// `unicodedata` and `str` methods compute (tables generated from Python 3.11,
// Unicode 14.0, by tools/gen_unicode_tables.py). Hugging Face's BertTokenizer is
// defined in those terms, so kbert's WordPiece tokenizer uses these.
#pragma once

#include <string>
#include <string_view>

namespace kbert::unicode {

/// Python's str.isspace() for one character (e.g. ' ', '\t', U+3000, U+1C..U+1F). Inline for
/// ASCII and above U+3000 (no space there: CJK text never reaches the table).
bool is_python_space_table(char32_t c);
inline bool is_python_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F);
  if (c > 0x3000) return false;
  return is_python_space_table(c);
}
/// HF BertTokenizer's _is_whitespace: ' ', \t, \n, \r, or category Zs.
bool is_bert_whitespace(char32_t c);
/// HF BertTokenizer's _is_control: category C* except \t, \n, \r.
bool is_bert_control(char32_t c);
/// HF BertTokenizer's _is_punctuation: ASCII non-alphanumeric symbols, or category P*.
bool is_bert_punctuation(char32_t c);
/// HF BertTokenizer's _is_chinese_char: the CJK Unified Ideograph blocks.
bool is_cjk(char32_t c);
/// Category Mn (non-spacing mark).
bool is_nonspacing_mark(char32_t c);
/// Canonical combining class.
int combining_class(char32_t c);

/// Python's str.lower(), including multi-character mappings and, when `final_sigma`,
/// the final-sigma rule (Hugging Face lowers one character at a time, so without it).
std::u32string to_lower(std::u32string_view s, bool final_sigma = true);
/// One-to-one lower-case of a code point (Python's lower() when that gives one
/// character, else the character itself); used for case-insensitive matching.
char32_t simple_lower(char32_t c);
/// unicodedata.normalize("NFD", s).
std::u32string nfd(std::u32string_view s);
/// unicodedata.normalize("NFC", s).
std::u32string nfc(std::u32string_view s);
/// HF's _run_strip_accents: NFD, then drop category Mn.
std::u32string strip_accents(std::u32string_view s);

}  // namespace kbert::unicode
