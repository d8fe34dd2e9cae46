// Classifies fault reports with a trained kbert model directory and prints, beside each
// prediction, the knowledge the model saw: the words of the report that matched the KG
// and the facts injected after them.
//
//   classify_reports MODEL_DIR [--kg FILE|none] < reports.txt     (one report a line)
//
// Output, one block per report:
//   <label> <probability>  <the report, shortened>
//     <word> -> <relation> <object>; ...
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "kbert/common/error.hpp"
#include "kbert/model/model.hpp"

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--kg")) {
    std::cerr << "usage: classify_reports MODEL_DIR [--kg FILE|none] < reports.txt\n";
    return 2;
  }
  try {
    kbert::RunOptions run;
    if (argc == 4) run.kg = argv[3];
    const kbert::Model model = kbert::Model::load(argv[1], run);
    if (model.spec().labels.empty()) {
      std::cerr << "classify_reports: " << argv[1] << " is an encoder without a classifier head\n";
      return 1;
    }
    std::vector<std::string> reports;
    for (std::string line; std::getline(std::cin, line);)
      if (!line.empty()) reports.push_back(line);
    const std::vector<kbert::Prediction> predictions = model.predict(reports);
    for (std::size_t i = 0; i < reports.size(); ++i) {
      const kbert::Prediction& p = predictions[i];
      const std::string& text = reports[i];
      std::cout << p.label_name << ' ' << p.probs[static_cast<std::size_t>(p.label)] << "  "
                << (text.size() > 100 ? text.substr(0, 100) + " ..." : text) << '\n';
      // The facts, grouped by the word they hang from, each once.
      std::map<std::string, std::vector<std::string>> by_word;
      for (const kbert::InjectedTriple& t : p.injected) {
        auto& facts = by_word[t.entity];
        const std::string fact = t.relation + ' ' + t.object;
        if (std::find(facts.begin(), facts.end(), fact) == facts.end()) facts.push_back(fact);
      }
      for (const auto& [word, facts] : by_word) {
        std::cout << "    " << word << " ->";
        for (std::size_t k = 0; k < facts.size(); ++k) std::cout << (k ? "; " : " ") << facts[k];
        std::cout << '\n';
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "classify_reports: " << e.what() << '\n';
    return 1;
  }
}
