// Per-target helpers shared by the dynamically dispatched kernels. Included once per target by
// each kernel file after <hwy/foreach_target.h> (the include guard toggles with each target).
#if defined(LIM_OPS_SIMD_COMMON_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LIM_OPS_SIMD_COMMON_INL_H_
#undef LIM_OPS_SIMD_COMMON_INL_H_
#else
#define LIM_OPS_SIMD_COMMON_INL_H_
#endif

#include <hwy/highway.h>

#include <cstdint>

#include "ops/block_layout.h"

HWY_BEFORE_NAMESPACE();
namespace lim::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Converts a stored fp16 scale to float. x86 targets from AVX2 up have F16C, which converts in
// one instruction. Elsewhere the branchless integer conversion is exact too.
HWY_INLINE float LoadHalf(const uint8_t* p) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return _cvtsh_ss(layout::load_u16(p));
#else
  return layout::half_to_float(layout::load_u16(p));
#endif
}

// Returns the sum of all lanes.
template <class D>
HWY_INLINE hn::TFromD<D> ReduceSum(D d, hn::VFromD<D> v) {
  return hn::GetLane(hn::SumOfLanes(d, v));
}

// Loads Lanes(df) fp16 values (IEEE binary16 bit patterns at p) as floats, exactly.
template <class DF>
HWY_INLINE hn::VFromD<DF> LoadF16(DF df, const uint8_t* p) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p)));
#else
  // The portable fp16 promotion of Highway 1.0.3 (EMU128, SCALAR) turns inf and nan into finite
  // values, so these targets use the branchless conversion of layout::half_to_float per lane.
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint16_t, DF> du16;
  const auto w =
      hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p))));
  const auto sign = hn::And(w, hn::Set(du, 0x80000000u));
  const auto two_w = hn::Add(w, w);
  const auto normalized =
      hn::Mul(hn::BitCast(df, hn::Add(hn::ShiftRight<4>(two_w), hn::Set(du, 0xE0u << 23))),
              hn::Set(df, 0x1p-112f));
  const auto denormalized =
      hn::Sub(hn::BitCast(df, hn::Or(hn::ShiftRight<17>(two_w), hn::Set(du, 126u << 23))),
              hn::Set(df, 0.5f));
  const auto subnormal = hn::RebindMask(df, hn::Eq(hn::ShiftRight<27>(two_w), hn::Zero(du)));
  const auto magnitude = hn::IfThenElse(subnormal, denormalized, normalized);
  return hn::Or(magnitude, hn::BitCast(df, sign));
#endif
}

// Loads Lanes(df) bfloat16 values at p as floats: the bits become the top half of a float.
template <class DF>
HWY_INLINE hn::VFromD<DF> LoadBF16(DF df, const uint8_t* p) {
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint16_t, DF> du16;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(
                             du, hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p)))));
}

// Loads Lanes(d) bytes at p, zero-extended to the lanes of D (int16_t or int32_t).
template <class D>
HWY_INLINE hn::VFromD<D> LoadU8(D d, const uint8_t* p) {
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<uint8_t, D>(), p));
}

// Loads Lanes(d) int8 values at p, sign-extended to the lanes of D (int16_t or int32_t).
template <class D>
HWY_INLINE hn::VFromD<D> LoadI8(D d, const int8_t* p) {
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<int8_t, D>(), p));
}

// Returns sum_i a[i] * b[i] over n floats, for any n.
HWY_INLINE float DotF32(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, a + i + N), hn::LoadU(df, b + i + N), acc1);
  }
  for (; i + N <= n; i += N) acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
  float sum = ReduceSum(df, hn::Add(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Computes y[i] += alpha * x[i] over n floats, for any n.
HWY_INLINE void Axpy(float alpha, const float* x, float* y, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const auto va = hn::Set(df, alpha);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::MulAdd(va, hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, y + i);
  }
  for (; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace lim::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard toggle
