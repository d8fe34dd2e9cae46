// kbert bench tree | kg | index: speed of the knowledge layer and of retrieval.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

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
  const std::size_t repeat = std::max<std::size_t>(1, args.size_value("repeat"));
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

// One load path measured in a fresh process (`kbert bench kg --open FILE`): open the KG,
// build the entity matcher on it, print times and the process's peak memory as JSON;
// with --compile-to, then write the compiled KG (timed, after the peaks are taken).
int bench_kg_open(const Args& args) {
  const std::string path = args.value("open");
  const double rss_before = peak_rss_mib();
  KnowledgeGraph kg;
  auto t0 = Clock::now();
  const KgLoadReport rep = kg.load(path);
  const double load_s = seconds_since(t0);
  const double rss_load = peak_rss_mib();
  t0 = Clock::now();
  SentenceTreeBuilder builder(&kg, make_tokenizer({}), {});
  const double matcher_s = seconds_since(t0);
  const double rss = peak_rss_mib();
  // Touch every fact once: a mapped KG's pages come in on first use.
  t0 = Clock::now();
  std::size_t facts = 0;
  for (std::uint32_t id = 0; id < kg.num_surface_forms(); ++id)
    kg.for_each_fact(id, [&](const KgFact&) { return ++facts, true; });
  const double lookup_all_s = seconds_since(t0);
  nlohmann::json j = {{"path", path},
                      {"compiled", kg.is_compiled()},
                      {"stored_triples", kg.num_triples()},
                      {"duplicates", kg.duplicate_triples()},
                      {"vertices", kg.num_vertices()},
                      {"surface_forms", kg.num_surface_forms()},
                      {"facts_looked_up", facts},
                      {"load_seconds", load_s},
                      {"matcher_seconds", matcher_s},
                      {"lookup_all_seconds", lookup_all_s},
                      {"peak_rss_mib_before_load", rss_before},
                      {"peak_rss_mib_after_load", rss_load},
                      {"peak_rss_mib", rss},
                      {"kg_bytes", kg.memory_bytes()}};
  if (args.has("compile-to")) {
    t0 = Clock::now();
    kg.save_compiled(args.value("compile-to"));
    j["compile_seconds"] = seconds_since(t0);
  }
  std::cout << j.dump() << std::endl;
  return 0;
}

// Runs this program again with `args` and returns its stdout parsed as JSON.
nlohmann::json run_self(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("bench kg: cannot open a pipe");
  std::vector<char*> argv;
  static char self[] = "/proc/self/exe";
  argv.push_back(self);
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("bench kg: cannot fork");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(self, argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("bench kg: the measuring process failed (" + args.back() + ")");
  return nlohmann::json::parse(out);
}

int bench_kg(int argc, char** argv) {
  Args args(argc, argv, 3);
  if (args.has("open")) return bench_kg_open(args);
  const std::size_t n = args.size_value("triples");
  const std::size_t seed = args.size_value("seed");
  std::string dir = args.value("dir");
  const std::string stem = dir + "/kbert-bench-kg-" + std::to_string(::getpid());
  const std::string path = stem + ".spo", compiled = stem + ".kbkg";

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
  // Each load path in a fresh process of its own, so that each peak is its own.
  nlohmann::json text, bin;
  try {
    text = run_self({"bench", "kg", "--open", path, "--compile-to", compiled});
    bin = run_self({"bench", "kg", "--open", compiled});
  } catch (...) {
    if (!args.flag("keep")) std::remove(path.c_str()), std::remove(compiled.c_str());
    throw;
  }
  if (!args.flag("keep")) std::remove(path.c_str()), std::remove(compiled.c_str());
  if (text.at("stored_triples") != bin.at("stored_triples") || text.at("facts_looked_up") != bin.at("facts_looked_up"))
    throw std::logic_error("bench kg: the compiled KG does not hold the text KG's facts");
  nlohmann::json j = {{"triples", n},
                      {"stored_triples", text.at("stored_triples")},
                      {"duplicates", text.at("duplicates")},
                      {"vertices", text.at("vertices")},
                      {"surface_forms", text.at("surface_forms")},
                      {"generate_seconds", gen_s},
                      {"load_seconds", text.at("load_seconds")},
                      {"matcher_seconds", text.at("matcher_seconds")},
                      {"peak_rss_mib_after_load", text.at("peak_rss_mib_after_load")},
                      {"peak_rss_mib", text.at("peak_rss_mib")},
                      {"kg_bytes", text.at("kg_bytes")},
                      {"compile_seconds", text.at("compile_seconds")},
                      {"compiled_bytes", bin.at("kg_bytes")},
                      {"compiled_load_seconds", bin.at("load_seconds")},
                      {"compiled_matcher_seconds", bin.at("matcher_seconds")},
                      {"compiled_peak_rss_mib_after_load", bin.at("peak_rss_mib_after_load")},
                      {"compiled_peak_rss_mib", bin.at("peak_rss_mib")},
                      {"lookup_all_seconds", text.at("lookup_all_seconds")},
                      {"compiled_lookup_all_seconds", bin.at("lookup_all_seconds")}};
  std::cout << j.dump() << std::endl;
  return 0;
}

// Exact search over a synthetic index: random unit vectors, saved, memory-mapped, searched
// in batches of --queries; the median of --repeat passes.
int bench_index(int argc, char** argv) {
  Args args(argc, argv, 3);
  const std::size_t n = args.size_value("vectors"), dim = args.size_value("dim");
  const std::size_t nq = args.size_value("queries"), k = args.size_value("k");
  const std::size_t repeat = std::max<std::size_t>(1, args.size_value("repeat"));
  if (n == 0 || dim == 0 || nq == 0) throw UsageError("--vectors, --dim and --queries must be at least 1");
  std::mt19937_64 rng(args.size_value("seed"));
  std::normal_distribution<float> normal;
  std::vector<float> x(n * dim), q(nq * dim);
  for (float& v : x) v = normal(rng);
  for (float& v : q) v = normal(rng);
  const std::string path = args.value("dir") + "/kbert-bench-index-" + std::to_string(::getpid()) + ".kbix";
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
