// kbert: the command-line tool.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/error.hpp"


namespace {

// OpenBLAS picks its kernels from the CPU model, and LibTorch its vectorised kernels
// from cpuinfo; on virtual machines that report a generic CPU both fall back to their
// slowest kernels (OpenBLAS "Prescott", ATen "default"), 3-6x slower than the AVX2 /
// AVX-512 code the CPU can run. Choose from the CPU's flags instead, unless the user set
// OPENBLAS_CORETYPE / ATEN_CPU_CAPABILITY. They must be in the environment before the
// libraries load, which is why the front-end does it before running kbert-model.
void choose_cpu_kernels() {
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    auto has = [&](const char* f) { return (" " + line + " ").find(std::string(" ") + f + " ") != std::string::npos; };
    const char* core = nullptr;
    const char* aten = nullptr;
    if (has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl") && has("avx512cd")) {
      core = "SkylakeX", aten = "avx512";
    } else if (has("avx2") && has("fma")) {
      core = "Haswell", aten = "avx2";
    }
    if (core) ::setenv("OPENBLAS_CORETYPE", core, /*overwrite=*/0);
    // Worker threads wait spinning between the many short parallel regions of a forward
    // pass instead of sleeping (measured: about 8% faster on 2 cores).
    ::setenv("OMP_WAIT_POLICY", "ACTIVE", 0);
    if (aten) ::setenv("ATEN_CPU_CAPABILITY", aten, 0);
    return;
  }
}

// Runs kbert-model, found beside this executable, in this process's place.
[[noreturn]] void exec_model_tool(char** argv) {
  choose_cpu_kernels();
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
    static const std::map<std::string, int (*)(int, char**)> handlers = {
        {"tree", kbert::cli::cmd_tree}, {"bench", kbert::cli::cmd_bench},
        {"vocab", kbert::cli::cmd_vocab}, {"kg", kbert::cli::cmd_kg}};
    for (std::size_t i = 0; i < kbert::cli::kCommandCount; ++i)  // the command list and the handlers agree
      if (!kbert::cli::kCommands[i].model && !handlers.count(kbert::cli::kCommands[i].name))
        throw std::logic_error(std::string("no handler for the command ") + kbert::cli::kCommands[i].name);
    const kbert::cli::CommandInfo* c = kbert::cli::find_command(argc, argv);
    if (!c || c->model) throw kbert::cli::UsageError("unknown command '" + cmd + "'");
    return handlers.at(c->name)(argc, argv);
  } catch (const kbert::cli::UsageError& e) {
    std::cerr << "kbert: " << e.what() << "\n\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kbert " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
