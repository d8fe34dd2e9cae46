// An allocator whose value-initialisation is default-initialisation: resize() on a vector of
// trivial elements then leaves the new ones unwritten instead of zero-filling them, for
// buffers that are resized and then written in full (token offsets, a tree's flat tokens).
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace kbert {

template <class T, class Base = std::allocator<T>>
class DefaultInitAllocator : public Base {
  using Traits = std::allocator_traits<Base>;

 public:
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U, typename Traits::template rebind_alloc<U>>;
  };
  using Base::Base;
  DefaultInitAllocator() = default;
  template <class U, class B>
  DefaultInitAllocator(const DefaultInitAllocator<U, B>& other) noexcept : Base(static_cast<const B&>(other)) {}

  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;  // default-, not value-initialised
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    Traits::construct(static_cast<Base&>(*this), p, std::forward<Args>(args)...);
  }
};

}  // namespace kbert
