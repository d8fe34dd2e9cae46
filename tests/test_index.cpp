// VectorIndex: exact top-k cosine search, the file format and its errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "kbert/common/error.hpp"
#include "kbert/index/vector_index.hpp"
#include "kbert/train/data.hpp"
#include "test_helpers.hpp"

using namespace kbert;

namespace {

std::vector<float> random_vectors(std::size_t rows, std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(rows * dim);
  for (float& x : v) x = d(rng);
  return v;
}

// Brute force in double: the k best rows by cosine, ties by row.
std::vector<std::size_t> brute_force(const std::vector<float>& x, std::size_t dim, const float* q, std::size_t k) {
  const std::size_t rows = x.size() / dim;
  auto norm = [&](const float* v) {
    double s = 0;
    for (std::size_t c = 0; c < dim; ++c) s += static_cast<double>(v[c]) * v[c];
    return std::sqrt(s);
  };
  std::vector<std::pair<double, std::size_t>> s;
  for (std::size_t r = 0; r < rows; ++r) {
    double dot = 0;
    for (std::size_t c = 0; c < dim; ++c) dot += static_cast<double>(x[r * dim + c]) * q[c];
    s.push_back({-dot / (norm(&x[r * dim]) * norm(q)), r});
  }
  std::sort(s.begin(), s.end());
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < std::min(k, rows); ++i) out.push_back(s[i].second);
  return out;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

}  // namespace

TEST_CASE("index search is exact top-k cosine across blocks of rows and queries") {
  const std::size_t dim = 24, rows = 9000, n = 70;  // more than one block of each
  std::vector<float> x = random_vectors(rows, dim, 1);
  const std::vector<float> q = random_vectors(n, dim, 2);
  VectorIndex ix = VectorIndex::build(x, dim, {}, {}, {}, {});
  REQUIRE(ix.size() == rows);
  REQUIRE(ix.id(0) == "1");
  const auto hits = ix.search(q.data(), n, 7);
  REQUIRE(hits.size() == n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::size_t> got;
    for (const SearchHit& h : hits[i]) got.push_back(h.row);
    CHECK(got == brute_force(x, dim, &q[i * dim], 7));
    for (std::size_t j = 1; j < hits[i].size(); ++j) CHECK(hits[i][j - 1].score >= hits[i][j].score);
  }
  // Scores are cosines: a row's own vector, scaled, finds itself with score 1.
  std::vector<float> self(x.begin() + 5 * dim, x.begin() + 6 * dim);
  for (float& v : self) v *= 3.5f;
  const auto h = ix.search(self.data(), 1, 1);
  CHECK(h[0][0].row == 5);
  CHECK(h[0][0].score == Approx(1.0f).margin(1e-5));
}

TEST_CASE("index ties go to the lower row; k past the size gives every row") {
  std::vector<float> x = {1, 0, 0, 1, 2, 0, 0, 3, 1, 0};  // rows 0, 2, 4 point the same way
  VectorIndex ix = VectorIndex::build(x, 2, {"a", "b", "c", "d", "e"}, {}, {}, {});
  const float q[2] = {5, 0};
  const auto hits = ix.search(q, 1, 10);
  REQUIRE(hits[0].size() == 5);
  CHECK(hits[0][0].row == 0);
  CHECK(hits[0][1].row == 2);
  CHECK(hits[0][2].row == 4);
  CHECK(ix.id(hits[0][1].row) == "c");
  // A zero row stays zero and scores 0; a zero query scores 0 everywhere.
  VectorIndex z = VectorIndex::build({0, 0, 1, 1}, 2, {}, {}, {}, {});
  const float zq[2] = {0, 0};
  CHECK(z.search(zq, 1, 2)[0][0].score == 0.0f);
  CHECK(z.search(q, 1, 2)[0][1].row == 0);
}

TEST_CASE("index build and search refuse bad input, naming it") {
  CHECK_THROWS_WITH(VectorIndex::build({1, 2, 3}, 2, {}, {}, {}, {}), Catch::Contains("not rows of 2"));
  CHECK_THROWS_WITH(VectorIndex::build({1, 2}, 2, {"a", "b"}, {}, {}, {}), Catch::Contains("2 ids for 1 vectors"));
  CHECK_THROWS_WITH(VectorIndex::build({1, NAN}, 2, {}, {}, {}, {}), Catch::Contains("non-finite value at column 1"));
  VectorIndex ix = VectorIndex::build({1, 2}, 2, {}, {}, {}, {});
  const float q[2] = {INFINITY, 0};
  CHECK_THROWS_WITH(ix.search(q, 1, 1), Catch::Contains("query 0 has a non-finite value"));
}

TEST_CASE("index files round-trip, memory-mapped, and bad files are errors naming the file") {
  const std::size_t dim = 5;
  std::vector<float> x = random_vectors(13, dim, 3);
  std::vector<std::string> ids, labels, texts;
  for (int i = 0; i < 13; ++i) {
    ids.push_back("r" + std::to_string(i));
    labels.push_back(i % 2 ? "CORROSION" : "EXCAVATION DAMAGE");
    texts.push_back("report " + std::to_string(i) + " \xE2\x80\x94 gas leak");
  }
  IndexSource src;
  src.model = "models/faults";
  src.model_fingerprint = "0123456789abcdef";
  src.pooling = "cls";
  src.kg = "none";
  src.max_length = 128;
  VectorIndex ix = VectorIndex::build(x, dim, ids, labels, texts, src);
  test::TempFile f("", ".kbix");
  ix.save(f.path());
  VectorIndex back = VectorIndex::open(f.path());
  REQUIRE(back.size() == 13);
  REQUIRE(back.dim() == dim);
  CHECK(std::memcmp(back.vector(0), ix.vector(0), 13 * dim * sizeof(float)) == 0);
  CHECK(back.id(12) == "r12");
  CHECK(back.label(1) == "CORROSION");
  CHECK(back.text(3) == texts[3]);
  CHECK(back.source().model == "models/faults");
  CHECK(back.source().model_fingerprint == "0123456789abcdef");
  CHECK(back.source().pooling == "cls");
  CHECK(back.source().kg == "none");
  CHECK(back.source().max_length == 128);
  CHECK(reinterpret_cast<std::uintptr_t>(back.vector(0)) % 64 == 0);
  const auto a = ix.search(x.data(), 13, 3), b = back.search(x.data(), 13, 3);
  for (std::size_t i = 0; i < 13; ++i)
    for (std::size_t j = 0; j < 3; ++j) {
      CHECK(a[i][j].row == b[i][j].row);
      CHECK(a[i][j].score == b[i][j].score);
    }

  const std::string bytes = read_all(f.path());
  test::TempFile bad("", ".kbix");
  write_all(bad.path(), bytes.substr(0, bytes.size() - 4));
  CHECK_THROWS_WITH(VectorIndex::open(bad.path()), Catch::Contains(bad.path()) && Catch::Contains("truncated"));
  write_all(bad.path(), bytes + "x");
  CHECK_THROWS_WITH(VectorIndex::open(bad.path()), Catch::Contains("truncated or not an index"));
  write_all(bad.path(), "KBERTIX2" + bytes.substr(8));
  CHECK_THROWS_WITH(VectorIndex::open(bad.path()), Catch::Contains("no KBERTIX1 magic"));
  write_all(bad.path(), bytes.substr(0, 20));
  CHECK_THROWS_WITH(VectorIndex::open(bad.path()), Catch::Contains("shorter than the header"));
  std::string wrong = bytes;
  const std::size_t at = wrong.find("\"ids\"");
  REQUIRE(at != std::string::npos);
  wrong[at + 1] = 'x';  // "xds": the ids are missing
  write_all(bad.path(), wrong);
  CHECK_THROWS_WITH(VectorIndex::open(bad.path()), Catch::Contains("bad index metadata"));
  wrong = bytes;
  wrong[40] = '{';  // inside the JSON: no longer parses
  write_all(bad.path(), wrong);
  CHECK_THROWS_AS(VectorIndex::open(bad.path()), ParseError);
  CHECK_THROWS_AS(VectorIndex::open("/nonexistent/x.kbix"), FileError);
}

TEST_CASE("Dataset corpora: label optional, id column read") {
  test::TempFile f("id\ttext_a\nA-1\tvalve leak\nA-2\tpipe corrosion\n", ".tsv");
  DatasetOptions o;
  CHECK_THROWS_WITH(Dataset::load(f.path(), o), Catch::Contains("no \"label\" column"));
  o.require_label = false;
  const Dataset d = Dataset::load(f.path(), o);
  REQUIRE(d.size() == 2);
  CHECK(d.examples[1].id == "A-2");
  CHECK(d.examples[1].label.empty());
  CHECK(d.examples[1].text_a == "pipe corrosion");
}
