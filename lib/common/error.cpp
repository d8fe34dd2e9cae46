#include "kbert/common/error.hpp"

namespace kbert {

FileError::FileError(std::string path, const std::string& what)
    : Error(path + ": " + what), path_(std::move(path)) {}

ParseError::ParseError(std::string path, std::size_t line, const std::string& why)
    : Error(path + ":" + std::to_string(line) + ": " + why), path_(std::move(path)), line_(line), why_(why) {}

}  // namespace kbert
