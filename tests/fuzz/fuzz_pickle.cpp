// Fuzzes the reader of torch.save pickles (data.pkl): any input ends in a list of tensor
// views that lie inside their storages, or in a kbert ParseError; never a crash, a hang
// or a leak (cycles and deep nests included).
#include <cstdint>
#include <string>

#include "io/checkpoint_formats.hpp"
#include "kbert/common/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto refs = kbert::io::read_state_dict_pickle(
        "fuzz.pt", reinterpret_cast<const char*>(data), size,
        [](const std::string& key, kbert::io::DType) -> std::int64_t { return static_cast<std::int64_t>(key.size()) * 16; });
    for (const auto& r : refs) {
      std::int64_t last = r.tensor.offset, numel = 1;
      for (std::size_t k = 0; k < r.tensor.sizes.size(); ++k) {
        numel *= r.tensor.sizes[k];
        if (r.tensor.sizes[k] > 0) last += (r.tensor.sizes[k] - 1) * r.tensor.strides[k];
      }
      if (numel > 0 && last >= static_cast<std::int64_t>(r.tensor.storage.size()) * 16) __builtin_trap();
    }
  } catch (const kbert::ParseError&) {
  }
  return 0;
}
