// Elementwise kernels, softmax and the matrix products of the forward pass. The vector loops are
// compiled once per SIMD target (this file is included again for each target by
// <hwy/foreach_target.h>). matmul itself only splits the work and calls dispatched row kernels.
#include "ops/kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/kernels.cpp"
#include <hwy/foreach_target.h>
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include "ops/simd_common-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lim::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::VFromD<DF>;

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  const DF df;
  const int64_t N = int64_t(hn::Lanes(df));
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const VF a = hn::LoadU(df, x + i), b = hn::LoadU(df, x + i + N);
    acc0 = hn::MulAdd(a, a, acc0);
    acc1 = hn::MulAdd(b, b, acc1);
  }
  for (; i + N <= n; i += N) {
    const VF a = hn::LoadU(df, x + i);
    acc0 = hn::MulAdd(a, a, acc0);
  }
  double sum_sq = ReduceSum(df, hn::Add(acc0, acc1));
  for (; i < n; ++i) sum_sq += double(x[i]) * x[i];

  const float scale = static_cast<float>(1.0 / std::sqrt(sum_sq / double(n) + eps));
  const VF vscale = hn::Set(df, scale);
  i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, x + i), vscale), hn::LoadU(df, weight + i)), df,
               out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

// Computes silu(g) * u with silu(g) = g * sigmoid(g). The sigmoid comes from e = exp(-|g|), which
// lies in (0, 1] and so cannot overflow: 1 / (1 + e) for g >= 0, e / (1 + e) for g < 0.
void SiluMul(const float* gate, const float* up, int64_t n, float* out) {
  const DF df;
  const int64_t N = int64_t(hn::Lanes(df));
  const VF one = hn::Set(df, 1.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF g = hn::LoadU(df, gate + i);
    const VF e = hn::Exp(df, hn::Neg(hn::Abs(g)));
    const VF numerator = hn::IfThenElse(hn::Lt(g, hn::Zero(df)), e, one);
    const VF sigmoid = hn::Div(numerator, hn::Add(one, e));
    hn::StoreU(hn::Mul(hn::Mul(g, sigmoid), hn::LoadU(df, up + i)), df, out + i);
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

float Softmax(float* x, int64_t n) {
  const DF df;
  const int64_t N = int64_t(hn::Lanes(df));
  float max_logit = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  if (n >= N) {
    VF vmax = hn::Set(df, max_logit);
    for (; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(df, x + i));
    max_logit = hn::GetLane(hn::MaxOfLanes(df, vmax));
  }
  for (; i < n; ++i) max_logit = std::max(max_logit, x[i]);
  if (!std::isfinite(max_logit)) {
    // Every entry is -inf (an empty selection): no mass anywhere.
    std::fill(x, x + n, 0.0f);
    return max_logit;
  }

  // exp(-inf - max) is 0, so masked entries get no mass.
  const VF vmax = hn::Set(df, max_logit);
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const VF a = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    const VF b = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i + N), vmax));
    hn::StoreU(a, df, x + i);
    hn::StoreU(b, df, x + i + N);
    acc0 = hn::Add(acc0, a);
    acc1 = hn::Add(acc1, b);
  }
  for (; i + N <= n; i += N) {
    const VF a = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    hn::StoreU(a, df, x + i);
    acc0 = hn::Add(acc0, a);
  }
  double sum = ReduceSum(df, hn::Add(acc0, acc1));
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max_logit);
    sum += x[i];
  }

  const float inv = static_cast<float>(1.0 / sum);
  const VF vinv = hn::Set(df, inv);
  i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vinv), df, x + i);
  for (; i < n; ++i) x[i] *= inv;
  return max_logit;
}

// ---- Prefill: float rows times a batch of tokens ----

// Computes y[t * ld + r] = w_r . x_t for rows r < 4 (w_r at w + r * n) and tokens t < 2 (x_t at
// x + t * n). Eight accumulators share each loaded weight and activation vector.
HWY_INLINE void Tile4x2(const float* w, const float* x, int64_t n, float* y, int64_t ld) {
  const DF df;
  const int64_t N = int64_t(hn::Lanes(df));
  const float *w0 = w, *w1 = w + n, *w2 = w + 2 * n, *w3 = w + 3 * n;
  const float *x0 = x, *x1 = x + n;
  VF a00 = hn::Zero(df), a10 = hn::Zero(df), a20 = hn::Zero(df), a30 = hn::Zero(df);
  VF a01 = hn::Zero(df), a11 = hn::Zero(df), a21 = hn::Zero(df), a31 = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const VF v0 = hn::LoadU(df, x0 + i), v1 = hn::LoadU(df, x1 + i);
    const VF r0 = hn::LoadU(df, w0 + i), r1 = hn::LoadU(df, w1 + i);
    const VF r2 = hn::LoadU(df, w2 + i), r3 = hn::LoadU(df, w3 + i);
    a00 = hn::MulAdd(r0, v0, a00);
    a10 = hn::MulAdd(r1, v0, a10);
    a20 = hn::MulAdd(r2, v0, a20);
    a30 = hn::MulAdd(r3, v0, a30);
    a01 = hn::MulAdd(r0, v1, a01);
    a11 = hn::MulAdd(r1, v1, a11);
    a21 = hn::MulAdd(r2, v1, a21);
    a31 = hn::MulAdd(r3, v1, a31);
  }
  float s[2][4] = {
      {ReduceSum(df, a00), ReduceSum(df, a10), ReduceSum(df, a20), ReduceSum(df, a30)},
      {ReduceSum(df, a01), ReduceSum(df, a11), ReduceSum(df, a21), ReduceSum(df, a31)}};
  for (; i < n; ++i) {
    for (int t = 0; t < 2; ++t) {
      for (int r = 0; r < 4; ++r) s[t][r] += w[r * n + i] * x[t * n + i];
    }
  }
  for (int t = 0; t < 2; ++t) {
    for (int r = 0; r < 4; ++r) y[t * ld + r] = s[t][r];
  }
}

// Computes y[t * ld + r] = w_r . x_t for r < n_w (at most 4 rows, w_r at w + r * n) and
// t < n_tokens.
void DotRowsTokens(const float* w, int64_t n_w, int64_t n, const float* x, int64_t n_tokens,
                   float* y, int64_t ld) {
  int64_t t = 0;
  if (n_w == 4) {
    for (; t + 2 <= n_tokens; t += 2) Tile4x2(w, x + t * n, n, y + t * ld, ld);
  }
  for (; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_w; ++r) y[t * ld + r] = DotF32(w + r * n, x + t * n, n);
  }
}

}  // namespace lim::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lim {

HWY_EXPORT(RmsNorm);
HWY_EXPORT(SiluMul);
HWY_EXPORT(Softmax);
HWY_EXPORT(DotRowsTokens);

void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(x, weight, n, eps, out);
}

// Each pair needs its own angle, so the cost is in cos and sin, which stay scalar for accuracy at
// large positions.
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
  HWY_DYNAMIC_DISPATCH(SiluMul)(gate, up, n, out);
}

float softmax(float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(Softmax)(x, n); }

namespace {

// Rows dequantized together in the batched float path: Tile4x2 reads four rows.
constexpr int64_t kRowGroup = 4;
// Rows handled per call in the batched int8 path, so the rows stay in cache across tokens.
constexpr int64_t kQ8RowGroup = 16;

// Grows a per-thread scratch vector to at least n elements and returns its data. It never
// shrinks, so once the largest shape has run, no call allocates.
template <class T>
T* grow(std::vector<T>& scratch, size_t n) {
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}

// Everything that the threads of one matmul need to run a range of rows.
struct MatmulJob {
  const MatrixView* w;
  const uint8_t* base;
  size_t stride;
  const float* x;
  Q8Vector xq;  // the quantized activations of every token, for the int8 path
  int64_t n_tokens;
  float* y;
  void (*rows)(const MatmulJob& job, int64_t begin, int64_t end);  // runs rows [begin, end)
};

void rows_exact_one_token(const MatmulJob& job, int64_t begin, int64_t end) {
  dot_rows(job.w->type, job.base + size_t(begin) * job.stride, job.stride, end - begin, job.x,
           job.w->n_cols, job.y + begin);
}

void rows_q8_one_token(const MatmulJob& job, int64_t begin, int64_t end) {
  dot_rows_q8(job.w->type, job.base + size_t(begin) * job.stride, job.stride, end - begin, job.xq,
              job.y + begin);
}

void rows_exact_batch(const MatmulJob& job, int64_t begin, int64_t end) {
  thread_local std::vector<float> scratch;
  const int64_t n_cols = job.w->n_cols;
  float* rows = grow(scratch, size_t(kRowGroup * n_cols));
  for (int64_t r = begin; r < end; r += kRowGroup) {
    const int64_t n_w = std::min(kRowGroup, end - r);
    for (int64_t k = 0; k < n_w; ++k) {
      dequantize_row(job.w->type, job.base + size_t(r + k) * job.stride, rows + k * n_cols, n_cols);
    }
    HWY_DYNAMIC_DISPATCH(DotRowsTokens)
    (rows, n_w, n_cols, job.x, job.n_tokens, job.y + r, job.w->n_rows);
  }
}

void rows_q8_batch(const MatmulJob& job, int64_t begin, int64_t end) {
  const int64_t n_cols = job.w->n_cols;
  float out[kQ8RowGroup];
  for (int64_t r = begin; r < end; r += kQ8RowGroup) {
    const int64_t n_w = std::min(kQ8RowGroup, end - r);
    for (int64_t t = 0; t < job.n_tokens; ++t) {
      dot_rows_q8(job.w->type, job.base + size_t(r) * job.stride, job.stride, n_w,
                  job.xq.slice(t * n_cols, n_cols), out);
      std::copy(out, out + n_w, job.y + t * job.w->n_rows + r);
    }
  }
}

}  // namespace

void matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
            MatmulPrecision precision) {
  LIM_CHECK(n_tokens >= 0);
  MatmulJob job{
      &w,     static_cast<const uint8_t*>(w.data), row_bytes(w.type, w.n_cols), x, {}, n_tokens, y,
      nullptr};
  if (n_tokens == 0 || w.n_rows == 0) return;

  const bool int8 = precision == MatmulPrecision::Int8Activations && has_q8_dot(w.type);
  if (int8) {
    // Quantized once on the calling thread, which waits inside parallel_for while the workers read
    // its buffer.
    thread_local Q8Buffer buffer;
    job.xq = buffer.quantize(x, n_tokens * w.n_cols);
  }

  if (n_tokens == 1) {
    job.rows = int8 ? rows_q8_one_token : rows_exact_one_token;
  } else {
    job.rows = int8 ? rows_q8_batch : rows_exact_batch;
  }
  pool.parallel_for(w.n_rows,
                    [&job](int64_t begin, int64_t end, int) { job.rows(job, begin, end); });
}

void matmul_shared_input(std::span<const MatrixView* const> ws, const float* x, std::span<float* const> ys,
                         ThreadPool& pool, MatmulPrecision precision) {
  LIM_CHECK(ws.size() == ys.size() && ws.size() <= kMaxSharedInput);
  if (ws.empty()) return;
  const int64_t n_cols = ws[0]->n_cols;

  bool any_int8 = false;
  for (const MatrixView* w : ws) {
    LIM_CHECK(w->n_cols == n_cols);
    any_int8 = any_int8 || (precision == MatmulPrecision::Int8Activations && has_q8_dot(w->type));
  }
  Q8Vector xq{};
  if (any_int8) {
    thread_local Q8Buffer buffer;
    xq = buffer.quantize(x, n_cols);
  }

  // Matrix i owns rows [first[i], first[i + 1]) of the combined loop.
  MatmulJob jobs[kMaxSharedInput];
  int64_t first[kMaxSharedInput + 1] = {0};
  for (size_t i = 0; i < ws.size(); ++i) {
    const MatrixView& w = *ws[i];
    const bool int8 = precision == MatmulPrecision::Int8Activations && has_q8_dot(w.type);
    jobs[i] = MatmulJob{&w,    static_cast<const uint8_t*>(w.data), row_bytes(w.type, w.n_cols), x, xq, 1, ys[i],
                        int8 ? rows_q8_one_token : rows_exact_one_token};
    first[i + 1] = first[i] + w.n_rows;
  }
  const size_t n = ws.size();
  pool.parallel_for(first[n], [&](int64_t begin, int64_t end, int) {
    for (size_t i = 0; i < n; ++i) {
      const int64_t lo = std::max(begin, first[i]);
      const int64_t hi = std::min(end, first[i + 1]);
      if (lo < hi) jobs[i].rows(jobs[i], lo - first[i], hi - first[i]);
    }
  });
}

}  // namespace lim
#endif  // HWY_ONCE
