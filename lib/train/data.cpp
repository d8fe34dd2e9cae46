#include "kbert/train/data.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/csv.hpp"
#include "kbert/common/error.hpp"
#include "kbert/text/utf8.hpp"

namespace kbert {
namespace {

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

// Splits a CSV record that may span lines (quoted newlines); returns false at EOF.
bool csv_record(std::istream& in, std::vector<std::string>& fields, std::size_t& line_no, std::string& err) {
  std::string line;
  if (!std::getline(in, line)) return false;
  ++line_no;
  fields.assign(1, std::string());
  bool quoted = false;
  for (;;) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    detail::csv_split_line(line, fields, quoted);
    if (!quoted) return true;
    fields.back().push_back('\n');
    if (!std::getline(in, line)) {
      err = "unterminated quoted field";
      return true;
    }
    ++line_no;
  }
}

}  // namespace

Dataset Dataset::load(const std::string& path, const DatasetOptions& o) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open dataset");
  Dataset d;
  d.path = path;
  auto check_utf8 = [&](const std::string& s, std::size_t row) {
    std::size_t bad = find_invalid_utf8(s);
    if (bad != std::string::npos) throw ParseError(path, row, "invalid UTF-8 at byte " + std::to_string(bad));
  };
  auto add = [&](std::string label, std::string a, std::string b, std::size_t row, std::string id) {
    if (label.empty() && o.require_label) throw ParseError(path, row, "empty label");
    check_utf8(label, row);
    check_utf8(a, row);
    check_utf8(b, row);
    check_utf8(id, row);
    d.has_pairs = d.has_pairs || !b.empty();
    d.examples.push_back({std::move(label), std::move(a), std::move(b), row, std::move(id)});
  };
  if (ends_with(path, ".jsonl") || ends_with(path, ".json")) {
    std::string line;
    std::size_t row = 0;
    while (std::getline(in, line)) {
      ++row;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw ParseError(path, row, std::string("invalid JSON: ") + e.what());
      }
      auto text = [&](const std::string& key, bool required) -> std::string {
        if (!j.contains(key) || j[key].is_null()) {
          if (required) throw ParseError(path, row, "missing \"" + key + "\"");
          return "";
        }
        if (j[key].is_string()) return j[key].get<std::string>();
        if (j[key].is_number_integer()) return std::to_string(j[key].get<long long>());
        throw ParseError(path, row, "\"" + key + "\" must be a string");
      };
      const std::string a_key = j.contains(o.text_a_column) ? o.text_a_column : "text";
      add(text(o.label_column, o.require_label), text(a_key, true), text(o.text_b_column, false), row,
          text(o.id_column, false));
    }
    return d;
  }
  const bool csv = ends_with(path, ".csv");
  std::vector<std::string> fields;
  std::size_t line_no = 0;
  std::string err;
  auto next = [&]() -> bool {
    if (csv) return csv_record(in, fields, line_no, err);
    std::string line;
    if (!std::getline(in, line)) return false;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    fields.assign(1, std::string());
    for (char c : line) {
      if (c == '\t') {
        fields.emplace_back();
      } else {
        fields.back().push_back(c);
      }
    }
    return true;
  };
  if (!next()) throw ParseError(path, 1, "empty file: a header row naming the columns is needed");
  if (!fields.empty() && fields[0].compare(0, 3, "\xEF\xBB\xBF") == 0) fields[0].erase(0, 3);
  auto column = [&](const std::string& name) -> std::ptrdiff_t {
    auto it = std::find(fields.begin(), fields.end(), name);
    return it == fields.end() ? -1 : it - fields.begin();
  };
  const std::ptrdiff_t cl = column(o.label_column);
  std::ptrdiff_t ca = column(o.text_a_column);
  if (ca < 0) ca = column("text");
  const std::ptrdiff_t cb = column(o.text_b_column);
  const std::ptrdiff_t ci = column(o.id_column);
  if (cl < 0 && o.require_label) throw ParseError(path, 1, "no \"" + o.label_column + "\" column in the header");
  if (ca < 0) throw ParseError(path, 1, "no \"" + o.text_a_column + "\" (or \"text\") column in the header");
  const std::size_t need = static_cast<std::size_t>(std::max({cl, ca, cb, ci})) + 1;
  const std::size_t columns = fields.size();
  while (true) {
    err.clear();
    const std::size_t row = line_no + 1;
    if (!next()) break;
    if (!err.empty()) throw ParseError(path, row, err);
    if (fields.size() == 1 && fields[0].find_first_not_of(" \t") == std::string::npos) continue;
    if (fields.size() < need && !(cb >= 0 && fields.size() == need - 1 && cb == static_cast<std::ptrdiff_t>(need) - 1))
      throw ParseError(path, row, "expected " + std::to_string(need) + " fields, found " + std::to_string(fields.size()));
    if (fields.size() > columns)
      throw ParseError(path, row, "expected " + std::to_string(columns) + " fields (the header's), found " +
                                      std::to_string(fields.size()) + (csv ? "" : ": a TAB inside a text?"));
    auto field = [&](std::ptrdiff_t c) {
      return c >= 0 && static_cast<std::size_t>(c) < fields.size() ? fields[static_cast<std::size_t>(c)] : std::string();
    };
    add(field(cl), field(ca), field(cb), row, field(ci));
  }
  return d;
}

LabelSet::LabelSet(std::vector<std::string> names) : names_(std::move(names)) {}

LabelSet LabelSet::from(const Dataset& data) {
  std::vector<std::string> names;
  for (const auto& e : data.examples)
    if (std::find(names.begin(), names.end(), e.label) == names.end()) names.push_back(e.label);
  const bool numeric = std::all_of(names.begin(), names.end(), [](const std::string& s) {
    return !s.empty() && s.size() < 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  });
  if (numeric) {
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  } else {
    std::sort(names.begin(), names.end());
  }
  return LabelSet(std::move(names));
}

std::int64_t LabelSet::id(const std::string& name) const {
  auto it = std::find(names_.begin(), names_.end(), name);
  if (it == names_.end()) throw std::out_of_range("label '" + name + "' is not one of the model's labels");
  return it - names_.begin();
}

}  // namespace kbert
