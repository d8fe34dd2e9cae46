// Memory hints for the big hash tables of the KG store.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace kbert::detail {

/// Asks for transparent huge pages on the 2 MiB-aligned part of [p, p + bytes):
/// random probes into tables of tens of MB then miss the TLB far less often.
/// A hint only; nothing changes where the kernel says no.
inline void advise_huge_pages(void* p, std::size_t bytes) {
  constexpr std::uintptr_t kHuge = std::uintptr_t{1} << 21;
  if (bytes < 4 * kHuge) return;
  const auto begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace kbert::detail
