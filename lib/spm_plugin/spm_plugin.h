/* C interface of the sentencepiece plugin (libkbert_spm.so). Private to kbert.
 * Every function that can fail writes a message into err (size errlen) and
 * returns NULL or a negative value. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KBERT_SPM_ABI 1

typedef void (*kbert_spm_piece_fn)(void* ctx, const char* piece, size_t len, int32_t id, uint32_t begin, uint32_t end);

int kbert_spm_abi(void);
void* kbert_spm_load(const char* path, char* err, size_t errlen);
void kbert_spm_free(void* model);
int kbert_spm_encode(void* model, const char* text, size_t len, kbert_spm_piece_fn fn, void* ctx, char* err, size_t errlen);
int32_t kbert_spm_size(void* model);
const char* kbert_spm_id_to_piece(void* model, int32_t id, size_t* len);
/* Trains a model; args as for spm_train ("--input=... --model_prefix=..."). */
int kbert_spm_train(const char* args, char* err, size_t errlen);

#ifdef __cplusplus
}
#endif
