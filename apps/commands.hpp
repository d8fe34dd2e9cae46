#pragma once

namespace kbert::cli {
int cmd_tree(int argc, char** argv);
int cmd_bench(int argc, char** argv);
}  // namespace kbert::cli
