// Int8 activations: quantization of a float vector into blocks of 32 int8 values, and integer dot
// products of the block weight types with such a vector. Compiled once per SIMD target (this file
// is included again for each target by <hwy/foreach_target.h>).
//
// Weights and activations are widened to int16 and multiplied pairwise into int32 lanes
// (ReorderWidenMulAccumulate), so each block's sum of products is exact. Floats enter once per
// block of 32, to apply the product of the two scales.
//
// Vectors hold at most 16 int16 lanes (256 bits), also on AVX-512. On the Zen 4 machine this was
// tuned on, 512-bit vectors made Q4_0 and Q4_1 about 20% slower, probably because they need a
// lane-crossing shuffle per block and Zen 4 executes 512-bit operations as two 256-bit halves.
#include <cstring>

#include "common.h"
#include "ops/block_layout.h"
#include "ops/quant.h"

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/quant_int8.cpp"
#include <hwy/foreach_target.h>
#include <hwy/highway.h>
// clang-format on

#include "ops/simd_common-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lim::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 int16 lanes (half a block) per vector; see the note at the top.
using D16 = hn::CappedTag<int16_t, 16>;
using V16 = hn::VFromD<D16>;
using D32 = hn::Repartition<int32_t, D16>;
using V32 = hn::VFromD<D32>;
using DF = hn::Repartition<float, D16>;
using VF = hn::VFromD<DF>;
constexpr size_t kLanes16 = hn::MaxLanes(D16());
// The weight loaders below assume that a vector never straddles two halves of a block.
static_assert(16 % kLanes16 == 0);

// ---- Quantization ----

void QuantizeQ8(const float* x, int64_t n, int8_t* q, float* d, float* sum) {
  using DX = hn::CappedTag<float, 32>;
  const DX dx;
  const hn::RebindToSigned<DX> di;
  const hn::Rebind<int8_t, DX> d8;
  constexpr size_t N = hn::MaxLanes(DX());
  for (int64_t b = 0; b < n / kQ8Block; ++b) {
    const float* xb = x + kQ8Block * b;
    auto max_abs = hn::Zero(dx);
    for (size_t j = 0; j < kQ8Block; j += N)
      max_abs = hn::Max(max_abs, hn::Abs(hn::LoadU(dx, xb + j)));
    const float amax = hn::GetLane(hn::MaxOfLanes(dx, max_abs));
    const float scale = amax / 127.0f;
    const auto inverse = hn::Set(dx, scale > 0.0f ? 1.0f / scale : 0.0f);
    auto q_sum = hn::Zero(di);
    for (size_t j = 0; j < kQ8Block; j += N) {
      // NearestInt rounds to nearest even, and |x / scale| <= 127 keeps the result in int8.
      const auto qi = hn::NearestInt(hn::Mul(hn::LoadU(dx, xb + j), inverse));
      q_sum = hn::Add(q_sum, qi);
      hn::StoreU(hn::DemoteTo(d8, qi), d8, q + kQ8Block * b + j);
    }
    d[b] = scale;
    sum[b] = scale * float(ReduceSum(di, q_sum));
  }
}

// ---- Weight quants as int16 lanes ----

// Loads elements e.. of a Q4_0 / Q4_1 block as int16. Byte j contains element j in its low nibble
// and element j + 16 in its high nibble.
HWY_INLINE V16 Q4Nibbles(const uint8_t* qs, size_t e) {
  const D16 d16;
  if (e < 16) return hn::And(LoadU8(d16, qs + e), hn::Set(d16, 0x0F));
  return hn::ShiftRight<4>(LoadU8(d16, qs + e - 16));
}

// Returns the Q6_K sub-block scales for elements e.. of the 32 elements that start at group g
// (groups g and g + 1 contain 16 elements each).
HWY_INLINE V16 Q6Scales(const int8_t* scales, int g, size_t e) {
  return hn::Set(D16(), scales[g + int(e / 16)]);
}

// Returns sum_i w_i * a_i over one block of 32 in int32 lanes. weights(e) returns the int16
// weights of elements e.., and a points to the block's activation quants.
template <class Weights>
HWY_INLINE V32 BlockDot(const Weights& weights, const int8_t* a) {
  const D16 d16;
  const D32 d32;
  V32 sum0 = hn::Zero(d32), sum1 = hn::Zero(d32);
  for (size_t e = 0; e < kQ8Block; e += kLanes16) {
    sum0 = hn::ReorderWidenMulAccumulate(d32, weights(e), LoadI8(d16, a + e), sum0, sum1);
  }
  // EMU128 puts the odd products into sum1, x86 adds all into sum0. Only the lane total matters.
  return hn::Add(sum0, sum1);
}

// Runs block(b, acc, offset) for every block b and returns the sum of the vector and scalar
// accumulators. Two sets of accumulators alternate between blocks, so that consecutive blocks do
// not wait on each other's additions.
template <class Block>
HWY_INLINE float AccumulateBlocks(int64_t n_blocks, const Block& block) {
  const DF df;
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  float offset0 = 0.0f, offset1 = 0.0f;
  int64_t b = 0;
  for (; b + 2 <= n_blocks; b += 2) {
    acc0 = block(b, acc0, offset0);
    acc1 = block(b + 1, acc1, offset1);
  }
  if (b < n_blocks) acc0 = block(b, acc0, offset0);
  return ReduceSum(df, hn::Add(acc0, acc1)) + (offset0 + offset1);
}

// ---- Dot products per weight type ----

HWY_INLINE float DotQ4_0(const uint8_t* row, const Q8Vector& x) {
  const D16 d16;
  const DF df;
  return AccumulateBlocks(x.n / 32, [&](int64_t b, VF acc, float& offset) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ4_0Bytes;
    const V32 dot = BlockDot(
        [&](size_t e) HWY_ATTR { return hn::Sub(Q4Nibbles(block + 2, e), hn::Set(d16, 8)); },
        x.q + 32 * b);
    return hn::MulAdd(hn::Set(df, LoadHalf(block) * x.d[b]), hn::ConvertTo(df, dot), acc);
  });
}

// Returns the sum over blocks of d * dx * sum q qx + m * sum_x, where sum_x = dx * sum qx is
// stored with the vector.
HWY_INLINE float DotQ4_1(const uint8_t* row, const Q8Vector& x) {
  const DF df;
  return AccumulateBlocks(x.n / 32, [&](int64_t b, VF acc, float& offset) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ4_1Bytes;
    const V32 dot =
        BlockDot([&](size_t e) HWY_ATTR { return Q4Nibbles(block + 4, e); }, x.q + 32 * b);
    offset += LoadHalf(block + 2) * x.sum[b];
    return hn::MulAdd(hn::Set(df, LoadHalf(block) * x.d[b]), hn::ConvertTo(df, dot), acc);
  });
}

HWY_INLINE float DotQ8_0(const uint8_t* row, const Q8Vector& x) {
  const D16 d16;
  const DF df;
  return AccumulateBlocks(x.n / 32, [&](int64_t b, VF acc, float& offset) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ8_0Bytes;
    const int8_t* qs = reinterpret_cast<const int8_t*>(block + 2);
    const V32 dot = BlockDot([&](size_t e) HWY_ATTR { return LoadI8(d16, qs + e); }, x.q + 32 * b);
    return hn::MulAdd(hn::Set(df, LoadHalf(block) * x.d[b]), hn::ConvertTo(df, dot), acc);
  });
}

// Sub-block j of a Q4_K block is activation block 8b + j. Element = d * scale * nibble - dmin *
// min, so the sub-block contributes d * scale * dx * sum nibble qx - dmin * min * sum_x.
HWY_INLINE float DotQ4_K(const uint8_t* row, const Q8Vector& x) {
  const D16 d16;
  const D32 d32;
  const DF df;
  return AccumulateBlocks(x.n / 256, [&](int64_t b, VF acc, float& offset) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ4_KBytes;
    const uint8_t* qs = block + 16;
    const float d = LoadHalf(block);
    const float dmin = LoadHalf(block + 2);
    const int8_t* a = x.q + 256 * b;
    const float* xd = x.d + 8 * b;
    const float* xsum = x.sum + 8 * b;
    float min_sum = 0.0f;
    for (int p = 0; p < 4; ++p) {
      V32 lo0 = hn::Zero(d32), lo1 = hn::Zero(d32), hi0 = hn::Zero(d32), hi1 = hn::Zero(d32);
      for (size_t e = 0; e < 32; e += kLanes16) {
        const V16 v = LoadU8(d16, qs + 32 * p + e);
        lo0 = hn::ReorderWidenMulAccumulate(d32, hn::And(v, hn::Set(d16, 0x0F)),
                                            LoadI8(d16, a + 64 * p + e), lo0, lo1);
        hi0 = hn::ReorderWidenMulAccumulate(d32, hn::ShiftRight<4>(v),
                                            LoadI8(d16, a + 64 * p + 32 + e), hi0, hi1);
      }
      int sc_lo, m_lo, sc_hi, m_hi;
      layout::q4_k_scale_min(block + 4, 2 * p, sc_lo, m_lo);
      layout::q4_k_scale_min(block + 4, 2 * p + 1, sc_hi, m_hi);
      acc = hn::MulAdd(hn::Set(df, d * float(sc_lo) * xd[2 * p]),
                       hn::ConvertTo(df, hn::Add(lo0, lo1)), acc);
      acc = hn::MulAdd(hn::Set(df, d * float(sc_hi) * xd[2 * p + 1]),
                       hn::ConvertTo(df, hn::Add(hi0, hi1)), acc);
      min_sum += float(m_lo) * xsum[2 * p] + float(m_hi) * xsum[2 * p + 1];
    }
    offset -= dmin * min_sum;
    return acc;
  });
}

// Activation block 8b + 4h + k holds Q6_K elements 128h + 32k + l, l < 32. The sub-block scales
// (one per 16 elements) multiply the 6-bit quants in int16: |scale * (q - 32)| <= 4096.
HWY_INLINE float DotQ6_K(const uint8_t* row, const Q8Vector& x) {
  const D16 d16;
  const D32 d32;
  const DF df;
  return AccumulateBlocks(x.n / 256, [&](int64_t b, VF acc, float& offset) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ6_KBytes;
    const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
    const float d = LoadHalf(block + 208);
    for (int h = 0; h < 2; ++h) {
      V32 s0 = hn::Zero(d32), s1 = hn::Zero(d32), s2 = hn::Zero(d32), s3 = hn::Zero(d32);
      V32 t0 = hn::Zero(d32), t1 = hn::Zero(d32), t2 = hn::Zero(d32), t3 = hn::Zero(d32);
      const int8_t* a = x.q + 256 * b + 128 * h;
      for (size_t e = 0; e < 32; e += kLanes16) {
        const V16 lo = LoadU8(d16, block + 64 * h + e);
        const V16 hi = LoadU8(d16, block + 64 * h + 32 + e);
        const V16 top = LoadU8(d16, block + 128 + 32 * h + e);
        const V16 mask4 = hn::Set(d16, 0x0F), mask2 = hn::Set(d16, 3), bias = hn::Set(d16, 32);
        const V16 q0 =
            hn::Sub(hn::Or(hn::And(lo, mask4), hn::ShiftLeft<4>(hn::And(top, mask2))), bias);
        const V16 q1 = hn::Sub(
            hn::Or(hn::And(hi, mask4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(top), mask2))),
            bias);
        const V16 q2 = hn::Sub(
            hn::Or(hn::ShiftRight<4>(lo), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(top), mask2))),
            bias);
        const V16 q3 =
            hn::Sub(hn::Or(hn::ShiftRight<4>(hi), hn::ShiftLeft<4>(hn::ShiftRight<6>(top))), bias);
        const int g = 8 * h;
        s0 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q0, Q6Scales(scales, g + 0, e)),
                                           LoadI8(d16, a + e), s0, t0);
        s1 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q1, Q6Scales(scales, g + 2, e)),
                                           LoadI8(d16, a + 32 + e), s1, t1);
        s2 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q2, Q6Scales(scales, g + 4, e)),
                                           LoadI8(d16, a + 64 + e), s2, t2);
        s3 = hn::ReorderWidenMulAccumulate(d32, hn::Mul(q3, Q6Scales(scales, g + 6, e)),
                                           LoadI8(d16, a + 96 + e), s3, t3);
      }
      const float* xd = x.d + 8 * b + 4 * h;
      acc = hn::MulAdd(hn::Set(df, d * xd[0]), hn::ConvertTo(df, hn::Add(s0, t0)), acc);
      acc = hn::MulAdd(hn::Set(df, d * xd[1]), hn::ConvertTo(df, hn::Add(s1, t1)), acc);
      acc = hn::MulAdd(hn::Set(df, d * xd[2]), hn::ConvertTo(df, hn::Add(s2, t2)), acc);
      acc = hn::MulAdd(hn::Set(df, d * xd[3]), hn::ConvertTo(df, hn::Add(s3, t3)), acc);
    }
    return acc;
  });
}

// ---- Entry point, one per target ----

template <class Dot>
HWY_INLINE void ForEachRow(const uint8_t* rows, size_t stride, int64_t n_rows, float* y,
                           const Dot& dot) {
  for (int64_t r = 0; r < n_rows; ++r) y[r] = dot(rows + size_t(r) * stride);
}

void DotRowsQ8(DType type, const uint8_t* rows, size_t stride, int64_t n_rows, const Q8Vector& x,
               float* y) {
  switch (type) {
    case DType::Q4_0:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ4_0(r, x); });
    case DType::Q4_1:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ4_1(r, x); });
    case DType::Q8_0:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ8_0(r, x); });
    case DType::Q4_K:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ4_K(r, x); });
    case DType::Q6_K:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ6_K(r, x); });
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      break;  // excluded by has_q8_dot
  }
}

}  // namespace lim::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lim {

HWY_EXPORT(QuantizeQ8);
HWY_EXPORT(DotRowsQ8);

Q8Vector Q8Vector::slice(int64_t begin, int64_t count) const {
  LIM_CHECK(begin >= 0 && count >= 0 && begin + count <= n);
  LIM_CHECK(begin % kQ8Block == 0 && count % kQ8Block == 0);
  return Q8Vector{q + begin, d + begin / kQ8Block, sum + begin / kQ8Block, count};
}

void quantize_q8(const float* x, int64_t n, int8_t* q, float* d, float* sum) {
  LIM_CHECK(n >= 0 && n % kQ8Block == 0);
  HWY_DYNAMIC_DISPATCH(QuantizeQ8)(x, n, q, d, sum);
}

Q8Vector Q8Buffer::quantize(const float* x, int64_t n) {
  LIM_CHECK(n >= 0 && n % kQ8Block == 0);
  const size_t n_blocks = size_t(n / kQ8Block);
  if (q_.size() < size_t(n)) q_.resize(size_t(n));
  if (d_.size() < n_blocks) {
    d_.resize(n_blocks);
    sum_.resize(n_blocks);
  }
  quantize_q8(x, n, q_.data(), d_.data(), sum_.data());
  return Q8Vector{q_.data(), d_.data(), sum_.data(), n};
}

bool has_q8_dot(DType type) {
  switch (type) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q8_0:
    case DType::Q4_K:
    case DType::Q6_K:
      return true;
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      return false;
  }
  return false;
}

float dot_row_q8(DType type, const void* row, const Q8Vector& x) {
  float y = 0.0f;
  dot_rows_q8(type, row, 0, 1, x, &y);
  return y;
}

void dot_rows_q8(DType type, const void* rows, size_t row_stride, int64_t n_rows, const Q8Vector& x,
                 float* y) {
  LIM_CHECK(has_q8_dot(type));
  LIM_CHECK(x.n >= 0 && x.n % dtype_traits(type).block_size == 0);
  LIM_CHECK(n_rows >= 0);
  HWY_DYNAMIC_DISPATCH(DotRowsQ8)
  (type, static_cast<const uint8_t*>(rows), row_stride, n_rows, x, y);
}

}  // namespace lim
#endif  // HWY_ONCE
