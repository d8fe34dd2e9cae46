// Small fixtures for the Catch2 suites: temporary files that clean up after themselves.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace kbert::test {

class TempFile {
 public:
  explicit TempFile(const std::string& content, const std::string& suffix = ".spo") {
    static int counter = 0;
    path_ = "/tmp/kbert-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + suffix;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace kbert::test
