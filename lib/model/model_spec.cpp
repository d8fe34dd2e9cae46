#include "kbert/common/cpu.hpp"
#include "model/model_spec.hpp"

#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "kbert/common/error.hpp"
#include "kbert/tree/limits.hpp"

namespace kbert {
namespace {

namespace fs = std::filesystem;

// kbert.json is small; a larger file is not one kbert wrote.
constexpr std::uintmax_t kMaxSpecBytes = 16u << 20;

// A head's name in kbert.json: a built-in (kbert, hf, tagger, none) or a registered head
// (lib/encoder/head.hpp), which Model::load looks up: lower-case letters, digits and '_'.
HeadKind parse_head(const std::string& n) {
  const bool ok = !n.empty() && n.size() <= 64 &&
                  std::all_of(n.begin(), n.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
  if (!ok) throw std::invalid_argument("\"head\" must be a head's name (kbert, hf, tagger, none or a registered one), got \"" + n.substr(0, 64) + "\"");
  return HeadKind(n);
}

// Typed, checked access to the fields of one JSON object; errors name the field.
struct Fields {
  const nlohmann::json& j;
  std::string where;  // "tokenizer." etc.

  const nlohmann::json* find(const char* key, bool required) const {
    if (!j.contains(key)) {
      if (required) throw std::invalid_argument("missing \"" + where + key + "\"");
      return nullptr;
    }
    return &j[key];
  }
  [[noreturn]] void wrong(const char* key, const std::string& expected) const {
    std::string v = j[key].dump();
    if (v.size() > 80) v = v.substr(0, 77) + "...";
    throw std::invalid_argument("\"" + where + key + "\" must be " + expected + ", got " + v);
  }
  std::string str(const char* key, const std::string& fallback, bool required = false) const {
    const nlohmann::json* v = find(key, required);
    if (!v) return fallback;
    if (!v->is_string()) wrong(key, "a string");
    return v->get<std::string>();
  }
  std::string one_of(const char* key, std::initializer_list<const char*> allowed, const std::string& fallback,
                     bool required = false) const {
    const std::string v = str(key, fallback, required);
    std::string list;
    for (const char* a : allowed) {
      if (v == a) return v;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    wrong(key, "one of " + list);
  }
  bool boolean(const char* key, bool fallback, bool required = false) const {
    const nlohmann::json* v = find(key, required);
    if (!v) return fallback;
    if (!v->is_boolean()) wrong(key, "true or false");
    return v->get<bool>();
  }
  std::size_t count(const char* key, std::size_t lo, std::size_t hi, bool required) const {
    const nlohmann::json* v = find(key, required);
    if (!v) return lo;
    if (!v->is_number_unsigned() || v->get<std::uint64_t>() < lo || v->get<std::uint64_t>() > hi)
      wrong(key, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return static_cast<std::size_t>(v->get<std::uint64_t>());
  }
  std::vector<std::string> strings(const char* key) const {
    const nlohmann::json* v = find(key, false);
    std::vector<std::string> out;
    if (!v) return out;
    if (!v->is_array()) wrong(key, "a list of strings");
    for (const auto& x : *v) {
      if (!x.is_string()) wrong(key, "a list of strings");
      out.push_back(x.get<std::string>());
    }
    return out;
  }
};

}  // namespace

Pooling parse_pooling(const std::string& n) {
  if (n == "first") return Pooling::kFirst;
  if (n == "mean") return Pooling::kMean;
  if (n == "max") return Pooling::kMax;
  if (n == "last") return Pooling::kLast;
  throw std::invalid_argument("unknown pooling '" + n + "' (expected first, mean, max or last)");
}

EmbedPooling parse_embed_pooling(const std::string& n) {
  if (n == "cls" || n == "first") return EmbedPooling::kCls;
  if (n == "mean") return EmbedPooling::kMean;
  if (n == "max") return EmbedPooling::kMax;
  if (n == "tokens") return EmbedPooling::kTokens;
  throw std::invalid_argument("unknown pooling '" + n + "' (expected cls, mean, max or tokens)");
}

const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::kMean: return "mean";
    case Pooling::kMax: return "max";
    case Pooling::kLast: return "last";
    case Pooling::kFirst: break;
  }
  return "first";
}

Precision parse_precision(const std::string& n) {
  if (n == "auto") return Precision::kAuto;
  if (n == "fp32" || n == "float32") return Precision::kFloat32;
  if (n == "bf16" || n == "bfloat16") return Precision::kBFloat16;
  if (n == "int8") return Precision::kInt8;
  throw std::invalid_argument("unknown precision '" + n + "' (expected auto, fp32, bf16 or int8)");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kAuto: return "auto";
    case Precision::kBFloat16: return "bf16";
    case Precision::kInt8: return "int8";
    case Precision::kFloat32: break;
  }
  return "fp32";
}

bool cpu_has_native_bf16() {
  const cpu::Info& c = cpu::info();
  return c.amx_bf16 || c.avx512_bf16;
}

Precision resolve_precision(Precision p, const cpu::Info& c, bool training) {
  if (p != Precision::kAuto) return p;
  if (const char* e = std::getenv("KBERT_PRECISION"); e && *e) {
    const Precision chosen = parse_precision(e);
    if (chosen != Precision::kAuto) return chosen;
  }
  return parse_precision(cpu::auto_precision(c, training));
}

nlohmann::json spec_to_json(const ModelSpec& s) {
  nlohmann::json tok = {{"kind", s.tokenizer.kind}, {"case_insensitive_match", s.tokenizer.case_insensitive_match}};
  if (!s.tokenizer.vocab_path.empty()) tok["vocab"] = s.tokenizer.vocab_path;
  if (!s.tokenizer.spm_model_path.empty()) tok["spm_model"] = s.tokenizer.spm_model_path;
  if (s.tokenizer.lower_case) tok["lower_case"] = *s.tokenizer.lower_case;
  if (s.tokenizer.strip_accents) tok["strip_accents"] = *s.tokenizer.strip_accents;
  if (s.tokenizer.tokenize_chinese_chars) tok["tokenize_chinese_chars"] = *s.tokenizer.tokenize_chinese_chars;
  nlohmann::json j = {{"format", "kbert-model"},
                      {"version", 1},
                      {"tokenizer", tok},
                      {"tree",
                       {{"max_entities", s.tree.max_entities},
                        {"max_length", s.tree.max_length},
                        {"predicate", s.tree.predicate},
                        {"truncation", truncation_name(s.tree.truncation)},
                        {"add_special", s.tree.add_special},
                        {"hops", s.tree.hops},
                        {"max_facts", s.tree.max_facts}}},
                      {"kg", s.kg_files},
                      {"segments", s.segments == SegmentConvention::kUer ? "uer" : "hf"},
                      {"head", s.head.name()},
                      {"pooling", pooling_name(s.pooling)},
                      {"labels", s.labels},
                      {"pad_to_max_length", s.pad_to_max_length},
                      {"use_visible_matrix", s.use_visible_matrix},
                      {"use_soft_positions", s.use_soft_positions},
                      {"lexical_buckets", s.lexical_buckets},
                      {"lexical_knowledge", s.lexical_knowledge}};
  if (s.knowledge_gate) j["knowledge_gate"] = true;  // written only when on: K-BERT's files stay as they were
  return j;
}

ModelSpec spec_from_json(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw FileError(path, "cannot open (is this a kbert model directory?)");
  if (!fs::is_regular_file(st)) throw FileError(path, "not a regular file");
  if (fs::file_size(path, ec) > kMaxSpecBytes) throw ParseError(path, 1, "over 16 MiB: not a kbert.json");
  std::ifstream in(path);
  if (!in) throw FileError(path, "cannot open");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw ParseError(path, 1, "bad kbert.json: not a JSON object");
  try {
    const Fields top{j, ""};
    top.one_of("format", {"kbert-model"}, "kbert-model");
    if (!j.contains("version") || !j["version"].is_number_unsigned() || j["version"].get<std::uint64_t>() != 1)
      throw std::invalid_argument("\"version\" must be 1 (this kbert reads version 1), got " +
                                  (j.contains("version") ? j["version"].dump() : std::string("nothing")));
    ModelSpec s;
    if (!j.contains("tokenizer") || !j["tokenizer"].is_object()) throw std::invalid_argument("\"tokenizer\" must be an object");
    const Fields tok{j["tokenizer"], "tokenizer."};
    s.tokenizer.kind = tok.one_of("kind", {"char", "wordpiece", "sentencepiece"}, "", true);
    s.tokenizer.vocab_path = tok.str("vocab", "");
    s.tokenizer.spm_model_path = tok.str("spm_model", "");
    if (j["tokenizer"].contains("lower_case")) s.tokenizer.lower_case = tok.boolean("lower_case", true);
    if (j["tokenizer"].contains("strip_accents")) s.tokenizer.strip_accents = tok.boolean("strip_accents", true);
    if (j["tokenizer"].contains("tokenize_chinese_chars"))
      s.tokenizer.tokenize_chinese_chars = tok.boolean("tokenize_chinese_chars", true);
    s.tokenizer.case_insensitive_match = tok.boolean("case_insensitive_match", false);
    if (!j.contains("tree") || !j["tree"].is_object()) throw std::invalid_argument("\"tree\" must be an object");
    const Fields tr{j["tree"], "tree."};
    s.tree.max_entities = tr.count("max_entities", 0, kMaxEntities, true);
    s.tree.max_length = tr.count("max_length", 1, kMaxTreeLength, true);
    s.tree.predicate = tr.boolean("predicate", false, true);
    s.tree.truncation = parse_truncation(tr.one_of("truncation", {"kbert", "trunk_first", "trunk-first"}, "kbert", true));
    s.tree.add_special = tr.boolean("add_special", true, true);
    s.tree.hops = tr.count("hops", 1, kMaxHops, false);  // absent (older files): 1, K-BERT
    s.tree.max_facts = tr.count("max_facts", 0, kMaxFacts, false);
    s.kg_files = top.strings("kg");
    s.segments = top.one_of("segments", {"uer", "hf"}, "", true) == "uer" ? SegmentConvention::kUer
                                                                         : SegmentConvention::kHuggingFace;
    s.head = parse_head(top.str("head", "", true));
    s.pooling = parse_pooling(top.one_of("pooling", {"first", "mean", "max", "last"}, "first"));
    s.labels = top.strings("labels");
    std::set<std::string> seen;
    for (const auto& l : s.labels) {
      if (l.empty()) throw std::invalid_argument("\"labels\" holds an empty label");
      if (!seen.insert(l).second) throw std::invalid_argument("\"labels\" holds \"" + l + "\" twice");
    }
    if (s.head != HeadKind::kNone && s.labels.empty()) throw std::invalid_argument("a head needs \"labels\"");
    if (s.head == HeadKind::kNone && !s.labels.empty()) throw std::invalid_argument("\"labels\" without a head (head is none)");
    s.pad_to_max_length = top.boolean("pad_to_max_length", false);
    s.use_visible_matrix = top.boolean("use_visible_matrix", true);
    s.use_soft_positions = top.boolean("use_soft_positions", true);
    s.lexical_buckets = j.contains("lexical_buckets") ? top.count("lexical_buckets", 0, std::size_t{1} << 24, false) : 0;
    if (s.lexical_buckets && (s.head == HeadKind::kTagger || s.head == HeadKind::kNone))  // registered heads: Model::load
      throw std::invalid_argument("\"lexical_buckets\" is for sentence classifiers, not head " + s.head.name());
    s.lexical_knowledge = top.boolean("lexical_knowledge", false);  // absent (older files): words only
    if (s.lexical_knowledge && !s.lexical_buckets)
      throw std::invalid_argument("\"lexical_knowledge\" needs a lexical side channel (\"lexical_buckets\" > 0)");
    s.knowledge_gate = top.boolean("knowledge_gate", false);  // absent: no gate, K-BERT exactly
    if (s.knowledge_gate && !s.use_visible_matrix)
      throw std::invalid_argument("\"knowledge_gate\" needs the visible matrix (\"use_visible_matrix\": true)");
    return s;
  } catch (const std::invalid_argument& e) {
    throw ParseError(path, 1, std::string("bad kbert.json: ") + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 1, std::string("bad kbert.json: ") + e.what());
  }
}

std::string model_file(const std::string& dir, const std::string& rel, const std::string& field) {
  const std::string spec = dir + "/kbert.json";
  auto refuse = [&](const std::string& why) {
    return ParseError(spec, 1, "\"" + field + "\" names \"" + rel + "\": " + why +
                                   " (a model directory's files must lie inside it)");
  };
  const fs::path r(rel);
  if (rel.empty()) throw refuse("an empty path");
  if (r.is_absolute()) throw refuse("an absolute path");
  for (const auto& part : r)
    if (part == "..") throw refuse("a path that climbs out with \"..\"");
  std::error_code ec;
  const fs::path base = fs::canonical(dir, ec);
  if (ec) throw FileError(spec, "cannot open (is this a kbert model directory?): " + ec.message());
  const fs::path full = fs::canonical(base / r, ec);
  if (ec)
    throw FileError((fs::path(dir) / r).string(),
                    field == rel ? "cannot open (is this a kbert model directory?)"
                                 : "cannot open (named by " + spec + ", \"" + field + "\")");
  const std::string b = base.string() + "/", f = full.string();
  if (f.compare(0, b.size(), b) != 0) throw refuse("a link that leads out of the directory");
  if (!fs::is_regular_file(full, ec)) throw refuse("not a regular file");
  return f;
}

}  // namespace kbert
