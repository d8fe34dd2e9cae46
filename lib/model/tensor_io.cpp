#include "model/tensor_io.hpp"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <variant>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"

namespace kbert {
namespace {

at::ScalarType safetensors_dtype(const std::string& name, std::size_t& size) {
  static const std::map<std::string, std::pair<at::ScalarType, std::size_t>> kTypes = {
      {"F32", {at::kFloat, 4}}, {"F16", {at::kHalf, 2}},  {"BF16", {at::kBFloat16, 2}}, {"F64", {at::kDouble, 8}},
      {"I64", {at::kLong, 8}},  {"I32", {at::kInt, 4}},   {"I16", {at::kShort, 2}},     {"I8", {at::kChar, 1}},
      {"U8", {at::kByte, 1}},   {"BOOL", {at::kBool, 1}}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) return at::ScalarType::Undefined;
  size = it->second.second;
  return it->second.first;
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
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw FileError(path, "cannot open");
  const auto file_size = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  if (file_size < 8) throw ParseError(path, 0, "not a safetensors file: shorter than its 8-byte header size");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len[i];
  if (header_len > file_size - 8)
    throw ParseError(path, 0, "header of " + std::to_string(header_len) + " bytes runs past the end of the file (" +
                                  std::to_string(file_size) + " bytes): truncated?");
  std::string header_text(static_cast<std::size_t>(header_len), '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("bad safetensors header JSON: ") + e.what());
  }
  if (!header.is_object()) throw ParseError(path, 0, "safetensors header is not a JSON object");
  const std::size_t data_start = 8 + header_len;
  const std::size_t data_size = file_size - data_start;
  struct Entry {
    std::size_t begin, end;
    std::string name, dtype;
    at::ScalarType type;
    std::vector<std::int64_t> shape;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const nlohmann::json& d = it.value();
    auto bad = [&](const std::string& why) { return ParseError(path, 0, "tensor '" + name + "': " + why); };
    if (!d.is_object() || !d.contains("dtype") || !d.contains("shape") || !d.contains("data_offsets"))
      throw bad("needs dtype, shape and data_offsets");
    std::size_t elem = 0;
    const std::string dtype = d["dtype"].is_string() ? d["dtype"].get<std::string>() : d["dtype"].dump();
    const at::ScalarType st = safetensors_dtype(dtype, elem);
    if (st == at::ScalarType::Undefined) throw bad("unsupported dtype " + dtype);
    std::vector<std::int64_t> shape;
    std::int64_t numel = 1;
    if (!d["shape"].is_array()) throw bad("bad shape " + d["shape"].dump());
    for (const auto& x : d["shape"]) {
      if (!x.is_number_integer() || x.get<std::int64_t>() < 0) throw bad("bad shape " + d["shape"].dump());
      shape.push_back(x.get<std::int64_t>());
      numel *= shape.back();
    }
    const auto& off = d["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("bad data_offsets " + off.dump());
    const std::size_t b = off[0].get<std::size_t>(), e = off[1].get<std::size_t>();
    if (b > e || e > data_size)
      throw bad("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + ") outside the " +
                std::to_string(data_size) + " data bytes (truncated file?)");
    if (e - b != static_cast<std::size_t>(numel) * elem)
      throw bad(std::to_string(e - b) + " bytes for shape " + d["shape"].dump() + " of " + dtype);
    entries.push_back({b, e, name, dtype, st, std::move(shape)});
  }
  // File order: safetensors writers lay tensors out in the order they were given.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& x, const Entry& y) { return x.begin < y.begin; });
  TensorList list;
  for (const Entry& en : entries) {
    at::Tensor t = at::empty(en.shape, at::TensorOptions().dtype(en.type));
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

// ---------------------------------------------------------------------------
// A small unpickler for torch.save state dicts (pickle protocol 2-4).
namespace {

struct PValue;
using PItems = std::vector<PValue>;
using PPairs = std::vector<std::pair<PValue, PValue>>;

struct PValue {
  enum Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kTensor, kStorage, kMark } kind = kNone;
  std::int64_t i = 0;
  double f = 0;
  std::string s;  // string, or "module.name" of a global
  std::shared_ptr<PItems> items;
  std::shared_ptr<PPairs> pairs;
  at::Tensor tensor;
};

class Unpickler {
 public:
  Unpickler(const std::string& path, const char* data, std::size_t size, caffe2::serialize::PyTorchStreamReader& zip)
      : path_(path), p_(data), n_(size), zip_(zip) {}

  PValue run() {
    for (;;) {
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80: byte(); break;       // PROTO
        case 0x95: bytes(8); break;     // FRAME
        case '.': return pop();         // STOP
        case '}': push(dict()); break;  // EMPTY_DICT
        case ']': push(list(PValue::kList)); break;
        case ')': push(list(PValue::kTuple)); break;
        case '(': push(PValue{PValue::kMark}); break;
        case 'N': push(PValue{}); break;
        case 0x88: push(boolean(true)); break;
        case 0x89: push(boolean(false)); break;
        case 'q': memo_[static_cast<unsigned char>(byte())] = top(); break;
        case 'r': memo_[u32()] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': push(memo(static_cast<unsigned char>(byte()))); break;
        case 'j': push(memo(u32())); break;
        case 'X': push(str(bytes(u32()))); break;
        case 0x8c: push(str(bytes(static_cast<unsigned char>(byte())))); break;
        case 0x8d: push(str(bytes(u64()))); break;
        case 'B': push(str(bytes(u32()))); break;
        case 'C': push(str(bytes(static_cast<unsigned char>(byte())))); break;
        case 'U': push(str(bytes(static_cast<unsigned char>(byte())))); break;
        case 'c': {
          std::string module = line(), name = line();
          push(global(module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          PValue name = pop(), module = pop();
          push(global(module.s + "." + name.s));
          break;
        }
        case 'J': push(integer(static_cast<std::int32_t>(u32()))); break;
        case 'K': push(integer(static_cast<unsigned char>(byte()))); break;
        case 'M': push(integer(static_cast<std::uint16_t>(u16()))); break;
        case 0x8a: push(integer(long1())); break;
        case 'G': push(floating()); break;
        case 't': push(tuple_from(pop_mark())); break;
        case 0x85: push(tuple_from(take(1))); break;
        case 0x86: push(tuple_from(take(2))); break;
        case 0x87: push(tuple_from(take(3))); break;
        case 'l': {
          PValue v = list(PValue::kList);
          *v.items = pop_mark();
          push(v);
          break;
        }
        case 'a': {
          PValue v = pop();
          target(PValue::kList).items->push_back(v);
          break;
        }
        case 'e': {
          PItems xs = pop_mark();
          auto& l = target(PValue::kList);
          for (auto& x : xs) l.items->push_back(x);
          break;
        }
        case 'd': {
          PItems xs = pop_mark();
          push(pairs_to_dict(xs));
          break;
        }
        case 's': {
          PValue v = pop(), k = pop();
          target(PValue::kDict).pairs->emplace_back(k, v);
          break;
        }
        case 'u': {
          PItems xs = pop_mark();
          auto& d = target(PValue::kDict);
          for (std::size_t k = 0; k + 1 < xs.size(); k += 2) d.pairs->emplace_back(xs[k], xs[k + 1]);
          break;
        }
        case 'R': {
          PValue args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 0x81: {  // NEWOBJ
          PValue args = pop(), cls = pop();
          push(reduce(cls, args));
          break;
        }
        case 'b': pop(); break;  // BUILD: the state of an OrderedDict (_metadata) is not needed
        case 'Q': push(persistent(pop())); break;
        default: fail("unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw ParseError(path_, 0, "data.pkl at byte " + std::to_string(pos_) + ": " + why);
  }
  static std::string hex(unsigned v) {
    static const char* d = "0123456789abcdef";
    return std::string{d[(v >> 4) & 15], d[v & 15]};
  }
  char byte() {
    if (pos_ >= n_) fail("unexpected end (truncated checkpoint?)");
    return p_[pos_++];
  }
  std::string bytes(std::size_t k) {
    if (k > n_ - pos_) fail("unexpected end (truncated checkpoint?)");
    std::string s(p_ + pos_, k);
    pos_ += k;
    return s;
  }
  std::uint32_t u32() {
    std::string b = bytes(4);
    return static_cast<std::uint32_t>(static_cast<unsigned char>(b[0])) | (static_cast<std::uint32_t>(static_cast<unsigned char>(b[1])) << 8) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(b[2])) << 16) | (static_cast<std::uint32_t>(static_cast<unsigned char>(b[3])) << 24);
  }
  std::uint16_t u16() {
    std::string b = bytes(2);
    return static_cast<std::uint16_t>(static_cast<unsigned char>(b[0]) | (static_cast<unsigned char>(b[1]) << 8));
  }
  std::uint64_t u64() {
    std::uint64_t lo = u32();
    return lo | (static_cast<std::uint64_t>(u32()) << 32);
  }
  std::int64_t long1() {
    const auto k = static_cast<unsigned char>(byte());
    std::string b = bytes(k);
    if (k > 8) fail("integer wider than 64 bits");
    std::uint64_t v = 0;
    for (int q = k - 1; q >= 0; --q) v = (v << 8) | static_cast<unsigned char>(b[q]);
    if (k > 0 && k < 8 && (static_cast<unsigned char>(b[k - 1]) & 0x80)) v |= ~std::uint64_t{0} << (8 * k);
    return static_cast<std::int64_t>(v);
  }
  std::string line() {
    std::string s;
    for (char c = byte(); c != '\n'; c = byte()) s.push_back(c);
    return s;
  }
  PValue floating() {
    std::string b = bytes(8);
    std::uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
    PValue x{PValue::kFloat};
    std::memcpy(&x.f, &v, 8);
    return x;
  }
  static PValue boolean(bool b) {
    PValue v{PValue::kBool};
    v.i = b;
    return v;
  }
  static PValue integer(std::int64_t i) {
    PValue v{PValue::kInt};
    v.i = i;
    return v;
  }
  static PValue str(std::string s) {
    PValue v{PValue::kString};
    v.s = std::move(s);
    return v;
  }
  static PValue global(std::string s) {
    PValue v{PValue::kGlobal};
    v.s = std::move(s);
    return v;
  }
  static PValue dict() {
    PValue v{PValue::kDict};
    v.pairs = std::make_shared<PPairs>();
    return v;
  }
  static PValue list(PValue::Kind k) {
    PValue v{k};
    v.items = std::make_shared<PItems>();
    return v;
  }
  static PValue tuple_from(PItems xs) {
    PValue v = list(PValue::kTuple);
    *v.items = std::move(xs);
    return v;
  }
  PValue pairs_to_dict(const PItems& xs) {
    PValue d = dict();
    for (std::size_t k = 0; k + 1 < xs.size(); k += 2) d.pairs->emplace_back(xs[k], xs[k + 1]);
    return d;
  }
  void push(PValue v) { stack_.push_back(std::move(v)); }
  PValue pop() {
    if (stack_.empty()) fail("stack underflow");
    PValue v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const PValue& top() {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  PValue& target(PValue::Kind k) {
    if (stack_.empty() || stack_.back().kind != k) fail("opcode applied to the wrong kind of object");
    return stack_.back();
  }
  PItems take(std::size_t k) {
    if (stack_.size() < k) fail("stack underflow");
    PItems xs(stack_.end() - static_cast<std::ptrdiff_t>(k), stack_.end());
    stack_.resize(stack_.size() - k);
    return xs;
  }
  PItems pop_mark() {
    std::size_t m = stack_.size();
    while (m > 0 && stack_[m - 1].kind != PValue::kMark) --m;
    if (m == 0) fail("no MARK on the stack");
    PItems xs(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m - 1);
    return xs;
  }
  PValue memo(std::size_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " not found");
    return it->second;
  }

  static at::ScalarType storage_dtype(const std::string& g) {
    static const std::map<std::string, at::ScalarType> kStorages = {
        {"torch.FloatStorage", at::kFloat},   {"torch.DoubleStorage", at::kDouble}, {"torch.HalfStorage", at::kHalf},
        {"torch.BFloat16Storage", at::kBFloat16}, {"torch.LongStorage", at::kLong}, {"torch.IntStorage", at::kInt},
        {"torch.ShortStorage", at::kShort},   {"torch.CharStorage", at::kChar},     {"torch.ByteStorage", at::kByte},
        {"torch.BoolStorage", at::kBool}};
    auto it = kStorages.find(g);
    return it == kStorages.end() ? at::ScalarType::Undefined : it->second;
  }

  // ('storage', storage_type, key, location, numel) -> a flat tensor over data/<key>.
  PValue persistent(const PValue& pid) {
    if (pid.kind != PValue::kTuple || pid.items->size() < 5 || (*pid.items)[0].s != "storage")
      fail("unsupported persistent id");
    const PValue& type = (*pid.items)[1];
    const std::string key = (*pid.items)[2].s;
    const at::ScalarType st = storage_dtype(type.s);
    if (st == at::ScalarType::Undefined) fail("unsupported storage type " + type.s);
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      const std::string record = "data/" + key;
      if (!zip_.hasRecord(record)) fail("storage record " + record + " missing from the archive (truncated?)");
      auto [ptr, size] = zip_.getRecord(record);
      const std::size_t elem = c10::elementSize(st);
      at::Tensor t = at::empty({static_cast<std::int64_t>(size / elem)}, at::TensorOptions().dtype(st));
      if (size) std::memcpy(t.data_ptr(), ptr.get(), size);
      it = storages_.emplace(key, t).first;
    }
    PValue v{PValue::kStorage};
    v.tensor = it->second;
    return v;
  }

  std::vector<std::int64_t> ints(const PValue& v) {
    if (v.kind != PValue::kTuple && v.kind != PValue::kList) fail("expected a tuple of integers");
    std::vector<std::int64_t> out;
    for (const auto& x : *v.items) out.push_back(x.i);
    return out;
  }

  PValue reduce(const PValue& fn, const PValue& args) {
    if (fn.kind != PValue::kGlobal) fail("REDUCE on something that is not a global");
    const auto& a = *args.items;
    if (fn.s == "collections.OrderedDict" || fn.s == "builtins.dict") return dict();
    if (fn.s == "torch._utils._rebuild_tensor_v2" || fn.s == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0].kind != PValue::kStorage) fail("bad arguments to " + fn.s);
      const auto size = ints(a[2]), stride = ints(a[3]);
      std::int64_t need = a[1].i + 1;
      for (std::size_t k = 0; k < size.size(); ++k) need += (size[k] - 1) * stride[k];
      if (!size.empty() && std::find(size.begin(), size.end(), 0) == size.end() && need > a[0].tensor.numel())
        fail("tensor needs " + std::to_string(need) + " elements but its storage holds " + std::to_string(a[0].tensor.numel()));
      PValue v{PValue::kTensor};
      v.tensor = a[0].tensor.as_strided(size, stride, a[1].i);
      return v;
    }
    if (fn.s == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0].kind != PValue::kTensor) fail("bad arguments to " + fn.s);
      return a[0];
    }
    fail("unsupported object " + fn.s + " in the checkpoint (only tensors and dicts are read)");
  }

  std::string path_;
  const char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::vector<PValue> stack_;
  std::map<std::size_t, PValue> memo_;
  std::map<std::string, at::Tensor> storages_;
};

void collect(const PValue& v, const std::string& path, TensorList& out) {
  if (v.kind != PValue::kDict) throw ParseError(path, 0, "the checkpoint does not hold a dict of tensors");
  bool tensors = false;
  for (const auto& [k, x] : *v.pairs) tensors = tensors || x.kind == PValue::kTensor;
  if (!tensors) {
    for (const auto& [k, x] : *v.pairs)
      if ((k.s == "state_dict" || k.s == "model") && x.kind == PValue::kDict) return collect(x, path, out);
    throw ParseError(path, 0, "the checkpoint's dict holds no tensors");
  }
  for (const auto& [k, x] : *v.pairs) {
    if (k.kind != PValue::kString) throw ParseError(path, 0, "a state-dict key is not a string");
    if (x.kind != PValue::kTensor) continue;  // e.g. a stray number
    out.emplace_back(k.s, normalise(x.tensor));
  }
}

}  // namespace

TensorList read_torch_checkpoint(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw FileError(path, "cannot open");
  }
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw ParseError(path, 0, std::string("not a torch.save zip archive (legacy pre-1.6 files are not read; re-save "
                                          "with torch.save(..., _use_new_zipfile_serialization=True)): ") +
                                  e.what_without_backtrace());
  }
  try {
    if (!zip->hasRecord("data.pkl")) throw ParseError(path, 0, "archive has no data.pkl");
    auto [ptr, size] = zip->getRecord("data.pkl");
    Unpickler u(path, static_cast<const char*>(ptr.get()), size, *zip);
    PValue root = u.run();
    TensorList out;
    collect(root, path, out);
    return out;
  } catch (const c10::Error& e) {
    throw ParseError(path, 0, std::string("damaged archive: ") + e.what_without_backtrace());
  }
}

TensorList read_checkpoint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open");
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (magic[0] == 'P' && magic[1] == 'K') return read_torch_checkpoint(path);
  return read_safetensors(path);
}

}  // namespace kbert
