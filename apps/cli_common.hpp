// Shared pieces of the kbert command-line tool: argument parsing and the
// knowledge/tokenizer/tree options every subcommand takes.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <string>
#include <vector>

#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert::cli {

/// A usage error: main() prints it with the usage text and exits with 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// --name value / --flag arguments. Unknown or repeated options are errors unless declared.
class Args {
 public:
  Args(int argc, char** argv, int first);
  /// Declares the options a command knows; call before reading any.
  void known(const std::vector<std::string>& with_value, const std::vector<std::string>& flags,
             const std::vector<std::string>& repeatable = {});
  bool flag(const std::string& name) const;
  std::string value(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> values(const std::string& name) const;
  std::size_t size_value(const std::string& name, std::size_t fallback) const;
  double double_value(const std::string& name, double fallback) const;
  /// --threads, at most env::kMaxThreads (a usage error names a larger value).
  unsigned threads(unsigned fallback) const;
  /// The --kg values other than "none".
  std::vector<std::string> kg_files() const;
  bool has(const std::string& name) const;

 private:
  std::vector<std::pair<std::string, std::string>> raw_;
  std::map<std::string, std::vector<std::string>> values_;
};

/// --truncation kbert|trunk-first; a bad value is a usage error.
Truncation truncation_option(const Args& args);

/// The options of `kbert tree` and `kbert bench tree`.
struct TreeSetup {
  KnowledgeGraph kg;
  std::shared_ptr<Tokenizer> tokenizer;
  std::unique_ptr<SentenceTreeBuilder> builder;
  double kg_seconds = 0;
};
/// Declares the tree options; `bench` adds bench tree's --threads and --repeat.
void declare_tree_options(Args& args, bool bench = false);
std::unique_ptr<TreeSetup> make_tree_setup(const Args& args);
/// A usage error when `out` names the same file as one of `inputs` (a path, a hard or
/// symbolic link): writing it would replace an input.
void refuse_output_over_inputs(const std::string& out, const std::vector<std::string>& inputs);
/// A usage error when `out` is a symbolic link: an index or a compiled KG is written only
/// where kbert replaces a path itself, never through a link to a file elsewhere.
void refuse_symlink_output(const std::string& out);
/// Loads every --kg file but "none" into `kg` (--lenient, --kg-format), reporting skipped
/// lines on stderr; returns how many lines were skipped.
std::size_t load_kg_files(const Args& args, KnowledgeGraph& kg);
/// --hops and --max-facts into `opt` (usage errors name a bad value).
void hops_options(const Args& args, TreeOptions& opt);

/// An injected fact as JSON: entity, relation, object, span [start, end), hop, parent.
nlohmann::json fact_json(const InjectedTriple& x);
nlohmann::json injected_json(const std::vector<InjectedTriple>& xs);

}  // namespace kbert::cli
