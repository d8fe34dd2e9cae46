// A token vocabulary: one token a line, the line number is the id.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kbert {

/// How vocab.txt lines become tokens.
enum class VocabStyle {
  kHuggingFace,  ///< the line without its trailing "\n" (transformers' load_vocab)
  kUer,          ///< the first whitespace-separated field of the line (UER / K-BERT)
};

class Vocab {
 public:
  Vocab() = default;
  Vocab(const Vocab& other);
  Vocab& operator=(const Vocab& other);
  Vocab(Vocab&&) noexcept = default;
  Vocab& operator=(Vocab&&) noexcept = default;
  /// Reads a vocabulary file. Throws FileError, or ParseError on invalid UTF-8.
  static Vocab from_file(const std::string& path, VocabStyle style = VocabStyle::kHuggingFace);
  static Vocab from_tokens(std::vector<std::string> tokens);

  /// Id of a token, or -1. A token listed twice maps to its last line, as in both originals.
  std::int32_t find(std::string_view token) const;
  /// Id of a token, else the id of unk_token(); throws std::out_of_range when that is missing too.
  std::int32_t id(std::string_view token) const;
  /// Token of an id; throws std::out_of_range.
  const std::string& token(std::int32_t id) const;
  bool contains(std::string_view token) const { return find(token) >= 0; }
  std::size_t size() const { return tokens_.size(); }
  const std::string& unk_token() const { return unk_; }
  void set_unk_token(std::string unk) { unk_ = std::move(unk); }
  const std::string& path() const { return path_; }

 private:
  void index();

  std::vector<std::string> tokens_;
  std::unordered_map<std::string_view, std::int32_t> ids_;  // views into tokens_
  std::string unk_ = "[UNK]";
  std::string path_;
};

}  // namespace kbert
