// kbert bench encoder: trees + batching + forward timed, with the GEMM peak and the CPU named.
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "kbert/common/cpu.hpp"
#include "kbert/model/model.hpp"
#include "model_cli.hpp"

namespace kbert::cli {

int bench_encoder(int argc, char** argv) {
  Args args(argc, argv, 3);
  if (!args.has("model")) throw UsageError("bench encoder needs --model DIR");
  Model m = Model::load(args.value("model"), run_options(args));
  Texts t = read_texts(false);
  // The peak is the best of a GEMM timed before and after the run: on a shared machine
  // one measurement alone can land in a slow moment.
  double peak = measure_gemm_gflops();
  EncoderBench b = m.bench(t.a);
  peak = std::max(peak, measure_gemm_gflops());
  // What the figures ran on: the CPU, the precision auto resolved to, and the kernels of the
  // matrix products (OpenBLAS with ATen's capability, oneDNN's bfloat16 path, or oneDNN's
  // int8 kernel as oneDNN named it).
  const cpu::Info& c = cpu::info();
  nlohmann::json info = {{"cpu", c.model},
                         {"isa", b.kernels},
                         {"precision", precision_name(b.precision)},
                         {"tokens", b.tokens},
                         {"padded_tokens", b.padded_tokens},
                         {"threads", b.threads},
                         {"parameters_mib", static_cast<double>(m.parameter_bytes()) / (1 << 20)},
                         {"forward_seconds", b.forward_seconds},
                         {"forward_gflops_per_s", b.forward_seconds > 0 ? b.flops / b.forward_seconds / 1e9 : 0.0},
                         {"gemm_peak_gflops_per_s", peak}};
  std::cout << info.dump() << "\n";
  nlohmann::json j = {{"texts", b.texts},
                      {"seconds", b.seconds},
                      {"tokens_per_s", b.seconds > 0 ? static_cast<double>(b.tokens) / b.seconds : 0.0},
                      {"gflops_per_s", b.seconds > 0 ? b.flops / b.seconds / 1e9 : 0.0},
                      {"gemm_peak_gflops_per_s", peak},
                      {"cpu", c.model}};
  std::cout << j.dump() << std::endl;
  return 0;
}

}  // namespace kbert::cli
