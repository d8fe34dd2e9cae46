// Fuzzes the KG parsers: the input becomes a file read as SPO, N-Triples, CSV and
// TSV, in strict and lenient mode. Errors must be kbert exceptions, never crashes.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/kbert-fuzz-kg-" + std::to_string(::getpid());
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return 0;
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  for (auto fmt : {kbert::KgFormat::kSpo, kbert::KgFormat::kNTriples, kbert::KgFormat::kCsv, kbert::KgFormat::kTsv}) {
    for (bool strict : {true, false}) {
      kbert::KnowledgeGraph kg;
      kbert::KgLoadOptions opt;
      opt.format = fmt;
      opt.strict = strict;
      try {
        kg.load(path, opt);
        kg.for_each_triple([](const kbert::KgTriple& t) {
          if (t.subject.data() == nullptr) __builtin_trap();
        });
        for (std::uint32_t s = 0; s < kg.num_surface_forms(); ++s) kg.facts(s, 3);
      } catch (const kbert::Error&) {
      }
    }
  }
  return 0;
}
