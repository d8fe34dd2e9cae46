#include "io/run_state.hpp"

#include <cmath>
#include <map>

#include "kbert/common/error.hpp"

namespace kbert::io {

RunState parse_run_state(const std::string& path, const std::string& text, const RunShape& shape) {
  if (text.size() > (std::size_t{64} << 20)) throw ParseError(path, 1, "over 64 MiB: not a kbert checkpoint's state");
  const nlohmann::json st = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (st.is_discarded() || !st.is_object()) throw ParseError(path, 1, "not a JSON object: a damaged checkpoint");
  auto count = [&](const char* key, std::size_t max) -> std::size_t {
    if (!st.contains(key)) throw ParseError(path, 1, std::string("damaged checkpoint: no '") + key + "'");
    if (!st[key].is_number_unsigned())
      throw ParseError(path, 1, std::string("damaged checkpoint: '") + key + "' must be a whole number >= 0, got " +
                                    st[key].dump().substr(0, 40));
    const std::uint64_t v = st[key].get<std::uint64_t>();
    if (v > max)
      throw ParseError(path, 1, std::string("damaged checkpoint: '") + key + "' is " + std::to_string(v) +
                                    ", past this run's " + std::to_string(max));
    return static_cast<std::size_t>(v);
  };
  auto number = [&](const char* key, double lo, double hi, double absent) -> double {
    if (!st.contains(key)) return absent;
    const bool ok = st[key].is_number() && std::isfinite(st[key].get<double>()) && st[key].get<double>() >= lo &&
                    st[key].get<double>() <= hi;
    if (!ok)
      throw ParseError(path, 1, std::string("damaged checkpoint: '") + key + "' must be a number from " +
                                    std::to_string(lo) + " to " + std::to_string(hi) + ", got " + st[key].dump().substr(0, 40));
    return st[key].get<double>();
  };
  for (const char* key : {"epoch", "batch", "step", "best", "best_epoch", "bad_epochs"})
    if (!st.contains(key)) throw ParseError(path, 1, std::string("damaged checkpoint: no '") + key + "'");
  if (shape.accumulation == 0) throw std::invalid_argument("run shape: accumulation 0");
  RunState s;
  s.epoch = count("epoch", shape.epochs);
  s.batch = count("batch", s.epoch == shape.epochs ? 0 : shape.batches);
  s.step = count("step", shape.steps_per_epoch * shape.epochs);
  const std::size_t expected = s.epoch * shape.steps_per_epoch + (s.batch + shape.accumulation - 1) / shape.accumulation;
  if (s.step != expected)
    throw ParseError(path, 1, "damaged checkpoint: 'step' is " + std::to_string(s.step) + ", but epoch " +
                                  std::to_string(s.epoch) + " and batch " + std::to_string(s.batch) + " mean step " +
                                  std::to_string(expected));
  s.best_epoch = count("best_epoch", s.epoch);
  s.bad_epochs = count("bad_epochs", s.epoch);
  s.best = number("best", -1, 1, -1);
  s.first_loss = number("first_loss", 0, 1e30, 0);
  if (st.contains("log")) {
    if (!st["log"].is_array() || st["log"].size() > shape.epochs + 1)
      throw ParseError(path, 1, "damaged checkpoint: 'log' must be a list of at most one entry per epoch");
    for (const auto& e : st["log"])
      if (!e.is_object()) throw ParseError(path, 1, "damaged checkpoint: 'log' holds an entry that is not an object");
    s.log = st["log"];
  }
  if (!st.contains("fingerprint") || !st["fingerprint"].is_object())
    throw ParseError(path, 1, "this checkpoint records no settings (made by an older kbert): it cannot be checked, so it is "
                              "not resumed; remove it or train without --resume");
  s.fingerprint = st["fingerprint"];
  return s;
}

void check_optimizer_entries(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                             const std::vector<std::vector<std::vector<std::int64_t>>>& shapes) {
  std::map<std::string, int> seen;  // "g.i." -> how many of its three tensors
  for (const SafetensorsEntry& e : entries) {
    // "g.i.field" with g and i in range.
    const auto d1 = e.name.find('.'), d2 = d1 == std::string::npos ? d1 : e.name.find('.', d1 + 1);
    auto index = [](const std::string& s, std::size_t& out) {
      if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos) return false;
      out = std::stoul(s);
      return true;
    };
    std::size_t g = 0, i = 0;
    if (d2 == std::string::npos || !index(e.name.substr(0, d1), g) || !index(e.name.substr(d1 + 1, d2 - d1 - 1), i) ||
        g >= shapes.size() || i >= shapes[g].size())
      throw ParseError(path, 0, "unexpected tensor '" + e.name + "': not the state of one of this model's parameters");
    const std::string field = e.name.substr(d2 + 1);
    if (field == "exp_avg" || field == "exp_avg_sq") {
      if (e.dtype != DType::kF32 || e.shape != shapes[g][i])
        throw ParseError(path, 0, "tensor '" + e.name + "' does not fit its parameter (shape or dtype)");
    } else if (field == "step") {
      if (e.dtype != DType::kI64 || !(e.shape == std::vector<std::int64_t>{1}))
        throw ParseError(path, 0, "tensor '" + e.name + "' must be one int64");
    } else {
      throw ParseError(path, 0, "unexpected tensor '" + e.name + "'");
    }
    ++seen[e.name.substr(0, d2 + 1)];
  }
  for (const auto& [param, n] : seen)
    if (n != 3) throw ParseError(path, 0, "optimizer state of parameter " + param + " is incomplete");
}

}  // namespace kbert::io
