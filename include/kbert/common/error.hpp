// Errors raised by kbert.
//
// Caller mistakes (a bad option value, a bad argument) throw std::invalid_argument;
// unknown ids throw std::out_of_range; problems with files and their contents
// throw kbert::FileError (cannot open / read / write) or kbert::ParseError (bad
// content, with the file and line). Every message names the file, line or value.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace kbert {

/// `path` as messages show it: NUL and control bytes escaped (\0, \x1b), so that a message
/// is never cut short or turned into terminal commands by the name it reports.
std::string printable_path(const std::string& path);
/// Throws FileError when `path` holds a NUL byte (C's file functions would open a prefix of it).
void check_path(const std::string& path);

/// Base of kbert's I/O and format errors.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file that cannot be opened, read or written. `path()` names it.
class FileError : public Error {
 public:
  FileError(std::string path, const std::string& what);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// An output path kbert refuses to write: it exists and is not kbert's, or another kbert
/// process holds its lock (kbert/common/output_dir.hpp).
class OutputError : public FileError {
 public:
  using FileError::FileError;
};

/// Bad content in a file: the message reads "path:line: why".
class ParseError : public Error {
 public:
  ParseError(std::string path, std::size_t line, const std::string& why);
  const std::string& path() const { return path_; }
  std::size_t line() const { return line_; }
  const std::string& why() const { return why_; }

 private:
  std::string path_;
  std::size_t line_;
  std::string why_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace kbert

/// Throws std::invalid_argument with the streamed message when `cond` is false.
#define KBERT_CHECK(cond, ...)                                              \
  do {                                                                      \
    if (!(cond)) throw std::invalid_argument(::kbert::detail::concat(__VA_ARGS__)); \
  } while (0)
