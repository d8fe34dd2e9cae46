// The option table: every option of every kbert front end, once, with its name, kind,
// default, range, help text, the commands that take it and its Python keyword.
//
// The command-line parser (apps/), `kbert <command> --help`, the usage text and the
// pybind11 defaults are generated from it; a front end reading an option the table does not
// give its command, or a default the table does not hold, is an error (std::logic_error),
// and tests check the library's option structs and Python's signatures against it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kbert::options {

enum class Kind {
  kFlag,    ///< present or not
  kCount,   ///< a non-negative integer within [min, max]
  kReal,    ///< a finite number within [min, max]
  kText,    ///< free text: a path, a name
  kChoice,  ///< one of `choices` ("a|b|c")
};

struct Option {
  std::string_view name;      ///< the command-line name, without "--"
  std::string_view commands;  ///< the commands that take it, comma-separated ("train,pretrain,bench tree")
  Kind kind;
  std::string_view fallback;  ///< the default as text; "" when there is none (the model's own, or required)
  double min = 0, max = 0;    ///< kCount / kReal: the accepted range
  std::string_view choices;   ///< kChoice: "a|b|c"
  std::string_view help;
  std::string_view python;    ///< keyword argument of kbert's Python functions; "" when Python lacks it
  bool repeatable = false;    ///< may be given several times (--kg)
  std::string_view value_name = "";  ///< in usage lines: --out DIR; "" picks one from the kind
};

struct Command {
  std::string_view name;     ///< "train", or "bench tree" for a sub-command
  std::string_view summary;  ///< one line for `kbert --help`
  std::string_view required; ///< the options a run needs (as shown, e.g. "--train F --out DIR")
  std::string_view details;  ///< the paragraph `kbert <command> --help` prints after the options
};

/// Every option, in the order help shows them.
const std::vector<Option>& table();
/// Every command, in the order `kbert --help` lists them.
const std::vector<Command>& commands();
/// The command named `name` ("train", "bench tree"), or nullptr.
const Command* find_command(std::string_view name);
/// Whether `value` is one of a kChoice option's choices ('_' and '-' are one: trunk_first).
bool is_choice(const Option& option, std::string_view value);
/// The option `name` of `command`, or nullptr when the command does not take it.
const Option* find(std::string_view command, std::string_view name);
/// The options of `command`, in table order.
std::vector<const Option*> options_of(std::string_view command);
/// `kbert <command> --help`: usage, summary, every option with its default and range, details.
std::string command_help(const Command& c);
/// `kbert --help`: the commands with their summaries.
std::string overview();
/// The table as JSON (kbert help --json): for tests of the other front ends.
std::string table_json();
/// "0.1.0"
std::string_view version();

/// The option's default as a number (kCount / kReal); std::logic_error when it has none.
double default_number(std::string_view command, std::string_view name);
/// The option's default as text; std::logic_error for an option the command does not take.
std::string default_text(std::string_view command, std::string_view name);

}  // namespace kbert::options
