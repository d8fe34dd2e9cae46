// The option table (include/kbert/common/options.hpp): every front end's options, once.
#include "kbert/common/options.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "kbert/common/env.hpp"
#include "kbert/tree/limits.hpp"

#ifndef KBERT_VERSION
#define KBERT_VERSION "unknown"
#endif

namespace kbert::options {
namespace {

constexpr double kBig = 1e15;  // an upper bound that only stops absurd values
constexpr double kThreads = env::kMaxThreads;

// The command groups many options share.
#define TREE_CMDS "tree,bench tree"
#define KG_LOAD_CMDS "tree,bench tree,kg score"
#define RUN_CMDS "predict,embed,eval,explain,index,search,report,bench encoder,kg suggest"
#define FIT_CMDS "train,pretrain"

const std::vector<Option> kTable = {
    // Inputs and outputs.
    {"kg", "tree,bench tree,kg score,kg compile,import-uer,import-hf,train,pretrain," RUN_CMDS, Kind::kText, "", 0, 0, "",
     "a knowledge graph file (.spo, .nt, .csv, .tsv or a compiled .kbkg); repeat for several; 'none': no knowledge "
     "(model commands: the model's own KG when absent)", "kg", true, "FILE"},
    {"model", "train,pretrain," RUN_CMDS, Kind::kText, "", 0, 0, "", "a model directory (kbert.json, weights, vocabulary)",
     "", false, "DIR"},
    {"out", "kg score,kg compile,vocab,import-uer,import-hf,train,pretrain,index,embed", Kind::kText, "", 0, 0, "",
     "where the result goes (written to a temporary path, then renamed)", "out", false, "PATH"},
    {"out", "eval", Kind::kText, "metrics.json", 0, 0, "", "the metrics as JSON", "", false, "FILE"},
    {"out", "kg suggest", Kind::kText, "", 0, 0, "",
     "the suggestions: a TSV (subject, predicate, object, score, evidence) that loads as a KG", "", false, "F.tsv"},
    {"terms", "kg suggest", Kind::kText, "", 0, 0, "", "candidate children, one a line: a name, optionally TAB and its "
     "definition", "", false, "FILE"},
    {"parents", "kg suggest", Kind::kText, "", 0, 0, "", "candidate parents, one a line (default: the terms' names)", "",
     false, "FILE"},
    {"relation", "kg suggest", Kind::kText, "subclass of", 0, 0, "", "the predicate of the suggested facts", "relation", false,
     "TEXT"},
    {"label", "kg suggest", Kind::kText, "1", 0, 0, "", "the model's label for 'text_a is a superclass of text_b'", "label",
     false, "NAME"},
    {"top", "kg suggest", Kind::kCount, "3", 0, 1e6, "", "parents per term at most, best first (0: all)", "top"},
    {"out", "report", Kind::kText, "report.html", 0, 0, "", "the HTML report (one self-contained file)", "out", false,
     "FILE"},
    {"baseline", "report", Kind::kText, "", 0, 0, "", "a second model on the same data (e.g. the same without "
     "knowledge): its F1 per class beside the model's", "baseline", false, "DIR"},
    {"title", "report", Kind::kText, "kbert report", 0, 0, "", "the report's title", "title", false, "TEXT"},
    {"similar", "report", Kind::kCount, "3", 0, 100, "", "most similar indexed texts per report (with --index)",
     "similar"},
    {"train", "train,kg score", Kind::kText, "", 0, 0, "", "labelled training data (TSV with label and text_a columns; "
     "for --task ner BIO TSV or CoNLL)", "train", false, "FILE"},
    {"dev", "train", Kind::kText, "", 0, 0, "", "dev data: the best epoch by the dev metric is kept", "dev", false, "FILE"},
    {"test", "train", Kind::kText, "", 0, 0, "", "test data, scored once with the kept model", "test", false, "FILE"},
    {"data", "eval,report", Kind::kText, "", 0, 0, "", "labelled data to score", "", false, "FILE"},
    {"corpus", "vocab,pretrain,index", Kind::kText, "", 0, 0, "",
     "texts, one a line (index: also .tsv/.csv/.jsonl with columns)", "", false, "FILE"},
    {"config", FIT_CMDS ",import-uer", Kind::kText, "", 0, 0, "", "a BERT config.json (UER or Hugging Face names) for a "
     "new model", "config", false, "F.json"},
    {"vocab", "tree,bench tree,kg score,import-uer," FIT_CMDS, Kind::kText, "", 0, 0, "", "a vocab.txt (char or WordPiece)",
     "vocab", false, "FILE"},
    {"spm-model", KG_LOAD_CMDS, Kind::kText, "", 0, 0, "", "a sentencepiece .model (--tokenizer sentencepiece)", "", false,
     "FILE"},
    {"checkpoint", "import-uer", Kind::kText, "", 0, 0, "", "the original K-BERT's saved model (.bin)", "", false, "F.bin"},
    {"from", "import-hf", Kind::kText, "", 0, 0, "", "a Hugging Face BERT directory", "from_dir", false, "HF_DIR"},
    {"labels-file", "import-uer,import-hf", Kind::kText, "", 0, 0, "", "the label names, one a line (K-BERT NER: its "
     "labels_map order)", "labels_file", false, "FILE"},
    {"index", "search,report", Kind::kText, "", 0, 0, "", "an index written by kbert index (built with --model)",
     "index", false, "INDEX"},

    // Tokenizing and knowledge.
    {"tokenizer", KG_LOAD_CMDS ",import-uer," FIT_CMDS, Kind::kChoice, "char", 0, 0, "char|wordpiece|sentencepiece",
     "how text becomes tokens (new models and trees)", "tokenizer"},
    {"kg-format", KG_LOAD_CMDS ",kg compile", Kind::kChoice, "auto", 0, 0, "auto|spo|nt|csv|tsv|kbkg",
     "the KG files' format (auto: from the extension)", ""},
    {"lenient", KG_LOAD_CMDS ",kg compile", Kind::kFlag, "", 0, 0, "", "skip bad KG lines (reported) instead of stopping",
     ""},
    {"case-insensitive", KG_LOAD_CMDS, Kind::kFlag, "", 0, 0, "", "match KG entities regardless of case", ""},
    {"no-lower-case", KG_LOAD_CMDS ",vocab", Kind::kFlag, "", 0, 0, "", "keep case (WordPiece lower-cases by default)", ""},
    {"max-entities", TREE_CMDS ",import-uer,import-hf," FIT_CMDS, Kind::kCount, "2", 0, double(kMaxEntities), "",
     "facts injected per entity mention (K-BERT's max_entities; 0: none)", "max_entities"},
    {"max-length", TREE_CMDS ",import-uer,import-hf,pretrain", Kind::kCount, "256", 1, double(kMaxTreeLength), "",
     "tokens kept per sentence tree", "max_length"},
    {"max-length", "train,predict,embed,explain,index,report,bench encoder", Kind::kCount, "", 1, double(kMaxTreeLength), "",
     "tokens kept per sentence tree (default: the model's, 256 for a new model)", "max_length"},
    {"predicate", TREE_CMDS ",import-uer,import-hf," FIT_CMDS, Kind::kFlag, "", 0, 0, "",
     "inject the relation with the object (K-BERT's predicate mode)", "predicate"},
    {"truncation", TREE_CMDS ",import-hf,train", Kind::kChoice, "kbert", 0, 0, "kbert|trunk-first",
     "kbert: keep the tree's first tokens (the original); trunk-first: keep the text, drop whole branches", "truncation"},
    {"hops", TREE_CMDS ",import-hf,train", Kind::kCount, "1", 1, double(kMaxHops), "",
     "follow fact chains: an injected object that is a KG entity brings its own facts (1: K-BERT)", "hops"},
    {"max-facts", TREE_CMDS ",import-hf,train", Kind::kCount, "0", 0, double(kMaxFacts), "",
     "facts per mention over all hops (0: max-entities x hops)", "max_facts"},
    {"add-special", TREE_CMDS, Kind::kFlag, "", 0, 0, "", "[CLS] text (a TAB separates a pair: [CLS] a [SEP] b [SEP])",
     ""},
    {"no-visible-matrix", "train", Kind::kFlag, "", 0, 0, "", "inject without the visible matrix (every token sees all)",
     ""},  // Python: visible_matrix=False
    {"no-soft-position", "train", Kind::kFlag, "", 0, 0, "", "hard positions instead of K-BERT's soft positions",
     ""},  // Python: soft_positions=False

    // The model.
    {"pooling", "import-uer,train", Kind::kChoice, "first", 0, 0, "first|mean|max|last",
     "how the classifier reads the encoder's output", "pooling"},
    {"pooling", "embed,index", Kind::kChoice, "mean", 0, 0, "cls|mean|max|tokens",
     "sentence vector: [CLS], mean or max over the text's tokens (embed: also every token)", "pooling"},
    {"head", "train", Kind::kChoice, "kbert", 0, 0, "kbert|hf", "the classifier head: K-BERT's (two layers, tanh) or "
     "Hugging Face's (pooler + one layer)", "head"},
    {"task", "train", Kind::kChoice, "classify", 0, 0, "classify|ner", "a classifier, or a tagger (K-BERT's NER)", "task"},
    {"format", "train,eval", Kind::kChoice, "auto", 0, 0, "auto|bio-tsv|conll", "tagged data's format (--task ner)",
     "format"},
    {"format", "embed", Kind::kChoice, "jsonl", 0, 0, "jsonl|npy", "jsonl on stdout, or one .npy matrix (--out)", ""},
    {"lexical-buckets", "train", Kind::kCount, "0", 0, double(std::size_t{1} << 24), "",
     "a lexical side channel in the head: hashed word and word-pair counts (0: none)", "lexical_buckets"},
    {"lexical-knowledge", "train", Kind::kFlag, "", 0, 0, "",
     "the side channel also counts the objects of the facts the KG holds for the text", "lexical_knowledge"},
    {"knowledge-gate", "train", Kind::kFlag, "", 0, 0, "",
     "a learned gate per injected fact, starting closed (the model starts as the model without facts)",
     "knowledge_gate"},

    // Training.
    {"epochs", "train", Kind::kCount, "5", 0, 1e6, "", "passes over the training data (0: --lexical-fit first alone)",
     "epochs"},
    {"epochs", "pretrain", Kind::kCount, "3", 1, 1e6, "", "passes over the corpus", "epochs"},
    {"batch-size", FIT_CMDS, Kind::kCount, "32", 1, 1 << 20, "", "examples per forward pass", "batch_size"},
    {"batch-size", RUN_CMDS, Kind::kCount, "32", 1, 1 << 20, "", "trees per forward pass, at most", "batch_size"},
    {"max-tokens", RUN_CMDS, Kind::kCount, "0", 0, kBig, "", "padded tokens per forward pass, at most (0: no budget)",
     "max_tokens"},
    {"accumulation", FIT_CMDS, Kind::kCount, "1", 1, 1 << 16, "", "batches per optimizer step", "accumulation"},
    {"learning-rate", "train", Kind::kReal, "2e-05", 0, 10, "", "peak learning rate (linear warm-up and decay)",
     "learning_rate"},
    {"learning-rate", "pretrain", Kind::kReal, "0.0001", 0, 10, "", "peak learning rate (linear warm-up and decay)",
     "learning_rate"},
    {"warmup", FIT_CMDS, Kind::kReal, "0.1", 0, 1, "", "share of the steps with a rising learning rate", "warmup"},
    {"weight-decay", FIT_CMDS, Kind::kReal, "0.01", 0, 10, "", "AdamW decay (never on biases and LayerNorm)",
     "weight_decay"},
    {"max-grad-norm", FIT_CMDS, Kind::kReal, "1", 0, kBig, "", "gradient clipping (0: off)", "max_grad_norm"},
    {"seed", FIT_CMDS, Kind::kCount, "7", 0, 1.8e19, "", "shuffling, dropout, new weights", "seed"},
    {"metric", "train", Kind::kChoice, "", 0, 0, "accuracy|macro_f1|f1",
     "the dev metric that picks the best epoch (default: accuracy; f1 for --task ner)", "metric"},
    {"class-weights", "train", Kind::kChoice, "none", 0, 0, "none|balanced",
     "balanced: the loss weighs class c by N / (classes x count_c)", "class_weights"},
    {"patience", "train", Kind::kCount, "0", 0, 1e6, "", "epochs without dev improvement before stopping (0: never)",
     "patience"},
    {"resume", FIT_CMDS, Kind::kFlag, "", 0, 0, "", "continue a stopped run from OUT.checkpoint", "resume"},
    {"stop-after-steps", FIT_CMDS, Kind::kCount, "0", 0, kBig, "", "stop (with a checkpoint) after this many steps (0: off)",
     "stop_after_steps"},
    {"checkpoint-every", "train", Kind::kCount, "0", 0, kBig, "",
     "also checkpoint every this many steps (0: at epoch ends only)", "checkpoint_every"},
    {"checkpoint-every", "pretrain", Kind::kCount, "200", 0, kBig, "", "also checkpoint every this many steps",
     "checkpoint_every"},
    {"no-shuffle", "train", Kind::kFlag, "", 0, 0, "", "keep the training data's order", ""},  // Python: shuffle=False
    {"no-length-grouping", FIT_CMDS, Kind::kFlag, "", 0, 0, "",
     "randomly mixed batches instead of batches of similar lengths", ""},  // Python: length_grouping=False
    {"lexical-learning-rate", "train", Kind::kReal, "0.01", 0, 10, "",
     "the side channel's peak learning rate (0: fixed)", "lexical_learning_rate"},
    {"lexical-fit", "train", Kind::kChoice, "joint", 0, 0, "joint|first",
     "first: fit the side channel alone first (TF-IDF + logistic regression), then fine-tune", "lexical_fit"},
    {"lexical-c", "train", Kind::kReal, "0", 0, kBig, "",
     "--lexical-fit first: the L2 penalty's C (0: chosen on dev from 0.03-3)", "lexical_c"},
    {"gate-learning-rate", "train", Kind::kReal, "0.003", 0, 1, "", "the knowledge gate's learning rate",
     "gate_learning_rate"},
    {"mask-probability", "pretrain", Kind::kReal, "0.15", 0, 1, "", "share of tokens (or words) masked", "mask_probability"},
    {"no-whole-word", "pretrain", Kind::kFlag, "", 0, 0, "", "mask WordPiece pieces, not whole words", ""},
    {"objective", "pretrain", Kind::kChoice, "mlm", 0, 0, "mlm|electra", "masked LM, or replaced-token detection", "objective"},
    {"generator-layers", "pretrain", Kind::kCount, "1", 1, 64, "", "electra: the generator's layers", "generator_layers"},
    {"discriminator-weight", "pretrain", Kind::kReal, "50", 0, kBig, "", "electra: weight of the detection loss", "discriminator_weight"},
    {"nproc", FIT_CMDS, Kind::kCount, "1", 1, kThreads, "", "local data-parallel ranks", "nproc"},
    {"quiet", FIT_CMDS, Kind::kFlag, "", 0, 0, "", "no progress output", ""},
    {"quiet", RUN_CMDS ",kg compile", Kind::kFlag, "", 0, 0, "",
     "no progress line (it is drawn only when stderr is a terminal, after a second)", ""},

    // Running a model.
    {"threads", "kg score,train,pretrain," RUN_CMDS, Kind::kCount, "0", 0, kThreads, "",
     "threads (0: KBERT_NUM_THREADS or every core)", "threads"},
    {"threads", "bench tree", Kind::kCount, "1", 1, kThreads, "", "threads building trees", ""},
    {"precision", "train,pretrain," RUN_CMDS, Kind::kChoice, "auto", 0, 0, "auto|fp32|bf16|int8",
     "auto: bf16 where the CPU has AMX (after a one-batch check against fp32), else fp32; bf16: matrix products "
     "in bfloat16, the rest float32; int8 (inference only): Linear layers in int8, quantised dynamically",
     "precision"},
    {"json", "predict,explain,env", Kind::kFlag, "", 0, 0, "", "one JSON object a text", ""},
    {"pairs", "predict,embed", Kind::kFlag, "", 0, 0, "", "every line is a pair: text_a TAB text_b", ""},
    {"shard", "predict,embed", Kind::kText, "", 0, 0, "", "only the texts of lines I+1, I+1+N, ... (N processes share "
     "an input)", "", false, "I/N"},
    {"normalize", "embed", Kind::kFlag, "", 0, 0, "", "L2-normalise every vector", "normalize"},
    {"top", "explain", Kind::kCount, "10", 1, 1e6, "", "facts in the table, by |change|", ""},
    {"k", "search", Kind::kCount, "5", 1, 1e6, "", "hits per query", "k"},
    {"no-texts", "index,search", Kind::kFlag, "", 0, 0, "", "index: keep no texts; search: print none", ""},
    {"label-column", "index", Kind::kText, "label", 0, 0, "", "the corpus's label column (optional)", "", false, "C"},
    {"text-column", "index", Kind::kText, "text_a", 0, 0, "", "the corpus's text column", "", false, "C"},
    {"id-column", "index", Kind::kText, "id", 0, 0, "", "the corpus's id column (optional)", "", false, "C"},

    // kg score, vocab.
    {"min-score", "kg score", Kind::kReal, "0", 0, kBig, "", "leave out facts scoring below this", ""},
    {"min-score", "kg suggest", Kind::kReal, "0.5", 0, 1, "", "leave out pairs the model gives less probability", "min_score"},
    {"size", "vocab", Kind::kCount, "8000", 1, 1e8, "", "vocabulary size", "size"},
    {"kind", "vocab", Kind::kChoice, "wordpiece", 0, 0, "wordpiece|sentencepiece", "what to learn", "kind"},
    {"min-frequency", "vocab", Kind::kCount, "2", 1, kBig, "", "least count of a merge", "min_frequency"},

    // Benchmarks.
    {"repeat", "bench tree,bench index", Kind::kCount, "5", 1, 1e6, "", "passes (the median is reported)", ""},
    {"triples", "bench kg", Kind::kCount, "1000000", 1, 1e10, "", "facts of the generated KG", ""},
    {"seed", "bench kg,bench index", Kind::kCount, "7", 0, 1.8e19, "", "the generator's seed", ""},
    {"dir", "bench kg,bench index", Kind::kText, "/tmp", 0, 0, "", "where the generated files go", "", false, "DIR"},
    {"keep", "bench kg", Kind::kFlag, "", 0, 0, "", "leave the generated files in --dir", ""},
    {"open", "bench kg", Kind::kText, "", 0, 0, "", "time one load path of this KG file instead", "", false, "FILE"},
    {"compile-to", "bench kg", Kind::kText, "", 0, 0, "", "with --open: also compile it to this file", "", false,
     "F.kbkg"},
    {"vectors", "bench index", Kind::kCount, "100000", 1, 1e10, "", "indexed random vectors", ""},
    {"dim", "bench index", Kind::kCount, "768", 1, 1e6, "", "their dimension", ""},
    {"queries", "bench index", Kind::kCount, "100", 1, 1e9, "", "random queries", ""},
    {"k", "bench index", Kind::kCount, "5", 1, 1e6, "", "hits per query", ""},
};

#undef TREE_CMDS
#undef KG_LOAD_CMDS
#undef RUN_CMDS
#undef FIT_CMDS

const std::vector<Command> kCommands = {
    {"tree", "sentence trees of stdin texts, one JSON line a text", "--kg FILE",
     "Reads texts from stdin, one a line (with --add-special, a TAB separates a pair), and prints one JSON sentence "
     "tree a line: tokens, soft positions, the visible matrix, the injected facts."},
    {"kg score", "score every fact of a KG on labelled training texts", "--kg FILE --train F --out F.spo",
     "The G statistic of the labels among the texts that mention a fact's subject and among those its branch falls on, "
     "the smaller (0: no evidence; with 8 labels 14.07 is the 5% level). Writes a .spo file with the score as a 4th "
     "column; a scored KG injects each entity's best facts first."},
    {"kg suggest", "the facts a trained pair classifier believes, for review", "--model DIR --terms F --out F.tsv",
     "Scores every (parent, term) pair with a model trained on pairs (text_a a parent, text_b a term with its "
     "definition; examples/ontology_learning), keeps each term's best --top parents with probability at least "
     "--min-score, and writes them with the facts the KG injected into each pair (the evidence), for a person to "
     "accept or reject."},
    {"kg compile", "one memory-mapped binary file of a KG", "--kg FILE --out KG.kbkg",
     "Every --kg accepts the result: it opens in milliseconds and processes share its pages; the same facts in the "
     "same order. A compiled KG is used alone (compile all of a KG's files into one)."},
    {"vocab", "learn a WordPiece vocabulary or a sentencepiece model", "--corpus F --out FILE",
     "A WordPiece vocab.txt (BertTokenizer's normalisation, byte-pair merges with ## continuations), or with --kind "
     "sentencepiece FILE.model."},
    {"import-uer", "convert a model saved by the original K-BERT (UER)",
     "--checkpoint F.bin --config F.json --vocab V --out DIR",
     "A classifier (run_kbert_cls.py) or a tagger (run_kbert_ner.py; needs --labels-file in its labels_map order)."},
    {"import-hf", "convert a Hugging Face BERT directory", "--from HF_DIR --out DIR",
     "BertModel, BertForSequenceClassification or BertForTokenClassification weights (safetensors or "
     "pytorch_model.bin), with config.json and vocab.txt."},
    {"train", "fine-tune a classifier or a tagger", "--train F --out DIR (--model DIR | --config F.json --vocab V)",
     "The best model by the dev metric goes to DIR; OUT.checkpoint holds the run's state (--resume continues exactly). "
     "--nproc N runs N local data-parallel ranks (across machines: WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT). "
     "SIGINT or SIGTERM stops after the current step with a checkpoint (exit 128+signal)."},
    {"pretrain", "pre-train an encoder on a corpus (MLM or ELECTRA)", "--corpus F --out DIR (--model DIR | --config "
     "F.json --vocab V)",
     "The encoder goes to DIR after every epoch; DIR.checkpoint holds the state (every epoch and every "
     "--checkpoint-every steps); --resume continues where a stopped run was."},
    {"eval", "score a model on labelled data", "--model DIR --data F",
     "Accuracy, macro and per-class precision / recall / F1 and the confusion matrix; for a tagger entity-level "
     "precision / recall / F1 overall and per type."},
    {"predict", "classify or tag stdin texts", "--model DIR",
     "One text a line; a tagger prints each text's entities (type, code-point offsets, score, text)."},
    {"embed", "sentence or token vectors of stdin texts", "--model DIR", ""},
    {"explain", "which injected facts moved each prediction", "--model DIR",
     "For every injected fact: the predicted class's probability with that fact's branch removed (change = p(without) "
     "- p(with): negative when the fact supported the prediction), and its gate where the model has one."},
    {"index", "an index of a corpus's sentence vectors", "--model DIR --corpus F --out INDEX",
     "Vectors (L2-normalised), ids, labels, texts and the model's fingerprint in one file, memory-mapped by search."},
    {"search", "the most similar indexed texts of stdin texts", "--index INDEX --model DIR",
     "Exact cosine search; --model must be the model the index was built with (its fingerprint is checked), --kg the "
     "KG file it was built with, if any."},
    {"env", "the CPU, the instruction set kbert's kernels use, threads, version", "",
     "What a benchmark figure should name: the CPU model, its cores, the instruction sets of interest (AVX2, "
     "AVX-512, AVX512-BF16, AVX512-VNNI, AMX), the best one for matrix products, how bfloat16 runs (amx, avx512_bf16 "
     "or emulated), the OpenBLAS / ATen kernels kbert selects and the threads it uses."},
    {"report", "an HTML report of a classifier on labelled data", "--model DIR --data F",
     "One self-contained HTML file (no network): the metrics, a confusion-matrix heat map, F1 per class (beside "
     "--baseline's), and per text the narrative with its entity mentions marked, the injected facts with what removing "
     "each changes (and its gate), the prediction, and with --index the most similar indexed texts; filter by gold "
     "class, prediction, errors or words. Every string from the data is shown as text."},
    {"bench tree", "time sentence-tree building over stdin texts", "--kg FILE",
     "Builds the trees of all stdin texts in memory, --repeat passes, and prints the median pass as JSON."},
    {"bench kg", "time loading, compiling and opening a generated KG", "",
     "Generates a KG of --triples facts, loads it as text and compiles it, then opens the compiled file, each in a fresh "
     "process; or with --open times one load path of a given file."},
    {"bench index", "time exact search over random vectors", "",
     "Saves and memory-maps an index of random vectors and prints the median search pass as JSON."},
    {"bench encoder", "time trees + batching + forward over stdin texts", "--model DIR",
     "Ends with a JSON line of the timings and the CPU kernels used."},
};

// Whether `item` is one of `list`'s `sep`-separated entries, compared after `same`.
template <typename Same>
bool in_list(std::string_view list, char sep, std::string_view item, Same same) {
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = std::min(list.find(sep, start), list.size());
    if (same(list.substr(start, end - start), item)) return true;
    start = end + 1;
  }
  return false;
}

bool in_list(std::string_view list, std::string_view command) {
  return in_list(list, ',', command, [](std::string_view a, std::string_view b) { return a == b; });
}

std::string value_name(const Option& o) {
  if (!o.value_name.empty()) return std::string(o.value_name);
  switch (o.kind) {
    case Kind::kCount: return "N";
    case Kind::kReal: return "X";
    case Kind::kChoice: return std::string(o.choices);
    default: return "VALUE";
  }
}

std::string number_text(double x) {
  std::ostringstream s;
  if (x == std::floor(x) && std::abs(x) < 1e15)
    s << static_cast<long long>(x);
  else
    s << x;
  return s.str();
}

// `text` in lines of at most `width` characters, each after `indent` spaces (the first
// line's indent is the caller's).
std::string wrap(const std::string& text, std::size_t indent, std::size_t width, std::size_t first_used) {
  std::string out, line;
  std::size_t used = first_used;
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (!line.empty() && used + line.size() + 1 + w.size() > width) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
      used = indent;
    }
    line += (line.empty() ? "" : " ") + w;
  }
  return out + line;
}

}  // namespace

const std::vector<Option>& table() { return kTable; }

bool is_choice(const Option& option, std::string_view value) {
  auto same = [](std::string_view a, std::string_view b) {  // trunk_first and trunk-first are one choice
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i] && !((a[i] == '_' || a[i] == '-') && (b[i] == '_' || b[i] == '-'))) return false;
    return true;
  };
  return in_list(option.choices, '|', value, same);
}
const std::vector<Command>& commands() { return kCommands; }

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

const Option* find(std::string_view command, std::string_view name) {
  for (const Option& o : kTable)
    if (o.name == name && in_list(o.commands, command)) return &o;
  return nullptr;
}

std::vector<const Option*> options_of(std::string_view command) {
  std::vector<const Option*> out;
  for (const Option& o : kTable)
    if (in_list(o.commands, command)) out.push_back(&o);
  return out;
}

std::string command_help(const Command& c) {
  std::ostringstream s;
  s << "usage: kbert " << c.name;
  if (!c.required.empty()) s << " " << c.required;
  s << " [options]\n\n" << c.summary << "\n\noptions:\n";
  for (const Option* o : options_of(c.name)) {
    std::string head = "  --" + std::string(o->name);
    if (o->kind != Kind::kFlag) head += " " + value_name(*o);
    s << head;
    s << (head.size() < 30 ? std::string(30 - head.size(), ' ') : "\n" + std::string(30, ' '));
    std::string text(o->help);
    if (!o->fallback.empty()) text += " (default " + std::string(o->fallback) + ")";
    if ((o->kind == Kind::kCount || o->kind == Kind::kReal) && o->max < 1e9)
      text += " [" + number_text(o->min) + ", " + number_text(o->max) + "]";
    if (o->repeatable) text += " (repeatable)";
    s << wrap(text, 30, 100, 30) << "\n";
  }
  s << "  --help                      this text\n";
  if (!c.details.empty()) s << "\n" << wrap(std::string(c.details), 0, 100, 0) << "\n";
  s << "\nExit status: 0 success, 1 bad input (message on stderr), 2 usage error.\n";
  return s.str();
}

std::string overview() {
  std::ostringstream s;
  s << "usage: kbert <command> [options]      kbert <command> --help      kbert --version\n\n"
    << "K-BERT sentence trees, knowledge graphs and knowledge-injected BERT encoders.\n\ncommands:\n";
  for (const Command& c : kCommands) {
    const std::string name(c.name);
    s << "  " << name << std::string(name.size() < 15 ? 15 - name.size() : 1, ' ') << c.summary << "\n";
  }
  s << "\nBatches (predict, embed, eval, explain, index, search, bench encoder) hold trees of similar length:\n"
       "at most --batch-size trees and --max-tokens padded tokens. Threads: --threads, else KBERT_NUM_THREADS, else\n"
       "every core.\n\nExit status: 0 success, 1 bad input (message on stderr), 2 usage error.\n";
  return s.str();
}

std::string table_json() {
  nlohmann::json j = nlohmann::json::array();
  static const char* kinds[] = {"flag", "count", "real", "text", "choice"};
  for (const Option& o : kTable) {
    nlohmann::json row = {{"name", o.name},   {"kind", kinds[static_cast<int>(o.kind)]},
                          {"default", o.fallback}, {"help", o.help}, {"python", o.python},
                          {"repeatable", o.repeatable}};
    nlohmann::json cmds = nlohmann::json::array();
    for (const Command& c : kCommands)
      if (in_list(o.commands, c.name)) cmds.push_back(c.name);
    row["commands"] = cmds;
    if (o.kind == Kind::kCount || o.kind == Kind::kReal) row["range"] = {o.min, o.max};
    if (o.kind == Kind::kChoice) row["choices"] = o.choices;
    j.push_back(row);
  }
  return j.dump(1);
}

std::string_view version() { return KBERT_VERSION; }

std::string default_text(std::string_view command, std::string_view name) {
  const Option* o = find(command, name);
  if (!o)
    throw std::logic_error("the option table gives '" + std::string(command) + "' no option --" + std::string(name));
  return std::string(o->fallback);
}

double default_number(std::string_view command, std::string_view name) {
  const std::string t = default_text(command, name);
  if (t.empty())
    throw std::logic_error("the option table holds no default for --" + std::string(name) + " of " + std::string(command));
  return std::stod(t);
}

}  // namespace kbert::options
