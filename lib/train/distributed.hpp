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

#include "kbert/common/env.hpp"

namespace kbert {

using DistributedEnv = env::Distributed;  // read by env::distributed() (kbert/common/env.hpp)

/// The process group of a run with world > 1.
class Ranks {
 public:
  explicit Ranks(const DistributedEnv& env);
  ~Ranks();
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;
  int rank() const { return env_.rank; }
  int size() const { return env_.world; }
  /// Sums the tensors (of one dtype) over the ranks, in place, as one flattened bucket.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors);
  /// Overwrites the tensors with rank 0's.
  void broadcast_from_first(const std::vector<at::Tensor>& tensors);

 private:
  struct Impl;
  DistributedEnv env_;
  std::unique_ptr<Impl> impl_;
  void run(const char* what, const std::function<void()>& op);
  void exchange(const char* what, const std::vector<at::Tensor>& tensors,
                const std::function<void(std::vector<at::Tensor>&)>& op);
};

}  // namespace kbert
