// The only translation unit that sees libsentencepiece (and its protobuf).
#include "spm_plugin.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstring>
#include <exception>
#include <memory>
#include <string>

#define KBERT_SPM_EXPORT __attribute__((visibility("default")))

namespace {
void set_error(char* err, size_t errlen, const std::string& msg) {
  if (!err || errlen == 0) return;
  std::size_t n = std::min(msg.size(), errlen - 1);
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}
}  // namespace

extern "C" {

KBERT_SPM_EXPORT int kbert_spm_abi(void) { return KBERT_SPM_ABI; }

KBERT_SPM_EXPORT void* kbert_spm_load(const char* path, char* err, size_t errlen) {
  try {
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto status = sp->Load(path);
    if (!status.ok()) {
      set_error(err, errlen, status.ToString());
      return nullptr;
    }
    return sp.release();
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return nullptr;
  }
}

KBERT_SPM_EXPORT void kbert_spm_free(void* model) { delete static_cast<sentencepiece::SentencePieceProcessor*>(model); }

KBERT_SPM_EXPORT int kbert_spm_encode(void* model, const char* text, size_t len, kbert_spm_piece_fn fn, void* ctx,
                                      char* err, size_t errlen) {
  try {
    auto* sp = static_cast<sentencepiece::SentencePieceProcessor*>(model);
    sentencepiece::ImmutableSentencePieceText spt = sp->EncodeAsImmutableProto(absl::string_view(text, len));
    for (std::size_t i = 0; i < spt.pieces_size(); ++i) {
      auto p = spt.pieces(static_cast<int>(i));
      fn(ctx, p.piece().data(), p.piece().size(), static_cast<int32_t>(p.id()), p.begin(), p.end());
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

KBERT_SPM_EXPORT int32_t kbert_spm_size(void* model) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(model)->GetPieceSize();
}

KBERT_SPM_EXPORT const char* kbert_spm_id_to_piece(void* model, int32_t id, size_t* len) {
  const std::string& p = static_cast<sentencepiece::SentencePieceProcessor*>(model)->IdToPiece(id);
  *len = p.size();
  return p.data();
}

KBERT_SPM_EXPORT int kbert_spm_train(const char* args, char* err, size_t errlen) {
  try {
    auto status = sentencepiece::SentencePieceTrainer::Train(args);
    if (!status.ok()) {
      set_error(err, errlen, status.ToString());
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

}  // extern "C"
