#include "kbert/common/env.hpp"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace kbert::env {

std::string spm_plugin() {
  const char* v = std::getenv("KBERT_SPM_PLUGIN");
  return v ? v : "";
}

void check_threads(std::size_t threads) {
  if (threads > kMaxThreads)
    throw std::invalid_argument("threads must be at most " + std::to_string(kMaxThreads) + ", got " + std::to_string(threads));
}

namespace {

long integer_variable(const char* name, long fallback, long lo, long hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || errno == ERANGE || x < lo || x > hi)
    throw std::invalid_argument(std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got '" + v + "'");
  return x;
}

}  // namespace

unsigned num_threads() {
  // Set but out of range or not a number: an error naming the variable, not a silent fallback.
  if (const long n = integer_variable("KBERT_NUM_THREADS", 0, 1, static_cast<long>(kMaxThreads)); n > 0)
    return static_cast<unsigned>(n);
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 1;
}

double progress_after() { return static_cast<double>(integer_variable("KBERT_PROGRESS_AFTER", 1, 0, 3600)); }

Distributed distributed() {
  Distributed d;
  d.world = static_cast<int>(integer_variable("WORLD_SIZE", 1, 1, 4096));
  d.rank = static_cast<int>(integer_variable("RANK", 0, 0, 4095));
  if (d.rank >= d.world)
    throw std::invalid_argument("RANK must be below WORLD_SIZE (" + std::to_string(d.world) + "), got " +
                                std::to_string(d.rank));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) d.master_addr = a;
  d.master_port = static_cast<int>(integer_variable("MASTER_PORT", 29500, 1, 65535));
  d.timeout_seconds = static_cast<double>(integer_variable("KBERT_DIST_TIMEOUT", 1800, 1, 7 * 24 * 3600));
  return d;
}

}  // namespace kbert::env
