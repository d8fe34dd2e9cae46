// kbert-model: the encoder commands of `kbert` (import-uer, import-hf, predict, embed,
// bench encoder), in their own executable because LibTorch takes half a second to load.
// Users call `kbert`, which runs this in its place.
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
  if (!kbert::cli::is_model_command(argc, argv)) {
    std::cerr << "kbert-model runs the encoder commands of kbert; see `kbert --help`\n";
    return 2;
  }
  const std::string cmd = argv[1];
  try {
    return kbert::cli::cmd_model(argc, argv);
  } catch (const kbert::cli::UsageError& e) {
    std::cerr << "kbert: " << e.what() << "\n\n" << kbert::cli::kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kbert " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
