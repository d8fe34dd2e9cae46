// kbert vocab: a WordPiece vocabulary or a sentencepiece model from a corpus.
#include <fstream>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/tokenizer/sentencepiece_tokenizer.hpp"
#include "kbert/tokenizer/vocab_builder.hpp"

namespace kbert::cli {

int cmd_vocab(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("corpus") || !args.has("out")) throw UsageError("vocab needs --corpus FILE and --out FILE");
  const std::string kind = args.value("kind", "wordpiece");
  const std::size_t size = args.size_value("size", 8000);
  if (size < 10) throw UsageError("--size must be at least 10");
  const std::string corpus = args.value("corpus"), out = args.value("out");
  if (kind == "sentencepiece") {
    std::ifstream probe(corpus);
    if (!probe) throw FileError(corpus, "cannot open corpus");
    SentencePieceTokenizer::train("--input=" + corpus + " --model_prefix=" + out + " --vocab_size=" + std::to_string(size) +
                                  " --model_type=unigram --character_coverage=0.9995 --minloglevel=2 --hard_vocab_limit=false"
                                  " --user_defined_symbols=[CLS],[SEP],[MASK],[PAD]");
    std::cerr << "kbert vocab: wrote " << out << ".model and " << out << ".vocab\n";
    return 0;
  }
  if (kind != "wordpiece") throw UsageError("--kind must be wordpiece or sentencepiece");
  std::ifstream in(corpus);
  if (!in) throw FileError(corpus, "cannot open corpus");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  WordPieceOptions opt;
  opt.lower_case = !args.flag("no-lower-case");
  const auto vocab = build_wordpiece_vocab(lines, size, opt, args.size_value("min-frequency", 2));
  write_file_atomically(out, [&](std::ostream& os) {
    for (const auto& t : vocab) os << t << "\n";
  });
  std::cerr << "kbert vocab: " << vocab.size() << " tokens written to " << out << "\n";
  return 0;
}

}  // namespace kbert::cli
