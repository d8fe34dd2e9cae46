// kbert: the command-line tool.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/cpu.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/options.hpp"


namespace {

// Runs kbert-model, found beside this executable, in this process's place.
[[noreturn]] void exec_model_tool(char** argv) {
  // OpenBLAS and LibTorch choose their kernels from the CPU model; on virtual machines that
  // report a generic CPU both fall back to their slowest (kbert/common/cpu.hpp). The choice
  // from the CPU's flags must be in the environment before the libraries load, which is why
  // the front end makes it before running kbert-model; a user's own setting wins.
  kbert::cpu::choose_kernels();
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

int main(int argc, char** argv) {
  namespace options = kbert::options;
  const std::string first = argc >= 2 ? argv[1] : "";
  if (first == "--version" || first == "version") {
    std::cout << "kbert " << options::version() << "\n";
    return 0;
  }
  if (first == "help" && argc == 3 && std::string(argv[2]) == "--json") {  // the option table, for other front ends' tests
    std::cout << options::table_json() << "\n";
    return 0;
  }
  if (first == "help" && argc == 3) {  // kbert help train
    if (const options::Command* c = options::find_command(argv[2])) {
      std::cout << options::command_help(*c);
      return 0;
    }
  }
  if (argc < 2 || first == "--help" || first == "-h" || first == "help") {
    std::cout << options::overview();
    return argc < 2 ? 2 : 0;
  }
  if (kbert::cli::print_help_if_asked(argc, argv)) return 0;  // before kbert-model: help needs no LibTorch
  if (kbert::cli::is_model_command(argc, argv)) exec_model_tool(argv);
  const std::string cmd = argv[1];
  try {
    static const std::map<std::string, int (*)(int, char**)> handlers = {
        {"tree", kbert::cli::cmd_tree}, {"bench", kbert::cli::cmd_bench},
        {"vocab", kbert::cli::cmd_vocab}, {"kg", kbert::cli::cmd_kg}, {"env", kbert::cli::cmd_env}};
    for (std::size_t i = 0; i < kbert::cli::kCommandCount; ++i)  // the command list and the handlers agree
      if (!kbert::cli::kCommands[i].model && !handlers.count(kbert::cli::kCommands[i].name))
        throw std::logic_error(std::string("no handler for the command ") + kbert::cli::kCommands[i].name);
    const kbert::cli::CommandInfo* c = kbert::cli::find_command(argc, argv);
    if (!c || c->model) throw kbert::cli::UsageError("unknown command '" + cmd + "'");
    return handlers.at(c->name)(argc, argv);
  } catch (const kbert::cli::UsageError& e) {
    std::cerr << "kbert: " << e.what() << "\n" << kbert::cli::usage_hint(argc, argv);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kbert " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
