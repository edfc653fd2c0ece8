// Type traits, half-precision conversions, and the float dot products and dequantization of every
// weight type, compiled once per SIMD target (this file is included again for each target by
// <hwy/foreach_target.h>).
#include "ops/quant.h"

#include <bit>
#include <cstring>

#include "common.h"
#include "ops/block_layout.h"

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/quant.cpp"
#include <hwy/foreach_target.h>
#include <hwy/highway.h>
// clang-format on

#include "ops/simd_common-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lim::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// At most 16 float lanes per step, so that a step never straddles two Q6_K groups of 16 elements
// or two Q4_0 / Q4_1 half-blocks.
using DF = hn::CappedTag<float, 16>;
using VF = hn::VFromD<DF>;
using DI = hn::RebindToSigned<DF>;
constexpr size_t kLanes = hn::MaxLanes(DF());

// ---- Element types: one value per element, no block scale ----

struct F32Elements {
  static constexpr int64_t kBytes = 4;
  static HWY_INLINE VF Load(DF df, const uint8_t* p) {
    return hn::LoadU(df, reinterpret_cast<const float*>(p));
  }
  static float LoadOne(const uint8_t* p) {
    float value;
    std::memcpy(&value, p, sizeof(value));
    return value;
  }
};

struct F16Elements {
  static constexpr int64_t kBytes = 2;
  static HWY_INLINE VF Load(DF df, const uint8_t* p) { return LoadF16(df, p); }
  static float LoadOne(const uint8_t* p) { return layout::half_to_float(layout::load_u16(p)); }
};

struct BF16Elements {
  static constexpr int64_t kBytes = 2;
  static HWY_INLINE VF Load(DF df, const uint8_t* p) { return LoadBF16(df, p); }
  static float LoadOne(const uint8_t* p) {
    return std::bit_cast<float>(uint32_t(layout::load_u16(p)) << 16);
  }
};

template <class E>
HWY_INLINE float DotElements(const uint8_t* row, const float* x, int64_t n) {
  const DF df;
  constexpr int64_t N = kLanes;
  // Four independent accumulators hide the latency of the multiply-adds.
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df), acc2 = hn::Zero(df), acc3 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    acc0 =
        hn::MulAdd(E::Load(df, row + (i + 0 * N) * E::kBytes), hn::LoadU(df, x + i + 0 * N), acc0);
    acc1 =
        hn::MulAdd(E::Load(df, row + (i + 1 * N) * E::kBytes), hn::LoadU(df, x + i + 1 * N), acc1);
    acc2 =
        hn::MulAdd(E::Load(df, row + (i + 2 * N) * E::kBytes), hn::LoadU(df, x + i + 2 * N), acc2);
    acc3 =
        hn::MulAdd(E::Load(df, row + (i + 3 * N) * E::kBytes), hn::LoadU(df, x + i + 3 * N), acc3);
  }
  for (; i + N <= n; i += N) {
    acc0 = hn::MulAdd(E::Load(df, row + i * E::kBytes), hn::LoadU(df, x + i), acc0);
  }
  float sum = ReduceSum(df, hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3)));
  // The tail is read one element at a time: a vector load could run past the end of the row.
  for (; i < n; ++i) sum += E::LoadOne(row + i * E::kBytes) * x[i];
  return sum;
}

template <class E>
HWY_INLINE void DequantizeElements(const uint8_t* row, float* out, int64_t n) {
  const DF df;
  constexpr int64_t N = kLanes;
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(E::Load(df, row + i * E::kBytes), df, out + i);
  for (; i < n; ++i) out[i] = E::LoadOne(row + i * E::kBytes);
}

// ---- Block types ----
//
// Each block type decodes kLanes elements at a time into float vectors. The dot products first
// sum quant * x over a block (or sub-block) and apply the block scale once, and alternate two
// accumulators between blocks so consecutive blocks do not wait on each other.

// Load elements j.. (low nibbles) and 16 + j.. (high nibbles) of a Q4_0 / Q4_1 block, minus bias.
HWY_INLINE VF Q4Low(const uint8_t* qs, size_t j, int bias) {
  const DF df;
  const DI di;
  return hn::ConvertTo(df,
                       hn::Sub(hn::And(LoadU8(di, qs + j), hn::Set(di, 0x0F)), hn::Set(di, bias)));
}
HWY_INLINE VF Q4High(const uint8_t* qs, size_t j, int bias) {
  const DF df;
  const DI di;
  return hn::ConvertTo(df, hn::Sub(hn::ShiftRight<4>(LoadU8(di, qs + j)), hn::Set(di, bias)));
}

// Returns sum_i q_i * x_i over one Q4_0 / Q4_1 block in float lanes, with q_i = nibble - bias.
HWY_INLINE VF Q4BlockSum(const uint8_t* qs, const float* x, int bias) {
  const DF df;
  VF sum = hn::Zero(df);
  for (size_t j = 0; j < 16; j += kLanes) {
    sum = hn::MulAdd(Q4Low(qs, j, bias), hn::LoadU(df, x + j), sum);
    sum = hn::MulAdd(Q4High(qs, j, bias), hn::LoadU(df, x + 16 + j), sum);
  }
  return sum;
}

// Runs acc = block(b, acc) for every block b, alternating two accumulators, and returns their sum.
template <class Block>
HWY_INLINE float AccumulateBlocks(int64_t n_blocks, const Block& block) {
  const DF df;
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t b = 0;
  for (; b + 2 <= n_blocks; b += 2) {
    acc0 = block(b, acc0);
    acc1 = block(b + 1, acc1);
  }
  if (b < n_blocks) acc0 = block(b, acc0);
  return ReduceSum(df, hn::Add(acc0, acc1));
}

HWY_INLINE float DotQ4_0(const uint8_t* row, const float* x, int64_t n) {
  const DF df;
  return AccumulateBlocks(n / 32, [&](int64_t b, VF acc) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ4_0Bytes;
    const VF sum = Q4BlockSum(block + 2, x + 32 * b, 8);
    return hn::MulAdd(hn::Set(df, LoadHalf(block)), sum, acc);
  });
}

// Returns d * sum q x + m * sum x over the blocks.
HWY_INLINE float DotQ4_1(const uint8_t* row, const float* x, int64_t n) {
  const DF df;
  return AccumulateBlocks(n / 32, [&](int64_t b, VF acc) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ4_1Bytes;
    const float* xb = x + 32 * b;
    const VF sum = Q4BlockSum(block + 4, xb, 0);
    VF x_sum = hn::Zero(df);
    for (size_t j = 0; j < 32; j += kLanes) x_sum = hn::Add(x_sum, hn::LoadU(df, xb + j));
    acc = hn::MulAdd(hn::Set(df, LoadHalf(block)), sum, acc);
    return hn::MulAdd(hn::Set(df, LoadHalf(block + 2)), x_sum, acc);
  });
}

HWY_INLINE VF Q8Values(const uint8_t* qs, size_t j) {
  const DF df;
  return hn::ConvertTo(df, LoadI8(DI(), reinterpret_cast<const int8_t*>(qs) + j));
}

HWY_INLINE float DotQ8_0(const uint8_t* row, const float* x, int64_t n) {
  const DF df;
  return AccumulateBlocks(n / 32, [&](int64_t b, VF acc) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ8_0Bytes;
    const float* xb = x + 32 * b;
    VF sum = hn::Zero(df);
    for (size_t j = 0; j < 32; j += kLanes) {
      sum = hn::MulAdd(Q8Values(block + 2, j), hn::LoadU(df, xb + j), sum);
    }
    return hn::MulAdd(hn::Set(df, LoadHalf(block)), sum, acc);
  });
}

// Factors of the 8 sub-blocks of a Q4_K block: element = scale[j] * nibble + offset[j].
struct Q4KFactors {
  float scale[8];
  float offset[8];

  explicit Q4KFactors(const uint8_t* block) {
    const float d = LoadHalf(block);
    const float dmin = LoadHalf(block + 2);
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      layout::q4_k_scale_min(block + 4, j, sc, m);
      scale[j] = d * float(sc);
      offset[j] = -(dmin * float(m));
    }
  }
};

HWY_INLINE float DotQ4_K(const uint8_t* row, const float* x, int64_t n) {
  const DF df;
  const DI di;
  return AccumulateBlocks(n / 256, [&](int64_t b, VF acc) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ4_KBytes;
    const uint8_t* qs = block + 16;
    const float* xb = x + 256 * b;
    const Q4KFactors f(block);
    for (int p = 0; p < 4; ++p) {
      const VF scale_lo = hn::Set(df, f.scale[2 * p]), offset_lo = hn::Set(df, f.offset[2 * p]);
      const VF scale_hi = hn::Set(df, f.scale[2 * p + 1]),
               offset_hi = hn::Set(df, f.offset[2 * p + 1]);
      VF sum_lo = hn::Zero(df), sum_hi = hn::Zero(df);
      for (size_t j = 0; j < 32; j += kLanes) {
        const auto v = LoadU8(di, qs + 32 * p + j);
        const VF lo = hn::ConvertTo(df, hn::And(v, hn::Set(di, 0x0F)));
        const VF hi = hn::ConvertTo(df, hn::ShiftRight<4>(v));
        sum_lo =
            hn::MulAdd(hn::MulAdd(lo, scale_lo, offset_lo), hn::LoadU(df, xb + 64 * p + j), sum_lo);
        sum_hi = hn::MulAdd(hn::MulAdd(hi, scale_hi, offset_hi),
                            hn::LoadU(df, xb + 64 * p + 32 + j), sum_hi);
      }
      acc = hn::Add(acc, hn::Add(sum_lo, sum_hi));
    }
    return acc;
  });
}

// Quants k = 0..3 of Q6_K half h at positions l.. (element 128h + 32k + l), minus 32, as int32
// lanes.
struct Q6KQuants {
  hn::VFromD<DI> q0, q1, q2, q3;

  HWY_INLINE Q6KQuants(const uint8_t* block, int h, size_t l) {
    const DI di;
    const auto lo = LoadU8(di, block + 64 * h + l);
    const auto hi = LoadU8(di, block + 64 * h + 32 + l);
    const auto top = LoadU8(di, block + 128 + 32 * h + l);
    const auto mask4 = hn::Set(di, 0x0F), mask2 = hn::Set(di, 3), bias = hn::Set(di, 32);
    q0 = hn::Sub(hn::Or(hn::And(lo, mask4), hn::ShiftLeft<4>(hn::And(top, mask2))), bias);
    q1 = hn::Sub(
        hn::Or(hn::And(hi, mask4), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(top), mask2))), bias);
    q2 = hn::Sub(
        hn::Or(hn::ShiftRight<4>(lo), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(top), mask2))),
        bias);
    q3 = hn::Sub(hn::Or(hn::ShiftRight<4>(hi), hn::ShiftLeft<4>(hn::ShiftRight<6>(top))), bias);
  }
};

HWY_INLINE float DotQ6_K(const uint8_t* row, const float* x, int64_t n) {
  const DF df;
  return AccumulateBlocks(n / 256, [&](int64_t b, VF acc) HWY_ATTR {
    const uint8_t* block = row + b * layout::kQ6_KBytes;
    const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
    const float d = LoadHalf(block + 208);
    const float* xb = x + 256 * b;
    VF acc1 = hn::Zero(df), acc2 = hn::Zero(df), acc3 = hn::Zero(df);
    for (int h = 0; h < 2; ++h) {
      for (size_t l = 0; l < 32; l += kLanes) {
        const Q6KQuants q(block, h, l);
        const int g = 8 * h + int(l / 16);  // the group of element 128h + l; k adds 2k
        const float* xh = xb + 128 * h + l;
        acc = hn::MulAdd(hn::Mul(hn::ConvertTo(df, q.q0), hn::Set(df, d * float(scales[g]))),
                         hn::LoadU(df, xh), acc);
        acc1 = hn::MulAdd(hn::Mul(hn::ConvertTo(df, q.q1), hn::Set(df, d * float(scales[g + 2]))),
                          hn::LoadU(df, xh + 32), acc1);
        acc2 = hn::MulAdd(hn::Mul(hn::ConvertTo(df, q.q2), hn::Set(df, d * float(scales[g + 4]))),
                          hn::LoadU(df, xh + 64), acc2);
        acc3 = hn::MulAdd(hn::Mul(hn::ConvertTo(df, q.q3), hn::Set(df, d * float(scales[g + 6]))),
                          hn::LoadU(df, xh + 96), acc3);
      }
    }
    return hn::Add(hn::Add(acc, acc1), hn::Add(acc2, acc3));
  });
}

// ---- Dequantization ----
// A half scale times a sub-block scale and a quant needs at most 23 significant bits, so these
// products are exact in float. Only the offset addition of Q4_1 and Q4_K rounds, once, fused into
// a multiply-add or not. So every target returns each layout value rounded to the nearest float.

HWY_INLINE void DequantizeQ4_0(const uint8_t* row, float* out, int64_t n) {
  const DF df;
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* block = row + b * layout::kQ4_0Bytes;
    const VF d = hn::Set(df, LoadHalf(block));
    float* o = out + 32 * b;
    for (size_t j = 0; j < 16; j += kLanes) {
      hn::StoreU(hn::Mul(d, Q4Low(block + 2, j, 8)), df, o + j);
      hn::StoreU(hn::Mul(d, Q4High(block + 2, j, 8)), df, o + 16 + j);
    }
  }
}

HWY_INLINE void DequantizeQ4_1(const uint8_t* row, float* out, int64_t n) {
  const DF df;
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* block = row + b * layout::kQ4_1Bytes;
    const VF d = hn::Set(df, LoadHalf(block));
    const VF m = hn::Set(df, LoadHalf(block + 2));
    float* o = out + 32 * b;
    for (size_t j = 0; j < 16; j += kLanes) {
      hn::StoreU(hn::MulAdd(d, Q4Low(block + 4, j, 0), m), df, o + j);
      hn::StoreU(hn::MulAdd(d, Q4High(block + 4, j, 0), m), df, o + 16 + j);
    }
  }
}

HWY_INLINE void DequantizeQ8_0(const uint8_t* row, float* out, int64_t n) {
  const DF df;
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* block = row + b * layout::kQ8_0Bytes;
    const VF d = hn::Set(df, LoadHalf(block));
    for (size_t j = 0; j < 32; j += kLanes) {
      hn::StoreU(hn::Mul(d, Q8Values(block + 2, j)), df, out + 32 * b + j);
    }
  }
}

HWY_INLINE void DequantizeQ4_K(const uint8_t* row, float* out, int64_t n) {
  const DF df;
  const DI di;
  for (int64_t b = 0; b < n / 256; ++b) {
    const uint8_t* block = row + b * layout::kQ4_KBytes;
    const uint8_t* qs = block + 16;
    const Q4KFactors f(block);
    float* o = out + 256 * b;
    for (int p = 0; p < 4; ++p) {
      for (size_t j = 0; j < 32; j += kLanes) {
        const auto v = LoadU8(di, qs + 32 * p + j);
        const VF lo = hn::ConvertTo(df, hn::And(v, hn::Set(di, 0x0F)));
        const VF hi = hn::ConvertTo(df, hn::ShiftRight<4>(v));
        hn::StoreU(hn::MulAdd(lo, hn::Set(df, f.scale[2 * p]), hn::Set(df, f.offset[2 * p])), df,
                   o + 64 * p + j);
        hn::StoreU(
            hn::MulAdd(hi, hn::Set(df, f.scale[2 * p + 1]), hn::Set(df, f.offset[2 * p + 1])), df,
            o + 64 * p + 32 + j);
      }
    }
  }
}

HWY_INLINE void DequantizeQ6_K(const uint8_t* row, float* out, int64_t n) {
  const DF df;
  for (int64_t b = 0; b < n / 256; ++b) {
    const uint8_t* block = row + b * layout::kQ6_KBytes;
    const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
    const float d = LoadHalf(block + 208);
    for (int h = 0; h < 2; ++h) {
      for (size_t l = 0; l < 32; l += kLanes) {
        const Q6KQuants q(block, h, l);
        const int g = 8 * h + int(l / 16);
        float* o = out + 256 * b + 128 * h + l;
        hn::StoreU(hn::Mul(hn::Set(df, d * float(scales[g])), hn::ConvertTo(df, q.q0)), df, o);
        hn::StoreU(hn::Mul(hn::Set(df, d * float(scales[g + 2])), hn::ConvertTo(df, q.q1)), df,
                   o + 32);
        hn::StoreU(hn::Mul(hn::Set(df, d * float(scales[g + 4])), hn::ConvertTo(df, q.q2)), df,
                   o + 64);
        hn::StoreU(hn::Mul(hn::Set(df, d * float(scales[g + 6])), hn::ConvertTo(df, q.q3)), df,
                   o + 96);
      }
    }
  }
}

// ---- Entry points, one per target ----

template <class Dot>
HWY_INLINE void ForEachRow(const uint8_t* rows, size_t stride, int64_t n_rows, float* y,
                           const Dot& dot) {
  for (int64_t r = 0; r < n_rows; ++r) y[r] = dot(rows + size_t(r) * stride);
}

void DotRowsF32(DType type, const uint8_t* rows, size_t stride, int64_t n_rows, const float* x,
                int64_t n, float* y) {
  switch (type) {
    case DType::F32:
      return ForEachRow(rows, stride, n_rows, y, [&](const uint8_t* r) HWY_ATTR {
        return DotElements<F32Elements>(r, x, n);
      });
    case DType::F16:
      return ForEachRow(rows, stride, n_rows, y, [&](const uint8_t* r) HWY_ATTR {
        return DotElements<F16Elements>(r, x, n);
      });
    case DType::BF16:
      return ForEachRow(rows, stride, n_rows, y, [&](const uint8_t* r) HWY_ATTR {
        return DotElements<BF16Elements>(r, x, n);
      });
    case DType::Q4_0:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ4_0(r, x, n); });
    case DType::Q4_1:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ4_1(r, x, n); });
    case DType::Q8_0:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ8_0(r, x, n); });
    case DType::Q4_K:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ4_K(r, x, n); });
    case DType::Q6_K:
      return ForEachRow(rows, stride, n_rows, y,
                        [&](const uint8_t* r) HWY_ATTR { return DotQ6_K(r, x, n); });
  }
}

void DequantizeRow(DType type, const uint8_t* row, float* out, int64_t n) {
  switch (type) {
    case DType::F32:
      return DequantizeElements<F32Elements>(row, out, n);
    case DType::F16:
      return DequantizeElements<F16Elements>(row, out, n);
    case DType::BF16:
      return DequantizeElements<BF16Elements>(row, out, n);
    case DType::Q4_0:
      return DequantizeQ4_0(row, out, n);
    case DType::Q4_1:
      return DequantizeQ4_1(row, out, n);
    case DType::Q8_0:
      return DequantizeQ8_0(row, out, n);
    case DType::Q4_K:
      return DequantizeQ4_K(row, out, n);
    case DType::Q6_K:
      return DequantizeQ6_K(row, out, n);
  }
}

}  // namespace lim::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lim {

namespace {

constexpr DType kSupportedTypes[] = {DType::F32,  DType::F16,  DType::Q4_0, DType::Q4_1,
                                     DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::BF16};

// Rounds `value >> shift` to nearest, ties to even. Requires 1 <= shift <= 31.
uint32_t shift_right_round_even(uint32_t value, int shift) {
  const uint32_t result = value >> shift;
  const uint32_t remainder = value & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  const bool round_up = remainder > half || (remainder == half && (result & 1));
  return result + (round_up ? 1 : 0);
}

// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Unlike
// layout::half_to_float, this keeps the payload of signaling nans unchanged.
float half_to_float_exact(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1F;
  const uint32_t mantissa = h & 0x3FF;

  if (exponent == 0x1F) {  // inf or nan, keeping the nan payload
    return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  }
  if (exponent != 0) {  // normal: rebias the exponent from 15 to 127
    return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }
  // Zero or subnormal: the value is mantissa * 2^-24, exact in float.
  const float magnitude = float(mantissa) * 0x1p-24f;
  return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
}

void check_row_length(DType type, int64_t n) {
  LIM_CHECK(n >= 0);
  LIM_CHECK(n % dtype_traits(type).block_size == 0);
}

}  // namespace

HWY_EXPORT(DotRowsF32);
HWY_EXPORT(DequantizeRow);

std::optional<DType> dtype_from_id(uint32_t id) {
  for (DType type : kSupportedTypes) {
    if (static_cast<uint32_t>(type) == id) return type;
  }
  return std::nullopt;
}

const DTypeTraits& dtype_traits(DType type) {
  static constexpr DTypeTraits kF32{"F32", 1, 4};
  static constexpr DTypeTraits kF16{"F16", 1, 2};
  static constexpr DTypeTraits kBF16{"BF16", 1, 2};
  static constexpr DTypeTraits kQ4_0{"Q4_0", layout::kSmallBlock, layout::kQ4_0Bytes};
  static constexpr DTypeTraits kQ4_1{"Q4_1", layout::kSmallBlock, layout::kQ4_1Bytes};
  static constexpr DTypeTraits kQ8_0{"Q8_0", layout::kSmallBlock, layout::kQ8_0Bytes};
  static constexpr DTypeTraits kQ4_K{"Q4_K", layout::kSuperBlock, layout::kQ4_KBytes};
  static constexpr DTypeTraits kQ6_K{"Q6_K", layout::kSuperBlock, layout::kQ6_KBytes};

  switch (type) {
    case DType::F32:
      return kF32;
    case DType::F16:
      return kF16;
    case DType::BF16:
      return kBF16;
    case DType::Q4_0:
      return kQ4_0;
    case DType::Q4_1:
      return kQ4_1;
    case DType::Q8_0:
      return kQ8_0;
    case DType::Q4_K:
      return kQ4_K;
    case DType::Q6_K:
      return kQ6_K;
  }
  LIM_CHECK(false && "DType value outside the enum");
  std::abort();
}

const char* dtype_name(DType type) { return dtype_traits(type).name; }

std::span<const DType> supported_dtypes() { return kSupportedTypes; }

size_t row_bytes(DType type, int64_t n) {
  check_row_length(type, n);
  const DTypeTraits& traits = dtype_traits(type);
  return size_t(n / traits.block_size) * size_t(traits.block_bytes);
}

void dequantize_row(DType type, const void* row, float* out, int64_t n) {
  check_row_length(type, n);
  HWY_DYNAMIC_DISPATCH(DequantizeRow)(type, static_cast<const uint8_t*>(row), out, n);
}

float dot_row(DType type, const void* row, const float* x, int64_t n) {
  float y = 0.0f;
  dot_rows(type, row, 0, 1, x, n, &y);
  return y;
}

void dot_rows(DType type, const void* rows, size_t row_stride, int64_t n_rows, const float* x,
              int64_t n, float* y) {
  check_row_length(type, n);
  LIM_CHECK(n_rows >= 0);
  HWY_DYNAMIC_DISPATCH(DotRowsF32)
  (type, static_cast<const uint8_t*>(rows), row_stride, n_rows, x, n, y);
}

float fp16_to_fp32(uint16_t h) { return half_to_float_exact(h); }

uint16_t fp32_to_fp16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  const uint32_t magnitude = bits & 0x7FFFFFFF;

  if (magnitude > 0x7F800000) {  // nan: quiet it and keep the top payload bits
    return uint16_t(sign | 0x7E00 | ((magnitude >> 13) & 0x3FF));
  }
  // 65520 (0x477FF000) lies halfway between 65504, the largest half, and 65536; the tie goes to
  // the even mantissa, which overflows to inf. Larger values and inf also give inf.
  if (magnitude >= 0x477FF000) return uint16_t(sign | 0x7C00);

  if (magnitude >= 0x38800000) {  // at least 2^-14, the smallest normal half
    // Rebias the exponent from 127 to 15 and drop 13 mantissa bits. A carry out of the mantissa
    // increments the exponent, which is the correctly rounded result.
    const uint32_t rebiased = magnitude - (uint32_t(127 - 15) << 23);
    return uint16_t(sign | shift_right_round_even(rebiased, 13));
  }

  // Subnormal half: the result is round(value * 2^24). With the implicit bit restored, the float
  // is significand * 2^(exponent - 150), so the result is significand >> (126 - exponent).
  const int exponent = int(magnitude >> 23);
  const int shift = 126 - exponent;
  if (shift > 24) return sign;  // below 2^-25, or a float subnormal: rounds to zero
  const uint32_t significand = (magnitude & 0x7FFFFF) | 0x800000;
  return uint16_t(sign | shift_right_round_even(significand, shift));
}

float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7FFFFFFF) > 0x7F800000) {  // nan: quiet it so truncation cannot make it inf
    return uint16_t((bits >> 16) | 0x0040);
  }
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest even; overflow carries into inf.
  const uint32_t rounding_bias = 0x7FFF + ((bits >> 16) & 1);
  return uint16_t((bits + rounding_bias) >> 16);
}

}  // namespace lim
#endif  // HWY_ONCE
