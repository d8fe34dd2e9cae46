// Reading and writing named tensors: safetensors, and torch.save zip archives
// (pytorch_model.bin, K-BERT / UER .bin) through kbert's own unpickler, since
// LibTorch 1.13 turns the OrderedDict of a state dict into None.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace kbert {

/// Named tensors in file order.
using TensorList = std::vector<std::pair<std::string, at::Tensor>>;

/// Reads a safetensors file: F32, F16 and BF16 tensors come back as float32, integer
/// tensors as int64. Throws FileError / ParseError naming the file and the tensor.
TensorList read_safetensors(const std::string& path);

/// Writes float32 (and int64) tensors as safetensors, atomically.
void write_safetensors(const std::string& path, const TensorList& tensors);

/// Reads a torch.save zip archive holding a dict (or OrderedDict) of tensors, possibly
/// nested under "state_dict" or "model". Floating tensors come back as float32.
TensorList read_torch_checkpoint(const std::string& path);

/// Either of the above, chosen by the file name: *.safetensors, or *.bin / *.pt / *.pth /
/// *.ckpt (torch.save). The content never routes a file to the other reader.
TensorList read_checkpoint(const std::string& path);

}  // namespace kbert
