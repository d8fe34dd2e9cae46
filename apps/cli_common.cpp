#include "cli_common.hpp"

#include "commands.hpp"
#include "kbert/common/progress.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <iostream>
#include <sstream>

namespace kbert::cli {

std::string usage_hint(int argc, char** argv) {
  const options::Command* c = nullptr;
  if (argc >= 3) c = options::find_command(std::string(argv[1]) + " " + argv[2]);
  if (!c && argc >= 2) c = options::find_command(argv[1]);
  return c ? "(kbert " + std::string(c->name) + " --help lists its options)\n" : "(kbert --help lists the commands)\n";
}

const CommandInfo kCommands[] = {
    // name        sub        model  trains
    {"tree", "", false, false},        {"bench", "encoder", true, false}, {"bench", "", false, false},
    {"vocab", "", false, false},       {"kg", "suggest", true, false},    {"kg", "", false, false},          {"import-uer", "", true, false},
    {"import-hf", "", true, false},    {"predict", "", true, false},      {"embed", "", true, false},
    {"train", "", true, true},         {"eval", "", true, false},         {"pretrain", "", true, true},
    {"index", "", true, false},        {"search", "", true, false},       {"explain", "", true, false},
    {"env", "", false, false},         {"report", "", true, false},
};
const std::size_t kCommandCount = sizeof(kCommands) / sizeof(kCommands[0]);

const CommandInfo* find_command(int argc, char** argv) {
  if (argc < 2) return nullptr;
  const std::string cmd = argv[1];
  for (const CommandInfo& c : kCommands) {
    if (cmd != c.name) continue;
    if (*c.sub == '\0' || (argc >= 3 && std::string(argv[2]) == c.sub)) return &c;
  }
  return nullptr;
}

bool is_model_command(int argc, char** argv) {
  const CommandInfo* c = find_command(argc, argv);
  return c && c->model;
}


namespace {

std::string range_text(const options::Option& o) {
  std::ostringstream s;
  s << "from " << o.min << " to " << o.max;
  return s.str();
}

// A value of a kCount or kReal option, range-checked; a usage error names the option.
double checked_number(const options::Option& o, const std::string& v) {
  const std::string name = "--" + std::string(o.name);
  std::size_t used = 0;
  double x = 0;
  try {
    if (o.kind == options::Kind::kCount) {
      if (!v.empty() && v[0] == '-') throw std::invalid_argument("negative");
      x = static_cast<double>(std::stoull(v, &used));
    } else {
      x = std::stod(v, &used);
    }
  } catch (const std::exception&) {
    used = 0;
  }
  if (v.empty() || used != v.size() || !std::isfinite(x))
    throw UsageError(name + (o.kind == options::Kind::kCount ? " needs a non-negative integer" : " needs a number") +
                     ", got '" + v + "'");
  if (x < o.min || x > o.max) throw UsageError(name + " must be " + range_text(o) + ", got " + v);
  return x;
}

}  // namespace

Args::Args(int argc, char** argv, int first) {
  command_ = first >= 2 && argc >= 2 ? argv[1] : "";
  if (first >= 3 && argc >= 3) command_ += std::string(" ") + argv[2];
  if (!options::find_command(command_)) throw UsageError("unknown command '" + command_ + "'");
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      value = argv[++i];
      has_value = true;
    }
    const options::Option* o = options::find(command_, name);
    if (!o) {
      std::string list;
      for (const options::Option* k : options::options_of(command_)) list += (list.empty() ? "--" : " --") + std::string(k->name);
      throw UsageError("unknown option --" + name + " (this command knows: " + list + "; kbert " + command_ + " --help)");
    }
    const bool is_flag = o->kind == options::Kind::kFlag;
    if (is_flag && has_value) throw UsageError("option --" + name + " takes no value (got '" + value + "')");
    if (!is_flag && !has_value) throw UsageError("option --" + name + " needs a value");
    if (o->kind == options::Kind::kCount || o->kind == options::Kind::kReal) checked_number(*o, value);
    if (o->kind == options::Kind::kChoice && !options::is_choice(*o, value))
      throw UsageError("--" + name + " must be one of " + std::string(o->choices) + ", got '" + value + "'");
    auto& slot = values_[name];
    if (!slot.empty() && !o->repeatable) throw UsageError("option --" + name + " given twice");
    slot.push_back(value);
  }
}

const options::Option& Args::option(const std::string& name) const {
  const options::Option* o = options::find(command_, name);
  if (!o) throw std::logic_error("kbert " + command_ + " reads --" + name + ", which the option table does not give it");
  return *o;
}

bool Args::flag(const std::string& name) const {
  option(name);
  return values_.count(name) > 0;
}
bool Args::has(const std::string& name) const {
  option(name);
  return values_.count(name) > 0;
}

std::string Args::value(const std::string& name) const {
  const options::Option& o = option(name);
  auto it = values_.find(name);
  return it == values_.end() ? std::string(o.fallback) : it->second.front();
}

std::string Args::value(const std::string& name, const std::string& fallback) const {
  const options::Option& o = option(name);
  if (!o.fallback.empty() && o.fallback != fallback)
    throw std::logic_error("kbert " + command_ + ": --" + name + " defaults to '" + fallback + "' here, '" +
                           std::string(o.fallback) + "' in the option table");
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.front();
}

std::vector<std::string> Args::values(const std::string& name) const {
  option(name);
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::size_t Args::size_value(const std::string& name) const {
  const options::Option& o = option(name);
  if (!has(name) && o.fallback.empty())
    throw std::logic_error("kbert " + command_ + ": --" + name + " has no default in the option table");
  return static_cast<std::size_t>(checked_number(o, value(name)));
}

std::size_t Args::size_value(const std::string& name, std::size_t fallback) const {
  const options::Option& o = option(name);
  if (!o.fallback.empty() && checked_number(o, std::string(o.fallback)) != static_cast<double>(fallback))
    throw std::logic_error("kbert " + command_ + ": --" + name + " defaults to " + std::to_string(fallback) +
                           " here, " + std::string(o.fallback) + " in the option table");
  if (!has(name)) return fallback;
  return static_cast<std::size_t>(checked_number(o, value(name)));
}

double Args::double_value(const std::string& name) const {
  const options::Option& o = option(name);
  return checked_number(o, value(name));
}

double Args::double_value(const std::string& name, double fallback) const {
  const options::Option& o = option(name);
  if (!o.fallback.empty()) {
    const double t = checked_number(o, std::string(o.fallback));
    if (std::abs(t - fallback) > 1e-12 * std::max(1.0, std::abs(t)))
      throw std::logic_error("kbert " + command_ + ": --" + name + " defaults to " + std::to_string(fallback) +
                             " here, " + std::string(o.fallback) + " in the option table");
  }
  if (!has(name)) return fallback;
  return checked_number(o, value(name));
}

bool print_help_if_asked(int argc, char** argv) {
  bool asked = false;
  for (int i = 2; i < argc; ++i) asked = asked || std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h";
  if (!asked || argc < 2) return false;
  const options::Command* c = argc >= 3 ? options::find_command(std::string(argv[1]) + " " + argv[2]) : nullptr;
  if (!c) c = options::find_command(argv[1]);
  if (!c) return false;
  std::cout << options::command_help(*c);
  return true;
}

unsigned Args::threads(unsigned fallback) const {
  return static_cast<unsigned>(size_value("threads", fallback));  // at most env::kMaxThreads: the table's range
}

std::vector<std::string> Args::kg_files() const {
  std::vector<std::string> out;
  for (const auto& k : values("kg"))
    if (k != "none") out.push_back(k);
  return out;
}

Truncation truncation_option(const Args& args) {
  try {
    return parse_truncation(args.value("truncation"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--truncation: ") + e.what());
  }
}

std::size_t load_kg_files(const Args& args, KnowledgeGraph& kg, ProgressLine* progress, std::size_t steps) {
  KgLoadOptions kg_opt;
  kg_opt.strict = !args.flag("lenient");
  if (args.has("kg-format")) kg_opt.format = parse_kg_format(args.value("kg-format"));
  std::size_t bad = 0, loaded = 0;
  const std::vector<std::string> files = args.kg_files();
  for (const auto& path : files) {
    KgLoadReport rep = kg.load(path, kg_opt);
    if (progress) progress->update(++loaded, steps ? steps : files.size());
    bad += rep.bad_lines;
    if (rep.bad_lines > 0) {
      std::cerr << "kbert: " << path << ": skipped " << rep.bad_lines << " bad line(s)";
      for (const auto& s : rep.bad_samples) std::cerr << "\n  " << s;
      std::cerr << "\n";
    }
  }
  return bad;
}

std::unique_ptr<TreeSetup> make_tree_setup(const Args& args) {
  auto setup = std::make_unique<TreeSetup>();
  auto t0 = std::chrono::steady_clock::now();
  const bool use_kg = !args.kg_files().empty();
  load_kg_files(args, setup->kg);
  setup->kg_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  TokenizerOptions tok;
  tok.kind = args.value("tokenizer");
  tok.vocab_path = args.value("vocab");
  tok.spm_model_path = args.value("spm-model");
  tok.case_insensitive_match = args.flag("case-insensitive");
  if (args.flag("no-lower-case")) tok.lower_case = false;
  try {
    setup->tokenizer = make_tokenizer(tok);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }

  TreeOptions opt;  // kg score takes no tree options: it scores with K-BERT's defaults
  if (args.takes("max-entities")) {  // (ranges: the option table)
    opt.max_entities = args.size_value("max-entities", opt.max_entities);
    opt.max_length = args.size_value("max-length", opt.max_length);
    opt.predicate = args.flag("predicate");
    opt.add_special = args.flag("add-special");
    if (args.has("truncation")) opt.truncation = truncation_option(args);
    opt.hops = args.size_value("hops", opt.hops);
    opt.max_facts = args.size_value("max-facts", opt.max_facts);
  }
  setup->builder = std::make_unique<SentenceTreeBuilder>(use_kg ? &setup->kg : nullptr, setup->tokenizer, opt);
  return setup;
}

nlohmann::json fact_json(const InjectedTriple& x) {
  return {{"entity", x.entity}, {"relation", x.relation}, {"object", x.object},
          {"span", {x.start, x.end}}, {"hop", x.hop},           {"parent", x.parent}};
}

nlohmann::json injected_json(const std::vector<InjectedTriple>& xs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& x : xs) a.push_back(fact_json(x));
  return a;
}

void refuse_output_over_inputs(const std::string& out, const std::vector<std::string>& inputs) {
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (std::filesystem::equivalent(out, in, ec) && !ec)
      throw UsageError("--out " + out + " is the input file " + in + ": writing it would replace the input; choose another path");
  }
}

void refuse_symlink_output(const std::string& out) {
  std::error_code ec;
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(out, ec)))
    throw UsageError("--out " + out + " is a symbolic link: kbert will not write through it to the file it names; "
                     "give a plain path");
}

}  // namespace kbert::cli
