// Shared pieces of the kbert command-line tool: argument parsing and the
// knowledge/tokenizer/tree options every subcommand takes.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <memory>
#include <string>
#include <vector>

#include "kbert/common/options.hpp"
#include "kbert/common/progress.hpp"
#include "kbert/kg/knowledge_graph.hpp"
#include "kbert/tokenizer/tokenizer.hpp"
#include "kbert/tree/sentence_tree.hpp"

namespace kbert::cli {

/// A usage error: main() prints it with the usage text and exits with 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// --name value / --flag arguments of one command, checked against the option table
/// (kbert/common/options.hpp): an option the table does not give the command, a flag with a
/// value, a value out of the option's range or choices, or a repeated option is a usage error
/// naming it. Reading an option the table does not give the command, or passing a default the
/// table does not hold, is a std::logic_error (a front end and the table disagree).
class Args {
 public:
  /// argv[1] (and argv[2] when first is 3) name the command.
  Args(int argc, char** argv, int first);
  const std::string& command() const { return command_; }
  bool flag(const std::string& name) const;
  /// The option's value, else the table's default ("" when it has none).
  std::string value(const std::string& name) const;
  /// The option's value, else `fallback`, which must be the table's default where it has one.
  std::string value(const std::string& name, const std::string& fallback) const;
  std::vector<std::string> values(const std::string& name) const;
  std::size_t size_value(const std::string& name) const;
  std::size_t size_value(const std::string& name, std::size_t fallback) const;
  double double_value(const std::string& name) const;
  double double_value(const std::string& name, double fallback) const;
  /// --threads (the table bounds it by env::kMaxThreads).
  unsigned threads(unsigned fallback) const;
  /// The --kg values other than "none".
  std::vector<std::string> kg_files() const;
  bool has(const std::string& name) const;
  /// Whether the table gives this command the option (for code shared by several commands).
  bool takes(const std::string& name) const { return options::find(command_, name) != nullptr; }

 private:
  const options::Option& option(const std::string& name) const;
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
};

/// `kbert <command> ... --help` (or -h): prints the command's help and returns true.
bool print_help_if_asked(int argc, char** argv);

/// --truncation kbert|trunk-first; a bad value is a usage error.
Truncation truncation_option(const Args& args);

/// The options of `kbert tree` and `kbert bench tree`.
struct TreeSetup {
  KnowledgeGraph kg;
  std::shared_ptr<Tokenizer> tokenizer;
  std::unique_ptr<SentenceTreeBuilder> builder;
  double kg_seconds = 0;
};
std::unique_ptr<TreeSetup> make_tree_setup(const Args& args);
/// A usage error when `out` names the same file as one of `inputs` (a path, a hard or
/// symbolic link): writing it would replace an input.
void refuse_output_over_inputs(const std::string& out, const std::vector<std::string>& inputs);
/// A usage error when `out` is a symbolic link: an index or a compiled KG is written only
/// where kbert replaces a path itself, never through a link to a file elsewhere.
void refuse_symlink_output(const std::string& out);
/// Loads every --kg file but "none" into `kg` (--lenient, --kg-format), reporting skipped
/// lines on stderr; returns how many lines were skipped. `progress`, when given, counts the
/// files loaded of `steps` (0: the number of files).
std::size_t load_kg_files(const Args& args, KnowledgeGraph& kg, ProgressLine* progress = nullptr,
                          std::size_t steps = 0);

/// An injected fact as JSON: entity, relation, object, span [start, end), hop, parent.
nlohmann::json fact_json(const InjectedTriple& x);
nlohmann::json injected_json(const std::vector<InjectedTriple>& xs);

}  // namespace kbert::cli
