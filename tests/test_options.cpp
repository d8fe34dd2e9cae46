// The option table against itself and against the library's option structs: a default
// written in a struct and a different one in the table (which the CLI, --help and Python
// take theirs from) fails here.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <string>

#include "kbert/common/cpu.hpp"
#include "kbert/common/options.hpp"
#include "kbert/tokenizer/vocab_builder.hpp"
#include "kbert/train/trainer.hpp"  // only the option structs' defaults: nothing of the model is linked

using namespace kbert;
namespace opt = kbert::options;

namespace {

double num(const char* command, const char* name) { return opt::default_number(command, name); }

}  // namespace

TEST_CASE("option table: every row is well formed and names real commands", "[options]") {
  for (const opt::Option& o : opt::table()) {
    INFO("--" << o.name);
    CHECK(!o.help.empty());
    CHECK(!o.commands.empty());
    std::size_t start = 0;
    while (start <= o.commands.size()) {
      const std::size_t end = std::min(o.commands.find(',', start), o.commands.size());
      const std::string_view c = o.commands.substr(start, end - start);
      INFO("command " << c);
      CHECK(opt::find_command(c) != nullptr);
      CHECK(opt::find(c, o.name) == &o);  // no two rows of one name share a command
      start = end + 1;
    }
    if (o.kind == opt::Kind::kChoice && !o.fallback.empty()) CHECK(opt::is_choice(o, o.fallback));
    if ((o.kind == opt::Kind::kCount || o.kind == opt::Kind::kReal) && !o.fallback.empty()) {
      const double d = std::stod(std::string(o.fallback));
      CHECK(d >= o.min);
      CHECK(d <= o.max);
      if (o.kind == opt::Kind::kCount) CHECK(d == std::floor(d));
    }
    if (o.kind == opt::Kind::kFlag) CHECK(o.fallback.empty());
  }
  for (const opt::Command& c : opt::commands()) {
    INFO(c.name);
    CHECK(!opt::options_of(c.name).empty());
    const std::string help = opt::command_help(c);
    CHECK(help.rfind("usage: kbert " + std::string(c.name), 0) == 0);
    for (const opt::Option* o : opt::options_of(c.name)) CHECK(help.find("--" + std::string(o->name)) != std::string::npos);
  }
  CHECK(opt::find("train", "no-such-option") == nullptr);
  CHECK_THROWS_AS(opt::default_text("tree", "epochs"), std::logic_error);
  CHECK(!opt::version().empty());
}

TEST_CASE("option table: the defaults are the library's own", "[options]") {
  const TreeOptions tree;
  for (const char* c : {"tree", "bench tree", "import-hf", "train"}) {
    INFO(c);
    CHECK(num(c, "max-entities") == tree.max_entities);
    CHECK(num(c, "hops") == tree.hops);
    CHECK(num(c, "max-facts") == tree.max_facts);
    CHECK(opt::default_text(c, "truncation") == truncation_name(tree.truncation));
  }
  CHECK(num("tree", "max-length") == tree.max_length);
  CHECK(num("pretrain", "max-length") == tree.max_length);

  const TrainOptions t;
  CHECK(num("train", "epochs") == t.epochs);
  CHECK(num("train", "batch-size") == t.batch_size);
  CHECK(num("train", "accumulation") == t.accumulation);
  CHECK(num("train", "learning-rate") == Approx(t.learning_rate));
  CHECK(num("train", "warmup") == Approx(t.warmup));
  CHECK(num("train", "weight-decay") == Approx(t.weight_decay));
  CHECK(num("train", "max-grad-norm") == Approx(t.max_grad_norm));
  CHECK(num("train", "seed") == t.seed);
  CHECK(num("train", "patience") == t.patience);
  CHECK(num("train", "stop-after-steps") == t.stop_after_steps);
  CHECK(num("train", "checkpoint-every") == t.checkpoint_every);
  CHECK(num("train", "lexical-learning-rate") == Approx(t.lexical_learning_rate));
  CHECK(num("train", "lexical-c") == Approx(t.lexical_c));
  CHECK(num("train", "gate-learning-rate") == Approx(t.gate_learning_rate));
  CHECK(opt::default_text("train", "class-weights") == t.class_weights);
  CHECK(opt::default_text("train", "lexical-fit") == t.lexical_fit);
  CHECK(opt::default_text("train", "metric") == t.metric);
  CHECK(opt::default_text("train", "precision") == "auto");
  CHECK(t.precision == Precision::kAuto);
  CHECK(RunOptions().precision == Precision::kAuto);
  CHECK(opt::default_text("predict", "precision") == "auto");

  const PretrainOptions p;
  CHECK(num("pretrain", "epochs") == p.epochs);
  CHECK(num("pretrain", "batch-size") == p.batch_size);
  CHECK(num("pretrain", "learning-rate") == Approx(p.learning_rate));
  CHECK(num("pretrain", "checkpoint-every") == p.checkpoint_every);
  CHECK(num("pretrain", "mask-probability") == Approx(p.mask_probability));
  CHECK(num("pretrain", "generator-layers") == p.generator_layers);
  CHECK(num("pretrain", "discriminator-weight") == Approx(p.discriminator_weight));
  CHECK(num("pretrain", "seed") == p.seed);
  CHECK(opt::default_text("pretrain", "objective") == p.objective);
  const PretrainJob pj;
  CHECK(opt::default_text("pretrain", "tokenizer") == pj.tokenizer);
  CHECK(num("pretrain", "max-entities") == pj.tree.max_entities);
  CHECK(num("pretrain", "threads") == pj.threads);

  const VocabJob v;
  CHECK(opt::default_text("vocab", "kind") == v.kind);
  CHECK(num("vocab", "size") == v.size);
  CHECK(num("vocab", "min-frequency") == v.min_frequency);

  const RunOptions r;
  for (const char* c : {"predict", "embed", "eval", "explain", "index", "search", "bench encoder"}) {
    INFO(c);
    CHECK(num(c, "batch-size") == r.batch_size);
    CHECK(num(c, "max-tokens") == r.max_tokens);
    CHECK(num(c, "threads") == r.threads);
    if (opt::find(c, "max-length")) CHECK(opt::default_text(c, "max-length").empty());  // the model's own
  }

  const ClassifierSetup s;
  CHECK(opt::default_text("train", "tokenizer") == s.tokenizer);
  CHECK(num("train", "lexical-buckets") == s.lexical_buckets);
  CHECK(num("train", "threads") == s.threads);
  CHECK(opt::default_text("train", "head") == "kbert");
  CHECK(s.head == HeadKind::kKbert);
  CHECK(opt::default_text("train", "pooling") == "first");
  CHECK(s.pooling == Pooling::kFirst);
  CHECK(opt::default_text("train", "task") == TrainJob().task);

  const ImportUerOptions u;
  CHECK(opt::default_text("import-uer", "tokenizer") == u.tokenizer);
  CHECK(num("import-uer", "max-entities") == u.max_entities);
  CHECK(num("import-uer", "max-length") == u.max_length);
}

TEST_CASE("cpu: the instruction sets and kernels come from /proc/cpuinfo's flags", "[cpu]") {
  const std::string spr =
      "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\nflags\t\t: fpu avx2 fma avx512f avx512dq avx512cd "
      "avx512bw avx512vl avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\nmodel name\t: Intel(R) "
      "Xeon(R) Platinum 8488C\nflags\t\t: fpu avx2\n";
  const kbert::cpu::Info a = kbert::cpu::parse_cpuinfo(spr);
  CHECK(a.model == "Intel(R) Xeon(R) Platinum 8488C");
  CHECK(a.logical_cores == 2);
  CHECK((a.amx_bf16 && a.amx_int8 && a.avx512_bf16 && a.avx512 && a.avx512_vnni));
  CHECK(std::string(kbert::cpu::best_isa(a)) == "amx_bf16");
  CHECK(std::string(kbert::cpu::bf16_path(a)) == "amx");
  CHECK(std::string(kbert::cpu::openblas_coretype(a)) == "SkylakeX");

  const kbert::cpu::Info z = kbert::cpu::parse_cpuinfo(
      "processor : 0\nmodel name : AMD EPYC\nflags : avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16\n");
  CHECK((!z.amx_bf16 && z.avx512_bf16));
  CHECK(std::string(kbert::cpu::best_isa(z)) == "avx512_bf16");
  CHECK(std::string(kbert::cpu::bf16_path(z)) == "avx512_bf16");

  const kbert::cpu::Info h = kbert::cpu::parse_cpuinfo("processor : 0\nflags : sse4_2 avx2 fma amx_bf16\n");
  CHECK(h.model == "unknown");
  CHECK(!h.amx_bf16);  // amx_bf16 without amx_tile is not usable
  CHECK(std::string(kbert::cpu::best_isa(h)) == "avx2");
  CHECK(std::string(kbert::cpu::aten_capability(h)) == "avx2");
  CHECK(std::string(kbert::cpu::bf16_path(h)) == "none");  // no bfloat16 products below AVX-512
  const kbert::cpu::Info s =
      kbert::cpu::parse_cpuinfo("processor : 0\nflags : avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl\n");
  CHECK(std::string(kbert::cpu::bf16_path(s)) == "emulated");

  const kbert::cpu::Info none = kbert::cpu::parse_cpuinfo("");
  CHECK(std::string(kbert::cpu::best_isa(none)) == "baseline");
  CHECK(std::string(kbert::cpu::openblas_coretype(none)).empty());
}
