// A whole regular file mapped read-only, unmapped when the object dies: what compiled KGs
// (.kbkg) and vector indexes are read through, so that processes share their pages.
#pragma once

#include <cstddef>
#include <string>

namespace kbert {

class MappedFile {
 public:
  MappedFile() = default;
  /// Opens and maps `path`; `what` names the kind of file in errors ("cannot open compiled KG:
  /// ..."). Throws FileError when the file cannot be opened or mapped or is not a regular file.
  /// A file shorter than `min_bytes` (at least 1: an empty file cannot be mapped) is opened but
  /// not mapped: data() is null and size() says how short it is, for the caller's own error.
  MappedFile(const std::string& path, const std::string& what, std::size_t min_bytes);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return static_cast<const unsigned char*>(addr_); }
  std::size_t size() const { return bytes_; }

 private:
  void* addr_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace kbert
