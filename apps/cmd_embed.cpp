// kbert embed: sentence or token vectors of stdin texts, as JSON lines or one .npy matrix.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/atomic_file.hpp"
#include "kbert/model/model.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

namespace {

void write_npy(const std::string& path, const Matrix& m) {
  write_file_atomically(path, [&](std::ostream& out) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(m.rows) + ", " +
                         std::to_string(m.cols) + "), }";
    while ((10 + header.size() + 1) % 64) header.push_back(' ');
    header.push_back('\n');
    out.write("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    out.put(static_cast<char>(len & 0xFF));
    out.put(static_cast<char>(len >> 8));
    out << header;
    out.write(reinterpret_cast<const char*>(m.data.data()), static_cast<std::streamsize>(m.data.size() * sizeof(float)));
  });
}

}  // namespace

int embed_cmd(int argc, char** argv) {
  Args args(argc, argv, 2);
  if (!args.has("model")) throw UsageError("embed needs --model DIR");
  const Shard shard = shard_option(args);
  EmbedPooling pooling;
  try {
    pooling = parse_embed_pooling(args.value("pooling"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const std::string format = args.value("format");
  if (format != "jsonl" && format != "npy") throw UsageError("--format must be jsonl or npy");
  if (format == "npy" && !args.has("out")) throw UsageError("--format npy needs --out FILE");
  Model m = Model::load(args.value("model"), run_options(args));
  Texts t = read_texts(args.flag("pairs"), shard);
  Matrix e = m.embed(t.a, pooling, args.flag("normalize"), t.b);
  if (format == "npy") {
    write_npy(args.value("out"), e);
    return 0;
  }
  auto emit = [&](std::ostream& out) {
    if (pooling == EmbedPooling::kTokens) {
      std::vector<nlohmann::json> rows(t.a.size(), nlohmann::json::array());
      for (std::size_t r = 0; r < e.rows; ++r)
        rows[e.row_text[r]].push_back(std::vector<float>(e.data.begin() + r * e.cols, e.data.begin() + (r + 1) * e.cols));
      for (std::size_t i = 0; i < t.a.size(); ++i) {
        nlohmann::json j = {{"text", t.a[i]}, {"tokens", rows[i]}};
        if (shard.count > 1) j["line"] = t.line[i];
        out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      }
      return;
    }
    for (std::size_t r = 0; r < e.rows; ++r) {
      nlohmann::json j = {{"text", t.a[r]}, {"embedding", std::vector<float>(e.data.begin() + r * e.cols, e.data.begin() + (r + 1) * e.cols)}};
      if (shard.count > 1) j["line"] = t.line[r];
      out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
  };
  if (args.has("out")) {
    write_file_atomically(args.value("out"), emit);
  } else {
    emit(std::cout);
  }
  return 0;
}

}  // namespace kbert::cli
