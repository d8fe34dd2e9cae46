#include "kbert/tokenizer/sentencepiece_tokenizer.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <mutex>

#include "kbert/common/env.hpp"
#include "kbert/common/error.hpp"
#include "kbert/kg/entity_matcher.hpp"
#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"
#include "spm_plugin/spm_plugin.h"

namespace kbert {
namespace {

struct Plugin {
  void* lib = nullptr;
  std::string path;
  decltype(&kbert_spm_load) load = nullptr;
  decltype(&kbert_spm_free) free = nullptr;
  decltype(&kbert_spm_encode) encode = nullptr;
  decltype(&kbert_spm_size) size = nullptr;
  decltype(&kbert_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&kbert_spm_train) train = nullptr;
};

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> candidate_paths() {
  std::vector<std::string> out;
  if (std::string e = env::spm_plugin(); !e.empty()) return {e};
  Dl_info info;
  if (::dladdr(reinterpret_cast<void*>(&candidate_paths), &info) && info.dli_fname) {
    std::string self = info.dli_fname;
    std::string dir = self.find('/') == std::string::npos ? "." : self.substr(0, self.find_last_of('/'));
    out.push_back(dir + "/libkbert_spm.so");
    out.push_back(dir + "/kbert/libkbert_spm.so");
    out.push_back(dir + "/../lib/kbert/libkbert_spm.so");
  }
#ifdef KBERT_SPM_PLUGIN_BUILD_PATH
  out.push_back(KBERT_SPM_PLUGIN_BUILD_PATH);
#endif
#ifdef KBERT_SPM_PLUGIN_INSTALL_PATH
  out.push_back(KBERT_SPM_PLUGIN_INSTALL_PATH);
#endif
  return out;
}

const Plugin& plugin() {
  static Plugin p;
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    std::string tried;
    for (const std::string& path : candidate_paths()) {
      tried += (tried.empty() ? "" : ", ") + path;
      if (!file_exists(path)) continue;
      // A link-map namespace of its own: libsentencepiece's protobuf (and everything it
      // needs) never meets LibTorch's, and its libstdc++ is initialised on its own.
      // (RTLD_DEEPBIND isolates protobuf too, but then sentencepiece writes to an
      // unconstructed std::cerr whenever the executable holds a copy-relocated one.)
      void* lib = ::dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!lib) {
        error = std::string("cannot load sentencepiece plugin ") + path + ": " + ::dlerror();
        return;
      }
      auto abi = reinterpret_cast<decltype(&kbert_spm_abi)>(::dlsym(lib, "kbert_spm_abi"));
      if (!abi || abi() != KBERT_SPM_ABI) {
        error = "sentencepiece plugin " + path + " has another ABI version";
        ::dlclose(lib);
        return;
      }
      p.lib = lib;
      p.path = path;
      p.load = reinterpret_cast<decltype(p.load)>(::dlsym(lib, "kbert_spm_load"));
      p.free = reinterpret_cast<decltype(p.free)>(::dlsym(lib, "kbert_spm_free"));
      p.encode = reinterpret_cast<decltype(p.encode)>(::dlsym(lib, "kbert_spm_encode"));
      p.size = reinterpret_cast<decltype(p.size)>(::dlsym(lib, "kbert_spm_size"));
      p.id_to_piece = reinterpret_cast<decltype(p.id_to_piece)>(::dlsym(lib, "kbert_spm_id_to_piece"));
      p.train = reinterpret_cast<decltype(p.train)>(::dlsym(lib, "kbert_spm_train"));
      if (!p.load || !p.free || !p.encode || !p.size || !p.id_to_piece || !p.train) {
        error = "sentencepiece plugin " + path + " lacks a symbol";
        p.lib = nullptr;
      }
      return;
    }
    error = "sentencepiece plugin libkbert_spm.so not found (tried " + tried + "; set KBERT_SPM_PLUGIN)";
  });
  if (!p.lib) throw FileError("libkbert_spm.so", error);
  return p;
}

// Matching units: whitespace-delimited words, with each punctuation character a unit of its own.
struct Units {
  std::u32string joined;          // units joined by ' '
  std::vector<std::size_t> starts;  // unit start in joined
  std::vector<std::uint8_t> ends;   // ends[i]: a unit ends at joined[i]
  std::vector<std::pair<std::uint32_t, std::uint32_t>> bytes;  // unit byte span in the text
};

Units split_units(std::string_view text, bool fold) {
  Units u;
  std::vector<std::uint32_t> off;
  std::u32string cps = decode_utf8(text, off, "text");
  auto add = [&](std::size_t b, std::size_t e) {
    if (b >= e) return;
    if (!u.joined.empty()) u.joined.push_back(' ');
    u.starts.push_back(u.joined.size());
    for (std::size_t k = b; k < e; ++k) u.joined.push_back(fold ? unicode::simple_lower(cps[k]) : cps[k]);
    u.bytes.emplace_back(off[b], off[e]);
  };
  std::size_t b = 0;
  for (std::size_t i = 0; i <= cps.size(); ++i) {
    if (i == cps.size() || unicode::is_python_space(cps[i])) {
      add(b, i);
      b = i + 1;
    } else if (unicode::is_bert_punctuation(cps[i])) {
      add(b, i);
      add(i, i + 1);
      b = i + 1;
    }
  }
  u.ends.assign(u.joined.size() + 1, 0);
  for (std::size_t k = 0; k < u.starts.size(); ++k) {
    std::size_t end = (k + 1 < u.starts.size()) ? u.starts[k + 1] - 1 : u.joined.size();
    u.ends[end] = 1;
  }
  return u;
}

}  // namespace

std::string SentencePieceTokenizer::plugin_path() { return plugin().path; }

void SentencePieceTokenizer::train(const std::string& flags) {
  char err[1024] = {0};
  if (plugin().train(flags.c_str(), err, sizeof err) != 0) throw Error(std::string("sentencepiece training failed: ") + err);
}

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& model_path, bool case_insensitive_match)
    : case_insensitive_(case_insensitive_match) {
  const Plugin& p = plugin();
  if (!file_exists(model_path)) throw FileError(model_path, "sentencepiece model not found");
  char err[512] = {0};
  handle_ = p.load(model_path.c_str(), err, sizeof err);
  if (!handle_) throw ParseError(model_path, 0, std::string("cannot load sentencepiece model: ") + err);
  std::vector<std::string> pieces;
  const std::int32_t n = p.size(handle_);
  pieces.reserve(n);
  for (std::int32_t i = 0; i < n; ++i) {
    std::size_t len = 0;
    const char* s = p.id_to_piece(handle_, i, &len);
    pieces.emplace_back(s, len);
  }
  vocab_ = Vocab::from_tokens(std::move(pieces));
  vocab_.set_unk_token("<unk>");
}

SentencePieceTokenizer::~SentencePieceTokenizer() {
  if (handle_) plugin().free(handle_);
}

std::vector<SentencePieceTokenizer::Piece> SentencePieceTokenizer::encode(std::string_view text) const {
  std::size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos) decode_utf8(text, "text");  // throws with the offset
  std::vector<Piece> out;
  char err[512] = {0};
  auto cb = [](void* ctx, const char* piece, std::size_t len, std::int32_t id, std::uint32_t b, std::uint32_t e) {
    static_cast<std::vector<Piece>*>(ctx)->push_back(Piece{std::string(piece, len), id, b, e});
  };
  if (plugin().encode(handle_, text.data(), text.size(), cb, &out, err, sizeof err) != 0)
    throw std::runtime_error(std::string("sentencepiece encode failed: ") + err);
  return out;
}

std::vector<std::string> SentencePieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (auto& p : encode(text)) out.push_back(std::move(p.piece));
  return out;
}

std::u32string SentencePieceTokenizer::match_key(std::string_view surface) const {
  return split_units(surface, case_insensitive_).joined;
}

void SentencePieceTokenizer::append_segments(std::string_view text, const EntityMatcher* matcher, TokenizedText& out,
                                             std::size_t max_tokens) const {
  std::vector<Piece> pieces = encode(text);
  // Entity mentions as byte spans, leftmost-longest over whole units.
  struct Mention {
    std::uint32_t begin, end;
    std::uint32_t surface;
  };
  std::vector<Mention> mentions;
  if (matcher) {
    Units u = split_units(text, case_insensitive_);
    std::size_t k = 0;
    while (k < u.starts.size()) {
      EntityMatcher::Match m = matcher->longest_at(u.joined, u.starts[k], &u.ends);
      if (m.length == 0) {
        ++k;
        continue;
      }
      const std::size_t end = u.starts[k] + m.length;
      std::size_t last = k;
      while (last + 1 < u.starts.size() && u.starts[last + 1] < end) ++last;
      mentions.push_back({u.bytes[k].first, u.bytes[last].second, m.payload});
      k = last + 1;
    }
  }
  std::size_t mi = 0;
  std::size_t i = 0;
  while (i < pieces.size() && out.tokens.size() < max_tokens) {
    while (mi < mentions.size() && mentions[mi].end <= pieces[i].begin) ++mi;
    Word w;
    w.token_begin = static_cast<std::uint32_t>(out.tokens.size());
    const bool overlaps = mi < mentions.size() && pieces[i].begin < mentions[mi].end && pieces[i].end > mentions[mi].begin;
    if (overlaps) {
      // Every piece overlapping the mention joins its trunk.
      while (i < pieces.size() && pieces[i].begin < mentions[mi].end) out.tokens.push_back(std::move(pieces[i++].piece));
      w.surface = mentions[mi].surface;
      ++mi;
    } else {
      out.tokens.push_back(std::move(pieces[i++].piece));
    }
    w.token_end = static_cast<std::uint32_t>(out.tokens.size());
    out.words.push_back(w);
  }
}

}  // namespace kbert
