// Microbenchmarks of the weight kernels at the shapes of SmolLM2-135M: one-token matrix-vector
// products per weight type with exact and int8 activations, a batched product as in prefill, and
// the small vector kernels. Bytes per second count the weights plus the activations read, so the
// matrix-vector rates can be compared with the memory bandwidth.
//
//   build/bench/lim_bench_kernels --benchmark_filter='matvec/Q4_1'
//   build/bench/lim_bench_kernels --benchmark_filter='49152x576' --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ops/kernels.h"
#include "ops/quant.h"
#include "ops/thread_pool.h"

namespace lim {
namespace {

// Random weights of the given type: random quant bytes, and block scales kept small and finite so
// that no value is inf or nan.
std::vector<uint8_t> random_matrix(DType type, int64_t n_rows, int64_t n_cols, uint64_t seed) {
  const DTypeTraits& traits = dtype_traits(type);
  const size_t stride = row_bytes(type, n_cols);
  std::vector<uint8_t> bytes(stride * size_t(n_rows));
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&] {  // xorshift64*: fast enough for 100 MB of weights
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  };
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    const uint64_t v = next();
    std::memcpy(bytes.data() + i, &v, 8);
  }
  auto unit = [&] { return float(next() >> 40) / float(1 << 24) * 2.0f - 1.0f; };
  auto put_half = [&](uint8_t* p, float value) {
    const uint16_t h = fp32_to_fp16(value);
    std::memcpy(p, &h, 2);
  };
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* row = bytes.data() + size_t(r) * stride;
    for (int64_t b = 0; b < n_cols / traits.block_size; ++b) {
      uint8_t* block = row + b * traits.block_bytes;
      switch (type) {
        case DType::F32: {
          const float v = unit();
          std::memcpy(block, &v, 4);
          break;
        }
        case DType::F16:
          put_half(block, unit());
          break;
        case DType::BF16: {
          const uint16_t h = fp32_to_bf16(unit());
          std::memcpy(block, &h, 2);
          break;
        }
        case DType::Q4_0:
        case DType::Q8_0:
          put_half(block, 0.1f * unit());
          break;
        case DType::Q4_1:
        case DType::Q4_K:
          put_half(block, 0.1f * unit());
          put_half(block + 2, 0.1f * unit());
          break;
        case DType::Q6_K:
          put_half(block + 208, 0.01f * unit());
          break;
      }
    }
  }
  return bytes;
}

std::vector<float> random_activations(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = normal(rng);
  return x;
}

ThreadPool& pool_with(int n_threads) {
  static ThreadPool one(1), two(2);
  return n_threads == 1 ? one : two;
}

struct Shape {
  int64_t n_rows;
  int64_t n_cols;
};

void register_matmul(DType type, Shape shape, MatmulPrecision precision, int n_threads,
                     int64_t n_tokens) {
  const bool int8 = precision == MatmulPrecision::Int8Activations;
  const std::string name = std::string(n_tokens == 1 ? "matvec/" : "matmul/") + dtype_name(type) +
                           "/" + std::to_string(shape.n_rows) + "x" + std::to_string(shape.n_cols) +
                           (n_tokens == 1 ? "" : "/tokens:" + std::to_string(n_tokens)) +
                           (int8 ? "/int8" : "/exact") + "/threads:" + std::to_string(n_threads);
  benchmark::RegisterBenchmark(
      name.c_str(),
      [=](benchmark::State& state) {
        // Built when the benchmark runs, so that filtered-out shapes cost nothing.
        const std::vector<uint8_t> weights = random_matrix(type, shape.n_rows, shape.n_cols, 1);
        const std::vector<float> x = random_activations(n_tokens * shape.n_cols, 2);
        std::vector<float> y(static_cast<size_t>(n_tokens * shape.n_rows));
        const MatrixView w{type, weights.data(), shape.n_rows, shape.n_cols};
        ThreadPool& pool = pool_with(n_threads);
        for (auto _ : state) {
          matmul(w, x.data(), n_tokens, y.data(), pool, precision);
          benchmark::DoNotOptimize(y.data());
          benchmark::ClobberMemory();
        }
        const int64_t bytes =
            int64_t(weights.size()) + n_tokens * shape.n_cols * int64_t(sizeof(float));
        state.SetBytesProcessed(int64_t(state.iterations()) * bytes);
        state.counters["weights/s"] = benchmark::Counter(
            double(state.iterations()) * double(shape.n_rows * shape.n_cols * n_tokens),
            benchmark::Counter::kIsRate);
      })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

void register_matmuls() {
  // SmolLM2-135M: attention projections 576x576, gate and up 1536x576, down 576x1536, and the
  // tied embedding as the output projection, 49152x576.
  const Shape shapes[] = {{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
  for (DType type : supported_dtypes()) {
    for (const Shape& shape : shapes) {
      // K-quant rows need a multiple of 256 elements.
      if (shape.n_cols % dtype_traits(type).block_size != 0) continue;
      for (MatmulPrecision precision : {MatmulPrecision::Exact, MatmulPrecision::Int8Activations}) {
        if (precision == MatmulPrecision::Int8Activations && !has_q8_dot(type)) continue;
        for (int n_threads : {1, 2}) register_matmul(type, shape, precision, n_threads, 1);
      }
    }
  }
  // Prefill: a chunk of 64 tokens through the gate projection.
  for (DType type : {DType::Q4_1, DType::Q8_0, DType::F16}) {
    for (MatmulPrecision precision : {MatmulPrecision::Exact, MatmulPrecision::Int8Activations}) {
      if (precision == MatmulPrecision::Int8Activations && !has_q8_dot(type)) continue;
      register_matmul(type, {1536, 576}, precision, 2, 64);
    }
  }
}

void BM_RmsNorm(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> x = random_activations(n, 3), w = random_activations(n, 4);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    rms_norm(x.data(), w.data(), n, 1e-5f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * 3 * int64_t(sizeof(float)));
}
BENCHMARK(BM_RmsNorm)->Arg(576)->Arg(4096);

void BM_SiluMul(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> gate = random_activations(n, 5), up = random_activations(n, 6);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    silu_mul(gate.data(), up.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * 3 * int64_t(sizeof(float)));
}
BENCHMARK(BM_SiluMul)->Arg(1536);

void BM_Softmax(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> logits = random_activations(n, 7);
  std::vector<float> x = logits;
  for (auto _ : state) {
    std::memcpy(x.data(), logits.data(), sizeof(float) * size_t(n));
    benchmark::DoNotOptimize(softmax(x.data(), n));
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * 2 * int64_t(sizeof(float)));
}
BENCHMARK(BM_Softmax)->Arg(4096);

void BM_QuantizeQ8(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> x = random_activations(n, 8);
  Q8Buffer buffer;
  for (auto _ : state) {
    const Q8Vector q = buffer.quantize(x.data(), n);
    benchmark::DoNotOptimize(q.q);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * int64_t(sizeof(float)));
}
BENCHMARK(BM_QuantizeQ8)->Arg(576)->Arg(1536);

}  // namespace
}  // namespace lim

int main(int argc, char** argv) {
  lim::register_matmuls();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
