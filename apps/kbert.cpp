// kbert: the command-line tool.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/error.hpp"


namespace {

// Runs kbert-model, found beside this executable, in this process's place.
[[noreturn]] void exec_model_tool(char** argv) {
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string dir = ".";
  if (n > 0) {
    self[n] = '\0';
    dir = std::string(self);
    dir = dir.substr(0, dir.find_last_of('/'));
  }
  const std::string tool = dir + "/kbert-model";
  argv[0] = const_cast<char*>(tool.c_str());
  ::execv(tool.c_str(), argv);
  std::cerr << "kbert: cannot run " << tool << " for this command: " << std::strerror(errno)
            << " (was kbert built without LibTorch, KBERT_BUILD_MODEL=OFF?)\n";
  std::exit(1);
}

}  // namespace

using kbert::cli::kUsage;

int main(int argc, char** argv) {
  if (kbert::cli::is_model_command(argc, argv)) exec_model_tool(argv);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" || std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "tree") return kbert::cli::cmd_tree(argc, argv);
    if (cmd == "bench") return kbert::cli::cmd_bench(argc, argv);
    throw kbert::cli::UsageError("unknown command '" + cmd + "'");
  } catch (const kbert::cli::UsageError& e) {
    std::cerr << "kbert: " << e.what() << "\n\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kbert " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
