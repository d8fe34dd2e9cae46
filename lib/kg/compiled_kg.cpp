// The compiled KG file (.kbkg): a knowledge graph laid out as the arrays lookups
// read, so that opening it is one mmap and a pass of range checks, and processes
// that open the same file share its pages.
//
// Format (little-endian; every section starts at a multiple of 64 bytes; the file
// ends right after the last section):
//   header (128 bytes): magic "KBERTKG1", u32 version (1), u32 flags (bit 0: the KG
//     has scores), u64 vertices, relations, surface forms, triples, duplicates
//     dropped when it was built, string bytes, surface table slots, surface->vertex pairs
//   str_begin   u64 x (V + R + S + 1): string i is blob[str_begin[i], str_begin[i+1]);
//               strings 0..V-1 are the vertices' readable names, then the relations',
//               then the surface forms
//   surface_slots  u32 x slots: open addressing (linear probing, StringPool::hash) of
//               surface id + 1, 0 = empty; slots a power of two >= 2 S
//   surface_begin  u32 x (S + 1), surface_vertices u32 x pairs: the entities a form names
//   out_begin   u32 x (V + 1), out_edges u32 x T: each vertex's facts as triple
//               indices, by falling score (ties and unscored KGs in load order)
//   triples     (u32 subject, u32 relation, u32 object, f32 score) x T, load order
//   blob        the strings, UTF-8
//
// open() checks every count against the file size and every index against its
// range (strings inside the blob and on character boundaries, the blob valid UTF-8,
// each surface id once in the table, offsets non-decreasing), so a corrupt or
// truncated file is refused with a ParseError and lookups never read out of bounds.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <ostream>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/text/utf8.hpp"
#include "kg/kg_impl.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the compiled KG format is little-endian, as this code reads it");

namespace kbert {
namespace {

constexpr char kMagic[8] = {'K', 'B', 'E', 'R', 'T', 'K', 'G', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 128;
constexpr std::size_t kAlign = 64;
constexpr std::uint64_t kMaxCount = 0xFFFFFFF0u;  // ids are u32; room for the +1 of the tables

std::uint64_t padded(std::uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct Header {
  std::uint32_t version = kVersion, flags = 0;
  std::uint64_t nv = 0, nr = 0, ns = 0, ne = 0, duplicates = 0, blob_bytes = 0, surface_cap = 0, pairs = 0;
};

// Section offsets from the header's counts (all counts bounded first, so no overflow).
struct Layout {
  std::uint64_t str_begin, surface_slots, surface_begin, surface_vertices, out_begin, out_edges, triples, blob, end;
  explicit Layout(const Header& h) {
    std::uint64_t at = kHeaderBytes;
    auto take = [&](std::uint64_t bytes) {
      const std::uint64_t here = at;
      at = padded(at + bytes);
      return here;
    };
    str_begin = take(8 * (h.nv + h.nr + h.ns + 1));
    surface_slots = take(4 * h.surface_cap);
    surface_begin = take(4 * (h.ns + 1));
    surface_vertices = take(4 * h.pairs);
    out_begin = take(4 * (h.nv + 1));
    out_edges = take(4 * h.ne);
    triples = take(sizeof(CompiledTriple) * h.ne);
    blob = at;
    end = at + h.blob_bytes;
  }
};

void put(std::string& s, const void* p, std::size_t n) { s.append(static_cast<const char*>(p), n); }

template <class T>
void put_section(std::ostream& out, const std::vector<T>& v, std::uint64_t& at) {
  const std::uint64_t bytes = v.size() * sizeof(T);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(bytes));
  static const char zeros[kAlign] = {};
  const std::uint64_t pad = padded(at + bytes) - (at + bytes);
  out.write(zeros, static_cast<std::streamsize>(pad));
  at += bytes + pad;
}

std::uint64_t load_u64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
std::uint32_t load_u32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace


std::int64_t CompiledKg::find_surface(std::string_view form) const {
  const std::uint64_t mask = surface_cap - 1;
  for (std::uint64_t i = StringPool::hash(form) & mask;; i = (i + 1) & mask) {
    const std::uint32_t slot = surface_slots[i];
    if (slot == 0) return -1;  // open() checked that the table has empty slots
    if (surface(slot - 1) == form) return slot - 1;
  }
}

bool is_compiled_kg_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[sizeof kMagic] = {};
  return in.read(head, sizeof head) && std::memcmp(head, kMagic, sizeof kMagic) == 0;
}

std::unique_ptr<CompiledKg> CompiledKg::open(const std::string& path) {
  auto kg = std::make_unique<CompiledKg>();
  kg->path = path;
  kg->file = MappedFile(path, "compiled KG", kHeaderBytes);
  kg->bytes = kg->file.size();
  auto bad = [&](const std::string& why) { return ParseError(path, 0, "not a valid compiled KG: " + why); };
  if (kg->file.data() == nullptr)
    throw bad(std::to_string(kg->bytes) + " bytes, shorter than the " + std::to_string(kHeaderBytes) + "-byte header");
  const unsigned char* p = kg->file.data();
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) throw bad("no KBERTKG1 magic");
  Header h;
  h.version = load_u32(p + 8);
  h.flags = load_u32(p + 12);
  std::uint64_t* counts[] = {&h.nv, &h.nr, &h.ns, &h.ne, &h.duplicates, &h.blob_bytes, &h.surface_cap, &h.pairs};
  for (std::size_t i = 0; i < 8; ++i) *counts[i] = load_u64(p + 16 + 8 * i);
  if (h.version != kVersion)
    throw bad("format version " + std::to_string(h.version) + ", this kbert reads version " + std::to_string(kVersion) +
              " (compile the KG again with `kbert kg compile`)");
  if (h.flags > 1) throw bad("unknown flags " + std::to_string(h.flags));
  const char* names[] = {"vertices", "relations", "surface forms", "triples", "", "", "", "surface pairs"};
  for (std::size_t i : {0, 1, 2, 3, 7})
    if (*counts[i] > kMaxCount) throw bad(std::string(names[i]) + " count " + std::to_string(*counts[i]) + " is too large");
  if (h.blob_bytes > kg->bytes) throw bad("string bytes " + std::to_string(h.blob_bytes) + " exceed the file size");
  if (h.surface_cap < 2 * h.ns || h.surface_cap == 0 || (h.surface_cap & (h.surface_cap - 1)) != 0 ||
      h.surface_cap > 4 * kMaxCount)
    throw bad("surface table of " + std::to_string(h.surface_cap) + " slots for " + std::to_string(h.ns) + " forms");
  const Layout L(h);
  if (L.end != kg->bytes)
    throw bad("the header's counts need " + std::to_string(L.end) + " bytes, the file has " + std::to_string(kg->bytes) +
              " (truncated or damaged)");

  kg->nv = static_cast<std::uint32_t>(h.nv);
  kg->nr = static_cast<std::uint32_t>(h.nr);
  kg->ns = static_cast<std::uint32_t>(h.ns);
  kg->ne = static_cast<std::uint32_t>(h.ne);
  kg->duplicates = h.duplicates;
  kg->has_scores = (h.flags & 1) != 0;
  kg->str_begin = reinterpret_cast<const std::uint64_t*>(p + L.str_begin);
  kg->surface_slots = reinterpret_cast<const std::uint32_t*>(p + L.surface_slots);
  kg->surface_cap = h.surface_cap;
  kg->surface_begin = reinterpret_cast<const std::uint32_t*>(p + L.surface_begin);
  kg->surface_vertices = reinterpret_cast<const std::uint32_t*>(p + L.surface_vertices);
  kg->out_begin = reinterpret_cast<const std::uint32_t*>(p + L.out_begin);
  kg->out_edges = reinterpret_cast<const std::uint32_t*>(p + L.out_edges);
  kg->triples = reinterpret_cast<const CompiledTriple*>(p + L.triples);
  kg->blob = reinterpret_cast<const char*>(p + L.blob);

  // Strings: offsets from 0 to the blob's end, non-decreasing, each on a character boundary.
  const std::uint64_t nstr = h.nv + h.nr + h.ns;
  if (kg->str_begin[0] != 0 || kg->str_begin[nstr] != h.blob_bytes) throw bad("string offsets do not span the strings");
  for (std::uint64_t i = 0; i < nstr; ++i) {
    const std::uint64_t b = kg->str_begin[i];
    if (kg->str_begin[i + 1] < b) throw bad("string " + std::to_string(i) + " ends before it starts");
    if (b < h.blob_bytes && (static_cast<unsigned char>(kg->blob[b]) & 0xC0) == 0x80)
      throw bad("string " + std::to_string(i) + " starts inside a UTF-8 character");
  }
  const std::size_t invalid = find_invalid_utf8(std::string_view(kg->blob, h.blob_bytes));
  if (invalid != std::string_view::npos) throw bad("invalid UTF-8 at string byte " + std::to_string(invalid));

  // Surface table: each id once; at least half the slots empty (h.surface_cap >= 2 S).
  std::vector<bool> seen(h.ns, false);
  std::uint64_t used = 0;
  for (std::uint64_t i = 0; i < h.surface_cap; ++i) {
    const std::uint32_t slot = kg->surface_slots[i];
    if (slot == 0) continue;
    if (slot > h.ns || seen[slot - 1]) throw bad("surface table slot " + std::to_string(i) + " holds a bad id");
    seen[slot - 1] = true;
    ++used;
  }
  if (used != h.ns) throw bad("the surface table holds " + std::to_string(used) + " of " + std::to_string(h.ns) + " forms");

  auto check_csr = [&](const std::uint32_t* begin, std::uint64_t n, std::uint64_t total, const char* what) {
    if (begin[0] != 0 || begin[n] != total) throw bad(std::string(what) + " offsets do not span their array");
    for (std::uint64_t i = 0; i < n; ++i)
      if (begin[i + 1] < begin[i]) throw bad(std::string(what) + " offsets decrease at " + std::to_string(i));
  };
  check_csr(kg->surface_begin, h.ns, h.pairs, "surface");
  for (std::uint64_t i = 0; i < h.pairs; ++i)
    if (kg->surface_vertices[i] >= h.nv) throw bad("surface pair " + std::to_string(i) + " names no vertex");
  check_csr(kg->out_begin, h.nv, h.ne, "fact");
  for (std::uint64_t i = 0; i < h.ne; ++i)
    if (kg->out_edges[i] >= h.ne) throw bad("fact " + std::to_string(i) + " names no triple");
  for (std::uint64_t i = 0; i < h.ne; ++i) {
    const CompiledTriple& t = kg->triples[i];
    if (t.subject >= h.nv || t.object >= h.nv || t.relation >= h.nr || !std::isfinite(t.score))
      throw bad("triple " + std::to_string(i) + " is out of range");
  }
  return kg;
}

void KnowledgeGraph::save_compiled(const std::string& path) const {
  const Impl& m = *impl_;
  if (m.compiled) {
    // Already compiled: the file's bytes are the answer.
    const CompiledKg& c = *m.compiled;
    write_file_atomically(path, [&](std::ostream& out) {
      out.write(reinterpret_cast<const char*>(c.file.data()), static_cast<std::streamsize>(c.bytes));
    });
    return;
  }
  m.ensure_built();
  Header h;
  h.flags = m.has_scores ? 1 : 0;
  h.nv = m.vertices.size();
  h.nr = m.relations.size();
  h.ns = m.surfaces.size();
  h.ne = m.edges.size();
  h.duplicates = m.duplicates;
  h.pairs = m.surface_vertices.size();
  for (std::uint64_t n : {h.nv, h.nr, h.ns, h.ne, h.pairs})
    if (n > kMaxCount) throw std::length_error("the KG is too large to compile (" + std::to_string(n) + " items)");
  h.surface_cap = 16;
  while (h.surface_cap < 2 * h.ns) h.surface_cap *= 2;

  // Strings: vertices' readable names, relations', surface forms.
  std::vector<std::uint64_t> str_begin;
  str_begin.reserve(h.nv + h.nr + h.ns + 1);
  std::string blob;
  auto add_string = [&](std::string_view s) {
    str_begin.push_back(blob.size());
    blob.append(s.data(), s.size());
  };
  for (std::uint32_t v = 0; v < h.nv; ++v) add_string(m.display(v));
  for (std::uint32_t r = 0; r < h.nr; ++r) add_string(m.relation_display[r]);
  for (std::uint32_t s = 0; s < h.ns; ++s) add_string(m.surfaces.str(s));
  str_begin.push_back(blob.size());
  h.blob_bytes = blob.size();

  std::vector<std::uint32_t> slots(h.surface_cap, 0);
  for (std::uint32_t s = 0; s < h.ns; ++s) {
    std::uint64_t i = StringPool::hash(m.surfaces.str(s)) & (h.surface_cap - 1);
    while (slots[i]) i = (i + 1) & (h.surface_cap - 1);
    slots[i] = s + 1;
  }

  // Facts per subject in lookup order: by falling score (stable), then grouped by subject (stable),
  // as build() orders the CSR graph.
  std::vector<std::uint32_t> order(h.ne);
  for (std::uint32_t i = 0; i < h.ne; ++i) order[i] = i;
  if (m.has_scores)
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return m.edge_score[a] > m.edge_score[b]; });
  std::vector<std::uint32_t> out_begin(h.nv + 1, 0), out_edges(h.ne);
  for (const KgEdge& e : m.edges) ++out_begin[e.subject + 1];
  for (std::uint64_t v = 0; v < h.nv; ++v) out_begin[v + 1] += out_begin[v];
  {
    std::vector<std::uint32_t> fill(out_begin.begin(), out_begin.end() - 1);
    for (std::uint32_t i : order) out_edges[fill[m.edges[i].subject]++] = i;
  }
  std::vector<CompiledTriple> triples(h.ne);
  for (std::uint32_t i = 0; i < h.ne; ++i)
    triples[i] = CompiledTriple{m.edges[i].subject, m.edges[i].relation, m.edges[i].object, m.edge_score[i]};

  std::string head(kMagic, sizeof kMagic);
  put(head, &h.version, 4);
  put(head, &h.flags, 4);
  for (std::uint64_t v : {h.nv, h.nr, h.ns, h.ne, h.duplicates, h.blob_bytes, h.surface_cap, h.pairs}) put(head, &v, 8);
  head.resize(kHeaderBytes, '\0');
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    std::uint64_t at = kHeaderBytes;
    put_section(out, str_begin, at);
    put_section(out, slots, at);
    put_section(out, m.surface_begin, at);
    put_section(out, m.surface_vertices, at);
    put_section(out, out_begin, at);
    put_section(out, out_edges, at);
    put_section(out, triples, at);
    out.write(blob.data(), static_cast<std::streamsize>(blob.size()));
    if (at != Layout(h).blob) throw std::logic_error("compiled KG writer: layout mismatch");
  });
}

}  // namespace kbert
