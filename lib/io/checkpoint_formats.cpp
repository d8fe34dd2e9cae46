#include "io/checkpoint_formats.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "kbert/common/error.hpp"

namespace kbert::io {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF64:
    case DType::kI64: return 8;
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kF16:
    case DType::kBF16:
    case DType::kI16: return 2;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool: return 1;
  }
  return 1;
}

namespace {

bool mul_ok(std::int64_t a, std::int64_t b, std::int64_t& out) { return !__builtin_mul_overflow(a, b, &out); }
bool add_ok(std::int64_t a, std::int64_t b, std::int64_t& out) { return !__builtin_add_overflow(a, b, &out); }

// No tensor in a checkpoint kbert reads has more than 2^40 elements or 8 dimensions.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 40;
constexpr std::size_t kMaxDims = 8;

bool safetensors_dtype(const std::string& name, DType& out) {
  static const std::map<std::string, DType> kTypes = {
      {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16}, {"F64", DType::kF64}, {"I64", DType::kI64},
      {"I32", DType::kI32}, {"I16", DType::kI16}, {"I8", DType::kI8},     {"U8", DType::kU8},   {"BOOL", DType::kBool}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) return false;
  out = it->second;
  return true;
}

}  // namespace

std::vector<SafetensorsEntry> parse_safetensors_header(const std::string& path, const std::string& text,
                                                       std::uint64_t data_size) {
  nlohmann::json header;
  std::set<std::string> names;
  // Depth-limited, and a name given twice is refused (a JSON parser keeps the last silently).
  auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth > 3) throw ParseError(path, 0, "safetensors header nested too deeply");
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && !names.insert(parsed.get<std::string>()).second)
      throw ParseError(path, 0, "tensor '" + parsed.get<std::string>() + "' appears twice in the safetensors header");
    return true;
  };
  try {
    header = nlohmann::json::parse(text, check);
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("bad safetensors header JSON: ") + e.what());
  }
  if (!header.is_object()) throw ParseError(path, 0, "safetensors header is not a JSON object");
  std::vector<SafetensorsEntry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const nlohmann::json& d = it.value();
    auto bad = [&](const std::string& why) { return ParseError(path, 0, "tensor '" + name + "': " + why); };
    if (!d.is_object() || !d.contains("dtype") || !d.contains("shape") || !d.contains("data_offsets"))
      throw bad("needs dtype, shape and data_offsets");
    SafetensorsEntry e;
    e.name = name;
    const std::string dtype = d["dtype"].is_string() ? d["dtype"].get<std::string>() : d["dtype"].dump();
    if (!safetensors_dtype(dtype, e.dtype)) throw bad("unsupported dtype " + dtype);
    if (!d["shape"].is_array() || d["shape"].size() > kMaxDims) throw bad("bad shape " + d["shape"].dump());
    std::int64_t numel = 1;
    for (const auto& x : d["shape"]) {
      if (!x.is_number_integer() || x.get<std::int64_t>() < 0 || !mul_ok(numel, x.get<std::int64_t>(), numel) ||
          numel > kMaxElements)
        throw bad("bad shape " + d["shape"].dump());
      e.shape.push_back(x.get<std::int64_t>());
    }
    const auto& off = d["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("bad data_offsets " + off.dump());
    e.begin = off[0].get<std::uint64_t>();
    e.end = off[1].get<std::uint64_t>();
    if (e.begin > e.end || e.end > data_size)
      throw bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") outside the " +
                std::to_string(data_size) + " data bytes (truncated file?)");
    if (e.end - e.begin != static_cast<std::uint64_t>(numel) * dtype_size(e.dtype))
      throw bad(std::to_string(e.end - e.begin) + " bytes for shape " + d["shape"].dump() + " of " + dtype);
    entries.push_back(std::move(e));
  }
  // File order: safetensors writers lay tensors out in the order they were given.
  std::stable_sort(entries.begin(), entries.end(), [](const SafetensorsEntry& x, const SafetensorsEntry& y) {
    return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
  });
  for (std::size_t k = 1; k < entries.size(); ++k)
    if (entries[k].begin < entries[k - 1].end)
      throw ParseError(path, 0, "tensors '" + entries[k - 1].name + "' and '" + entries[k].name +
                                    "' overlap in the data section (data_offsets)");
  return entries;
}

// ---------------------------------------------------------------------------------------
namespace {

struct Node;
using NodePtr = std::shared_ptr<Node>;

// A pickle value. Containers and strings live in shared nodes, so that copies made by the
// memo (GET) are cheap whatever their size.
struct PValue {
  enum Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kTensor, kStorage, kMark } kind = kNone;
  PValue() = default;
  explicit PValue(Kind k) : kind(k) {}
  std::int64_t i = 0;
  NodePtr node;  // string / global name, container, tensor or storage
};

struct Node {
  std::string s;                                 // string, global "module.name", storage key
  std::vector<PValue> items;                     // tuple, list
  std::vector<std::pair<PValue, PValue>> pairs;  // dict
  TensorRef tensor;                              // tensor
  DType dtype = DType::kF32;                     // storage
};

bool storage_dtype(const std::string& g, DType& out) {
  static const std::map<std::string, DType> kStorages = {
      {"torch.FloatStorage", DType::kF32},   {"torch.DoubleStorage", DType::kF64}, {"torch.HalfStorage", DType::kF16},
      {"torch.BFloat16Storage", DType::kBF16}, {"torch.LongStorage", DType::kI64}, {"torch.IntStorage", DType::kI32},
      {"torch.ShortStorage", DType::kI16},   {"torch.CharStorage", DType::kI8},    {"torch.ByteStorage", DType::kU8},
      {"torch.BoolStorage", DType::kBool}};
  auto it = kStorages.find(g);
  if (it == kStorages.end()) return false;
  out = it->second;
  return true;
}

class Unpickler {
 public:
  Unpickler(const std::string& path, const char* data, std::size_t size,
            const std::function<std::int64_t(const std::string&, DType)>& storage_elements)
      : path_(path), p_(data), n_(size), storage_elements_(storage_elements) {}

  // Cycles (a dict holding itself) and deep nests are legal pickles: every node made is
  // emptied here, so nothing is freed recursively and no cycle outlives the reader.
  ~Unpickler() {
    stack_.clear();
    memo_.clear();
    for (auto& n : nodes_) {
      n->items.clear();
      n->pairs.clear();
    }
  }

  PValue run() {
    for (;;) {
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80: byte(); break;       // PROTO
        case 0x95: bytes(8); break;     // FRAME
        case '.': return pop();         // STOP
        case '}': push(container(PValue::kDict)); break;
        case ']': push(container(PValue::kList)); break;
        case ')': push(container(PValue::kTuple)); break;
        case '(': push(PValue{PValue::kMark}); break;
        case 'N': push(PValue{}); break;
        case 0x88: push(scalar(PValue::kBool, 1)); break;
        case 0x89: push(scalar(PValue::kBool, 0)); break;
        case 'q': remember(static_cast<unsigned char>(byte())); break;
        case 'r': remember(u32()); break;
        case 0x94: remember(memo_.size()); break;  // MEMOIZE
        case 'h': push(recall(static_cast<unsigned char>(byte()))); break;
        case 'j': push(recall(u32())); break;
        case 'X':
        case 'B': push(text(PValue::kString, bytes(u32()))); break;
        case 0x8c:
        case 'C':
        case 'U': push(text(PValue::kString, bytes(static_cast<unsigned char>(byte())))); break;
        case 0x8d:
        case 0x8e: push(text(PValue::kString, bytes(u64()))); break;
        case 'c': {
          std::string module = line(), name = line();
          push(text(PValue::kGlobal, module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          PValue name = pop(), module = pop();
          if (name.kind != PValue::kString || module.kind != PValue::kString) fail("STACK_GLOBAL needs two strings");
          push(text(PValue::kGlobal, module.node->s + "." + name.node->s));
          break;
        }
        case 'J': push(scalar(PValue::kInt, static_cast<std::int32_t>(u32()))); break;
        case 'K': push(scalar(PValue::kInt, static_cast<unsigned char>(byte()))); break;
        case 'M': push(scalar(PValue::kInt, u16())); break;
        case 0x8a: push(scalar(PValue::kInt, long1())); break;
        case 'G': bytes(8), push(PValue{PValue::kFloat}); break;  // a float's value is never needed
        case 't': push(tuple_from(pop_mark())); break;
        case 0x85: push(tuple_from(take(1))); break;
        case 0x86: push(tuple_from(take(2))); break;
        case 0x87: push(tuple_from(take(3))); break;
        case 'l': {
          PValue v = container(PValue::kList);
          v.node->items = pop_mark();
          push(v);
          break;
        }
        case 'a': {
          PValue v = pop();
          target(PValue::kList).node->items.push_back(v);
          break;
        }
        case 'e': {
          std::vector<PValue> xs = pop_mark();
          auto& items = target(PValue::kList).node->items;
          items.insert(items.end(), xs.begin(), xs.end());
          break;
        }
        case 'd': {
          std::vector<PValue> xs = pop_mark();
          if (xs.size() % 2) fail("DICT with an odd number of items");
          PValue d = container(PValue::kDict);
          for (std::size_t k = 0; k + 1 < xs.size(); k += 2) d.node->pairs.emplace_back(xs[k], xs[k + 1]);
          push(d);
          break;
        }
        case 's': {
          PValue v = pop(), k = pop();
          target(PValue::kDict).node->pairs.emplace_back(k, v);
          break;
        }
        case 'u': {
          std::vector<PValue> xs = pop_mark();
          if (xs.size() % 2) fail("SETITEMS with an odd number of items");
          auto& d = target(PValue::kDict);
          for (std::size_t k = 0; k + 1 < xs.size(); k += 2) d.node->pairs.emplace_back(xs[k], xs[k + 1]);
          break;
        }
        case 'R':
        case 0x81: {  // REDUCE, NEWOBJ
          PValue args = pop(), fn = pop();
          push(reduce(fn, args));
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
  std::string bytes(std::uint64_t k) {
    if (k > n_ - pos_) fail("unexpected end (truncated checkpoint?)");
    std::string s(p_ + pos_, static_cast<std::size_t>(k));
    pos_ += static_cast<std::size_t>(k);
    return s;
  }
  std::uint32_t u32() {
    const std::string b = bytes(4);
    std::uint32_t v = 0;
    for (int q = 3; q >= 0; --q) v = (v << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(q)]);
    return v;
  }
  std::uint16_t u16() {
    const std::string b = bytes(2);
    return static_cast<std::uint16_t>(static_cast<unsigned char>(b[0]) | (static_cast<unsigned char>(b[1]) << 8));
  }
  std::uint64_t u64() {
    std::uint64_t lo = u32();
    return lo | (static_cast<std::uint64_t>(u32()) << 32);
  }
  std::int64_t long1() {
    const auto k = static_cast<unsigned char>(byte());
    if (k > 8) fail("integer wider than 64 bits");
    const std::string b = bytes(k);
    std::uint64_t v = 0;
    for (int q = k - 1; q >= 0; --q) v = (v << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(q)]);
    if (k > 0 && k < 8 && (static_cast<unsigned char>(b[k - 1]) & 0x80)) v |= ~std::uint64_t{0} << (8 * k);
    return static_cast<std::int64_t>(v);
  }
  std::string line() {
    std::string s;
    for (char c = byte(); c != '\n'; c = byte()) s.push_back(c);
    return s;
  }
  NodePtr make_node() {
    auto n = std::make_shared<Node>();
    nodes_.push_back(n);
    return n;
  }
  static PValue scalar(PValue::Kind k, std::int64_t i) {
    PValue v{k};
    v.i = i;
    return v;
  }
  PValue text(PValue::Kind k, std::string s) {
    PValue v{k};
    v.node = make_node();
    v.node->s = std::move(s);
    return v;
  }
  PValue container(PValue::Kind k) {
    PValue v{k};
    v.node = make_node();
    return v;
  }
  PValue tuple_from(std::vector<PValue> xs) {
    PValue v = container(PValue::kTuple);
    v.node->items = std::move(xs);
    return v;
  }
  void push(PValue v) { stack_.push_back(std::move(v)); }
  PValue pop() {
    if (stack_.empty() || stack_.back().kind == PValue::kMark) fail("stack underflow");
    PValue v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PValue& target(PValue::Kind k) {
    if (stack_.empty() || stack_.back().kind != k) fail("opcode applied to the wrong kind of object");
    return stack_.back();
  }
  std::vector<PValue> take(std::size_t k) {
    if (stack_.size() < k) fail("stack underflow");
    for (std::size_t q = stack_.size() - k; q < stack_.size(); ++q)
      if (stack_[q].kind == PValue::kMark) fail("stack underflow (a MARK where a value was expected)");
    std::vector<PValue> xs(stack_.end() - static_cast<std::ptrdiff_t>(k), stack_.end());
    stack_.resize(stack_.size() - k);
    return xs;
  }
  std::vector<PValue> pop_mark() {
    std::size_t m = stack_.size();
    while (m > 0 && stack_[m - 1].kind != PValue::kMark) --m;
    if (m == 0) fail("no MARK on the stack");
    std::vector<PValue> xs(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m - 1);
    return xs;
  }
  void remember(std::size_t k) {
    if (stack_.empty()) fail("stack underflow");
    memo_[k] = stack_.back();
  }
  PValue recall(std::size_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " not found");
    return it->second;
  }

  // ('storage', storage_type, key, location, numel) -> a storage reference.
  PValue persistent(const PValue& pid) {
    if (pid.kind != PValue::kTuple || pid.node->items.size() < 3) fail("unsupported persistent id");
    const auto& it = pid.node->items;
    if (it[0].kind != PValue::kString || it[0].node->s != "storage" || it[1].kind != PValue::kGlobal ||
        it[2].kind != PValue::kString)
      fail("unsupported persistent id");
    DType dt;
    if (!storage_dtype(it[1].node->s, dt)) fail("unsupported storage type " + it[1].node->s);
    PValue v{PValue::kStorage};
    v.node = make_node();
    v.node->s = it[2].node->s;
    v.node->dtype = dt;
    return v;
  }

  std::vector<std::int64_t> ints(const PValue& v, const char* what) {
    if (v.kind != PValue::kTuple && v.kind != PValue::kList) fail(std::string("expected a tuple of integers (") + what + ")");
    if (v.node->items.size() > kMaxDims) fail(std::string("too many dimensions (") + what + ")");
    std::vector<std::int64_t> out;
    for (const auto& x : v.node->items) {
      if (x.kind != PValue::kInt || x.i < 0) fail(std::string("expected non-negative integers (") + what + ")");
      out.push_back(x.i);
    }
    return out;
  }

  PValue reduce(const PValue& fn, const PValue& args) {
    if (fn.kind != PValue::kGlobal) fail("REDUCE on something that is not a global");
    const std::string& name = fn.node->s;
    if (args.kind != PValue::kTuple) fail("the arguments of " + name + " are not a tuple");
    const auto& a = args.node->items;
    if (name == "collections.OrderedDict" || name == "builtins.dict") return container(PValue::kDict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0].kind != PValue::kStorage || a[1].kind != PValue::kInt || a[1].i < 0)
        fail("bad arguments to " + name);
      TensorRef t;
      t.storage = a[0].node->s;
      t.dtype = a[0].node->dtype;
      t.offset = a[1].i;
      t.sizes = ints(a[2], "sizes");
      t.strides = ints(a[3], "strides");
      if (t.sizes.size() != t.strides.size()) fail("sizes and strides of a tensor differ in length");
      std::int64_t numel = 1, last = t.offset;
      for (std::size_t k = 0; k < t.sizes.size(); ++k) {
        std::int64_t span = 0;
        if (!mul_ok(numel, t.sizes[k], numel) || numel > kMaxElements) fail("tensor too large");
        if (t.sizes[k] > 0 && (!mul_ok(t.sizes[k] - 1, t.strides[k], span) || !add_ok(last, span, last)))
          fail("tensor view out of range");
      }
      if (numel > 0) {
        const std::int64_t have = storage_elements_(t.storage, t.dtype);
        if (last >= have)
          fail("tensor needs " + std::to_string(last + 1) + " elements but its storage data/" + t.storage + " holds " +
               std::to_string(have));
      }
      PValue v{PValue::kTensor};
      v.node = make_node();
      v.node->tensor = std::move(t);
      return v;
    }
    if (name == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0].kind != PValue::kTensor) fail("bad arguments to " + name);
      return a[0];
    }
    fail("unsupported object " + name + " in the checkpoint (only tensors and dicts are read)");
  }

  std::string path_;
  const char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  const std::function<std::int64_t(const std::string&, DType)>& storage_elements_;
  std::vector<PValue> stack_;
  std::map<std::size_t, PValue> memo_;
  std::vector<NodePtr> nodes_;  // every node made, owned here until the end
};

void collect(const PValue& v, const std::string& path, std::vector<NamedTensorRef>& out, int depth) {
  if (v.kind != PValue::kDict) throw ParseError(path, 0, "the checkpoint does not hold a dict of tensors");
  const auto& pairs = v.node->pairs;
  const bool tensors = std::any_of(pairs.begin(), pairs.end(), [](const auto& kv) { return kv.second.kind == PValue::kTensor; });
  if (!tensors) {
    if (depth < 2)
      for (const auto& [k, x] : pairs)
        if (k.kind == PValue::kString && (k.node->s == "state_dict" || k.node->s == "model") && x.kind == PValue::kDict &&
            x.node != v.node)
          return collect(x, path, out, depth + 1);
    throw ParseError(path, 0, "the checkpoint's dict holds no tensors");
  }
  std::set<std::string> seen;
  for (const auto& [k, x] : pairs) {
    if (k.kind != PValue::kString) throw ParseError(path, 0, "a state-dict key is not a string");
    if (x.kind != PValue::kTensor) continue;  // e.g. a stray number
    if (!seen.insert(k.node->s).second) throw ParseError(path, 0, "tensor '" + k.node->s + "' appears twice");
    out.push_back({k.node->s, x.node->tensor});
  }
}

}  // namespace

std::vector<NamedTensorRef> read_state_dict_pickle(
    const std::string& path, const char* data, std::size_t size,
    const std::function<std::int64_t(const std::string&, DType)>& storage_elements) {
  Unpickler u(path, data, size, storage_elements);
  const PValue root = u.run();
  std::vector<NamedTensorRef> out;
  collect(root, path, out, 0);
  return out;
}

}  // namespace kbert::io
