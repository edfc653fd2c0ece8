// Elementwise and reduction kernels of the forward pass, on raw float arrays. The vector loops
// (rms_norm, silu_mul, softmax and the row kernels behind matmul) are compiled for AVX-512, AVX2
// and a portable version, and the best one for the CPU is chosen at run time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ops/quant.h"
#include "ops/thread_pool.h"

namespace lim {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], over n elements. out may alias x.
void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out);

// Rotary position embedding (RoFormer, arXiv 2104.09864) applied in place to one head vector.
// Only the first n_rot elements rotate; inv_freq contains n_rot / 2 inverse frequencies.
// Interleaved layout rotates pairs (2i, 2i+1), as llama.cpp stores Llama's Q and K; half layout
// rotates pairs (i, i + n_rot/2), as Hugging Face and Qwen do.
enum class RopeLayout { Interleaved, Half };
void rope(float* head, int64_t n_rot, const float* inv_freq, int64_t pos, RopeLayout layout);

// out[i] = silu(gate[i]) * up[i]. out may alias gate.
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax over n values; returns the maximum logit. -inf entries get probability 0.
float softmax(float* x, int64_t n);

// A weight matrix as stored: n_rows rows of n_cols elements of one type, row-major.
struct MatrixView {
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t n_rows = 0;
  int64_t n_cols = 0;
};

// Precision of the activations in matmul.
//   Exact: float dot products with the weights as stored.
//   Int8Activations: for the block types with has_q8_dot (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K), each
//     token's activation vector is quantized once to int8 blocks (quantize_q8), and every row
//     uses integer dot products. ops/quant.h gives the error bound. Float weights (F32, F16,
//     BF16) keep the exact path.
enum class MatmulPrecision { Exact, Int8Activations };

// Computes y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tokens; x is [n_tokens, n_cols], y is
// [n_tokens, n_rows]. Rows are split across the pool.
// With several tokens and Exact precision, weight rows are dequantized four at a time into
// per-thread scratch and reused for every token. With Int8Activations every token runs the same
// integer row kernel as a single token, so a batch gives the same results as one token at a time.
// That kernel decodes each row once per token, so for batches Exact is the faster choice.
// Scratch buffers are per thread and only grow, so a thread allocates only when it first meets a
// larger shape. One token needs no scratch for Exact, and only the calling thread's quantized
// vector for Int8Activations.
void matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulPrecision precision = MatmulPrecision::Exact);

// Computes ys[i] = ws[i] x for one token and up to kMaxSharedInput matrices that read the same
// input (a layer's Q, K and V projections, or its gate and up projections). The rows of all
// matrices are split across the pool in one parallel loop, and x is quantized once, which
// halves or thirds the loop overhead of a decode step's small products. Every matrix must
// have x's length as its column count. The results equal separate matmul calls exactly.
inline constexpr size_t kMaxSharedInput = 4;
void matmul_shared_input(std::span<const MatrixView* const> ws, const float* x, std::span<float* const> ys,
                         ThreadPool& pool, MatmulPrecision precision = MatmulPrecision::Exact);

}  // namespace lim
