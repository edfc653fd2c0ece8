// Microbenchmarks of the sparse policies' selection step at the shape of SmolLM2-135M (9 query
// heads, 3 KV heads). They time LessIsMore's select() at one selection layer (per-head top-K,
// rank-major merge, sinks and recency window), TidalDecode's per-head top-K, and the top-K
// helper alone. A decode step with the default layers runs select() twice.
//
//   build/bench/lim_bench_selection
//   build/bench/lim_bench_selection --benchmark_filter=LessIsMore --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/policy_common.h"
#include "engine/policy_lessismore.h"
#include "engine/policy_tidal.h"

namespace lim {
namespace {

constexpr int64_t kLayers = 30;
constexpr int64_t kHeads = 9;
constexpr int64_t kKvHeads = 3;
constexpr int64_t kHeadDim = 64;

// Scaled logits [n_head, n_kv] shaped like a real selection layer's. Heads share part of their
// preference (a common normal component), and a few positions dominate every head (sinks and
// shared "heavy hitters"). A few more dominate one head each, and the rest is noise.
std::vector<float> realistic_logits(int64_t n_head, int64_t n_kv, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int64_t> position(0, n_kv - 1);
  std::vector<float> common(static_cast<size_t>(n_kv));
  for (float& x : common) x = normal(rng);
  std::vector<float> logits(static_cast<size_t>(n_head * n_kv));
  std::vector<int64_t> shared_heavy(32);
  for (int64_t& j : shared_heavy) j = position(rng);
  for (int64_t h = 0; h < n_head; ++h) {
    float* s = logits.data() + h * n_kv;
    for (int64_t j = 0; j < n_kv; ++j) s[j] = 1.5f * (0.7f * common[static_cast<size_t>(j)] + 0.7f * normal(rng));
    s[0] += 8.0f;  // the attention sink
    for (int64_t j : shared_heavy) s[j] += 5.0f;
    for (int i = 0; i < 16; ++i) s[position(rng)] += 4.0f;
  }
  return logits;
}

// Several logit sets, used in turn. The same input in every iteration would let the branch
// predictor learn a comparison sort's branches, which a decode step, with new logits each time,
// cannot do.
constexpr int kVariants = 8;

std::vector<std::vector<float>> logit_variants(int64_t n_head, int64_t n_kv, uint64_t seed) {
  std::vector<std::vector<float>> variants;
  for (int v = 0; v < kVariants; ++v) variants.push_back(realistic_logits(n_head, n_kv, seed * 100 + v));
  return variants;
}

LessIsMoreParams smollm_params(int64_t budget) {
  LessIsMoreParams params;
  params.budget = budget;
  params.recency_ratio = 0.25;
  params.sinks = 4;
  params.dense_layers = {0, 1};
  params.selection_layers = {2, 10};
  return params;
}

// One select() of a LessIsMore selection layer; args: n_kv, K.
void BM_LessIsMoreSelect(benchmark::State& state) {
  const int64_t n_kv = state.range(0);
  const int64_t budget = state.range(1);
  LessIsMorePolicy policy(smollm_params(budget), PolicyDims{kLayers, kHeads, kKvHeads, n_kv, kHeadDim});
  const auto logits = logit_variants(kHeads, n_kv, 1);
  policy.begin_step(n_kv);
  int v = 0;
  for (auto _ : state) {
    policy.select(2, logits[static_cast<size_t>(v)].data());
    v = (v + 1) % kVariants;
    benchmark::DoNotOptimize(policy.selected().data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kHeads * n_kv);
}
BENCHMARK(BM_LessIsMoreSelect)->Args({4096, 512})->Args({8192, 512})->Args({8192, 2048})->Unit(benchmark::kMicrosecond);

// One select() of a TidalDecode selection layer: a top-K per head, ascending by position.
void BM_TidalSelect(benchmark::State& state) {
  const int64_t n_kv = state.range(0);
  const int64_t budget = state.range(1);
  TidalParams params;
  params.budget = budget;
  params.selection_layers = {2, 10};
  TidalPolicy policy(params, PolicyDims{kLayers, kHeads, kKvHeads, n_kv, kHeadDim});
  const auto logits = logit_variants(kHeads, n_kv, 2);
  policy.begin_step(n_kv);
  int v = 0;
  for (auto _ : state) {
    policy.select(2, logits[static_cast<size_t>(v)].data());
    v = (v + 1) % kVariants;
    benchmark::DoNotOptimize(policy.rows(3, 0).rows);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kHeads * n_kv);
}
BENCHMARK(BM_TidalSelect)->Args({4096, 512})->Args({8192, 512})->Unit(benchmark::kMicrosecond);

// The top-K helper alone on one head; args: n, k.
void BM_TopKPositions(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int64_t k = state.range(1);
  // One head each from the variants of a 9-head set: 72 different inputs.
  const auto logits = logit_variants(kHeads, n, 3);
  std::vector<int32_t> scratch(static_cast<size_t>(n));
  std::vector<int32_t> out(static_cast<size_t>(k));
  int v = 0;
  for (auto _ : state) {
    const float* s = logits[static_cast<size_t>(v % kVariants)].data() + (v / kVariants) * n;
    top_k_positions(s, 0, n, k, scratch.data(), out.data());
    v = (v + 1) % (kVariants * kHeads);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_TopKPositions)->Args({8192, 384})->Args({8192, 2048})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace lim

BENCHMARK_MAIN();
