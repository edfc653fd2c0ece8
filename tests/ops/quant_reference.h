// Scalar references for the weight kernels, written from the block layouts (ggml-common.h,
// quantization version 2) without calling the code under test: exact weight values in double
// precision, random rows, and the int8 activation quantization.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "ops/quant.h"

namespace lim::test {

using Bytes = std::vector<uint8_t>;

inline uint16_t get_u16(const uint8_t* p) {
  uint16_t value;
  std::memcpy(&value, p, 2);
  return value;
}

inline void put_u16(Bytes& bytes, size_t offset, uint16_t value) {
  std::memcpy(bytes.data() + offset, &value, 2);
}

// The exact value of a finite binary16 number, computed from its fields.
inline double half_value(uint16_t h) {
  const int sign = h >> 15;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
}

inline double bf16_value(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// One stored weight as scale * q + offset, with q the integer quant of block types (the value
// itself, with scale 1, for the float types).
struct RefWeight {
  double scale = 1.0;
  double q = 0.0;
  double offset = 0.0;

  double value() const { return scale * q + offset; }
  // The size of the terms, for rounding tolerances when they cancel.
  double magnitude() const { return std::abs(scale * q) + std::abs(offset); }
};

// Decodes a row of n elements. Every value is exact in double: halves have 11 significant bits,
// 6-bit scales and quants add at most 14 more.
inline std::vector<RefWeight> reference_decode(DType type, const uint8_t* row, int64_t n) {
  std::vector<RefWeight> w(static_cast<size_t>(n));
  auto at = [&](int64_t i) -> RefWeight& { return w[static_cast<size_t>(i)]; };
  switch (type) {
    case DType::F32:
      for (int64_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, row + 4 * i, 4);
        at(i).q = f;
      }
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) at(i).q = half_value(get_u16(row + 2 * i));
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) at(i).q = bf16_value(get_u16(row + 2 * i));
      break;
    case DType::Q4_0:
    case DType::Q4_1: {
      const int64_t bytes = type == DType::Q4_0 ? 18 : 20;
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* block = row + b * bytes;
        const double d = half_value(get_u16(block));
        const double m = type == DType::Q4_1 ? half_value(get_u16(block + 2)) : 0.0;
        const uint8_t* qs = block + (type == DType::Q4_0 ? 2 : 4);
        const int bias = type == DType::Q4_0 ? 8 : 0;
        for (int j = 0; j < 16; ++j) {
          at(32 * b + j) = {d, double((qs[j] & 0x0F) - bias), m};
          at(32 * b + 16 + j) = {d, double((qs[j] >> 4) - bias), m};
        }
      }
      break;
    }
    case DType::Q8_0:
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* block = row + b * 34;
        const double d = half_value(get_u16(block));
        for (int j = 0; j < 32; ++j) at(32 * b + j) = {d, double(int8_t(block[2 + j])), 0.0};
      }
      break;
    case DType::Q4_K:
      for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* block = row + b * 144;
        const double d = half_value(get_u16(block));
        const double dmin = half_value(get_u16(block + 2));
        const uint8_t* s = block + 4;
        const uint8_t* qs = block + 16;
        for (int j = 0; j < 8; ++j) {
          // 6-bit scale and min of sub-block j. Bytes 0-7 contain those of sub-blocks 0-3.
          // Sub-blocks 4-7 take their low 4 bits from the nibbles of bytes 8-11, and their top
          // 2 bits from the top bits of bytes 0-3 (scales) and 4-7 (mins).
          const int scale = j < 4 ? s[j] & 63 : (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
          const int min = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
          for (int l = 0; l < 32; ++l) {
            const uint8_t byte = qs[32 * (j / 2) + l];
            const int q = j % 2 == 0 ? byte & 0x0F : byte >> 4;
            at(256 * b + 32 * j + l) = {d * scale, double(q), -dmin * min};
          }
        }
      }
      break;
    case DType::Q6_K:
      for (int64_t b = 0; b < n / 256; ++b) {
        const uint8_t* block = row + b * 210;
        const uint8_t* ql = block;
        const uint8_t* qh = block + 128;
        const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
        const double d = half_value(get_u16(block + 208));
        for (int i = 0; i < 256; ++i) {
          const int half = i / 128, k = (i % 128) / 32, l = i % 32;
          const uint8_t low_byte = ql[64 * half + (k % 2 == 1 ? 32 : 0) + l];
          const int low = k < 2 ? low_byte & 0x0F : low_byte >> 4;
          const int high = (qh[32 * half + l] >> (2 * k)) & 3;
          at(256 * b + i) = {d * scales[i / 16], double((low | (high << 4)) - 32), 0.0};
        }
      }
      break;
  }
  return w;
}

inline std::vector<double> reference_values(DType type, const uint8_t* row, int64_t n) {
  std::vector<double> values;
  for (const RefWeight& w : reference_decode(type, row, n)) values.push_back(w.value());
  return values;
}

// A row of random quants with small random block scales, so that no fp16 scale is inf or nan.
// Float types get values in [-2, 2].
inline Bytes random_row(DType type, int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const DTypeTraits& traits = dtype_traits(type);
  Bytes row(static_cast<size_t>(n / traits.block_size * traits.block_bytes));
  for (uint8_t& b : row) b = uint8_t(byte(rng));

  auto half = [&](float scale) { return fp32_to_fp16(scale * value(rng)); };
  for (int64_t b = 0; b < n / traits.block_size; ++b) {
    const size_t at = size_t(b * traits.block_bytes);
    switch (type) {
      case DType::F32: {
        const float v = 2.0f * value(rng);
        std::memcpy(row.data() + at, &v, 4);
        break;
      }
      case DType::F16:
        put_u16(row, at, half(2.0f));
        break;
      case DType::BF16:
        put_u16(row, at, fp32_to_bf16(2.0f * value(rng)));
        break;
      case DType::Q4_0:
      case DType::Q8_0:
        put_u16(row, at, half(0.1f));
        break;
      case DType::Q4_1:
      case DType::Q4_K:
        put_u16(row, at, half(0.1f));
        put_u16(row, at + 2, half(0.1f));
        break;
      case DType::Q6_K:
        put_u16(row, at + 208, half(0.01f));
        break;
    }
  }
  return row;
}

// The int8 activation quantization as documented in ops/quant.h, in plain float arithmetic.
struct RefQ8 {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<float> sum;

  Q8Vector view() const { return Q8Vector{q.data(), d.data(), sum.data(), int64_t(q.size())}; }
  // Returns the value that quant i represents.
  double value(size_t i) const { return double(d[i / 32]) * q[i]; }
};

inline RefQ8 reference_quantize_q8(const float* x, int64_t n) {
  RefQ8 r;
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(x[32 * b + i]));
    const float d = amax / 127.0f;
    const float inverse = d > 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      const float scaled = x[32 * b + i] * inverse;
      const int q = static_cast<int>(std::nearbyint(scaled));  // ties to even
      r.q.push_back(static_cast<int8_t>(q));
      sum += q;
    }
    r.d.push_back(d);
    r.sum.push_back(d * static_cast<float>(sum));
  }
  return r;
}

// A dot product with the size of its terms, for tolerances.
struct RefDot {
  double value = 0.0;
  double magnitude = 0.0;
};

inline RefDot reference_dot(const std::vector<RefWeight>& w, const float* x) {
  RefDot r;
  for (size_t i = 0; i < w.size(); ++i) {
    r.value += w[i].value() * double(x[i]);
    r.magnitude += w[i].magnitude() * std::abs(double(x[i]));
  }
  return r;
}

// Returns the row's dot product with the values that the int8 vector represents. The integer
// kernels compute the same, up to float rounding of the per-block scale products and sums.
inline RefDot reference_dot_q8(const std::vector<RefWeight>& w, const RefQ8& x) {
  RefDot r;
  for (size_t i = 0; i < w.size(); ++i) {
    r.value += w[i].value() * x.value(i);
    r.magnitude += w[i].magnitude() * std::abs(x.value(i));
  }
  return r;
}

// Returns a bound on |dot(w, dequantized x) - dot(w, x)|: each quantized value is off by at
// most half a step, d[b] / 2.
inline double q8_error_bound(const std::vector<RefWeight>& w, const RefQ8& x) {
  double bound = 0.0;
  for (size_t i = 0; i < w.size(); ++i) bound += std::abs(w[i].value()) * double(x.d[i / 32]) / 2;
  return bound;
}

}  // namespace lim::test
