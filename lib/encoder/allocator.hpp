// A caching CPU allocator for training: a training step allocates and frees the same
// large tensors (hundreds of MB) again and again; with the default allocator every one
// of them is a fresh mmap, page-faulted and zeroed by the kernel. Cached blocks are
// reused by size class (8 classes per doubling: at most 12.5% rounding). Installed only while training (inference batches vary
// in size, where a cache would just grow).
#pragma once

#include <cstddef>

namespace kbert {

/// While alive, LibTorch's CPU tensors come from the cache; on destruction the previous
/// allocator is restored (tensors allocated meanwhile stay valid and free normally).
class CachingAllocatorScope {
 public:
  explicit CachingAllocatorScope(std::size_t max_cached_bytes = std::size_t{1} << 30);
  ~CachingAllocatorScope();
  CachingAllocatorScope(const CachingAllocatorScope&) = delete;
  CachingAllocatorScope& operator=(const CachingAllocatorScope&) = delete;
};

}  // namespace kbert
