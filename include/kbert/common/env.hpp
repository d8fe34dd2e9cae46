// Every environment variable kbert reads, in one place.
#pragma once

#include <string>

namespace kbert::env {

/// KBERT_SPM_PLUGIN: path of libkbert_spm.so, overriding the search.
std::string spm_plugin();
/// KBERT_NUM_THREADS: default worker threads; 0 or unset: all hardware threads.
unsigned num_threads();

}  // namespace kbert::env
