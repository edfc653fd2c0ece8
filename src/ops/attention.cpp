// Attention kernels, compiled once per SIMD target by Highway's foreach_target and dispatched at
// run time. The per-target code is in lim::HWY_NAMESPACE; the exported wrappers are at the end.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/attention.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/cache_control.h>
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common.h"
#include "ops/attention.h"
#include "ops/simd_common-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lim {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Rows are widened into a float buffer of this many elements on the stack.
constexpr int64_t kMaxHeadDim = 1024;

HWY_INLINE float widen(float x) { return x; }
HWY_INLINE float widen(hwy::float16_t x) { return fp16_to_fp32(x.bits); }
HWY_INLINE float widen(hwy::bfloat16_t x) { return bf16_to_fp32(x.bits); }

// Widened loads, exact on every target (see LoadF16).
HWY_INLINE VF load_wide(DF df, const float* p) { return hn::LoadU(df, p); }
HWY_INLINE VF load_wide(DF df, const hwy::float16_t* p) { return LoadF16(df, reinterpret_cast<const uint8_t*>(p)); }
HWY_INLINE VF load_wide(DF df, const hwy::bfloat16_t* p) {
  return LoadBF16(df, reinterpret_cast<const uint8_t*>(p));
}

// Rows ahead of the current one whose cache lines are requested early. A selection's rows are
// scattered over the cache, where the hardware prefetcher, which follows sequential streams,
// does not fetch them, so without this every row would wait for main memory in turn.
constexpr int64_t kPrefetchRows = 8;

template <class T>
HWY_INLINE void prefetch_row(const T* row, int64_t head_dim) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(row);
  const int64_t n_bytes = head_dim * static_cast<int64_t>(sizeof(T));
  for (int64_t offset = 0; offset < n_bytes; offset += 64) hwy::Prefetch(bytes + offset);
}

// Returns the row as floats: the row itself for F32, else widened into buf.
template <class T>
HWY_INLINE const float* row_as_float(const T* row, int64_t n, float* HWY_RESTRICT buf) {
  if constexpr (std::is_same_v<T, float>) {
    return row;
  } else {
    const DF df;
    const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
    int64_t i = 0;
    for (; i + lanes <= n; i += lanes) hn::StoreU(load_wide(df, row + i), df, buf + i);
    for (; i < n; ++i) buf[i] = widen(row[i]);
    return buf;
  }
}

// v, when given, is the value cache: its rows are prefetched too, so that the pass over the
// values finds the scattered rows of a selection in the caches.
template <class T>
HWY_INLINE void logits_rows(const float* q, int64_t group, int64_t head_dim, const T* k, const T* v,
                            const int32_t* rows, int64_t begin, int64_t end, float scale,
                            float* logits, int64_t ld) {
  HWY_ALIGN float buf[kMaxHeadDim];
  for (int64_t j = begin; j < end; ++j) {
    const int64_t row = rows ? rows[j] : j;
    if (rows && j + kPrefetchRows < end) {
      prefetch_row(k + rows[j + kPrefetchRows] * head_dim, head_dim);
      if (v) prefetch_row(v + rows[j + kPrefetchRows] * head_dim, head_dim);
    }
    const float* kj = row_as_float(k + row * head_dim, head_dim, buf);
    for (int64_t h = 0; h < group; ++h) logits[h * ld + j] = DotF32(q + h * head_dim, kj, head_dim) * scale;
  }
}

// Writes p[j] = exp(l[j] - max) for one head's logits l[begin, end), and returns the max and
// the sum of p in max_out and sum_out. With no finite logit every p is 0 and the max is -inf.
HWY_INLINE void exp_shifted(const float* l, float* p, int64_t begin, int64_t end, float& max_out,
                            float& sum_out) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const float neg_inf = -std::numeric_limits<float>::infinity();

  float m = neg_inf;
  int64_t j = begin;
  if (end - begin >= lanes) {
    VF vmax = hn::Set(df, neg_inf);
    for (; j + lanes <= end; j += lanes) vmax = hn::Max(vmax, hn::LoadU(df, l + j));
    m = hn::GetLane(hn::MaxOfLanes(df, vmax));
  }
  for (; j < end; ++j) m = std::max(m, l[j]);

  max_out = m;
  if (!std::isfinite(m)) {
    for (j = begin; j < end; ++j) p[j] = 0.0f;
    sum_out = 0.0f;
    return;
  }
  const VF vm = hn::Set(df, m);
  VF vsum = hn::Zero(df);
  j = begin;
  for (; j + lanes <= end; j += lanes) {
    const VF e = hn::Exp(df, hn::Sub(hn::LoadU(df, l + j), vm));
    hn::StoreU(e, df, p + j);
    vsum = hn::Add(vsum, e);
  }
  float s = hn::GetLane(hn::SumOfLanes(df, vsum));
  for (; j < end; ++j) {
    p[j] = std::exp(l[j] - m);
    s += p[j];
  }
  sum_out = s;
}

// Computes acc[h] = sum_j p[h * ld + j] * v_row(j) over j in [begin, end).
template <class T>
HWY_INLINE void weighted_values(int64_t group, int64_t head_dim, const T* v, const int32_t* rows,
                                int64_t begin, int64_t end, const float* probs, int64_t ld,
                                float* acc) {
  HWY_ALIGN float buf[kMaxHeadDim];
  std::fill(acc, acc + group * head_dim, 0.0f);
  for (int64_t j = begin; j < end; ++j) {
    const int64_t row = rows ? rows[j] : j;
    if (rows && j + kPrefetchRows < end) prefetch_row(v + rows[j + kPrefetchRows] * head_dim, head_dim);
    const float* vj = row_as_float(v + row * head_dim, head_dim, buf);
    for (int64_t h = 0; h < group; ++h) Axpy(probs[h * ld + j], vj, acc + h * head_dim, head_dim);
  }
}

#if !HWY_HAVE_SCALABLE
// Blocked kernels for fixed-width vectors whose lane count kN divides head_dim (64, 128 and 256
// on every target). Instead of a dot product and an Axpy per (row, head), they reduce the
// partial dot products of kN rows together (reduce_rows), and keep the output accumulators of a
// tile of heads in registers over a block of rows (value_tile). Other head sizes and the
// scalable targets use the row-by-row kernels above.
constexpr int64_t kN = static_cast<int64_t>(hn::MaxLanes(DF()));

// Heads whose logits one pass over a block of K rows computes: one accumulator each.
constexpr int64_t kLogitHeads = 8;

// Value tiles: kValueHeads heads x kValueChunk vectors of accumulators, sized so that the
// accumulators, one chunk of a V row and the weights fit the 32 vector registers of AVX-512 or
// the 16 of the other targets.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr int64_t kValueChunk = 4;
constexpr int64_t kValueHeads = 6;
#else
constexpr int64_t kValueChunk = 2;
constexpr int64_t kValueHeads = 4;
#endif

// Rows per block of the value pass: the accumulators are loaded and stored once per block.
constexpr int64_t kValueBlock = 4 * kN;

// Returns the vector whose lane r is the sum of the lanes of row r, for the kN vectors of
// partial dot products at part + r * kN. Each step adds neighbouring lanes of two
// vectors and packs both results into one vector, halving the count: kN - 1 steps in all,
// where reducing each row on its own would take log2(kN) steps per row.
HWY_INLINE VF reduce_rows(DF df, const float* HWY_RESTRICT part) {
  VF v[kN];
  for (int64_t r = 0; r < kN; ++r) v[r] = hn::Load(df, part + r * kN);
#if HWY_TARGET != HWY_SCALAR
  for (int64_t count = kN; count > 1; count /= 2) {
    for (int64_t i = 0; i < count / 2; ++i) {
      v[i] = hn::Add(hn::ConcatEven(df, v[2 * i + 1], v[2 * i]), hn::ConcatOdd(df, v[2 * i + 1], v[2 * i]));
    }
  }
#endif
  return v[0];
}

// Logits of heads [h0, h0 + kH) for the rows of one block, row_ptr[0, count) with count <= kN:
// stores q_h . k_r * scale at logits[h * ld + j0 + r]. kV is head_dim / kN for the common
// sizes, so that the queries stay in registers, and 0 for the others, which read them from memory.
template <int kH, int kV, class T>
HWY_INLINE void logits_block(const float* q, int64_t head_dim, const T* const* row_ptr, int64_t count,
                             float scale, float* logits, int64_t ld, int64_t j0, int64_t h0) {
  const DF df;
  HWY_ALIGN float part[kH * kN * kN];
  if constexpr (kV > 0) {
    VF qv[kH][kV];
    for (int h = 0; h < kH; ++h) {
      for (int i = 0; i < kV; ++i) qv[h][i] = hn::LoadU(df, q + (h0 + h) * head_dim + i * kN);
    }
    for (int64_t r = 0; r < kN; ++r) {
      VF acc[kH];
      for (int h = 0; h < kH; ++h) acc[h] = hn::Zero(df);
      if (r < count) {
        const T* kr = row_ptr[r];
        for (int i = 0; i < kV; ++i) {
          const VF kv = load_wide(df, kr + i * kN);
          for (int h = 0; h < kH; ++h) acc[h] = hn::MulAdd(qv[h][i], kv, acc[h]);
        }
      }
      for (int h = 0; h < kH; ++h) hn::Store(acc[h], df, part + (h * kN + r) * kN);
    }
  } else {
    for (int64_t r = 0; r < kN; ++r) {
      VF acc[kH];
      for (int h = 0; h < kH; ++h) acc[h] = hn::Zero(df);
      if (r < count) {
        const T* kr = row_ptr[r];
        for (int64_t d = 0; d < head_dim; d += kN) {
          const VF kv = load_wide(df, kr + d);
          for (int h = 0; h < kH; ++h) acc[h] = hn::MulAdd(hn::LoadU(df, q + (h0 + h) * head_dim + d), kv, acc[h]);
        }
      }
      for (int h = 0; h < kH; ++h) hn::Store(acc[h], df, part + (h * kN + r) * kN);
    }
  }
  const VF vscale = hn::Set(df, scale);
  for (int h = 0; h < kH; ++h) {
    const VF l = hn::Mul(reduce_rows(df, part + h * kN * kN), vscale);
    float* dst = logits + (h0 + h) * ld + j0;
    if (count == kN) {
      hn::StoreU(l, df, dst);
    } else {
      HWY_ALIGN float tmp[kN];
      hn::Store(l, df, tmp);
      std::copy(tmp, tmp + count, dst);
    }
  }
}

template <int kV, class T>
HWY_INLINE void logits_block_heads(const float* q, int64_t group, int64_t head_dim, const T* const* row_ptr,
                                   int64_t count, float scale, float* logits, int64_t ld, int64_t j0) {
  static_assert(kLogitHeads == 8, "the switch below covers remainders of up to 7 heads");
  int64_t h0 = 0;
  for (; h0 + kLogitHeads <= group; h0 += kLogitHeads) {
    logits_block<kLogitHeads, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
  }
  switch (group - h0) {
    case 0: return;
    case 1: return logits_block<1, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
    case 2: return logits_block<2, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
    case 3: return logits_block<3, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
    case 4: return logits_block<4, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
    case 5: return logits_block<5, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
    case 6: return logits_block<6, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
    default: return logits_block<7, kV>(q, head_dim, row_ptr, count, scale, logits, ld, j0, h0);
  }
}

// Same contract as logits_rows.
template <class T>
HWY_INLINE void logits_blocked(const float* q, int64_t group, int64_t head_dim, const T* k, const T* v,
                               const int32_t* rows, int64_t begin, int64_t end, float scale, float* logits,
                               int64_t ld) {
  const T* row_ptr[kN];
  for (int64_t j0 = begin; j0 < end; j0 += kN) {
    const int64_t count = std::min(kN, end - j0);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t j = j0 + r;
      row_ptr[r] = k + (rows ? rows[j] : j) * head_dim;
      if (rows && j + kPrefetchRows < end) {
        prefetch_row(k + rows[j + kPrefetchRows] * head_dim, head_dim);
        if (v) prefetch_row(v + rows[j + kPrefetchRows] * head_dim, head_dim);
      }
    }
    switch (head_dim / kN) {
      case 4: logits_block_heads<4>(q, group, head_dim, row_ptr, count, scale, logits, ld, j0); break;
      case 8: logits_block_heads<8>(q, group, head_dim, row_ptr, count, scale, logits, ld, j0); break;
      default: logits_block_heads<0>(q, group, head_dim, row_ptr, count, scale, logits, ld, j0); break;
    }
  }
}

// acc[h][c0, c0 + kC * kN) += sum_r p[h][r] * v_r[c0, c0 + kC * kN) for heads [h0, h0 + kH) and
// the rows of one block, with the accumulators in registers.
template <int kH, int kC, class T>
HWY_INLINE void value_tile(int64_t head_dim, const T* const* row_ptr, int64_t count, const float* probs,
                           int64_t ld, int64_t j0, int64_t h0, int64_t c0, float* acc) {
  const DF df;
  VF a[kH][kC];
  for (int h = 0; h < kH; ++h) {
    for (int c = 0; c < kC; ++c) a[h][c] = hn::LoadU(df, acc + (h0 + h) * head_dim + c0 + c * kN);
  }
  for (int64_t r = 0; r < count; ++r) {
    const T* vr = row_ptr[r] + c0;
    VF p[kH];
    for (int h = 0; h < kH; ++h) p[h] = hn::Set(df, probs[(h0 + h) * ld + j0 + r]);
    for (int c = 0; c < kC; ++c) {
      const VF x = load_wide(df, vr + c * kN);
      for (int h = 0; h < kH; ++h) a[h][c] = hn::MulAdd(p[h], x, a[h][c]);
    }
  }
  for (int h = 0; h < kH; ++h) {
    for (int c = 0; c < kC; ++c) hn::StoreU(a[h][c], df, acc + (h0 + h) * head_dim + c0 + c * kN);
  }
}

template <int kH, class T>
HWY_INLINE void value_tiles(int64_t head_dim, const T* const* row_ptr, int64_t count, const float* probs,
                            int64_t ld, int64_t j0, int64_t h0, float* acc) {
  int64_t c0 = 0;
  for (; c0 + kValueChunk * kN <= head_dim; c0 += kValueChunk * kN) {
    value_tile<kH, kValueChunk>(head_dim, row_ptr, count, probs, ld, j0, h0, c0, acc);
  }
  for (; c0 < head_dim; c0 += kN) value_tile<kH, 1>(head_dim, row_ptr, count, probs, ld, j0, h0, c0, acc);
}

// Same contract as weighted_values.
template <class T>
HWY_INLINE void values_blocked(int64_t group, int64_t head_dim, const T* v, const int32_t* rows, int64_t begin,
                               int64_t end, const float* probs, int64_t ld, float* acc) {
  static_assert(kValueHeads >= 4 && kValueHeads <= 6, "the switch below covers remainders of up to 5 heads");
  std::fill(acc, acc + group * head_dim, 0.0f);
  const T* row_ptr[kValueBlock];
  for (int64_t j0 = begin; j0 < end; j0 += kValueBlock) {
    const int64_t count = std::min(kValueBlock, end - j0);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t j = j0 + r;
      row_ptr[r] = v + (rows ? rows[j] : j) * head_dim;
      if (rows && j + kPrefetchRows < end) prefetch_row(v + rows[j + kPrefetchRows] * head_dim, head_dim);
    }
    int64_t h0 = 0;
    for (; h0 + kValueHeads <= group; h0 += kValueHeads) {
      value_tiles<kValueHeads>(head_dim, row_ptr, count, probs, ld, j0, h0, acc);
    }
    switch (group - h0) {
      case 0: break;
      case 1: value_tiles<1>(head_dim, row_ptr, count, probs, ld, j0, h0, acc); break;
      case 2: value_tiles<2>(head_dim, row_ptr, count, probs, ld, j0, h0, acc); break;
      case 3: value_tiles<3>(head_dim, row_ptr, count, probs, ld, j0, h0, acc); break;
      case 4: value_tiles<4>(head_dim, row_ptr, count, probs, ld, j0, h0, acc); break;
      default: value_tiles<5>(head_dim, row_ptr, count, probs, ld, j0, h0, acc); break;
    }
  }
}

// Whether the blocked kernels apply: whole vectors per row.
HWY_INLINE bool blocked_shape(int64_t head_dim) { return head_dim % kN == 0; }
#else
HWY_INLINE bool blocked_shape(int64_t) { return false; }
#endif  // !HWY_HAVE_SCALABLE

// Logits of rows [begin, end) with either kernel; v as in logits_rows.
template <class T>
HWY_INLINE void logits_any(const float* q, int64_t group, int64_t head_dim, const T* k, const T* v,
                           const int32_t* rows, int64_t begin, int64_t end, float scale, float* logits,
                           int64_t ld) {
#if !HWY_HAVE_SCALABLE
  if (blocked_shape(head_dim)) return logits_blocked(q, group, head_dim, k, v, rows, begin, end, scale, logits, ld);
#endif
  logits_rows(q, group, head_dim, k, v, rows, begin, end, scale, logits, ld);
}

template <class T>
void attend_part_typed(const float* q, int64_t group, int64_t head_dim, const void* k, const void* v,
                       const int32_t* rows, int64_t begin, int64_t end, float scale, float* logits,
                       float* probs, int64_t ld, float* max, float* sum, float* acc) {
  const T* kt = static_cast<const T*>(k);
  const T* vt = static_cast<const T*>(v);
  logits_any(q, group, head_dim, kt, vt, rows, begin, end, scale, logits, ld);
  for (int64_t h = 0; h < group; ++h) exp_shifted(logits + h * ld, probs + h * ld, begin, end, max[h], sum[h]);
#if !HWY_HAVE_SCALABLE
  if (blocked_shape(head_dim)) return values_blocked(group, head_dim, vt, rows, begin, end, probs, ld, acc);
#endif
  weighted_values(group, head_dim, vt, rows, begin, end, probs, ld, acc);
}

void AttendRowsPart(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                    const void* v, const int32_t* rows, int64_t begin, int64_t end, float scale,
                    float* logits, float* probs, int64_t ld, float* max, float* sum, float* acc) {
  switch (kv_type) {
    case DType::F16:
      return attend_part_typed<hwy::float16_t>(q, group, head_dim, k, v, rows, begin, end, scale, logits, probs,
                                               ld, max, sum, acc);
    case DType::BF16:
      return attend_part_typed<hwy::bfloat16_t>(q, group, head_dim, k, v, rows, begin, end, scale, logits,
                                                probs, ld, max, sum, acc);
    default:
      return attend_part_typed<float>(q, group, head_dim, k, v, rows, begin, end, scale, logits, probs, ld,
                                      max, sum, acc);
  }
}

void AttentionLogits(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                     int64_t n, float scale, float* logits) {
  switch (kv_type) {
    case DType::F16:
      return logits_any<hwy::float16_t>(q, group, head_dim, static_cast<const hwy::float16_t*>(k), nullptr,
                                        nullptr, 0, n, scale, logits, n);
    case DType::BF16:
      return logits_any<hwy::bfloat16_t>(q, group, head_dim, static_cast<const hwy::bfloat16_t*>(k), nullptr,
                                         nullptr, 0, n, scale, logits, n);
    default:
      return logits_any<float>(q, group, head_dim, static_cast<const float*>(k), nullptr, nullptr, 0, n, scale,
                               logits, n);
  }
}

// Scales n values by alpha in place.
void Scale(float alpha, float* x, int64_t n) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const VF a = hn::Set(df, alpha);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Mul(a, hn::LoadU(df, x + i)), df, x + i);
  for (; i < n; ++i) x[i] *= alpha;
}

void AxpyRow(float alpha, const float* x, float* y, int64_t n) { Axpy(alpha, x, y, n); }

}  // namespace HWY_NAMESPACE
}  // namespace lim
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lim {

HWY_EXPORT(AttendRowsPart);
HWY_EXPORT(AttentionLogits);
HWY_EXPORT(Scale);
HWY_EXPORT(AxpyRow);

namespace {

void check_kv_args(DType kv_type, int64_t head_dim) {
  LIM_CHECK(is_kv_type(kv_type));
  LIM_CHECK(head_dim >= 1 && head_dim <= HWY_NAMESPACE::kMaxHeadDim);
}

}  // namespace

bool is_kv_type(DType type) { return type == DType::F32 || type == DType::F16 || type == DType::BF16; }

void store_kv_row(DType type, const float* x, void* row, int64_t n) {
  LIM_CHECK(is_kv_type(type));
  if (type == DType::F32) {
    std::memcpy(row, x, sizeof(float) * static_cast<size_t>(n));
    return;
  }
  auto* out = static_cast<uint16_t*>(row);
  for (int64_t i = 0; i < n; ++i) out[i] = type == DType::F16 ? fp32_to_fp16(x[i]) : fp32_to_bf16(x[i]);
}

void load_kv_row(DType type, const void* row, float* x, int64_t n) {
  LIM_CHECK(is_kv_type(type));
  dequantize_row(type, row, x, n);
}

void attend_rows_part(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                      const void* v, const int32_t* rows, int64_t begin, int64_t end, float scale,
                      float* logits, float* probs, int64_t ld, float* max, float* sum, float* acc) {
  check_kv_args(kv_type, head_dim);
  HWY_DYNAMIC_DISPATCH(AttendRowsPart)(q, group, head_dim, kv_type, k, v, rows, begin, end, scale, logits, probs,
                                       ld, max, sum, acc);
}

void attend_rows(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                 const void* v, const int32_t* rows, int64_t n, float scale, float* logits,
                 float* probs, float* out) {
  LIM_CHECK(n >= 1);
  check_kv_args(kv_type, head_dim);
  // One part over all rows, then normalization: probs become probabilities, out the average.
  constexpr int64_t kMaxGroup = 64;
  LIM_CHECK(group >= 1 && group <= kMaxGroup);
  float max[kMaxGroup];
  float sum[kMaxGroup];
  HWY_DYNAMIC_DISPATCH(AttendRowsPart)(q, group, head_dim, kv_type, k, v, rows, 0, n, scale, logits, probs, n,
                                       max, sum, out);
  for (int64_t h = 0; h < group; ++h) {
    // No finite logit (an empty selection): no mass, zero output, as softmax() does.
    const float inv = sum[h] > 0.0f ? 1.0f / sum[h] : 0.0f;
    HWY_DYNAMIC_DISPATCH(Scale)(inv, probs + h * n, n);
    HWY_DYNAMIC_DISPATCH(Scale)(inv, out + h * head_dim, head_dim);
  }
}

void combine_attention_parts(int64_t n_parts, int64_t group, int64_t head_dim, const float* max,
                             const float* sum, const float* acc, float* out) {
  for (int64_t h = 0; h < group; ++h) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < n_parts; ++p) m = std::max(m, max[p * group + h]);
    float* o = out + h * head_dim;
    std::fill(o, o + head_dim, 0.0f);
    if (!std::isfinite(m)) continue;  // no finite logit anywhere: no mass, zero output
    double total = 0.0;
    for (int64_t p = 0; p < n_parts; ++p) {
      const float part_max = max[p * group + h];
      if (!std::isfinite(part_max)) continue;
      const float weight = std::exp(part_max - m);
      total += static_cast<double>(weight) * sum[p * group + h];
      HWY_DYNAMIC_DISPATCH(AxpyRow)(weight, acc + (p * group + h) * head_dim, o, head_dim);
    }
    HWY_DYNAMIC_DISPATCH(Scale)(static_cast<float>(1.0 / total), o, head_dim);
  }
}

void attention_logits(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                      int64_t n, float scale, float* logits) {
  check_kv_args(kv_type, head_dim);
  HWY_DYNAMIC_DISPATCH(AttentionLogits)(q, group, head_dim, kv_type, k, n, scale, logits);
}

}  // namespace lim
#endif  // HWY_ONCE
