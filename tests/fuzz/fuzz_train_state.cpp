// Fuzzes the files a training checkpoint is resumed from, as run_training reads them: the
// input's first byte chooses state.json (io::parse_run_state against a fixed run shape) or
// optimizer.safetensors (its header parsed and checked against a fixed model's parameter
// shapes: io::check_optimizer_entries). Errors must be kbert's (ParseError); an accepted
// state must lie inside the run.
#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint_formats.hpp"
#include "io/run_state.hpp"
#include "kbert/common/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      const kbert::io::RunShape shape{3, 6, 3, 2};
      const kbert::io::RunState s = kbert::io::parse_run_state("state.json", input, shape);
      if (s.epoch > shape.epochs || s.batch > shape.batches || s.step > shape.epochs * shape.steps_per_epoch ||
          s.best_epoch > s.epoch || s.bad_epochs > s.epoch || !(s.best >= -1 && s.best <= 1) || !s.fingerprint.is_object())
        __builtin_trap();
    } else {
      // The safetensors layout: 8-byte little-endian header size, the header, the data.
      if (input.size() < 8) return 0;
      std::uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(input[static_cast<std::size_t>(i)]);
      if (n > input.size() - 8 || n > kbert::io::kMaxSafetensorsHeader) return 0;
      const auto entries = kbert::io::parse_safetensors_header("optimizer.safetensors", input.substr(8, n),
                                                               input.size() - 8 - n);
      const std::vector<std::vector<std::vector<std::int64_t>>> shapes = {{{4, 2}, {2}}, {{3}}};
      kbert::io::check_optimizer_entries("optimizer.safetensors", entries, shapes);
      for (const auto& e : entries)
        if (e.end < e.begin || e.end > input.size() - 8 - n) __builtin_trap();
    }
  } catch (const kbert::Error&) {
  }
  return 0;
}
