#include "kbert/train/ner.hpp"

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "kbert/common/error.hpp"
#include "kbert/text/utf8.hpp"
#include "kbert/tokenizer/tokenizer.hpp"

namespace kbert {
namespace {

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t b = 0;
  for (;;) {
    const std::size_t e = s.find(sep, b);
    out.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) return out;
    b = e + 1;
  }
}

std::vector<std::string> split_whitespace(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool valid_tag(const std::string& t) {
  return t == "O" || ((t.rfind("B-", 0) == 0 || t.rfind("I-", 0) == 0) && t.size() > 2);
}

void check_tags(const std::string& path, std::size_t line, const std::vector<std::string>& tags) {
  for (const auto& t : tags)
    if (!valid_tag(t)) throw ParseError(path, line, "tag \"" + t + "\" is not O, B-TYPE or I-TYPE");
}

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

}  // namespace

TaggedFormat parse_tagged_format(const std::string& name) {
  if (name == "auto") return TaggedFormat::kAuto;
  if (name == "bio-tsv" || name == "tsv") return TaggedFormat::kBioTsv;
  if (name == "conll") return TaggedFormat::kConll;
  throw std::invalid_argument("unknown tagged-data format '" + name + "' (expected auto, bio-tsv or conll)");
}

TaggedDataset TaggedDataset::load(const std::string& path, TaggedFormat format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open");
  TaggedDataset d;
  d.path = path;
  std::string line;
  std::size_t line_no = 0;
  if (format == TaggedFormat::kAuto) {
    format = TaggedFormat::kConll;
    if (ends_with(path, ".tsv") && std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto cols = split_on(line, '\t');
      if (std::find(cols.begin(), cols.end(), "text_a") != cols.end() &&
          std::find(cols.begin(), cols.end(), "label") != cols.end())
        format = TaggedFormat::kBioTsv;
    }
    in.clear();
    in.seekg(0);
  }
  if (format == TaggedFormat::kBioTsv) {
    if (!std::getline(in, line)) throw ParseError(path, 1, "empty file: no header");
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto header = split_on(line, '\t');
    const auto ti = std::find(header.begin(), header.end(), "text_a") - header.begin();
    const auto li = std::find(header.begin(), header.end(), "label") - header.begin();
    if (static_cast<std::size_t>(ti) == header.size() || static_cast<std::size_t>(li) == header.size())
      throw ParseError(path, 1, "the header must name the columns text_a and label");
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const auto fields = split_on(line, '\t');
      if (fields.size() != header.size())
        throw ParseError(path, line_no, std::to_string(fields.size()) + " fields, the header has " +
                                            std::to_string(header.size()));
      if (find_invalid_utf8(fields[ti]) != std::string::npos) throw ParseError(path, line_no, "text_a is not valid UTF-8");
      TaggedSentence s;
      s.tokens = split_on(fields[ti], ' ');
      s.tags = split_on(fields[li], ' ');
      if (s.tokens.size() != s.tags.size())
        throw ParseError(path, line_no, std::to_string(s.tokens.size()) + " tokens but " +
                                            std::to_string(s.tags.size()) + " tags");
      for (const auto& t : s.tokens)
        if (t.empty()) throw ParseError(path, line_no, "an empty token (two spaces in a row in text_a)");
      check_tags(path, line_no, s.tags);
      d.sentences.push_back(std::move(s));
    }
    return d;
  }
  d.word_level = true;
  TaggedSentence s;
  auto flush = [&] {
    if (!s.tokens.empty()) d.sentences.push_back(std::move(s));
    s = TaggedSentence{};
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto cols = split_whitespace(line);
    if (cols.empty()) {
      flush();
      continue;
    }
    if (cols[0] == "-DOCSTART-") continue;
    if (cols.size() < 2) throw ParseError(path, line_no, "a token without a tag (need: token ... tag)");
    if (find_invalid_utf8(cols[0]) != std::string::npos) throw ParseError(path, line_no, "the token is not valid UTF-8");
    check_tags(path, line_no, {cols.back()});
    s.tokens.push_back(cols[0]);
    s.tags.push_back(cols.back());
  }
  flush();
  return d;
}

std::string join_tokens(const std::vector<std::string>& tokens, bool word_level) {
  std::string out;
  for (const auto& t : tokens) {
    if (word_level && !out.empty()) out += ' ';
    out += t;
  }
  return out;
}

std::string TaggedDataset::text(std::size_t i) const { return join_tokens(sentences.at(i).tokens, word_level); }

std::vector<std::string> TaggedDataset::tag_names() const {
  std::set<std::string> tags;
  for (const auto& s : sentences) tags.insert(s.tags.begin(), s.tags.end());
  std::vector<std::string> out{"O"};
  for (const auto& t : tags)
    if (t != "O") out.push_back(t);
  return out;
}

std::vector<EntitySpan> bio_entities(const std::vector<std::string>& tags) {
  std::vector<EntitySpan> out;
  bool open = false;
  EntitySpan cur;
  auto close = [&](std::size_t end) {
    if (open) {
      cur.end = end;
      out.push_back(cur);
      open = false;
    }
  };
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const std::string& t = tags[i];
    const bool b = t.rfind("B-", 0) == 0 && t.size() > 2, in = t.rfind("I-", 0) == 0 && t.size() > 2;
    if (!b && !in) {
      close(i);
      continue;
    }
    const std::string type = t.substr(2);
    if (b || !open || cur.type != type) {  // I- after O or another type starts a chunk (conlleval)
      close(i);
      cur = EntitySpan{type, i, i};
      open = true;
    }
  }
  close(tags.size());
  return out;
}

EntityReport EntityReport::compute(const std::vector<std::vector<std::string>>& gold,
                                   const std::vector<std::vector<std::string>>& predicted) {
  if (gold.size() != predicted.size())
    throw std::invalid_argument(std::to_string(gold.size()) + " gold sentences but " + std::to_string(predicted.size()) +
                                " predicted");
  EntityReport r;
  r.sentences = gold.size();
  std::map<std::string, EntityTypeScores> types;
  std::size_t tokens = 0, same = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    if (gold[i].size() != predicted[i].size())
      throw std::invalid_argument("sentence " + std::to_string(i + 1) + ": " + std::to_string(gold[i].size()) +
                                  " gold tags but " + std::to_string(predicted[i].size()) + " predicted");
    for (std::size_t k = 0; k < gold[i].size(); ++k) same += gold[i][k] == predicted[i][k];
    tokens += gold[i].size();
    const auto g = bio_entities(gold[i]), p = bio_entities(predicted[i]);
    for (const auto& e : g) ++types[e.type].gold;
    for (const auto& e : p) {
      ++types[e.type].predicted;
      if (std::find(g.begin(), g.end(), e) != g.end()) ++types[e.type].correct;
    }
  }
  auto finish = [](std::size_t gold_n, std::size_t pred_n, std::size_t correct, double& p, double& rc, double& f) {
    p = pred_n ? static_cast<double>(correct) / static_cast<double>(pred_n) : 0.0;
    rc = gold_n ? static_cast<double>(correct) / static_cast<double>(gold_n) : 0.0;
    f = p + rc > 0 ? 2 * p * rc / (p + rc) : 0.0;
  };
  for (auto& [type, s] : types) {
    s.type = type;
    finish(s.gold, s.predicted, s.correct, s.precision, s.recall, s.f1);
    r.gold += s.gold;
    r.predicted += s.predicted;
    r.correct += s.correct;
    r.types.push_back(s);
  }
  finish(r.gold, r.predicted, r.correct, r.precision, r.recall, r.f1);
  r.token_accuracy = tokens ? static_cast<double>(same) / static_cast<double>(tokens) : 0.0;
  return r;
}

std::string EntityReport::to_json() const {
  nlohmann::json j = {{"sentences", sentences}, {"gold_entities", gold},   {"predicted_entities", predicted},
                      {"correct_entities", correct}, {"precision", precision}, {"recall", recall},
                      {"f1", f1},               {"token_accuracy", token_accuracy}};
  nlohmann::json per = nlohmann::json::array();
  for (const auto& t : types)
    per.push_back({{"type", t.type}, {"precision", t.precision}, {"recall", t.recall}, {"f1", t.f1},
                   {"gold", t.gold}, {"predicted", t.predicted}, {"correct", t.correct}});
  j["types"] = per;
  return j.dump(2);
}

std::string EntityReport::to_table() const {
  std::ostringstream o;
  o << std::fixed << std::setprecision(4);
  o << std::left << std::setw(16) << "type" << std::right << std::setw(10) << "precision" << std::setw(10) << "recall"
    << std::setw(10) << "f1" << std::setw(8) << "gold" << "\n";
  for (const auto& t : types)
    o << std::left << std::setw(16) << t.type << std::right << std::setw(10) << t.precision << std::setw(10)
      << t.recall << std::setw(10) << t.f1 << std::setw(8) << t.gold << "\n";
  o << std::left << std::setw(16) << "all (micro)" << std::right << std::setw(10) << precision << std::setw(10) << recall
    << std::setw(10) << f1 << std::setw(8) << gold << "\n";
  return o.str();
}

TreeTokenSource align_tree(const SentenceTree& tree, const TaggedSentence& sentence, const Tokenizer& tokenizer) {
  TreeTokenSource src;
  src.token.assign(tree.size(), -1);
  src.first.assign(tree.size(), 0);
  std::size_t word = 0, piece = 0;
  std::vector<std::string> pieces;
  auto load_word = [&] {
    pieces.clear();
    while (word < sentence.tokens.size()) {
      tokenizer.tokenize_into(sentence.tokens[word], pieces);
      if (!pieces.empty()) return true;
      ++word;  // a token with no pieces (say, a control character): it gets no position
    }
    return false;
  };
  bool have = load_word();
  for (std::size_t i = 0; i < tree.size(); ++i) {
    if (tree.segments[i] != 0) continue;  // branch
    const std::string_view tok = tree.tokens[i];
    if (!have || tok != pieces[piece]) {
      if (tok == kClsToken || tok == kSepToken) continue;
      throw std::invalid_argument("tree token " + std::to_string(i) + " \"" + std::string(tok) + "\" does not match " +
                                  (have ? "piece \"" + pieces[piece] + "\" of token " + std::to_string(word) + " \"" +
                                              sentence.tokens[word] + "\""
                                        : std::string("anything: the sentence's tokens are used up")));
    }
    src.token[i] = static_cast<std::int32_t>(word);
    src.first[i] = piece == 0;
    src.tokens_covered = word + 1;
    if (++piece == pieces.size()) {
      piece = 0;
      ++word;
      have = load_word();
    }
  }
  return src;
}

std::vector<std::int64_t> tree_labels(const TreeTokenSource& source, const SentenceTree& tree,
                                      const std::vector<std::int64_t>& token_tag_ids, std::int64_t ent_id,
                                      std::int64_t ignore_id) {
  std::vector<std::int64_t> out(tree.size(), ignore_id);
  for (std::size_t i = 0; i < tree.size(); ++i) {
    if (tree.segments[i] != 0) {
      out[i] = ent_id;
    } else if (source.token[i] >= 0 && source.first[i]) {
      out[i] = token_tag_ids.at(static_cast<std::size_t>(source.token[i]));
    }
  }
  return out;
}

}  // namespace kbert
