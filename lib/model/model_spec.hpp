// kbert.json and the files of a model directory, read as untrusted input: every field is
// checked against its allowed values and ranges, and every path must stay inside the
// directory (no "..", no absolute paths, no links leading out, no devices or FIFOs).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "kbert/model/model.hpp"

namespace kbert {

nlohmann::json spec_to_json(const ModelSpec& s);
/// Reads and validates kbert.json (ParseError naming the file and the field).
ModelSpec spec_from_json(const std::string& path);
/// The path of `rel` (a file named by kbert.json's `field`) inside model directory `dir`:
/// a regular file, relative, never leaving the directory. ParseError naming kbert.json otherwise.
std::string model_file(const std::string& dir, const std::string& rel, const std::string& field);

}  // namespace kbert
