// kbert kg suggest: the facts a trained pair classifier believes, with their evidence, for
// review (kbert/model/suggest.hpp).
#include <iostream>
#include <nlohmann/json.hpp>

#include "kbert/model/suggest.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

int kg_suggest_cmd(int argc, char** argv) {
  Args args(argc, argv, 3);
  if (!args.has("model") || !args.has("terms") || !args.has("out"))
    throw UsageError("kg suggest needs --model DIR, --terms FILE and --out F.tsv");
  refuse_output_over_inputs(args.value("out"), {args.value("terms"), args.value("parents")});
  const Model model = Model::load(args.value("model"), run_options(args));
  const std::vector<Term> terms = read_terms(args.value("terms"));
  const std::vector<std::string> parents =
      args.has("parents") ? term_names(read_terms(args.value("parents"))) : term_names(terms);
  SuggestOptions o;  // every default is the struct's own
  o.relation = args.value("relation");
  o.label = args.value("label");
  o.top = args.size_value("top");
  o.min_score = args.double_value("min-score");
  const std::vector<SuggestedFact> facts = suggest_facts(model, terms, parents, o);
  write_suggestions(facts, args.value("out"));
  std::cout << nlohmann::json{{"terms", terms.size()}, {"parents", parents.size()}, {"suggestions", facts.size()},
                              {"out", args.value("out")}}
                   .dump()
            << std::endl;
  return 0;
}

}  // namespace kbert::cli
