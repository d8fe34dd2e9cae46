#include "kbert/tokenizer/vocab.hpp"

#include <fstream>
#include <stdexcept>

#include "kbert/common/error.hpp"
#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"

namespace kbert {

Vocab Vocab::from_file(const std::string& path, VocabStyle style) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open vocabulary");
  std::vector<std::string> tokens;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::size_t bad = find_invalid_utf8(line);
    if (bad != std::string::npos) throw ParseError(path, line_no, "invalid UTF-8 at byte " + std::to_string(bad));
    if (style == VocabStyle::kUer) {
      // UER: line.strip().split()[0] (Python whitespace); an empty line becomes "???<index>".
      std::u32string cps = decode_utf8(line, "vocabulary line");
      std::size_t b = 0;
      while (b < cps.size() && unicode::is_python_space(cps[b])) ++b;
      if (b == cps.size()) {
        tokens.push_back("???" + std::to_string(line_no - 1));
        continue;
      }
      std::size_t e = b;
      while (e < cps.size() && !unicode::is_python_space(cps[e])) ++e;
      tokens.push_back(encode_utf8(std::u32string_view(cps).substr(b, e - b)));
    } else {
      tokens.push_back(line);
    }
  }
  if (in.bad()) throw FileError(path, "read error");
  if (tokens.empty()) throw ParseError(path, 1, "empty vocabulary");
  Vocab v = from_tokens(std::move(tokens));
  v.path_ = path;
  return v;
}

Vocab::Vocab(const Vocab& other) : tokens_(other.tokens_), unk_(other.unk_), path_(other.path_) { index(); }

Vocab& Vocab::operator=(const Vocab& other) {
  if (this != &other) {
    tokens_ = other.tokens_;
    unk_ = other.unk_;
    path_ = other.path_;
    index();
  }
  return *this;
}

void Vocab::index() {
  ids_.clear();
  ids_.reserve(tokens_.size());
  for (std::size_t i = 0; i < tokens_.size(); ++i) ids_[tokens_[i]] = static_cast<std::int32_t>(i);
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens) {
  Vocab v;
  v.tokens_ = std::move(tokens);
  v.index();
  return v;
}

std::int32_t Vocab::find(std::string_view token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::int32_t Vocab::id(std::string_view token) const {
  std::int32_t i = find(token);
  if (i >= 0) return i;
  i = find(unk_);
  if (i < 0) throw std::out_of_range("token '" + std::string(token) + "' is not in the vocabulary " + path_ + " and neither is " + unk_);
  return i;
}

const std::string& Vocab::token(std::int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
    throw std::out_of_range("token id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(tokens_.size()));
  return tokens_[id];
}

}  // namespace kbert
