#include "kbert/index/vector_index.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/mapped_file.hpp"
#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"

namespace kbert {
namespace {

constexpr char kMagic[8] = {'K', 'B', 'E', 'R', 'T', 'I', 'X', '1'};
constexpr std::size_t kHeader = 8 + 3 * 8;  // magic, rows, dim, metadata bytes
constexpr std::size_t kAlign = 64;
constexpr std::size_t kQueryBlock = 64;     // queries per product
constexpr std::size_t kRowBlock = 4096;     // index rows per product (64 x 4096 floats of scores)

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::size_t padded(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

void put_u64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_u64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Normalises n rows of dim floats in place; a zero row stays zero.
void normalise_rows(float* data, std::size_t n, std::size_t dim, const char* what) {
  for (std::size_t r = 0; r < n; ++r) {
    float* row = data + r * dim;
    double ss = 0;
    for (std::size_t c = 0; c < dim; ++c) {
      if (!std::isfinite(row[c]))
        throw std::invalid_argument(detail::concat(what, " ", r, " has a non-finite value at column ", c));
      ss += static_cast<double>(row[c]) * row[c];
    }
    if (ss == 0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(ss));
    for (std::size_t c = 0; c < dim; ++c) row[c] *= inv;
  }
}


}  // namespace

struct VectorIndex::Impl {
  std::size_t rows = 0, dim = 0;
  std::vector<float> owned;          // built in memory
  std::unique_ptr<MappedFile> mapping;  // or opened from a file
  const float* data = nullptr;
  std::vector<std::string> ids, labels, texts;
  IndexSource source;
  std::string empty;
};

VectorIndex::VectorIndex() : impl_(std::make_unique<Impl>()) {}
VectorIndex::~VectorIndex() = default;
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;

VectorIndex VectorIndex::build(std::vector<float> vectors, std::size_t dim, std::vector<std::string> ids,
                               std::vector<std::string> labels, std::vector<std::string> texts, IndexSource source) {
  KBERT_CHECK(dim > 0, "an index needs vectors of at least one dimension");
  KBERT_CHECK(vectors.size() % dim == 0, "index vectors: ", vectors.size(), " values are not rows of ", dim);
  const std::size_t rows = vectors.size() / dim;
  auto check = [&](const std::vector<std::string>& v, const char* what) {
    KBERT_CHECK(v.empty() || v.size() == rows, "index: ", v.size(), " ", what, " for ", rows, " vectors");
  };
  check(ids, "ids");
  check(labels, "labels");
  check(texts, "texts");
  normalise_rows(vectors.data(), rows, dim, "index vector");
  if (ids.empty())
    for (std::size_t r = 0; r < rows; ++r) ids.push_back(std::to_string(r + 1));
  VectorIndex ix;
  Impl& m = *ix.impl_;
  m.rows = rows;
  m.dim = dim;
  m.owned = std::move(vectors);
  m.data = m.owned.data();
  m.ids = std::move(ids);
  m.labels = std::move(labels);
  m.texts = std::move(texts);
  m.source = std::move(source);
  return ix;
}

void VectorIndex::save(const std::string& path) const {
  const Impl& m = *impl_;
  nlohmann::json meta = {{"model", m.source.model},
                         {"model_fingerprint", m.source.model_fingerprint},
                         {"pooling", m.source.pooling},
                         {"kg", m.source.kg},
                         {"max_length", m.source.max_length},
                         {"ids", m.ids},
                         {"labels", m.labels},
                         {"texts", m.texts}};
  const std::string json = meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  std::string head(kMagic, sizeof kMagic);
  put_u64(head, m.rows);
  put_u64(head, m.dim);
  put_u64(head, json.size());
  head += json;
  head.resize(padded(head.size()), '\0');
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    out.write(reinterpret_cast<const char*>(m.data), static_cast<std::streamsize>(m.rows * m.dim * sizeof(float)));
  });
}

VectorIndex VectorIndex::open(const std::string& path) {
  auto map = std::make_unique<MappedFile>(path, "index", kHeader);
  if (map->data() == nullptr)
    throw ParseError(path, 0, "not a kbert index (" + std::to_string(map->size()) + " bytes, shorter than the header)");
  const unsigned char* p = map->data();
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) throw ParseError(path, 0, "not a kbert index (no KBERTIX1 magic)");
  const std::uint64_t rows = get_u64(p + 8), dim = get_u64(p + 16), json_bytes = get_u64(p + 24);
  const std::uint64_t size = map->size();
  if (dim == 0 || dim > (1u << 20)) throw ParseError(path, 0, "bad vector dimension " + std::to_string(dim));
  if (json_bytes > size - kHeader)
    throw ParseError(path, 0, "metadata of " + std::to_string(json_bytes) + " bytes runs past the end of the file");
  const std::uint64_t offset = padded(kHeader + json_bytes);
  if (rows > (size - std::min(size, offset)) / (dim * sizeof(float)) || offset + rows * dim * sizeof(float) != size)
    throw ParseError(path, 0, "file is " + std::to_string(size) + " bytes; " + std::to_string(rows) + " vectors of " +
                                  std::to_string(dim) + " after " + std::to_string(offset) + " bytes of header need " +
                                  std::to_string(offset + rows * dim * sizeof(float)) + " (truncated or not an index?)");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(reinterpret_cast<const char*>(p + kHeader),
                                 reinterpret_cast<const char*>(p + kHeader + json_bytes));
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("bad index metadata JSON: ") + e.what());
  }
  VectorIndex ix;
  Impl& m = *ix.impl_;
  m.rows = rows;
  m.dim = dim;
  try {
    auto strings = [&](const char* key, bool required) {
      std::vector<std::string> v = meta.at(key).get<std::vector<std::string>>();
      if (v.size() != rows && (required || !v.empty()))
        throw ParseError(path, 0, std::string("metadata has ") + std::to_string(v.size()) + " " + key + " for " +
                                      std::to_string(rows) + " vectors");
      return v;
    };
    m.ids = strings("ids", true);
    m.labels = strings("labels", false);
    m.texts = strings("texts", false);
    m.source.model = meta.at("model").get<std::string>();
    m.source.model_fingerprint = meta.at("model_fingerprint").get<std::string>();
    m.source.pooling = meta.at("pooling").get<std::string>();
    m.source.kg = meta.at("kg").get<std::string>();
    m.source.max_length = meta.at("max_length").get<std::size_t>();
  } catch (const nlohmann::json::exception& e) {
    throw ParseError(path, 0, std::string("bad index metadata: ") + e.what());
  }
  m.data = reinterpret_cast<const float*>(p + offset);
  m.mapping = std::move(map);
  return ix;
}

std::size_t VectorIndex::size() const { return impl_->rows; }
std::size_t VectorIndex::dim() const { return impl_->dim; }
const float* VectorIndex::vector(std::size_t row) const {
  if (row >= impl_->rows) throw std::out_of_range("index row " + std::to_string(row) + " of " + std::to_string(impl_->rows));
  return impl_->data + row * impl_->dim;
}
const std::string& VectorIndex::id(std::size_t row) const { return impl_->ids.at(row); }
const std::string& VectorIndex::label(std::size_t row) const {
  return impl_->labels.empty() ? impl_->empty : impl_->labels.at(row);
}
const std::string& VectorIndex::text(std::size_t row) const {
  return impl_->texts.empty() ? impl_->empty : impl_->texts.at(row);
}
bool VectorIndex::has_labels() const { return !impl_->labels.empty(); }
bool VectorIndex::has_texts() const { return !impl_->texts.empty(); }
const IndexSource& VectorIndex::source() const { return impl_->source; }

std::vector<std::vector<SearchHit>> VectorIndex::search(const float* queries, std::size_t n, std::size_t k) const {
  const Impl& m = *impl_;
  std::vector<float> q(queries, queries + n * m.dim);
  normalise_rows(q.data(), n, m.dim, "query");
  k = std::min(k, m.rows);
  std::vector<std::vector<SearchHit>> out(n);
  // Best first: higher score, then lower row. The heap's top is the worst kept hit.
  auto better = [](const SearchHit& a, const SearchHit& b) { return a.score > b.score || (a.score == b.score && a.row < b.row); };
  RowMajor scores;
  for (std::size_t q0 = 0; q0 < n; q0 += kQueryBlock) {
    const std::size_t nq = std::min(kQueryBlock, n - q0);
    Eigen::Map<const RowMajor> qb(q.data() + q0 * m.dim, static_cast<Eigen::Index>(nq), static_cast<Eigen::Index>(m.dim));
    std::vector<std::vector<SearchHit>> heaps(nq);
    for (auto& h : heaps) h.reserve(k + 1);
    for (std::size_t r0 = 0; r0 < m.rows && k > 0; r0 += kRowBlock) {
      const std::size_t nr = std::min(kRowBlock, m.rows - r0);
      Eigen::Map<const RowMajor> xb(m.data + r0 * m.dim, static_cast<Eigen::Index>(nr), static_cast<Eigen::Index>(m.dim));
      scores.noalias() = qb * xb.transpose();
      for (std::size_t i = 0; i < nq; ++i) {
        auto& heap = heaps[i];
        const float* s = scores.data() + i * nr;
        for (std::size_t j = 0; j < nr; ++j) {
          if (std::isnan(s[j])) continue;  // a corrupt vector never ranks
          const SearchHit hit{r0 + j, s[j]};
          if (heap.size() < k) {
            heap.push_back(hit);
            std::push_heap(heap.begin(), heap.end(), better);
          } else if (better(hit, heap.front())) {
            std::pop_heap(heap.begin(), heap.end(), better);
            heap.back() = hit;
            std::push_heap(heap.begin(), heap.end(), better);
          }
        }
      }
    }
    for (std::size_t i = 0; i < nq; ++i) {
      std::sort(heaps[i].begin(), heaps[i].end(), better);
      out[q0 + i] = std::move(heaps[i]);
    }
  }
  return out;
}

std::string model_fingerprint(const std::string& model_dir) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  // The weights, the settings and the vocabulary (whichever of vocab.txt / spm.model the
  // directory holds): what decides the vectors.
  for (const char* name : {"model.safetensors", "kbert.json", "vocab.txt", "spm.model"}) {
    const std::string path = model_dir + "/" + name;
    const bool optional = std::string(name) == "vocab.txt" || std::string(name) == "spm.model";
    std::ifstream in(path, std::ios::binary);
    if (!in && optional) continue;
    if (!in) throw FileError(path, "cannot open (fingerprinting the model)");
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const std::streamsize got = in.gcount();
      for (std::streamsize i = 0; i < got; ++i) {
        h ^= static_cast<unsigned char>(buf[static_cast<std::size_t>(i)]);
        h *= 1099511628211ull;
      }
    }
    if (in.bad()) throw FileError(path, "read error (fingerprinting the model)");
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace kbert
