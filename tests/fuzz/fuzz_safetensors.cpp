// Fuzzes the safetensors header parser: the first 8 bytes give the data size, the rest is
// the header JSON. Accepted entries must lie inside the data, sorted, without overlaps.
#include <cstdint>
#include <cstring>
#include <string>

#include "io/checkpoint_formats.hpp"
#include "kbert/common/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t data_size = 0;
  std::memcpy(&data_size, data, 8);
  data_size %= (1u << 20);
  try {
    const auto entries = kbert::io::parse_safetensors_header(
        "fuzz.safetensors", std::string(reinterpret_cast<const char*>(data) + 8, size - 8), data_size);
    std::uint64_t end = 0;
    for (const auto& e : entries) {
      if (e.begin < end || e.end < e.begin || e.end > data_size) __builtin_trap();
      end = e.end;
    }
  } catch (const kbert::ParseError&) {
  }
  return 0;
}
