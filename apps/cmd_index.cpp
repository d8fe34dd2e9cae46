// kbert index | search: an index of a corpus's sentence vectors, and the most similar indexed
// texts of stdin texts (kbert/index/retrieval.hpp).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/error.hpp"
#include "kbert/index/retrieval.hpp"
#include "kbert/index/vector_index.hpp"
#include "kbert/model/model.hpp"
#include "kbert/train/data.hpp"
#include "model_cli.hpp"

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
