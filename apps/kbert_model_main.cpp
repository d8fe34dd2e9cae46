// kbert-model: the encoder commands of `kbert` (import-uer, import-hf, predict, embed,
// bench encoder, train, eval, pretrain), in their own executable because LibTorch takes
// half a second to load. Users call `kbert`, which runs this in its place.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/env.hpp"
#include "kbert/train/trainer.hpp"

namespace {

volatile std::sig_atomic_t g_signal = 0;

// train and pretrain: the first SIGINT or SIGTERM stops after the current step with a
// checkpoint (--resume continues); a second one ends the process at once.
extern "C" void on_stop_signal(int sig) {
  if (g_signal) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal = sig;
  kbert::request_training_stop();
  static const char msg[] = "\nkbert: stopping after the current step, writing a checkpoint (signal again to quit now)\n";
  [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof msg - 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (!kbert::cli::is_model_command(argc, argv)) {
    std::cerr << "kbert-model runs the encoder commands of kbert; see `kbert --help`\n";
    return 2;
  }
  if (kbert::cli::print_help_if_asked(argc, argv)) return 0;
  const std::string cmd = argv[1];
  if (kbert::cli::find_command(argc, argv)->trains) {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
  }
  try {
    if (kbert::cli::find_command(argc, argv)->trains) {
      try {
        kbert::env::distributed();  // bad RANK / WORLD_SIZE / MASTER_PORT values are usage errors
      } catch (const std::invalid_argument& e) {
        throw kbert::cli::UsageError(e.what());
      }
      const std::size_t nproc = kbert::cli::nproc_option(argc, argv);
      if (nproc > 1) return kbert::cli::launch_ranks(argc, argv, nproc);
    }
    const int status = kbert::cli::cmd_model(argc, argv);
    return g_signal ? 128 + g_signal : status;  // as a shell reports a signalled process
  } catch (const kbert::cli::UsageError& e) {
    std::cerr << "kbert: " << e.what() << "\n" << kbert::cli::usage_hint(argc, argv);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kbert " << cmd << ": " << e.what() << "\n";
    return 1;
  }
}
