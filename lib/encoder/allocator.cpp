#include "encoder/allocator.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <map>
#include <unordered_map>
#include <new>
#include <mutex>
#include <vector>

namespace kbert {
namespace {

constexpr std::size_t kSmall = std::size_t{1} << 20;  // below this, malloc is already fast

// Blocks come in size classes of 8 steps per doubling (m * 2^k, m = 8..15): at most 12.5%
// more than asked, and batches of nearby lengths (length-grouped batches differ by a few
// tokens) share blocks. With exact sizes, every new length was a new block and the cache
// filled up with sizes never asked for again.
std::size_t size_class(std::size_t n) {
  if (n < kSmall) return n;
  int shift = 0;
  while ((n >> shift) >= 16) ++shift;  // n >> shift in [8, 16)
  const std::size_t step = std::size_t{1} << shift;
  return (n + step - 1) / step * step;
}

void* aligned_alloc64(std::size_t n) {
  void* p = nullptr;
  if (::posix_memalign(&p, 64, n ? n : 64) != 0) throw std::bad_alloc();
  return p;
}
void aligned_free(void* p) { std::free(p); }

// The data pointer is its own context (LibTorch's raw_allocate needs that); sizes are
// remembered per pointer for the deleter.
class CachingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) const override {
    const std::size_t size = size_class(n);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (size >= kSmall) {
        auto it = free_.find(size);
        if (it != free_.end() && !it->second.empty()) {
          p = it->second.back();
          it->second.pop_back();
          cached_ -= size;
        }
      }
    }
    if (!p) p = aligned_alloc64(size);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[p] = size;
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void set_limit(std::size_t limit) { limit_ = limit; }
  void trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) aligned_free(p);
    free_.clear();
    cached_ = 0;
  }

  static void release(void* p);

  mutable std::mutex mutex_;
  mutable std::map<std::size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, std::size_t> sizes_;
  mutable std::size_t cached_ = 0;
  std::size_t limit_ = 0;
  bool active_ = false;
};

CachingAllocator& instance() {
  static CachingAllocator* a = new CachingAllocator();  // never destroyed: tensors may outlive scopes
  return *a;
}

void CachingAllocator::release(void* p) {
  if (!p) return;
  CachingAllocator& a = instance();
  {
    std::lock_guard<std::mutex> lock(a.mutex_);
    auto it = a.sizes_.find(p);
    const std::size_t size = it == a.sizes_.end() ? 0 : it->second;
    if (it != a.sizes_.end()) a.sizes_.erase(it);
    if (size >= kSmall && a.active_ && a.cached_ + size <= a.limit_) {
      a.free_[size].push_back(p);
      a.cached_ += size;
      return;
    }
  }
  aligned_free(p);
}

std::mutex scope_mutex;
c10::Allocator* previous = nullptr;
int depth = 0;

}  // namespace

CachingAllocatorScope::CachingAllocatorScope(std::size_t max_cached_bytes) {
  std::lock_guard<std::mutex> lock(scope_mutex);
  if (depth++ == 0) {
    CachingAllocator& a = instance();
    a.set_limit(max_cached_bytes);
    {
      std::lock_guard<std::mutex> l(a.mutex_);
      a.active_ = true;
    }
    previous = c10::GetCPUAllocator();
    c10::SetCPUAllocator(&a, /*priority=*/100);
  }
}

CachingAllocatorScope::~CachingAllocatorScope() {
  std::lock_guard<std::mutex> lock(scope_mutex);
  if (--depth == 0) {
    c10::SetCPUAllocator(previous, /*priority=*/101);
    CachingAllocator& a = instance();
    {
      std::lock_guard<std::mutex> l(a.mutex_);
      a.active_ = false;
    }
    a.trim();
  }
}

}  // namespace kbert
