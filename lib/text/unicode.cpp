#include "kbert/text/unicode.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <vector>

namespace kbert::unicode {
namespace {

#include "text/unicode_data.inc"

enum : std::uint32_t {
  kZs = 1,
  kC = 2,
  kP = 4,
  kMn = 8,
  kPySpace = 16,
  kCased = 32,       // cased and not case-ignorable
  kIgnorable = 64,   // case-ignorable
};

// Runs are (start << 8 | value), sorted by start.
inline std::uint32_t run_value(const std::uint32_t* runs, std::size_t n, char32_t c) {
  const std::uint32_t key = (static_cast<std::uint32_t>(c) << 8) | 0xFF;
  const std::uint32_t* it = std::upper_bound(runs, runs + n, key);
  return it == runs ? 0 : (*(it - 1) & 0xFF);
}

// The Basic Multilingual Plane gets a direct table (64 KiB, built once); the rest
// is looked up in the runs.
inline std::uint32_t classes(char32_t c) {
  static const std::vector<std::uint8_t> bmp = [] {
    std::vector<std::uint8_t> t(0x10000);
    const std::size_t n = std::size(kClassRuns);
    for (std::size_t r = 0; r < n; ++r) {
      const std::uint32_t start = kClassRuns[r] >> 8;
      const std::uint32_t end = r + 1 < n ? (kClassRuns[r + 1] >> 8) : 0x110000;
      for (std::uint32_t c = start; c < end && c < 0x10000; ++c) t[c] = static_cast<std::uint8_t>(kClassRuns[r] & 0xFF);
    }
    return t;
  }();
  if (c < 0x10000) return bmp[c];
  return run_value(kClassRuns, std::size(kClassRuns), c);
}

constexpr std::size_t kLowerRow = 5;
constexpr std::size_t kDecompRow = 6;
constexpr std::size_t kComposeRow = 3;

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

const std::uint32_t* find_row(const std::uint32_t* table, std::size_t rows, std::size_t width, char32_t c) {
  std::size_t lo = 0, hi = rows;
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    std::uint32_t v = table[mid * width];
    if (v < c) {
      lo = mid + 1;
    } else if (v > c) {
      hi = mid;
    } else {
      return table + mid * width;
    }
  }
  return nullptr;
}

void decompose_one(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    int s = static_cast<int>(c - kSBase);
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const std::uint32_t* row = find_row(kDecomp, std::size(kDecomp) / kDecompRow, kDecompRow, c);
  if (!row) {
    out.push_back(c);
    return;
  }
  for (std::uint32_t k = 0; k < row[1]; ++k) out.push_back(row[2 + k]);
}

// Canonical ordering: stable sort of each run of non-starters by combining class.
void canonical_order(std::u32string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && combining_class(s[j]) != 0) ++j;
    std::stable_sort(s.begin() + i, s.begin() + j,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const std::size_t rows = std::size(kCompose) / kComposeRow;
  std::size_t lo = 0, hi = rows;
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    const std::uint32_t* r = kCompose + mid * kComposeRow;
    if (r[0] < a || (r[0] == a && r[1] < b)) {
      lo = mid + 1;
    } else if (r[0] == a && r[1] == b) {
      return r[2];
    } else {
      hi = mid;
    }
  }
  return 0;
}

bool is_cased(char32_t c) { return classes(c) & kCased; }
bool is_case_ignorable(char32_t c) { return classes(c) & kIgnorable; }

}  // namespace

bool is_python_space_table(char32_t c) { return classes(c) & kPySpace; }

bool is_bert_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || (classes(c) & kZs);
}

bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return classes(c) & kC;
}

bool is_bert_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return classes(c) & kP;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_nonspacing_mark(char32_t c) { return classes(c) & kMn; }

int combining_class(char32_t c) {
  if (c < 0x300) return 0;
  return static_cast<int>(run_value(kCccRuns, std::size(kCccRuns), c));
}

std::u32string to_lower(std::u32string_view s, bool final_sigma) {
  std::u32string out;
  out.reserve(s.size());
  const std::size_t rows = std::size(kLower) / kLowerRow;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
      continue;
    }
    if (c == 0x3A3 && !final_sigma) {
      out.push_back(0x3C3);
      continue;
    }
    if (c == 0x3A3) {
      // CPython's final sigma: preceded by a cased letter and not followed by one,
      // skipping case-ignorable characters in both directions.
      std::size_t j = i;
      bool before = false;
      while (j > 0) {
        char32_t p = s[--j];
        if (is_case_ignorable(p)) continue;
        before = is_cased(p);
        break;
      }
      bool after = false;
      for (std::size_t k = i + 1; k < s.size(); ++k) {
        if (is_case_ignorable(s[k])) continue;
        after = is_cased(s[k]);
        break;
      }
      out.push_back(before && !after ? 0x3C2 : 0x3C3);
      continue;
    }
    const std::uint32_t* row = find_row(kLower, rows, kLowerRow, c);
    if (!row) {
      out.push_back(c);
      continue;
    }
    for (std::uint32_t k = 0; k < row[1]; ++k) out.push_back(row[2 + k]);
  }
  return out;
}

char32_t simple_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c == 0x3A3) return 0x3C3;
  const std::uint32_t* row = find_row(kLower, std::size(kLower) / kLowerRow, kLowerRow, c);
  return (row && row[1] == 1) ? row[2] : c;
}

std::u32string nfd(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size() + 8);
  for (char32_t c : s) {
    if (c < 0xC0) {
      out.push_back(c);
    } else {
      decompose_one(c, out);
    }
  }
  canonical_order(out);
  return out;
}

std::u32string nfc(std::u32string_view s) {
  bool ascii = std::all_of(s.begin(), s.end(), [](char32_t c) { return c < 0x300; });
  if (ascii) {
    // Below U+0300 nothing composes with a following character below U+0300 except
    // via decompositions, and NFC leaves precomposed Latin-1 as it is.
    return std::u32string(s);
  }
  std::u32string d = nfd(s);
  if (d.empty()) return d;
  // Canonical composition (UAX #15): a character may combine with the last starter
  // when it is not blocked by an intervening character of equal or higher class.
  // Canonical composition (UAX #15). The input is canonically ordered, so a
  // character is blocked from the last starter exactly when the character just
  // before it (not composed away) has a class of 0 or >= its own.
  std::size_t starter = std::u32string::npos;
  int last_cc = 0;
  std::size_t w = 0;
  for (std::size_t r = 0; r < d.size(); ++r) {
    const char32_t c = d[r];
    const int cc = combining_class(c);
    if (starter != std::u32string::npos && (w == starter + 1 || (last_cc != 0 && last_cc < cc))) {
      if (char32_t comp = compose_pair(d[starter], c)) {
        d[starter] = comp;
        continue;
      }
    }
    if (cc == 0) starter = w;
    last_cc = cc;
    d[w++] = c;
  }
  d.resize(w);
  return d;
}

std::u32string strip_accents(std::u32string_view s) {
  std::u32string d = nfd(s);
  std::u32string out;
  out.reserve(d.size());
  for (char32_t c : d)
    if (!is_nonspacing_mark(c)) out.push_back(c);
  return out;
}

}  // namespace kbert::unicode
