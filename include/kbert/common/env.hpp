// Every environment variable kbert reads, in one place.
#pragma once

#include <cstddef>
#include <string>

namespace kbert::env {

/// KBERT_SPM_PLUGIN: path of libkbert_spm.so, overriding the search.
std::string spm_plugin();
/// KBERT_NUM_THREADS: default worker threads; 0 or unset: all hardware threads.
unsigned num_threads();
/// KBERT_PROGRESS_AFTER: seconds a command runs before its progress line appears (default 1;
/// 0 to 3600).
double progress_after();

/// The rank of this process in a data-parallel run, from torchrun's variables.
struct Distributed {
  int rank = 0, world = 1;              ///< RANK, WORLD_SIZE (unset: one process)
  std::string master_addr = "127.0.0.1";  ///< MASTER_ADDR
  int master_port = 29500;              ///< MASTER_PORT
  double timeout_seconds = 1800;        ///< KBERT_DIST_TIMEOUT: how long a rank waits for the others
};
/// Throws std::invalid_argument naming the variable and its value when one is bad.
Distributed distributed();

/// The most threads any option may ask for; more is refused with a clear error.
constexpr unsigned kMaxThreads = 256;
/// Throws std::invalid_argument naming the value when `threads` is over kMaxThreads.
void check_threads(std::size_t threads);

}  // namespace kbert::env
