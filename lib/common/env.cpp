#include "kbert/common/env.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace kbert::env {

std::string spm_plugin() {
  const char* v = std::getenv("KBERT_SPM_PLUGIN");
  return v ? v : "";
}

unsigned num_threads() {
  if (const char* v = std::getenv("KBERT_NUM_THREADS")) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    if (end != v && *end == '\0' && n > 0 && n < 4096) return static_cast<unsigned>(n);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 1;
}

void check_threads(std::size_t threads) {
  if (threads > kMaxThreads)
    throw std::invalid_argument("threads must be at most " + std::to_string(kMaxThreads) + ", got " + std::to_string(threads));
}

}  // namespace kbert::env
