// Data-parallel training over c10d: the ranks of one run talk through ProcessGroupGloo on a
// TCPStore (the backend PyTorch's DistributedDataParallel uses on CPU). Which rank this
// process is comes from torchrun's environment variables. Internal to the model library;
// the c10d and Gloo headers are included by distributed.cpp alone.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kbert {

struct DistributedEnv {
  int rank = 0, world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double timeout_seconds = 1800;  ///< how long a rank waits for the others (KBERT_DIST_TIMEOUT)
};

/// WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT (torchrun's names) and KBERT_DIST_TIMEOUT
/// (seconds). Unset: one process. A bad value throws invalid_argument naming the variable.
DistributedEnv distributed_env_from_environment();

/// The process group of a run with world > 1.
class Ranks {
 public:
  explicit Ranks(const DistributedEnv& env);
  ~Ranks();
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;
  int rank() const { return env_.rank; }
  int size() const { return env_.world; }
  /// Sums the float32 tensors over the ranks, in place, as one flattened bucket.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors);
  /// Overwrites the tensors with rank 0's.
  void broadcast_from_first(const std::vector<at::Tensor>& tensors);

 private:
  struct Impl;
  DistributedEnv env_;
  std::unique_ptr<Impl> impl_;
  void run(const char* what, const std::function<void()>& op);
};

}  // namespace kbert
