#include "train/distributed.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <stdexcept>

namespace kbert {

namespace {

// Flattens the tensors (of one dtype) into one contiguous buffer, and copies it back.
torch::Tensor flatten(const std::vector<at::Tensor>& ts) {
  std::vector<torch::Tensor> flat;
  flat.reserve(ts.size());
  for (const auto& t : ts) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}
void unflatten(const torch::Tensor& buffer, const std::vector<at::Tensor>& ts) {
  std::int64_t off = 0;
  for (const auto& t : ts) {
    const std::int64_t n = t.numel();
    t.copy_(buffer.narrow(0, off, n).view(t.sizes()));
    off += n;
  }
}

}  // namespace

struct Ranks::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

Ranks::Ranks(const DistributedEnv& env) : env_(env), impl_(std::make_unique<Impl>()) {
  const auto timeout = std::chrono::milliseconds(static_cast<long>(env.timeout_seconds * 1000));
  run("joining the run", [&] {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = env.world;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
        env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0 ? "127.0.0.1"
                                                                                : env.master_addr));
    options->threads = 1;
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world, options);
  });
}

Ranks::~Ranks() = default;

void Ranks::run(const char* what, const std::function<void()>& op) {
  try {
    op();
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw std::runtime_error("rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world) + ", " + what +
                             " (" + env_.master_addr + ":" + std::to_string(env_.master_port) +
                             "): another rank stopped or cannot be reached (" + msg.substr(0, msg.find('\n')) + ")");
  }
}

// One collective over the tensors as a single flattened bucket, copied back in place.
void Ranks::exchange(const char* what, const std::vector<at::Tensor>& tensors,
                     const std::function<void(std::vector<at::Tensor>&)>& op) {
  if (tensors.empty()) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> bucket{flatten(tensors)};
  run(what, [&] { op(bucket); });
  unflatten(bucket.front(), tensors);
}

void Ranks::all_reduce_sum(const std::vector<at::Tensor>& tensors) {
  exchange("summing across ranks", tensors, [&](std::vector<at::Tensor>& b) { impl_->group->allreduce(b)->wait(); });
}

void Ranks::broadcast_from_first(const std::vector<at::Tensor>& tensors) {
  exchange("receiving rank 0's weights", tensors,
           [&](std::vector<at::Tensor>& b) { impl_->group->broadcast(b)->wait(); });
}

}  // namespace kbert
