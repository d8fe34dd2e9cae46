// Fuzzes compiled KG files (.kbkg, memory-mapped): any input is a kbert error or a KG whose
// every lookup stays inside the file (ASan would see a read out of bounds).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "kbert/common/error.hpp"
#include "kbert/kg/knowledge_graph.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/kbert-fuzz-kbkg-" + std::to_string(::getpid()) + ".kbkg";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    kbert::KnowledgeGraph kg;
    kbert::KgLoadOptions options;
    options.format = kbert::KgFormat::kCompiled;
    kg.load(path, options);
    if (!kg.is_compiled() || kg.memory_bytes() != size) __builtin_trap();
    std::size_t bytes = 0;
    for (std::uint32_t id = 0; id < kg.num_surface_forms(); ++id) {
      const std::string_view form = kg.surface_form(id);
      const std::int64_t found = kg.surface_id(form);
      if (found >= static_cast<std::int64_t>(kg.num_surface_forms())) __builtin_trap();
      (void)kg.has_facts(id);
      kg.for_each_fact(id, [&](const kbert::KgFact& fact) {
        bytes += fact.relation.size() + fact.object.size();
        return true;
      });
    }
    kg.for_each_triple([&](const kbert::KgTriple& t) { bytes += t.subject.size() + t.relation.size() + t.object.size(); });
    (void)kg.lookup("pump");
    (void)bytes;
  } catch (const kbert::Error&) {
  }
  return 0;
}
