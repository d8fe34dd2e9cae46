#include "encoder/tensor_io.hpp"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "io/checkpoint_formats.hpp"

namespace kbert {
namespace {

at::ScalarType scalar_type(io::DType t) {
  switch (t) {
    case io::DType::kF32: return at::kFloat;
    case io::DType::kF64: return at::kDouble;
    case io::DType::kF16: return at::kHalf;
    case io::DType::kBF16: return at::kBFloat16;
    case io::DType::kI64: return at::kLong;
    case io::DType::kI32: return at::kInt;
    case io::DType::kI16: return at::kShort;
    case io::DType::kI8: return at::kChar;
    case io::DType::kU8: return at::kByte;
    case io::DType::kBool: return at::kBool;
  }
  return at::kFloat;
}

at::Tensor normalise(const at::Tensor& t) {
  if (at::isFloatingType(t.scalar_type())) return t.to(at::kFloat).contiguous();
  if (t.scalar_type() == at::kBool) return t.contiguous();
  return t.to(at::kLong).contiguous();
}

}  // namespace

TensorList read_safetensors(const std::string& path) {
  // Read the header, then each tensor straight into its own buffer: the file is never
  // held in memory whole (a BERT-base checkpoint is 400 MB).
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    if (!std::filesystem::exists(path, ec)) throw FileError(path, "cannot open: no such file");
    throw FileError(path, "not a regular file (a directory or a device?)");
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw FileError(path, "cannot open");
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  if (file_size < 8) throw ParseError(path, 0, "not a safetensors file: shorter than its 8-byte header size");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len[i];
  if (len[0] == 'P' && len[1] == 'K')
    throw ParseError(path, 0, "this is a zip archive (a torch.save file?), not safetensors: kbert reads a file named "
                              "*.safetensors only as safetensors");
  if (header_len > file_size - 8)
    throw ParseError(path, 0, "header of " + std::to_string(header_len) + " bytes runs past the end of the file (" +
                                  std::to_string(file_size) + " bytes): truncated, or not a safetensors file");
  if (header_len > io::kMaxSafetensorsHeader)
    throw ParseError(path, 0, "header of " + std::to_string(header_len) + " bytes is over the 100 MiB limit");
  std::string header_text(static_cast<std::size_t>(header_len), '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_len));
  const std::uint64_t data_start = 8 + header_len;
  const auto entries = io::parse_safetensors_header(path, header_text, file_size - data_start);
  TensorList list;
  for (const auto& en : entries) {
    at::Tensor t = at::empty(en.shape, at::TensorOptions().dtype(scalar_type(en.dtype)));
    if (en.end > en.begin) {
      in.seekg(static_cast<std::streamoff>(data_start + en.begin));
      if (!in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(en.end - en.begin)))
        throw ParseError(path, 0, "tensor '" + en.name + "': read failed");
    }
    list.emplace_back(en.name, normalise(t));
  }
  return list;
}

void write_safetensors(const std::string& path, const TensorList& tensors) {
  nlohmann::ordered_json header;
  std::size_t offset = 0;
  std::vector<at::Tensor> data;
  for (const auto& [name, t0] : tensors) {
    at::Tensor t = t0.scalar_type() == at::kLong ? t0.contiguous() : t0.to(at::kFloat).contiguous();
    const std::size_t bytes = static_cast<std::size_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", t.scalar_type() == at::kLong ? "I64" : "F32"},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h.push_back(' ');
  write_file_atomically(path, [&](std::ostream& out) {
    std::uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
    out.write(len, 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const at::Tensor& t : data)
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
  });
}

TensorList read_torch_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    if (!std::filesystem::exists(path, ec)) throw FileError(path, "cannot open: no such file");
    throw FileError(path, "not a regular file (a directory or a device?)");
  }
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw FileError(path, "cannot open");
    char magic[2] = {0, 0};
    probe.read(magic, 2);
    if (magic[0] != 'P' || magic[1] != 'K')
      throw ParseError(path, 0, "not a torch.save zip archive (legacy pre-1.6 files are not read; re-save with "
                                "torch.save(..., _use_new_zipfile_serialization=True))");
  }
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw ParseError(path, 0, std::string("not a readable torch.save zip archive: ") + e.what_without_backtrace());
  }
  try {
    if (!zip->hasRecord("data.pkl")) throw ParseError(path, 0, "archive has no data.pkl");
    auto [ptr, size] = zip->getRecord("data.pkl");
    std::map<std::string, at::Tensor> storages;  // data/<key> as flat tensors, read once
    auto storage = [&](const std::string& key, io::DType dt) -> at::Tensor& {
      auto it = storages.find(key);
      if (it != storages.end()) {
        if (it->second.scalar_type() != scalar_type(dt)) throw ParseError(path, 0, "storage data/" + key + " used with two dtypes");
        return it->second;
      }
      const std::string record = "data/" + key;
      if (!zip->hasRecord(record)) throw ParseError(path, 0, "storage record " + record + " missing from the archive (truncated?)");
      auto [p, bytes] = zip->getRecord(record);
      const std::size_t elem = io::dtype_size(dt);
      at::Tensor t = at::empty({static_cast<std::int64_t>(bytes / elem)}, at::TensorOptions().dtype(scalar_type(dt)));
      if (bytes >= elem) std::memcpy(t.data_ptr(), p.get(), bytes / elem * elem);
      return storages.emplace(key, t).first->second;
    };
    const auto refs = io::read_state_dict_pickle(path, static_cast<const char*>(ptr.get()), size,
                                                 [&](const std::string& key, io::DType dt) { return storage(key, dt).numel(); });
    TensorList out;
    for (const auto& r : refs)
      out.emplace_back(r.name, normalise(storage(r.tensor.storage, r.tensor.dtype).as_strided(r.tensor.sizes, r.tensor.strides, r.tensor.offset)));
    return out;
  } catch (const c10::Error& e) {
    throw ParseError(path, 0, std::string("damaged archive: ") + e.what_without_backtrace());
  }
}

TensorList read_checkpoint(const std::string& path) {
  // The file's name says what it is; the content is never sniffed to pick a reader.
  const std::string name = std::filesystem::path(path).filename().string();
  auto ends = [&](const std::string& x) { return name.size() >= x.size() && name.compare(name.size() - x.size(), x.size(), x) == 0; };
  if (ends(".safetensors")) return read_safetensors(path);
  if (ends(".bin") || ends(".pt") || ends(".pth") || ends(".ckpt")) return read_torch_checkpoint(path);
  throw FileError(path, "unknown checkpoint type: name it *.safetensors, or *.bin / *.pt / *.pth for torch.save files");
}

}  // namespace kbert
