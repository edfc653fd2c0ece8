// Microbenchmarks of the decode attention kernel at the shape of SmolLM2-135M: group 3, head_dim
// 64, 30 layers of 3 KV heads. Each iteration attends one (layer, KV head) and the next iteration
// moves on to the next one, so that, as in a decode step, the rows come from main memory and not
// from a cache that the previous iteration warmed. Bytes per second count the K and V rows read,
// to compare with the memory bandwidth.
//
//   build/bench/lim_bench_attention --benchmark_filter='contiguous/F32'
//   build/bench/lim_bench_attention --benchmark_filter='gathered' --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/quant.h"

namespace lim {
namespace {

constexpr int64_t kLayers = 30;
constexpr int64_t kKvHeads = 3;
constexpr int64_t kGroup = 3;
constexpr int64_t kHeadDim = 64;
constexpr int64_t kUnits = kLayers * kKvHeads;

// K and V rows of every (layer, KV head), n_ctx rows each, laid out as the KV cache does.
struct KvBuffers {
  DType type;
  int64_t n_ctx;
  size_t unit_bytes;
  std::vector<uint8_t> k, v;

  KvBuffers(DType type_, int64_t n_ctx_)
      : type(type_), n_ctx(n_ctx_), unit_bytes(row_bytes(type_, kHeadDim) * static_cast<size_t>(n_ctx_)),
        k(unit_bytes * kUnits), v(unit_bytes * kUnits) {
    // Moderate random values, so that the softmax is neither flat nor one-hot.
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(kHeadDim);
    const size_t stride = row_bytes(type, kHeadDim);
    for (size_t r = 0; r < static_cast<size_t>(kUnits * n_ctx); ++r) {
      for (float& value : x) value = normal(rng);
      store_kv_row(type, x.data(), k.data() + r * stride, kHeadDim);
      for (float& value : x) value = normal(rng);
      store_kv_row(type, x.data(), v.data() + r * stride, kHeadDim);
    }
  }

  const void* k_unit(int64_t unit) const { return k.data() + static_cast<size_t>(unit) * unit_bytes; }
  const void* v_unit(int64_t unit) const { return v.data() + static_cast<size_t>(unit) * unit_bytes; }
};

// n_selected sorted distinct positions out of n_ctx, as a sparse selection attends.
std::vector<int32_t> random_selection(int64_t n_ctx, int64_t n_selected, uint32_t seed) {
  std::vector<int32_t> all(static_cast<size_t>(n_ctx));
  for (int64_t i = 0; i < n_ctx; ++i) all[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  std::mt19937 rng(13 + seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<size_t>(n_selected));
  std::sort(all.begin(), all.end());
  return all;
}

// Attends n_ctx contiguous rows, or n_selected gathered rows when n_selected > 0. With several
// benchmark threads, each thread takes its own share of the (layer, KV head) units.
void register_attention(DType type, int64_t n_ctx, int64_t n_selected, int n_threads) {
  const bool gathered = n_selected > 0;
  const std::string name = std::string("attend_rows_part/") + (gathered ? "gathered/" : "contiguous/") +
                           dtype_name(type) + "/L:" + std::to_string(n_ctx) +
                           (gathered ? "/rows:" + std::to_string(n_selected) : "");
  auto* benchmark = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    // Built when the benchmark runs (once, shared by its threads), so that filtered-out shapes
    // cost nothing.
    static std::vector<std::unique_ptr<KvBuffers>> cache;
    if (state.thread_index() == 0) {
      bool found = false;
      for (const auto& buffers : cache) found = found || (buffers->type == type && buffers->n_ctx == n_ctx);
      if (!found) {
        cache.clear();  // one data set at a time keeps the memory use bounded
        cache.push_back(std::make_unique<KvBuffers>(type, n_ctx));
      }
    }
    // Each pass over the units takes the next of several selections, so that, as for the
    // contiguous rows, the rows read do not fit the last-level cache.
    constexpr int kSelections = 8;
    std::vector<std::vector<int32_t>> selections;
    for (int s = 0; gathered && s < kSelections; ++s) selections.push_back(random_selection(n_ctx, n_selected, s));
    const int64_t n = gathered ? n_selected : n_ctx;
    std::mt19937 rng(17 + static_cast<uint32_t>(state.thread_index()));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> q(kGroup * kHeadDim);
    for (float& x : q) x = normal(rng);
    std::vector<float> logits(static_cast<size_t>(kGroup * n)), max(kGroup), sum(kGroup), acc(kGroup * kHeadDim);
    const float scale = 1.0f / std::sqrt(float(kHeadDim));

    int64_t unit = state.thread_index();
    int selection = 0;
    // The timed loop starts in every thread after thread 0 has built the buffers.
    for (auto _ : state) {
      const KvBuffers& kv = *cache.front();
      attend_rows_part(q.data(), kGroup, kHeadDim, type, kv.k_unit(unit), kv.v_unit(unit),
                       gathered ? selections[static_cast<size_t>(selection)].data() : nullptr, 0, n, scale,
                       logits.data(), logits.data(), n, max.data(), sum.data(), acc.data());
      benchmark::DoNotOptimize(acc.data());
      benchmark::ClobberMemory();
      unit += state.threads();
      if (unit >= kUnits) {
        unit -= kUnits;
        selection = (selection + 1) % kSelections;
      }
    }
    const int64_t bytes = 2 * n * static_cast<int64_t>(row_bytes(type, kHeadDim));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes);
    state.counters["rows/s"] =
        benchmark::Counter(double(state.iterations()) * double(n), benchmark::Counter::kIsRate);
  });
  benchmark->Unit(benchmark::kMicrosecond)->UseRealTime()->Threads(n_threads);
}

int register_all() {
  for (DType type : {DType::F32, DType::F16}) {
    // In this order consecutive benchmarks share their KV buffers.
    for (int64_t n_ctx : {1024, 4096, 8192}) {
      for (int n_threads : {1, 2}) register_attention(type, n_ctx, 0, n_threads);
    }
    for (int n_threads : {1, 2}) register_attention(type, 8192, 512, n_threads);
  }
  return 0;
}

const int registered = register_all();

}  // namespace
}  // namespace lim

BENCHMARK_MAIN();
