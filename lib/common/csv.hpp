// RFC 4180 field splitting shared by the KG and dataset readers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kbert::detail {

/// Splits one physical line of a comma-separated record into `fields` (which holds at
/// least one, possibly partial, field). `quoted` is true when the line ends inside a
/// quoted field: the record continues on the next line, after the caller appends '\n'
/// to fields.back(). A quote opens a quoted field only at the start of a field; "" inside
/// a quoted field is a quote.
inline void csv_split_line(std::string_view line, std::vector<std::string>& fields, bool& quoted) {
  bool field_start = !quoted && fields.back().empty();
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          fields.back().push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        fields.back().push_back(c);
      }
      field_start = false;
    } else if (c == ',') {
      fields.emplace_back();
      field_start = true;
    } else if (c == '"' && field_start) {
      quoted = true;
      field_start = false;
    } else {
      fields.back().push_back(c);
      field_start = false;
    }
  }
}

}  // namespace kbert::detail
