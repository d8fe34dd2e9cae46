#include "kbert/common/error.hpp"

namespace kbert {

std::string printable_path(const std::string& path) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0) {
      out += "\\0";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

void check_path(const std::string& path) {
  if (path.find('\0') != std::string::npos) throw FileError(path, "the path holds a NUL byte: no file has such a name");
}

FileError::FileError(std::string path, const std::string& what)
    : Error(printable_path(path) + ": " + what), path_(std::move(path)) {}

ParseError::ParseError(std::string path, std::size_t line, const std::string& why)
    : Error(printable_path(path) + ":" + std::to_string(line) + ": " + why), path_(std::move(path)), line_(line), why_(why) {}

}  // namespace kbert
