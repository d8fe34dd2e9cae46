// What the kbert-model commands share (apps/cmd_model.cpp) and the commands of the other
// kbert-model units. Internal to the command-line tool.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "kbert/model/model.hpp"
#include "kbert/train/trainer.hpp"

namespace kbert::cli {

struct Texts {
  std::vector<std::string> a, b;
  std::vector<std::size_t> line;  // the 1-based input line of each text
};

// --shard I/N: this process takes the texts of lines I+1, I+1+N, I+1+2N, ... (every N-th
// text from offset I), so that N processes, on one machine or several, share an archive;
// their outputs interleave back (rows I::N of the whole).
struct Shard {
  std::size_t index = 0, count = 1;
};

Shard shard_option(const Args& args);
// One text a line from stdin. With `pairs` (--pairs), every line is a pair: text_a TAB text_b
// (a line without a TAB is an error naming it); without it a TAB is part of the text.
Texts read_texts(bool pairs, Shard shard = {});
// Bad option values are usage errors (exit 2) in every command.
Precision precision_option(const Args& args);
Pooling pooling_option(const Args& args);
// The options of every command that runs a model (batching, threads, KG, max_length,
// precision, the progress line).
RunOptions run_options(const Args& args);

// train and pretrain (cmd_train.cpp): the training loop's options, the defaults o's own; a
// run starts from a model directory or a new model, never both.
void read_loop_options(const Args& args, TrainOptions& o);
void require_one_start(const Args& args);

// One command a file.
int import_uer_cmd(int argc, char** argv);  // cmd_import.cpp
int import_hf_cmd(int argc, char** argv);   // cmd_import.cpp
int predict_cmd(int argc, char** argv);     // cmd_predict.cpp
int embed_cmd(int argc, char** argv);       // cmd_embed.cpp
int eval_cmd(int argc, char** argv);        // cmd_eval.cpp
int bench_encoder(int argc, char** argv);   // cmd_bench_encoder.cpp
int explain_cmd(int argc, char** argv);     // cmd_explain.cpp
int index_cmd(int argc, char** argv);       // cmd_index.cpp
int search_cmd(int argc, char** argv);      // cmd_index.cpp
int train_cmd(int argc, char** argv);       // cmd_train.cpp
int pretrain_cmd(int argc, char** argv);    // cmd_pretrain.cpp
int kg_suggest_cmd(int argc, char** argv);  // cmd_suggest.cpp

}  // namespace kbert::cli
