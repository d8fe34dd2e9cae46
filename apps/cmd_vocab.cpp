// kbert vocab: a WordPiece vocabulary or a sentencepiece model from a corpus.
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/error.hpp"
#include "kbert/tokenizer/vocab_builder.hpp"

namespace kbert::cli {

int cmd_vocab(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("corpus") || !args.has("out")) throw UsageError("vocab needs --corpus FILE and --out FILE");
  VocabJob job;  // every default is the struct's own
  job.corpus = args.value("corpus");
  job.out = args.value("out");
  job.kind = args.value("kind", job.kind);
  if (job.kind != "wordpiece" && job.kind != "sentencepiece") throw UsageError("--kind must be wordpiece or sentencepiece");
  job.size = args.size_value("size", job.size);
  if (job.size < 10) throw UsageError("--size must be at least 10");
  job.min_frequency = args.size_value("min-frequency", job.min_frequency);
  job.lower_case = !args.flag("no-lower-case");
  const VocabResult r = build_vocab(job);
  if (job.kind == "sentencepiece") {
    std::cerr << "kbert vocab: wrote " << r.files[0] << " and " << r.files[1] << "\n";
  } else {
    std::cerr << "kbert vocab: " << r.tokens << " tokens written to " << r.files[0] << "\n";
  }
  return 0;
}

}  // namespace kbert::cli
