// Limits on what a tree (and so a model) may be asked for. They keep an absurd setting from
// exhausting memory: a tree of n tokens keeps an n x n visible matrix (8192 tokens: 64 MiB).
#pragma once

#include <cstddef>

namespace kbert {

constexpr std::size_t kMaxTreeLength = 8192;  ///< largest max_length
constexpr std::size_t kMaxEntities = 4096;    ///< largest max_entities (facts per entity mention)
constexpr std::size_t kMaxHops = 8;           ///< largest hops (multi-hop fact chains)
constexpr std::size_t kMaxFacts = 65536;      ///< largest max_facts (facts per mention over all hops)

}  // namespace kbert
