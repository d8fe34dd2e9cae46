#include "kbert/common/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "kbert/common/error.hpp"

namespace kbert {

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(tmp, std::string("cannot create: ") + std::strerror(errno));
    write(out);
    out.flush();
    if (!out) throw FileError(tmp, "write failed (disk full?)");
    out.close();
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw FileError(path, std::string("cannot rename the temporary file into place: ") + std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace kbert
