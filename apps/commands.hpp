#pragma once

#include <cstddef>
#include <string>

namespace kbert::cli {
int cmd_tree(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_vocab(int argc, char** argv);
int cmd_kg(int argc, char** argv);         // kg score, kg compile
int cmd_env(int argc, char** argv);        // the CPU and the kernels kbert uses
int cmd_model(int argc, char** argv);      // the model commands of kCommands (kbert-model)
int cmd_report(int argc, char** argv);     // kbert report (kbert-model)
/// After a usage error: where the help is ("kbert train --help lists its options").
std::string usage_hint(int argc, char** argv);
/// The commands of the tool, the one list of them: the name (with the sub-command that
/// selects it, for `bench encoder`), whether kbert-model runs it (LibTorch) and whether it
/// trains (the first SIGINT/SIGTERM then stops it after a step with a checkpoint).
struct CommandInfo {
  const char* name;
  const char* sub;  ///< "" or the second word that selects this entry
  bool model;
  bool trains;
};
extern const CommandInfo kCommands[];
extern const std::size_t kCommandCount;
/// The entry argv names (argv[1], and argv[2] for sub-commands), or nullptr.
const CommandInfo* find_command(int argc, char** argv);
/// `--nproc N` of train and pretrain (1 when absent); a usage error for a bad N.
std::size_t nproc_option(int argc, char** argv);
/// Runs the command as N local ranks (apps/launch.cpp); returns the run's exit status.
int launch_ranks(int argc, char** argv, std::size_t nproc);
/// True for the commands that kbert-model runs.
bool is_model_command(int argc, char** argv);
}  // namespace kbert::cli
