// Every environment variable kbert reads, in one place.
#pragma once

#include <cstddef>
#include <string>

namespace kbert::env {

/// KBERT_SPM_PLUGIN: path of libkbert_spm.so, overriding the search.
std::string spm_plugin();
/// KBERT_NUM_THREADS: default worker threads; 0 or unset: all hardware threads.
unsigned num_threads();

/// The most threads any option may ask for; more is refused with a clear error.
constexpr unsigned kMaxThreads = 256;
/// Throws std::invalid_argument naming the value when `threads` is over kMaxThreads.
void check_threads(std::size_t threads);

}  // namespace kbert::env
