// kbert: the command-line tool.
#include <iostream>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/error.hpp"

namespace {

const char* kUsage = R"(usage: kbert <command> [options]

commands:
  tree   --kg FILE [--kg FILE ...] --tokenizer char|wordpiece|sentencepiece
         [--vocab FILE] [--spm-model FILE] [--max-entities N] [--max-length N]
         [--predicate] [--truncation kbert|trunk-first] [--add-special]
         [--kg-format auto|spo|nt|csv|tsv] [--lenient] [--case-insensitive]
         [--no-lower-case]
         Reads texts from stdin, one a line (with --add-special, a TAB separates a
         pair), and prints one JSON sentence tree a line.
  bench tree  (the options of tree) [--threads N] [--repeat R]
         Builds the trees of all stdin texts in memory, R passes (default 5), and
         prints the median pass as JSON: {"texts", "seconds", "per_text_us"}.
  bench kg --triples N [--seed S] [--dir DIR]
         Generates a KG of N triples, loads it, prints load time and peak memory.

Exit status: 0 success, 1 bad input (message on stderr), 2 usage error.
)";

}  // namespace

int main(int argc, char** argv) {
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
