#include "common/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kbert/common/error.hpp"

namespace kbert {

MappedFile::MappedFile(const std::string& path, const std::string& what, std::size_t min_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw FileError(path, "cannot open " + what + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileError(path, "not a regular file");
  }
  bytes_ = static_cast<std::size_t>(st.st_size);
  if (bytes_ < std::max<std::size_t>(min_bytes, 1)) {
    ::close(fd);
    return;
  }
  void* addr = mmap(nullptr, bytes_, PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED) throw FileError(path, "cannot map " + what + ": " + std::strerror(err));
  addr_ = addr;
}

MappedFile::~MappedFile() {
  if (addr_ != nullptr) munmap(addr_, bytes_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : addr_(o.addr_), bytes_(o.bytes_) {
  o.addr_ = nullptr;
  o.bytes_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (addr_ != nullptr) munmap(addr_, bytes_);
    addr_ = o.addr_;
    bytes_ = o.bytes_;
    o.addr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

}  // namespace kbert
