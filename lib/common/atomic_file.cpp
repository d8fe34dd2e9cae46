#include "kbert/common/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "kbert/common/error.hpp"

namespace kbert {

namespace fs = std::filesystem;

namespace {

// A device or a pipe (/dev/stdout, /dev/null, a FIFO) is written in place: it has no
// contents to lose, and renaming a regular file over it would replace the device.
void write_in_place(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw FileError(path, std::string("cannot open for writing: ") + std::strerror(errno));
  write(out);
  out.flush();
  if (!out) throw FileError(path, "write failed");
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::error_code ec;
  std::string target = path;
  const fs::file_status st = fs::status(path, ec);  // follows symbolic links
  if (fs::exists(st)) {
    if (fs::is_directory(st)) throw FileError(path, "is a directory; give the name of a file to write");
    if (!fs::is_regular_file(st)) return write_in_place(path, write);
    // A symbolic link keeps pointing where it did: the file it names is the one replaced.
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
      const fs::path real = fs::canonical(path, ec);
      if (ec) throw FileError(path, "cannot resolve the symbolic link: " + ec.message());
      target = real.string();
    }
  }
  const std::string tmp = target + ".tmp-" + std::to_string(::getpid());
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(tmp, std::string("cannot create: ") + std::strerror(errno));
    write(out);
    out.flush();
    if (!out) throw FileError(tmp, "write failed (disk full?)");
    out.close();
    if (std::rename(tmp.c_str(), target.c_str()) != 0)
      throw FileError(path, std::string("cannot rename the temporary file into place: ") + std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace kbert
