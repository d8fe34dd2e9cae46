// The two checkpoint formats kbert reads, parsed without LibTorch so that they can be
// fuzzed on their own: the JSON header of a safetensors file, and the pickle (data.pkl)
// of a torch.save archive. Both treat their input as hostile: every size, offset and
// reference is checked before it is used, nesting and sizes are bounded, and a failure
// is a ParseError naming the file (and the tensor or byte).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kbert::io {

enum class DType { kF32, kF64, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };
std::size_t dtype_size(DType t);

// ---------------------------------------------------------------------------------------
// safetensors: 8-byte little-endian header size, a JSON header, then the data.

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  ///< byte range within the data section
};

/// The largest header accepted (the safetensors library's own limit).
constexpr std::uint64_t kMaxSafetensorsHeader = 100u << 20;

/// Parses the header JSON of a safetensors file whose data section has `data_size` bytes.
/// Refuses unknown dtypes, bad shapes, offsets outside the data, sizes that do not match
/// the shape, overlapping tensors and duplicate names. Entries come sorted by offset.
std::vector<SafetensorsEntry> parse_safetensors_header(const std::string& path, const std::string& header,
                                                       std::uint64_t data_size);

// ---------------------------------------------------------------------------------------
// The pickle of a torch.save state dict (protocols 2-5, the opcodes a state dict uses).

/// A tensor as the pickle describes it: a view of the storage record data/<storage>.
struct TensorRef {
  std::string storage;
  DType dtype = DType::kF32;
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes, strides;
};

struct NamedTensorRef {
  std::string name;
  TensorRef tensor;
};

/// Reads data.pkl of a torch.save archive into its named tensors (a state dict, or a dict
/// holding one under "state_dict" or "model"). `storage_elements(key, dtype)` returns the
/// number of elements of record data/<key> (or throws when it is missing); every view is
/// checked to lie inside its storage. Only the globals a state dict needs are accepted
/// (OrderedDict, dict, _rebuild_tensor(_v2), _rebuild_parameter, storage types); nothing
/// is ever called or imported.
std::vector<NamedTensorRef> read_state_dict_pickle(
    const std::string& path, const char* data, std::size_t size,
    const std::function<std::int64_t(const std::string& key, DType dtype)>& storage_elements);

}  // namespace kbert::io
