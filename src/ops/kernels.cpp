#include "ops/kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "ops/vector_inline.h"

namespace lim {

void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rope(float* head, int64_t n_rot, const float* inv_freq, int64_t pos, RopeLayout layout) {
  const int64_t half = n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float theta = static_cast<float>(pos) * inv_freq[i];
    const float c = std::cos(theta);
    const float s = std::sin(theta);
    const int64_t a = layout == RopeLayout::Interleaved ? 2 * i : i;
    const int64_t b = layout == RopeLayout::Interleaved ? 2 * i + 1 : i + half;
    const float x0 = head[a];
    const float x1 = head[b];
    head[a] = x0 * c - x1 * s;
    head[b] = x0 * s + x1 * c;
  }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

float softmax(float* x, int64_t n) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max_logit = std::max(max_logit, x[i]);
  if (!std::isfinite(max_logit)) {
    // Every entry is -inf (an empty selection): no mass anywhere.
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return max_logit;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_logit);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  return max_logit;
}

namespace {

// y[t][r] for every token t, from weight row r already dequantized to floats; compiled per x86
// level.
LIM_MULTIVERSION void dot_rows_batch(const float* row, const float* x, int64_t n_cols, int64_t n_tokens,
                                     int64_t n_rows, int64_t r, float* y) {
  for (int64_t t = 0; t < n_tokens; ++t) y[t * n_rows + r] = dot_f32(row, x + t * n_cols, n_cols);
}

}  // namespace

void matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const size_t stride = row_bytes(w.type, w.n_cols);
  const auto* base = static_cast<const uint8_t*>(w.data);

  if (n_tokens == 1) {
    pool.parallel_for(w.n_rows, [&](int64_t begin, int64_t end, int) {
      for (int64_t r = begin; r < end; ++r) y[r] = dot_row(w.type, base + r * stride, x, w.n_cols);
    });
    return;
  }

  pool.parallel_for(w.n_rows, [&](int64_t begin, int64_t end, int) {
    // Per-call scratch: prefill calls matmul a few hundred times per prompt, not per token.
    std::vector<float> row(static_cast<size_t>(w.n_cols));
    for (int64_t r = begin; r < end; ++r) {
      dequantize_row(w.type, base + r * stride, row.data(), w.n_cols);
      dot_rows_batch(row.data(), x, w.n_cols, n_tokens, w.n_rows, r, y);
    }
  });
}

}  // namespace lim
