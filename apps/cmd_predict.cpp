// kbert predict: classify (or, with a tagger, tag) stdin texts.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/model/model.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

namespace {

nlohmann::json entities_json(const TagResult& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : r.entities)
    a.push_back({{"type", e.type}, {"start", e.start}, {"end", e.end}, {"text", e.text}, {"score", e.score}});
  return a;
}

// kbert predict with a tagger: the entities of each stdin line.
int tag_texts(const Model& m, bool json, Shard shard) {
  const Texts t = read_texts(/*pairs=*/false, shard);
  const std::vector<std::string>& texts = t.a;
  const std::vector<TagResult> results = m.tag(texts);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const TagResult& r = results[i];
    if (json) {
      nlohmann::json j = {{"text", texts[i]},        {"entities", entities_json(r)}, {"tokens", r.tokens},
                          {"tags", r.tags},          {"starts", r.starts},           {"injected", injected_json(r.injected)}};
      if (shard.count > 1) j["line"] = t.line[i];
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << texts[i] << "\n";
      for (const auto& e : r.entities) {
        std::ostringstream score;
        score << std::fixed << std::setprecision(3) << e.score;
        std::cout << "  " << std::left << std::setw(16) << e.type << std::setw(12)
                  << (std::to_string(e.start) + "-" + std::to_string(e.end)) << std::setw(8) << score.str() << e.text << "\n";
      }
    }
  }
  return 0;
}

}  // namespace

int predict_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model")) throw UsageError("predict needs --model DIR");
  const Shard shard = shard_option(args);
  Model m = Model::load(args.value("model"), run_options(args));
  const bool json = args.flag("json");
  if (m.is_tagger()) {
    if (args.flag("pairs")) throw UsageError("--pairs is for classifiers; a tagger tags one text a line");
    return tag_texts(m, json, shard);
  }
  Texts t = read_texts(args.flag("pairs"), shard);
  std::vector<Prediction> preds = m.predict(t.a, t.b);
  if (!json) std::cout << std::left << std::setw(16) << "label" << std::setw(10) << "prob" << "knowledge | text\n";
  for (std::size_t i = 0; i < preds.size(); ++i) {
    const Prediction& p = preds[i];
    if (json) {
      nlohmann::json j = {{"label", p.label_name}, {"logits", p.logits}, {"probs", p.probs}, {"injected", injected_json(p.injected)}};
      if (shard.count > 1) j["line"] = t.line[i];
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::ostringstream prob;
      prob << std::fixed << std::setprecision(3) << p.probs[static_cast<std::size_t>(p.label)];
      std::cout << std::left << std::setw(16) << p.label_name << std::setw(10) << prob.str() << p.injected.size()
                << " facts | " << t.a[i] << (t.b.empty() || t.b[i].empty() ? "" : " || " + t.b[i]) << "\n";
    }
  }
  return 0;
}

}  // namespace kbert::cli
