// kbert tree: one sentence tree per stdin line, as JSON lines.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.hpp"
#include "commands.hpp"

namespace kbert::cli {

nlohmann::json tree_to_json(const std::string& line, const SentenceTree& t) {
  nlohmann::json j;
  j["text"] = line;
  j["tokens"] = t.tokens.to_vector();
  if (!t.ids.empty()) j["ids"] = t.ids;
  j["positions"] = t.positions;
  j["segments"] = t.segments;
  nlohmann::json vis = nlohmann::json::array();
  const auto n = static_cast<Eigen::Index>(t.size());
  for (Eigen::Index i = 0; i < n; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index k = 0; k < n; ++k)
      if (t.visible(i, k)) row.push_back(k);
    vis.push_back(std::move(row));
  }
  j["visible"] = std::move(vis);
  j["injected"] = injected_json(t.injected);
  return j;
}

int cmd_tree(int argc, char** argv) {
  Args args(argc, argv, 2);
  auto setup = make_tree_setup(args);
  const bool pairs = args.flag("add-special");
  std::string line;
  std::size_t line_no = 0;
  int status = 0;
  std::ios::sync_with_stdio(false);
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      SentenceTree t;
      std::size_t tab = pairs ? line.find('\t') : std::string::npos;
      if (tab != std::string::npos) {
        t = setup->builder->build(std::string_view(line).substr(0, tab), std::string_view(line).substr(tab + 1));
      } else {
        t = setup->builder->build(line);
      }
      std::cout << tree_to_json(line, t).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    } catch (const std::invalid_argument& e) {
      // Keep one output line per input line: bad texts get an error object.
      std::cerr << "kbert tree: stdin:" << line_no << ": " << e.what() << "\n";
      nlohmann::json j = {{"line", line_no}, {"error", e.what()}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      status = 1;
    }
  }
  std::cout.flush();
  return status;
}

}  // namespace kbert::cli
