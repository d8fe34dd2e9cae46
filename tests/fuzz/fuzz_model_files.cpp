// Fuzzes the files of a model directory: the input becomes kbert.json and config.json
// (split at the first NUL byte), read as Model::load reads them. Errors must be kbert's
// (FileError / ParseError); accepted values must be in their ranges.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "model/model_spec.hpp"
#include "kbert/common/error.hpp"
#include "kbert/model/config.hpp"
#include "kbert/tree/limits.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string dir = "/tmp/kbert-fuzz-model-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  auto write = [](const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return;
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  };
  write(dir + "/kbert.json", input.substr(0, nul));
  write(dir + "/config.json", nul == std::string::npos ? "" : input.substr(nul + 1));
  try {
    const kbert::ModelSpec s = kbert::spec_from_json(kbert::model_file(dir, "kbert.json", "kbert.json"));
    if (s.tree.max_length == 0 || s.tree.max_length > kbert::kMaxTreeLength) __builtin_trap();
    if (s.head != kbert::HeadKind::kNone && s.labels.empty()) __builtin_trap();
    for (const auto& f : s.kg_files) {
      try {
        kbert::model_file(dir, f, "kg");
      } catch (const kbert::Error&) {
      }
    }
  } catch (const kbert::Error&) {
  }
  try {
    const kbert::BertConfig c = kbert::BertConfig::from_hf_json(dir + "/config.json");
    if (c.num_layers <= 0 || c.num_layers > 256 || c.hidden_size <= 0 || c.hidden_size % c.num_heads) __builtin_trap();
  } catch (const kbert::Error&) {
  }
  return 0;
}
