#include <algorithm>
#include <cstring>
#include <type_traits>

#include <immintrin.h>

#include "kbert/common/cpu.hpp"

#include "kbert/tokenizer/vocab.hpp"
#include "tree/tree_parts.hpp"

namespace kbert::tree_build {

namespace {

// Copies a row of n bytes inline: a memcpy call through the PLT for every row of the visible
// matrix (rows of ~50 bytes for a short text) showed as the output step's hottest spot.
inline void copy_row(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) {
  if (n >= 32) {
    std::size_t j = 0;
    for (; j + 32 <= n; j += 32) __builtin_memcpy(dst + j, src + j, 32);
    if (j < n) __builtin_memcpy(dst + n - 32, src + n - 32, 32);  // overlapping tail
  } else if (n >= 16) {
    __builtin_memcpy(dst, src, 16);
    __builtin_memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    __builtin_memcpy(dst, src, 8);
    __builtin_memcpy(dst + n - 8, src + n - 8, 8);
  } else {
    for (std::size_t j = 0; j < n; ++j) dst[j] = src[j];
  }
}

// Sets the first n ranges of v to Range{} ({-1, -1}: every bit set) with one memset; v
// only grows (assign() stored them one by one and cost 3% of a short text's tree).
void reset_ranges(std::vector<Range>& v, std::size_t n) {
  static_assert(std::is_trivially_copyable_v<Range> && sizeof(Range) == 2 * sizeof(std::int32_t));
  if (v.size() < n) v.resize(n);
  if (n > 0) std::memset(static_cast<void*>(v.data()), 0xFF, n * sizeof(Range));
}

// AVX-512: a row of up to 64 bytes is one masked store (the row's trunk or zero bytes),
// where copy_row took four 16-byte moves and a branch row a call to memset.
__attribute__((target("avx512f,avx512bw"))) void visible_rows_avx512(std::uint8_t* data, std::size_t m,
                                                                     const std::uint8_t* trunk_row,
                                                                     const std::uint8_t* segments) {
  const std::size_t full = m / 64, tail = m % 64;
  const __mmask64 tail_mask = tail ? (~std::uint64_t{0} >> (64 - tail)) : 0;
  if (full == 0) {
    const __m512i t = _mm512_maskz_loadu_epi8(tail_mask, trunk_row);
    for (std::size_t k = 0; k < m; ++k)
      _mm512_mask_storeu_epi8(data + k * m, tail_mask, _mm512_maskz_mov_epi8(segments[k] ? 0 : ~__mmask64{0}, t));
    return;
  }
  for (std::size_t k = 0; k < m; ++k) {
    std::uint8_t* row = data + k * m;
    const __mmask64 keep = segments[k] ? 0 : ~__mmask64{0};
    for (std::size_t c = 0; c < full; ++c)
      _mm512_storeu_si512(row + 64 * c, _mm512_maskz_loadu_epi8(keep, trunk_row + 64 * c));
    if (tail) _mm512_mask_storeu_epi8(row + 64 * full, tail_mask, _mm512_maskz_loadu_epi8(keep & tail_mask, trunk_row + 64 * full));
  }
}

}  // namespace

void visible_rows(std::uint8_t* data, std::size_t m, const std::uint8_t* trunk_row, const std::uint8_t* segments,
                  bool avx512) {
  if (avx512) return visible_rows_avx512(data, m, trunk_row, segments);
  for (std::size_t k = 0; k < m; ++k) {
    std::uint8_t* row = data + k * m;
    if (segments[k] == 0) {
      copy_row(row, trunk_row, m);
    } else {
      std::memset(row, 0, m);
    }
  }
}

void keep_tokens(const TreeOptions& options, Scratch& sc) {
  const std::size_t L = options.max_length;
  const bool kbert_cut = options.truncation == Truncation::kKbert;
  const std::vector<FlatToken>& flat = sc.flat;
  const std::vector<Branch>& branches = sc.branches;
  const std::size_t n = flat.size();
  std::vector<std::uint32_t>& keep = sc.keep;
  keep.clear();
  if (kbert_cut || n <= L) {  // the first min(n, L): no index list (write_outputs knows)
    sc.keep_prefix = true;
    sc.kept_count = std::min(n, L);
  } else {
    sc.keep_prefix = false;
    std::size_t trunk = 0;
    for (const auto& f : flat) trunk += f.branch < 0;
    sc.kept_branch.assign(branches.size(), 0);
    if (trunk < L) {
      std::size_t budget = L - trunk;
      for (std::size_t bi = 0; bi < branches.size(); ++bi) {
        std::size_t len = branches[bi].end - branches[bi].start;
        const std::int32_t parent = branches[bi].parent;  // a sub-branch needs its parent
        if (len <= budget && (parent < 0 || sc.kept_branch[static_cast<std::size_t>(parent)])) {
          sc.kept_branch[bi] = 1;
          budget -= len;
        }
      }
    }
    std::size_t trunk_kept = 0;
    for (std::uint32_t i = 0; i < n && keep.size() < L; ++i) {
      if (flat[i].branch < 0) {
        if (trunk_kept < L) keep.push_back(i), ++trunk_kept;
      } else if (sc.kept_branch[flat[i].branch]) {
        keep.push_back(i);
      }
    }
    sc.kept_count = keep.size();
  }
}

namespace {

// The visible matrix over the m kept tokens (tree.segments written).
void write_visible(const Scratch& sc, std::size_t m, SentenceTree& tree) {
  const std::vector<Branch>& branches = sc.branches;
  // A trunk row sees the trunk and its word's branches; a branch row
  // sees its own branch with its descendants, its ancestors' branches and its word's
  // trunk (hop 1 alone: its own branch and its word's trunk). First every row from its
  // segment alone (a trunk row: the trunk; a branch row: nothing), in a loop with no
  // dependent reads; then, branch by branch, what the few rows of entities and facts add.
  tree.visible.resize(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
  if (m > 0) {
    std::uint8_t* data = tree.visible.data();
    static const bool wide = cpu::info().avx512;
    visible_rows(data, m, sc.trunk_row.data(), tree.segments.data(), wide);
    auto fill = [&](std::size_t row, const Range& r) {
      if (r.b >= 0) std::memset(data + row * m + r.b, 1, static_cast<std::size_t>(r.e - r.b));
    };
    std::uint32_t last_word = 0;
    bool any = false;
    for (std::size_t bi = 0; bi < branches.size(); ++bi) {
      const Range own = sc.branch_r[bi];
      if (own.b < 0) continue;  // not kept
      const std::uint32_t w = branches[bi].word;
      if (!any || w != last_word) {  // a word's branches are laid out together
        const Range trunk = sc.trunk_r[w];
        for (std::int32_t k = trunk.b; k >= 0 && k < trunk.e; ++k) fill(static_cast<std::size_t>(k), sc.branches_r[w]);
        last_word = w;
        any = true;
      }
      for (std::int32_t k = own.b; k < own.e; ++k) {
        const auto row = static_cast<std::size_t>(k);
        fill(row, sc.subtree_r[bi]);
        for (std::int32_t a = branches[bi].parent; a >= 0; a = branches[static_cast<std::size_t>(a)].parent)
          fill(row, sc.branch_r[static_cast<std::size_t>(a)]);
        fill(row, sc.trunk_r[w]);
      }
    }
  }
}

// write_outputs over the kept tokens: kept(k) is the flat index of the k-th (the identity
// for kbert truncation, whose keep list was a copy of 0..m-1 read back per token).
template <bool kPrefix, class Kept>
void write_kept(const Tokenizer& tok, std::size_t words, Scratch& sc, SentenceTree& tree, Kept kept) {
  const TokenBuffer& tokens = sc.seg.tokens;
  const std::vector<FlatToken>& flat = sc.flat;
  const std::vector<Branch>& branches = sc.branches;
  const std::size_t m = sc.kept_count;
  tree.tokens.reserve(m, tokens.bytes());
  tree.positions.resize(m);
  tree.hard_index.resize(m);
  tree.segments.resize(m);
  tree.uer_segments.resize(m);
  tree.hf_segments.resize(m);
  sc.trunk_row.resize(m);
  reset_ranges(sc.trunk_r, words);
  reset_ranges(sc.branches_r, words);
  reset_ranges(sc.branch_r, branches.size());
  reset_ranges(sc.subtree_r, branches.size());
  // The tokens first, copied a run at a time (a trunk's or a branch's tokens lie one after
  // another in the segmentation's buffer), in a loop of their own: byte stores may alias any
  // memory and kept the per-token loop's pointers from staying in registers.
  if constexpr (kPrefix) {
    // A prefix of the flat tokens: runs break only where a branch begins or ends (the trunk's
    // tokens come first in the buffer, in order, and the branches' after them, laid out in
    // flat order), so the runs come from the branches, not from a scan of every token.
    std::size_t k = 0;
    auto run = [&](std::size_t to) {
      if (to > k) tree.tokens.append_range(tokens, flat[k].token, to - k);
      k = to;
    };
    for (const Branch& b : branches) {
      if (b.start >= m) break;
      run(b.start);
      run(std::min<std::size_t>(b.end, m));
    }
    run(m);
  } else {
    for (std::size_t k = 0; k < m;) {
      const std::uint32_t first = flat[kept(k)].token;
      std::size_t j = k + 1;
      while (j < m && flat[kept(j)].token == first + (j - k)) ++j;
      tree.tokens.append_range(tokens, first, j - k);
      k = j;
    }
  }
  // Model segment ids. UER (run_kbert_cls.py): pairs count [SEP]s, 1 then 2; single texts
  // are all 1; a [PAD] token is 0 either way. HF: 0, then 1 after the first [SEP].
  std::int32_t* uer = tree.uer_segments.data();
  std::int32_t* hf = tree.hf_segments.data();
  if (tree.is_pair) {
    int seps = 0;
    for (std::uint32_t k = 0; k < m; ++k) {
      const std::string_view token = tree.tokens[k];
      const bool pad = token == kPadToken;
      uer[k] = pad ? 0 : 1 + seps;
      hf[k] = pad ? 0 : std::min(seps, 1);
      if (flat[kept(k)].branch < 0 && token == kSepToken) ++seps;
    }
  } else {
    std::fill(uer, uer + m, 1);  // hf: all 0, as resize() left it
    // A token "[PAD]" puts those bytes in the tokens' text: one search instead of a test per token.
    if (tree.tokens.text().find(kPadToken) != std::string_view::npos)
      for (std::uint32_t k = 0; k < m; ++k)
        if (tree.tokens[k] == kPadToken) uer[k] = 0;
  }
  // Soft positions, segments and each group's kept range, in one pass (a pass per output
  // cost a short text's tree 0.08 us more).
  {
    std::int32_t* positions = tree.positions.data();
    std::int32_t* hard_index = tree.hard_index.data();
    std::uint8_t* segments = tree.segments.data();
    std::uint8_t* trunk_row = sc.trunk_row.data();
    Range* trunk_r = sc.trunk_r.data();
    Range* branches_r = sc.branches_r.data();
    Range* branch_r = sc.branch_r.data();
    Range* subtree_r = sc.subtree_r.data();
    const FlatToken* fl = flat.data();
    const Branch* br = branches.data();
    for (std::uint32_t k = 0; k < m; ++k) {
      const std::uint32_t i = kept(k);
      const FlatToken f = fl[i];
      const bool trunk = f.branch < 0;
      positions[k] = f.position;
      hard_index[k] = static_cast<std::int32_t>(i);
      segments[k] = trunk ? 0 : 1;
      trunk_row[k] = trunk ? 1 : 0;
      const auto kk = static_cast<std::int32_t>(k);
      if (trunk) {
        trunk_r[f.word].add(kk);
      } else {
        branches_r[f.word].add(kk);
        branch_r[f.branch].add(kk);
        // A branch and its descendants are contiguous (depth-first layout).
        for (std::int32_t a = f.branch; a >= 0; a = br[a].parent) subtree_r[a].add(kk);
      }
    }
  }

  write_visible(sc, m, tree);

  if (const Vocab* vocab = tok.vocab()) {
    tree.ids.reserve(m);
    for (const auto& t : tree.tokens) tree.ids.push_back(vocab->id(t));
  }
}

}  // namespace

void write_outputs(const Tokenizer& tok, std::size_t words, Scratch& sc, SentenceTree& tree) {
  if (sc.keep_prefix) {
    write_kept<true>(tok, words, sc, tree, [](std::size_t k) { return static_cast<std::uint32_t>(k); });
  } else {
    const std::uint32_t* keep = sc.keep.data();
    write_kept<false>(tok, words, sc, tree, [keep](std::size_t k) { return keep[k]; });
  }
}

void list_injected(const KnowledgeGraph& kg, Scratch& sc, SentenceTree& tree) {
  const std::vector<Branch>& branches = sc.branches;
  // A kept branch's parent is kept (it comes first; trunk-first keeps only whole paths).
  std::vector<std::int32_t>& injected_index = sc.injected_index;
  injected_index.assign(branches.size(), -1);
  std::size_t kept = 0;
  for (std::size_t bi = 0; bi < branches.size(); ++bi) kept += sc.branch_r[bi].b >= 0;
  tree.injected.reserve(kept);
  for (std::size_t bi = 0; bi < branches.size(); ++bi) {
    const Range& r = sc.branch_r[bi];
    if (r.b < 0) continue;
    const Branch& br = branches[bi];
    const Range& t = sc.trunk_r[br.word];
    InjectedTriple inj;
    injected_index[bi] = static_cast<std::int32_t>(tree.injected.size());
    inj.entity = std::string(kg.surface_form(br.node));
    inj.hop = br.hop;
    inj.parent = br.parent < 0 ? -1 : injected_index[static_cast<std::size_t>(br.parent)];
    inj.relation = std::string(br.relation);
    inj.object = std::string(br.object);
    inj.start = static_cast<std::uint32_t>(r.b);
    inj.end = static_cast<std::uint32_t>(r.e);
    inj.entity_start = static_cast<std::uint32_t>(std::max(t.b, 0));
    inj.entity_end = static_cast<std::uint32_t>(std::max(t.e, 0));
    tree.injected.push_back(std::move(inj));
  }
}

}  // namespace kbert::tree_build
