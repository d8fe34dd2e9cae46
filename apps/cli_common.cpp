#include "cli_common.hpp"

#include "commands.hpp"
#include "kbert/common/env.hpp"
#include "kbert/tree/limits.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <iostream>

namespace kbert::cli {

const char* kUsage = R"(usage: kbert <command> [options]

commands:
  tree   --kg FILE [--kg FILE ...] --tokenizer char|wordpiece|sentencepiece
         [--vocab FILE] [--spm-model FILE] [--max-entities N] [--max-length N]
         [--predicate] [--truncation kbert|trunk-first] [--add-special]
         [--hops N] [--max-facts N]
         [--kg-format auto|spo|nt|csv|tsv|kbkg] [--lenient] [--case-insensitive]
         [--no-lower-case]
         Reads texts from stdin, one a line (with --add-special, a TAB separates a
         pair), and prints one JSON sentence tree a line. --hops 2 follows fact
         chains: an injected object that is itself a KG entity brings its own facts
         as a sub-branch (--max-entities per node, --max-facts per mention in all,
         default max-entities x hops); 1 (the default) is K-BERT.
  kg score --kg FILE --train F --out F.spo --tokenizer char|wordpiece|sentencepiece
         [--vocab FILE] [--spm-model FILE] [--min-score X] [--threads N]
         [--kg-format auto|spo|nt|csv|tsv|kbkg] [--lenient] [--case-insensitive] [--no-lower-case]
         Scores every fact on labelled training texts (the G statistic of their labels
         among the texts that mention its subject and among those its branch falls on,
         the smaller; 0: no evidence; with 8 labels, 14.07 is the 5% level) and writes
         a .spo file with the score as a 4th column, facts below --min-score left out.
         Loaded, a scored KG injects each entity's best facts first.
  kg compile --kg FILE [--kg FILE ...] --out KG.kbkg [--kg-format auto|spo|nt|csv|tsv] [--lenient]
         Writes the KG as one binary file that every --kg accepts: memory-mapped, it opens
         in milliseconds and processes share its pages; the same facts in the same order.
         A compiled KG is used alone (compile all of a KG's files into one).
  bench tree  (the options of tree) [--threads N] [--repeat R]
         Builds the trees of all stdin texts in memory, R passes (default 5), and
         prints the median pass as JSON: {"texts", "seconds", "per_text_us"}.
  bench kg --triples N [--seed S] [--dir DIR] [--keep]
         Generates a KG of N triples; loads it as text and compiles it, then opens the
         compiled file, each in a fresh process; prints both load times and peak memories
         (--keep: leave the generated files in DIR).
  bench kg --open FILE [--compile-to F.kbkg]
         One load path: opens FILE (any KG format), builds the entity matcher, looks up
         every surface form; prints times and peak memory as JSON.
  bench index [--vectors N] [--dim D] [--queries Q] [--k K] [--repeat R] [--seed S] [--dir DIR]
         Exact search of Q random queries over N random vectors (default 100000 x 768,
         100 queries), saved and memory-mapped; prints the median pass as JSON.
  import-uer --checkpoint F.bin --config F.json --vocab V --tokenizer char
         --pooling first|mean|max|last [--predicate] [--max-entities N]
         [--max-length N] [--labels-file F] [--kg FILE ...] --out DIR
         Converts a classifier (run_kbert_cls.py) or tagger (run_kbert_ner.py; needs
         --labels-file in its labels_map order) saved by the original K-BERT.
  import-hf --from HF_DIR [--labels-file F] [--kg FILE ...] --out DIR [--max-length N]
         [--max-entities N] [--predicate] [--truncation kbert|trunk-first]
         [--hops N] [--max-facts N]
         Converts a Hugging Face BERT directory into a model directory.
  predict --model DIR [--kg FILE|none] [--batch-size N] [--max-tokens N] [--json] [--pairs]
         [--max-length N] [--threads N] [--precision fp32|bf16] [--shard I/N]
         Classifies stdin texts, one a line (with --pairs, every line is a pair:
         text_a TAB text_b; without it a TAB is part of the text); with a tagger (NER) model,
         prints each text's entities: type, code-point offsets start-end, score, text.
         --shard I/N: only the texts of lines I+1, I+1+N, ... (N processes share an archive;
         JSON rows then carry "line"; shard I's rows are rows I::N of the whole).
  embed --model DIR [--kg FILE|none] [--pooling cls|mean|max|tokens] [--normalize]
         [--format jsonl|npy] [--out F] [--pairs] [--batch-size N] [--max-tokens N]
         [--max-length N] [--threads N] [--precision fp32|bf16] [--shard I/N]
         Sentence (or token) vectors of stdin texts (--pairs and --shard as for predict).
  explain --model DIR [--json] [--top N] [--kg FILE|none] [--max-length N] [--batch-size N]
         [--max-tokens N] [--threads N] [--precision fp32|bf16]
         Per-fact attribution for stdin texts (a classifier): the prediction, and for every
         injected fact the predicted class's probability with that fact's branch removed
         from the tree (nothing takes its place), all in batches. The table lists the --top
         (default 10) facts by |change|, change = p(without) - p(with): negative when the fact
         supported the prediction; --json gives every fact, in tree order.
  index --model DIR --corpus F --out INDEX [--pooling cls|mean|max] [--no-texts] [--kg F|none]
         [--max-length N] [--label-column C] [--text-column C] [--id-column C] [--batch-size N]
         [--max-tokens N] [--threads N] [--precision fp32|bf16]
         Sentence vectors (with the KG, L2-normalised) of a corpus: .txt (one text a line, ids
         the line numbers) or .tsv/.csv/.jsonl (label and id columns optional), in one file
         with the ids, labels, texts and the model's fingerprint, memory-mapped by search.
  search --index INDEX --model DIR [--kg F] [--k N] [--no-texts] [--batch-size N] [--max-tokens N]
         [--threads N] [--precision fp32|bf16]
         The --k (default 5) most similar indexed texts of each stdin text, exact cosine, one
         JSON line a text: {"text", "hits": [{"id", "score", "label", "text"}]}. --model is the
         model the index was built with (its fingerprint is checked; an index names no path
         kbert opens); --kg the KG file the index was built with, if it was built with one.
  bench encoder --model DIR [--kg FILE|none] [--batch-size N] [--max-tokens N] [--max-length N]
         [--threads N] [--precision fp32|bf16]
         Times trees + batching + forward over stdin texts; ends with a JSON line.
  train --train F [--dev F] [--test F] (--model DIR | --config F.json --vocab V
         [--tokenizer char|wordpiece]) [--kg F ...|none] --out DIR [--epochs N]
         [--batch-size N] [--accumulation N] [--learning-rate X] [--warmup X]
         [--weight-decay X] [--max-grad-norm X] [--seed N] [--metric accuracy|macro_f1]
         [--class-weights none|balanced] [--patience N] [--resume] [--stop-after-steps N]
         [--checkpoint-every STEPS] [--pooling first|mean|max|last] [--head kbert|hf]
         [--max-length N] [--max-entities N] [--predicate] [--truncation kbert|trunk-first]
         [--hops N] [--max-facts N] [--no-visible-matrix] [--no-soft-position] [--no-shuffle]
         [--no-length-grouping]
         [--task classify|ner] [--format auto|bio-tsv|conll] [--precision fp32|bf16]
         [--lexical-buckets N] [--lexical-learning-rate X] [--lexical-fit joint|first]
         [--lexical-c X] [--lexical-knowledge] [--knowledge-gate] [--gate-learning-rate X]
         [--threads N] [--quiet] [--nproc N]
         Fine-tunes a classifier, or with --task ner a tagger (K-BERT's NER: BIO TSV or
         CoNLL data, injected tokens labelled [ENT], --metric f1|accuracy); the best
         model (dev metric) goes to DIR. --lexical-buckets N adds a lexical side channel to
         the head: hashed word and word-pair counts of the text, a linear model added to the
         logits, trained with the encoder (its own learning rate, default 1e-2; 0 keeps it
         fixed). --lexical-fit first fits it alone before fine-tuning, as TF-IDF + logistic
         regression (IDF of the training texts, L2 penalty with C = --lexical-c, or chosen on
         dev from 0.03-3 when 0 or not given), and starts from that model (dev epoch 0).
         --lexical-knowledge: the side channel also counts the words of the objects of the
         facts the KG injects for the whole text (untruncated), as words of the text.
         --knowledge-gate: a learned gate per injected fact on what its mention takes from
         its branch, starting closed (the model starts as the same model without facts) and
         opened only where that lowers the training loss (learning rate --gate-learning-rate,
         default 3e-3); kbert explain shows each fact's gate.
  pretrain --corpus F (--model DIR | --config F.json --vocab V [--tokenizer ...])
         [--kg F ...] --out DIR [--epochs N] [--batch-size N] [--learning-rate X] [--warmup X]
         [--max-length N] [--max-entities N] [--predicate] [--mask-probability P] [--no-whole-word]
         [--no-length-grouping] [--seed N] [--accumulation N] [--weight-decay X] [--max-grad-norm X]
         [--resume] [--stop-after-steps N] [--checkpoint-every STEPS] [--threads N] [--quiet]
         [--precision fp32|bf16] [--nproc N] [--objective mlm|electra] [--generator-layers N]
         [--discriminator-weight X]
         Pre-training on a text corpus (one text a line), on the fine-tuning loop: masked
         language model (mlm, the default) or replaced-token detection (electra: a generator
         of --generator-layers layers, default 1, sharing the embeddings fills the masks with
         sampled tokens and the encoder learns to tell every token original or replaced;
         loss = generator MLM + --discriminator-weight (default 50) x detection). The
         encoder goes to DIR after every epoch, DIR.checkpoint holds the state (every epoch
         and every --checkpoint-every steps, default 200), and --resume continues exactly
         where a stopped run was. train and pretrain stop cleanly on SIGINT or SIGTERM: a
         checkpoint after the current step, exit 128+signal.
         Data-parallel: --nproc N runs N local ranks (each a share of every global batch
         of N x --batch-size; gradients summed before each step; rank 0 evaluates and
         writes); across machines run the same command on each with WORLD_SIZE, RANK,
         MASTER_ADDR, MASTER_PORT set (torchrun's variables) and the data and --out on a
         shared path. KBERT_DIST_TIMEOUT (seconds, default 1800) bounds every wait.
  vocab --corpus F --out FILE [--size N] [--kind wordpiece|sentencepiece]
         [--no-lower-case] [--min-frequency N]
         A WordPiece vocab.txt (or FILE.model with sentencepiece) from a corpus.
  eval --model DIR --data F [--kg F|none] [--format auto|bio-tsv|conll] [--out metrics.json]
         [--batch-size N] [--max-tokens N] [--threads N] [--precision fp32|bf16]
         Accuracy, macro and per-class precision / recall / F1, confusion matrix; for a
         tagger, entity-level precision / recall / F1 overall and per type.

Batches (predict, embed, eval, bench encoder) hold trees of similar length, longest first:
at most --batch-size trees and --max-tokens padded tokens (0: no budget), cut where lengths
jump so that padding stays within 1.3x of the real tokens.
--precision bf16: matrix products in bfloat16 (AVX512-BF16 / AMX; a warning where the CPU
emulates it), LayerNorm, softmax, residuals, loss and optimizer in float32; fp32 is the default.

Exit status: 0 success, 1 bad input (message on stderr), 2 usage error.
)";

const CommandInfo kCommands[] = {
    // name        sub        model  trains
    {"tree", "", false, false},        {"bench", "encoder", true, false}, {"bench", "", false, false},
    {"vocab", "", false, false},       {"kg", "", false, false},          {"import-uer", "", true, false},
    {"import-hf", "", true, false},    {"predict", "", true, false},      {"embed", "", true, false},
    {"train", "", true, true},         {"eval", "", true, false},         {"pretrain", "", true, true},
    {"index", "", true, false},        {"search", "", true, false},       {"explain", "", true, false},
};
const std::size_t kCommandCount = sizeof(kCommands) / sizeof(kCommands[0]);

const CommandInfo* find_command(int argc, char** argv) {
  if (argc < 2) return nullptr;
  const std::string cmd = argv[1];
  for (const CommandInfo& c : kCommands) {
    if (cmd != c.name) continue;
    if (*c.sub == '\0' || (argc >= 3 && std::string(argv[2]) == c.sub)) return &c;
  }
  return nullptr;
}

bool is_model_command(int argc, char** argv) {
  const CommandInfo* c = find_command(argc, argv);
  return c && c->model;
}


Args::Args(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      value = argv[++i];
      has_value = true;
    }
    raw_.emplace_back(name, has_value ? value : std::string("\x01"));
  }
}

void Args::known(const std::vector<std::string>& with_value, const std::vector<std::string>& flags,
                 const std::vector<std::string>& repeatable) {
  auto in = [](const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); };
  for (auto& [name, value] : raw_) {
    const bool is_flag = in(flags, name), is_value = in(with_value, name) || in(repeatable, name);
    if (!is_flag && !is_value) {
      std::vector<std::string> all = with_value;
      all.insert(all.end(), flags.begin(), flags.end());
      all.insert(all.end(), repeatable.begin(), repeatable.end());
      std::sort(all.begin(), all.end());
      all.erase(std::unique(all.begin(), all.end()), all.end());
      std::string list;
      for (const auto& k : all) list += (list.empty() ? "--" : " --") + k;
      throw UsageError("unknown option --" + name + " (this command knows: " + list + ")");
    }
    if (is_flag && value != "\x01") throw UsageError("option --" + name + " takes no value (got '" + value + "')");
    if (is_value && value == "\x01") throw UsageError("option --" + name + " needs a value");
    auto& slot = values_[name];
    if (!slot.empty() && !in(repeatable, name)) throw UsageError("option --" + name + " given twice");
    slot.push_back(value);
  }
}

bool Args::flag(const std::string& name) const { return values_.count(name) > 0; }
bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::value(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.front();
}

std::vector<std::string> Args::values(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::size_t Args::size_value(const std::string& name, std::size_t fallback) const {
  if (!has(name)) return fallback;
  std::string v = value(name);
  std::size_t used = 0;
  unsigned long long n = 0;
  try {
    if (!v.empty() && v[0] == '-') throw std::invalid_argument("negative");
    n = std::stoull(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty()) throw UsageError("--" + name + " needs a non-negative integer, got '" + v + "'");
  return static_cast<std::size_t>(n);
}

unsigned Args::threads(unsigned fallback) const {
  const std::size_t n = size_value("threads", fallback);
  if (n > env::kMaxThreads)
    throw UsageError("--threads must be at most " + std::to_string(env::kMaxThreads) + ", got " + std::to_string(n));
  return static_cast<unsigned>(n);
}

double Args::double_value(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  const std::string v = value(name);
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty() || !std::isfinite(x))
    throw UsageError("--" + name + " needs a finite number, got '" + v + "'");
  return x;
}

std::vector<std::string> Args::kg_files() const {
  std::vector<std::string> out;
  for (const auto& k : values("kg"))
    if (k != "none") out.push_back(k);
  return out;
}

Truncation truncation_option(const Args& args) {
  try {
    return parse_truncation(args.value("truncation", "kbert"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--truncation: ") + e.what());
  }
}

void declare_tree_options(Args& args, bool bench) {
  std::vector<std::string> with_value = {"tokenizer",  "vocab",      "spm-model", "max-entities", "max-length",
                                         "truncation", "kg-format", "hops",      "max-facts"};
  if (bench) with_value.insert(with_value.end(), {"threads", "repeat"});
  args.known(with_value, {"predicate", "add-special", "lenient", "case-insensitive", "no-lower-case"}, {"kg"});
}

std::size_t load_kg_files(const Args& args, KnowledgeGraph& kg) {
  KgLoadOptions kg_opt;
  kg_opt.strict = !args.flag("lenient");
  if (args.has("kg-format")) kg_opt.format = parse_kg_format(args.value("kg-format"));
  std::size_t bad = 0;
  for (const auto& path : args.kg_files()) {
    KgLoadReport rep = kg.load(path, kg_opt);
    bad += rep.bad_lines;
    if (rep.bad_lines > 0) {
      std::cerr << "kbert: " << path << ": skipped " << rep.bad_lines << " bad line(s)";
      for (const auto& s : rep.bad_samples) std::cerr << "\n  " << s;
      std::cerr << "\n";
    }
  }
  return bad;
}

std::unique_ptr<TreeSetup> make_tree_setup(const Args& args) {
  auto setup = std::make_unique<TreeSetup>();
  auto t0 = std::chrono::steady_clock::now();
  const bool use_kg = !args.kg_files().empty();
  load_kg_files(args, setup->kg);
  setup->kg_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  TokenizerOptions tok;
  tok.kind = args.value("tokenizer", "char");
  tok.vocab_path = args.value("vocab");
  tok.spm_model_path = args.value("spm-model");
  tok.case_insensitive_match = args.flag("case-insensitive");
  if (args.flag("no-lower-case")) tok.lower_case = false;
  try {
    setup->tokenizer = make_tokenizer(tok);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }

  TreeOptions opt;
  opt.max_entities = args.size_value("max-entities", opt.max_entities);
  opt.max_length = args.size_value("max-length", opt.max_length);
  if (opt.max_length == 0) throw UsageError("--max-length must be at least 1");
  opt.predicate = args.flag("predicate");
  opt.add_special = args.flag("add-special");
  if (args.has("truncation")) opt.truncation = truncation_option(args);
  hops_options(args, opt);
  setup->builder = std::make_unique<SentenceTreeBuilder>(use_kg ? &setup->kg : nullptr, setup->tokenizer, opt);
  return setup;
}

void hops_options(const Args& args, TreeOptions& opt) {
  opt.hops = args.size_value("hops", opt.hops);
  if (opt.hops < 1 || opt.hops > kMaxHops)
    throw UsageError("--hops must be from 1 to " + std::to_string(kMaxHops) + ", got " + std::to_string(opt.hops));
  opt.max_facts = args.size_value("max-facts", opt.max_facts);
  if (opt.max_facts > kMaxFacts)
    throw UsageError("--max-facts must be at most " + std::to_string(kMaxFacts) + ", got " + std::to_string(opt.max_facts));
}

nlohmann::json fact_json(const InjectedTriple& x) {
  return {{"entity", x.entity}, {"relation", x.relation}, {"object", x.object},
          {"span", {x.start, x.end}}, {"hop", x.hop},           {"parent", x.parent}};
}

nlohmann::json injected_json(const std::vector<InjectedTriple>& xs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& x : xs) a.push_back(fact_json(x));
  return a;
}

void refuse_output_over_inputs(const std::string& out, const std::vector<std::string>& inputs) {
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (std::filesystem::equivalent(out, in, ec) && !ec)
      throw UsageError("--out " + out + " is the input file " + in + ": writing it would replace the input; choose another path");
  }
}

void refuse_symlink_output(const std::string& out) {
  std::error_code ec;
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(out, ec)))
    throw UsageError("--out " + out + " is a symbolic link: kbert will not write through it to the file it names; "
                     "give a plain path");
}

}  // namespace kbert::cli
