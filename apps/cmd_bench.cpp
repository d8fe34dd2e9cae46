// kbert bench tree | kg | index: speed of the knowledge layer and of retrieval.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_common.hpp"
#include "kbert/common/error.hpp"
#include "kbert/index/vector_index.hpp"
#include "kbert/text/utf8.hpp"
#include "commands.hpp"

namespace kbert::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

int bench_tree(int argc, char** argv) {
  Args args(argc, argv, 3);
  declare_tree_options(args, /*bench=*/true);
  auto setup = make_tree_setup(args);
  std::vector<std::string> texts, texts_b;
  std::string line;
  const bool pairs = args.flag("add-special");
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t tab = pairs ? line.find('\t') : std::string::npos;
    if (pairs) {
      texts_b.push_back(tab == std::string::npos ? std::string() : line.substr(tab + 1));
      if (tab != std::string::npos) line.resize(tab);
    }
    texts.push_back(line);
  }
  const unsigned threads = args.threads(1);
  const std::size_t repeat = std::max<std::size_t>(1, args.size_value("repeat", 5));
  // Untimed warm-up over a few texts (page faults, first allocations).
  for (std::size_t i = 0; i < std::min<std::size_t>(texts.size(), 8); ++i) setup->builder->build(texts[i]);
  // Each pass builds every tree; the median pass is reported (short passes are noisy).
  std::size_t tokens = 0, injected = 0;
  std::vector<double> passes;
  for (std::size_t r = 0; r < repeat; ++r) {
    tokens = injected = 0;
    auto t0 = Clock::now();
    if (threads <= 1) {
      for (std::size_t i = 0; i < texts.size(); ++i) {
        SentenceTree t = pairs && !texts_b[i].empty() ? setup->builder->build(texts[i], texts_b[i])
                                                      : setup->builder->build(texts[i]);
        tokens += t.size();
        injected += t.injected.size();
      }
    } else {
      auto trees = setup->builder->build_batch(texts, pairs ? texts_b : std::vector<std::string>{}, threads);
      for (const auto& t : trees) tokens += t.size(), injected += t.injected.size();
    }
    passes.push_back(seconds_since(t0));
  }
  std::vector<double> sorted = passes;
  std::sort(sorted.begin(), sorted.end());
  const double s = sorted[sorted.size() / 2];
  nlohmann::json info = {{"kg_load_seconds", setup->kg_seconds}, {"kg_triples", setup->kg.num_triples()},
                         {"tokens", tokens}, {"injected", injected}, {"threads", std::max(1u, threads)},
                         {"passes", repeat}, {"fastest_pass_seconds", sorted.front()}, {"slowest_pass_seconds", sorted.back()}};
  std::cout << info.dump() << "\n";
  nlohmann::json j = {{"texts", texts.size()}, {"seconds", s},
                      {"per_text_us", texts.empty() ? 0.0 : s * 1e6 / static_cast<double>(texts.size())}};
  std::cout << j.dump() << std::endl;
  return 0;
}

int bench_kg(int argc, char** argv) {
  Args args(argc, argv, 3);
  args.known({"triples", "seed", "dir"}, {"keep"});
  const std::size_t n = args.size_value("triples", 1000000);
  const std::size_t seed = args.size_value("seed", 7);
  std::string dir = args.value("dir", "/tmp");
  std::string path = dir + "/kbert-bench-kg-" + std::to_string(::getpid()) + ".spo";

  // A synthetic KG shaped like the Chinese KGs K-BERT uses (CN-DBpedia, HowNet):
  // subjects with four facts on average, names of 2-4 CJK characters (a fifth of
  // them English two-word names), 64 relations, objects shared between subjects.
  auto t0 = Clock::now();
  {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw FileError(path, "cannot create the benchmark file");
    std::mt19937_64 rng(seed);
    const std::size_t subjects = std::max<std::size_t>(1, n / 4), objects = std::max<std::size_t>(1, n / 2);
    static const char* kWords[] = {"pump", "valve", "seal", "motor", "gas", "pipe", "leak", "weld", "relay", "fuse",
                                   "cable", "meter", "tank", "bolt", "gear", "fan"};
    auto name = [&](std::size_t k, std::string& s) {
      s.clear();
      std::size_t x = (k * 2654435761u) % 0xFFFFFFFFu;
      if (x % 5 == 0) {  // "pump seal 1234"
        s += kWords[x % 16];
        s += ' ';
        s += kWords[(x / 16) % 16];
        s += ' ';
        s += std::to_string(k);
        return;
      }
      const std::size_t len = 2 + (x >> 7) % 3;
      std::size_t y = k + 1;
      for (std::size_t c = 0; c < len || y; ++c) {
        append_utf8(s, static_cast<char32_t>(0x4E00 + y % 2000));
        y /= 2000;
      }
    };
    std::string s, o;
    std::string buf;
    buf.reserve(1 << 20);
    for (std::size_t i = 0; i < n; ++i) {
      name(rng() % subjects, s);
      name(subjects + rng() % objects, o);
      buf += s;
      buf += '\t';
      buf += "relation_";
      buf += std::to_string(rng() % 64);
      buf += '\t';
      buf += o;
      buf += '\n';
      if (buf.size() > (1 << 20) - 256) out << buf, buf.clear();
    }
    out << buf;
    if (!out) throw FileError(path, "write failed");
  }
  const double gen_s = seconds_since(t0);
  const double rss_before = peak_rss_mib();
  KnowledgeGraph kg;
  t0 = Clock::now();
  KgLoadReport rep;
  try {
    rep = kg.load(path);
  } catch (...) {
    if (!args.flag("keep")) std::remove(path.c_str());
    throw;
  }
  const double load_s = seconds_since(t0);
  const double rss_load = peak_rss_mib();
  t0 = Clock::now();
  SentenceTreeBuilder builder(&kg, make_tokenizer({}), {});
  const double matcher_s = seconds_since(t0);
  const double rss = peak_rss_mib();
  if (!args.flag("keep")) std::remove(path.c_str());
  nlohmann::json j = {{"triples", n},
                      {"stored_triples", kg.num_triples()},
                      {"duplicates", kg.duplicate_triples()},
                      {"vertices", kg.num_vertices()},
                      {"surface_forms", kg.num_surface_forms()},
                      {"generate_seconds", gen_s},
                      {"load_seconds", load_s},
                      {"matcher_seconds", matcher_s},
                      {"peak_rss_mib_before_load", rss_before},
                      {"peak_rss_mib_after_load", rss_load},
                      {"peak_rss_mib", rss},
                      {"kg_bytes", kg.memory_bytes()}};
  std::cout << j.dump() << std::endl;
  return 0;
}

// Exact search over a synthetic index: random unit vectors, saved, memory-mapped, searched
// in batches of --queries; the median of --repeat passes.
int bench_index(int argc, char** argv) {
  Args args(argc, argv, 3);
  args.known({"vectors", "dim", "queries", "k", "repeat", "seed", "dir"}, {});
  const std::size_t n = args.size_value("vectors", 100000), dim = args.size_value("dim", 768);
  const std::size_t nq = args.size_value("queries", 100), k = args.size_value("k", 5);
  const std::size_t repeat = std::max<std::size_t>(1, args.size_value("repeat", 5));
  if (n == 0 || dim == 0 || nq == 0) throw UsageError("--vectors, --dim and --queries must be at least 1");
  std::mt19937_64 rng(args.size_value("seed", 7));
  std::normal_distribution<float> normal;
  std::vector<float> x(n * dim), q(nq * dim);
  for (float& v : x) v = normal(rng);
  for (float& v : q) v = normal(rng);
  const std::string path = args.value("dir", "/tmp") + "/kbert-bench-index-" + std::to_string(::getpid()) + ".kbix";
  auto t0 = Clock::now();
  VectorIndex::build(std::move(x), dim, {}, {}, {}, {}).save(path);
  const double build_s = seconds_since(t0);
  t0 = Clock::now();
  VectorIndex ix;
  try {
    ix = VectorIndex::open(path);
  } catch (...) {
    std::remove(path.c_str());
    throw;
  }
  const double open_s = seconds_since(t0);
  std::remove(path.c_str());  // the mapping stays valid
  std::vector<double> passes;
  for (std::size_t r = 0; r < repeat; ++r) {
    t0 = Clock::now();
    auto hits = ix.search(q.data(), nq, k);
    passes.push_back(seconds_since(t0));
    if (hits.size() != nq) throw std::logic_error("bench index: wrong number of results");
  }
  std::sort(passes.begin(), passes.end());
  const double s = passes[passes.size() / 2];
  nlohmann::json j = {{"vectors", n},
                      {"dim", dim},
                      {"queries", nq},
                      {"k", k},
                      {"build_and_save_seconds", build_s},
                      {"open_seconds", open_s},
                      {"search_seconds", s},
                      {"per_query_ms", 1e3 * s / static_cast<double>(nq)},
                      {"gflops", 2.0 * static_cast<double>(n) * static_cast<double>(dim) * static_cast<double>(nq) / s / 1e9}};
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  if (argc < 3) throw UsageError("bench needs a target: tree, kg, index or encoder");
  std::string what = argv[2];
  if (what == "tree") return bench_tree(argc, argv);
  if (what == "kg") return bench_kg(argc, argv);
  if (what == "index") return bench_index(argc, argv);
  throw UsageError("unknown bench target '" + what + "' (expected tree, kg, index or encoder)");
}

}  // namespace kbert::cli
