// kbert explain: which injected facts moved each prediction (Model::explain).
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/model/model.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

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

}  // namespace kbert::cli
