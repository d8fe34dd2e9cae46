// kbert explain | index | search: which facts mattered, and which past texts are alike.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/error.hpp"
#include "kbert/model/model.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/trainer.hpp"
#include "model_cli.hpp"
#include "kbert/index/retrieval.hpp"
#include "kbert/index/vector_index.hpp"

namespace kbert::cli {
namespace {

struct Corpus {
  std::vector<std::string> texts, ids, labels;
};

Corpus read_corpus(const Args& args) {
  const std::string path = args.value("corpus");
  Corpus c;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".txt") == 0) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(path, "cannot open corpus");
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      c.texts.push_back(line);
      c.ids.push_back(std::to_string(n));
    }
    return c;
  }
  DatasetOptions o;
  o.require_label = false;
  o.label_column = args.value("label-column", o.label_column);
  o.text_a_column = args.value("text-column", o.text_a_column);
  o.id_column = args.value("id-column", o.id_column);
  const Dataset d = Dataset::load(path, o);
  if (d.has_pairs) throw ParseError(path, 1, "an index holds single texts; this corpus has a text_b column");
  bool labels = false;
  for (const Example& e : d.examples) {
    c.texts.push_back(e.text_a);
    c.ids.push_back(e.id.empty() ? std::to_string(e.line) : e.id);
    c.labels.push_back(e.label);
    labels = labels || !e.label.empty();
  }
  if (!labels) c.labels.clear();
  return c;
}

}  // namespace

int explain_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model")) throw UsageError("explain needs --model DIR");
  const std::size_t top = args.size_value("top");
  const Model m = Model::load(args.value("model"), run_options(args));
  const Texts t = read_texts(false);
  const std::vector<Explanation> ex = m.explain(t.a);
  for (std::size_t i = 0; i < ex.size(); ++i) {
    const Explanation& e = ex[i];
    const float prob = e.prediction.probs[static_cast<std::size_t>(e.prediction.label)];
    if (args.flag("json")) {
      nlohmann::json facts = nlohmann::json::array();
      for (const FactAttribution& a : e.facts) {
        nlohmann::json f = fact_json(a.fact);
        f["prob_without"] = a.prob_without;
        f["change"] = a.change;
        f["label_without"] = m.label_name(a.label_without);
        if (m.spec().knowledge_gate) f["gate"] = a.gate;
        facts.push_back(std::move(f));
      }
      nlohmann::json j = {{"text", t.a[i]}, {"label", e.prediction.label_name}, {"prob", prob},
                          {"probs", e.prediction.probs}, {"facts", facts}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      continue;
    }
    // The readable form: the facts that moved the prediction most first.
    std::vector<const FactAttribution*> order;
    for (const FactAttribution& a : e.facts) order.push_back(&a);
    std::stable_sort(order.begin(), order.end(),
                     [](const FactAttribution* x, const FactAttribution* y) { return std::fabs(x->change) > std::fabs(y->change); });
    std::cout << "text " << (i + 1) << ": " << e.prediction.label_name << " (p = " << std::fixed << std::setprecision(3) << prob
              << "), " << e.facts.size() << " injected fact(s)\n";
    for (std::size_t r = 0; r < order.size() && r < top; ++r) {
      const FactAttribution& a = *order[r];
      std::cout << "  " << std::showpos << std::setprecision(4) << std::setw(7) << a.change << std::noshowpos
                << std::setprecision(3) << "  " << a.fact.entity << " -> " << a.fact.relation << " " << a.fact.object;
      if (a.fact.hop > 1) std::cout << "   (hop " << a.fact.hop << ")";
      if (m.spec().knowledge_gate) std::cout << "   (gate " << std::setprecision(3) << a.gate << ")";
      if (a.label_without != e.prediction.label) std::cout << "   (without it: " << m.label_name(a.label_without) << ")";
      std::cout << "\n";
    }
    std::cout.unsetf(std::ios::fixed);
  }
  return 0;
}

// A corpus to index: .txt, one text a line (ids are line numbers), or a dataset file (.tsv,
// .csv, .jsonl) whose label and id columns are optional.

int index_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model") || !args.has("corpus") || !args.has("out"))
    throw UsageError("index needs --model DIR, --corpus FILE and --out INDEX");
  refuse_symlink_output(args.value("out"));
  IndexBuildOptions o;
  try {
    o.pooling = parse_embed_pooling(args.value("pooling"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--pooling: ") + e.what());
  }
  if (o.pooling == EmbedPooling::kTokens) throw UsageError("--pooling: an index holds one vector a text (cls, mean or max)");
  o.store_texts = !args.flag("no-texts");
  Corpus c = read_corpus(args);
  Model m = Model::load(args.value("model"), run_options(args));
  VectorIndex ix = build_index(m, c.texts, std::move(c.ids), std::move(c.labels), o);
  ix.save(args.value("out"));
  std::cerr << "kbert index: " << ix.size() << " vectors of " << ix.dim() << " written to " << args.value("out") << "\n";
  return 0;
}

int search_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("index") || !args.has("model"))
    throw UsageError("search needs --index INDEX and --model DIR (the model the index was built with: an index names "
                     "no path that kbert would open; the model's fingerprint is checked against the index's)");
  const std::size_t k = args.size_value("k");
  const std::string path = args.value("index");
  const VectorIndex ix = VectorIndex::open(path);
  // The index fixes how queries are embedded: the model's fingerprint, the KG and max_length.
  // It never names a file to open: a KG file it was built with comes from --kg, and must be
  // the same path (checked below).
  RunOptions r = run_options(args);
  const std::string& kg = ix.source().kg;
  if (kg == "none" && !args.has("kg")) r.kg = "none";
  if (!kg.empty() && kg != "none" && !args.has("kg"))
    throw UsageError("the index " + printable_path(path) + " was built with --kg " + printable_path(kg) +
                     ": pass the same --kg to search");
  if (ix.source().max_length != 0) r.max_length = ix.source().max_length;
  const Model m = Model::load(args.value("model"), r);
  try {
    check_index_model(ix, m);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(printable_path(path) + ": " + e.what());
  }
  const Texts t = read_texts(false);
  const auto hits = search_index(ix, m, t.a, k);
  const bool texts = ix.has_texts() && !args.flag("no-texts");
  for (std::size_t i = 0; i < t.a.size(); ++i) {
    nlohmann::json row = {{"text", t.a[i]}, {"hits", nlohmann::json::array()}};
    for (const SearchHit& h : hits[i]) {
      nlohmann::json j = {{"id", ix.id(h.row)}, {"score", h.score}};
      if (ix.has_labels()) j["label"] = ix.label(h.row);
      if (texts) j["text"] = ix.text(h.row);
      row["hits"].push_back(std::move(j));
    }
    std::cout << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}

}  // namespace kbert::cli
