#pragma once

namespace kbert::cli {
int cmd_tree(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_vocab(int argc, char** argv);
int cmd_kg(int argc, char** argv);         // kg score
int cmd_model(int argc, char** argv);      // import-uer, import-hf, predict, embed, bench encoder (kbert-model)
/// The usage text of the whole tool.
extern const char* kUsage;
/// True for the commands that kbert-model runs.
bool is_model_command(int argc, char** argv);
}  // namespace kbert::cli
