// Fuzzes index files (kbert::VectorIndex::open, memory-mapped): any input is a kbert error
// or an index whose sizes agree with the file and whose search returns rows it holds.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "kbert/common/error.hpp"
#include "kbert/index/vector_index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/kbert-fuzz-index-" + std::to_string(::getpid()) + ".kbix";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const kbert::VectorIndex ix = kbert::VectorIndex::open(path);
    if (ix.size() * ix.dim() * sizeof(float) > size) __builtin_trap();
    if (ix.dim() <= 4096) {
      std::vector<float> q(ix.dim(), 1.0f);
      const auto hits = ix.search(q.data(), 1, 3);
      for (const auto& h : hits.at(0)) {
        if (h.row >= ix.size()) __builtin_trap();
        (void)ix.id(h.row), (void)ix.label(h.row), (void)ix.text(h.row);
      }
    }
  } catch (const kbert::Error&) {
  }
  return 0;
}
