// Weight kernels on every compiled SIMD target: fixed blocks worked by hand, then random rows
// against the scalar references of ops/quant_reference.h, for the float and the int8 paths.
#include "ops/quant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/quant_reference.h"
#include "support/simd_targets.h"

namespace lim {
namespace {

using test::Bytes;
using test::for_each_simd_target;
using test::half_value;
using test::put_u16;

// fp16 bit patterns of the block scales used below.
constexpr uint16_t kHalfOne = 0x3C00;
constexpr uint16_t kHalfMinusOne = 0xBC00;
constexpr uint16_t kHalfTwo = 0x4000;
constexpr uint16_t kHalfHalf = 0x3800;       // 0.5
constexpr uint16_t kHalfQuarter = 0x3400;    // 0.25
constexpr uint16_t kHalfEighth = 0x3000;     // 0.125

std::vector<float> dequantize(DType type, const Bytes& row, int64_t n) {
  std::vector<float> out(size_t(n), std::nanf(""));
  dequantize_row(type, row.data(), out.data(), n);
  return out;
}

TEST(QuantTest, TraitsMatchGgml) {
  struct Expected {
    DType type;
    uint32_t id;
    const char* name;
    int64_t block_size;
    int64_t block_bytes;
  };
  const Expected expected[] = {
      {DType::F32, 0, "F32", 1, 4},       {DType::F16, 1, "F16", 1, 2},
      {DType::Q4_0, 2, "Q4_0", 32, 18},   {DType::Q4_1, 3, "Q4_1", 32, 20},
      {DType::Q8_0, 8, "Q8_0", 32, 34},   {DType::Q4_K, 12, "Q4_K", 256, 144},
      {DType::Q6_K, 14, "Q6_K", 256, 210}, {DType::BF16, 30, "BF16", 1, 2},
  };
  ASSERT_EQ(supported_dtypes().size(), std::size(expected));
  for (size_t i = 0; i < std::size(expected); ++i) {
    const Expected& e = expected[i];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(supported_dtypes()[i], e.type);
    EXPECT_EQ(dtype_from_id(e.id), e.type);
    EXPECT_STREQ(dtype_name(e.type), e.name);
    EXPECT_EQ(dtype_traits(e.type).block_size, e.block_size);
    EXPECT_EQ(dtype_traits(e.type).block_bytes, e.block_bytes);
  }
  for (uint32_t id : {4u, 6u, 7u, 10u, 13u, 15u, 29u, 31u, 1000u}) {
    EXPECT_EQ(dtype_from_id(id), std::nullopt) << id;
  }
  EXPECT_EQ(row_bytes(DType::Q4_1, 576), 18u * 20u);
  EXPECT_EQ(row_bytes(DType::Q8_0, 576), 18u * 34u);
  EXPECT_EQ(row_bytes(DType::Q6_K, 1536), 6u * 210u);
  EXPECT_EQ(row_bytes(DType::F16, 3), 6u);
}

TEST(QuantTest, DequantizesElementTypes) {
  for_each_simd_target([&] {
    const float f32[] = {1.0f, -2.5f, std::numeric_limits<float>::infinity()};
    Bytes bytes(sizeof(f32));
    std::memcpy(bytes.data(), f32, sizeof(f32));
    EXPECT_EQ(dequantize(DType::F32, bytes, 3), (std::vector<float>{1.0f, -2.5f, f32[2]}));

    const uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x8000};
    bytes.resize(sizeof(f16));
    std::memcpy(bytes.data(), f16, sizeof(f16));
    const std::vector<float> halves = dequantize(DType::F16, bytes, 6);
    EXPECT_EQ(halves[0], 1.0f);
    EXPECT_EQ(halves[1], -2.0f);
    EXPECT_EQ(halves[2], 65504.0f);
    EXPECT_EQ(halves[3], std::ldexp(1.0f, -24));
    EXPECT_EQ(halves[4], std::numeric_limits<float>::infinity());
    EXPECT_EQ(std::bit_cast<uint32_t>(halves[5]), 0x80000000u);

    const uint16_t bf16[] = {0x3F80, 0xC040, 0x0001, 0xFF80};
    bytes.resize(sizeof(bf16));
    std::memcpy(bytes.data(), bf16, sizeof(bf16));
    const std::vector<float> brains = dequantize(DType::BF16, bytes, 4);
    EXPECT_EQ(brains[0], 1.0f);
    EXPECT_EQ(brains[1], -3.0f);
    EXPECT_EQ(brains[2], std::ldexp(1.0f, -133));
    EXPECT_EQ(brains[3], -std::numeric_limits<float>::infinity());
  });
}

// Q4_0: fp16 d, then 16 bytes. Byte j stores element j (low nibble) and j + 16 (high nibble).
// Element = d * (nibble - 8).
TEST(QuantTest, DequantizesQ4_0) {
  for_each_simd_target([&] {
    Bytes row(2 * 18);
    put_u16(row, 0, kHalfHalf);
    put_u16(row, 18, kHalfMinusOne);
    for (int j = 0; j < 16; ++j) {
      row[2 + j] = uint8_t(j | ((15 - j) << 4));
      row[18 + 2 + j] = uint8_t(3 | (12 << 4));
    }
    const std::vector<float> out = dequantize(DType::Q4_0, row, 64);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(out[j], 0.5f * float(j - 8)) << j;
      EXPECT_EQ(out[16 + j], 0.5f * float(7 - j)) << j;
      EXPECT_EQ(out[32 + j], 5.0f) << j;   // -1 * (3 - 8)
      EXPECT_EQ(out[48 + j], -4.0f) << j;  // -1 * (12 - 8)
    }
  });
}

// Q4_1: fp16 d, fp16 m, then 16 bytes of nibbles as in Q4_0. Element = d * nibble + m.
TEST(QuantTest, DequantizesQ4_1) {
  for_each_simd_target([&] {
    Bytes row(2 * 20);
    put_u16(row, 0, kHalfQuarter);
    put_u16(row, 2, kHalfMinusOne);
    put_u16(row, 20, kHalfTwo);
    put_u16(row, 22, kHalfOne);
    for (int j = 0; j < 16; ++j) {
      row[4 + j] = uint8_t(j | ((15 - j) << 4));
      row[20 + 4 + j] = uint8_t(15 | (1 << 4));
    }
    const std::vector<float> out = dequantize(DType::Q4_1, row, 64);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(out[j], 0.25f * float(j) - 1.0f) << j;
      EXPECT_EQ(out[16 + j], 0.25f * float(15 - j) - 1.0f) << j;
      EXPECT_EQ(out[32 + j], 31.0f) << j;  // 2 * 15 + 1
      EXPECT_EQ(out[48 + j], 3.0f) << j;   // 2 * 1 + 1
    }
  });
}

// Q8_0: fp16 d, then 32 int8 values. Element = d * q.
TEST(QuantTest, DequantizesQ8_0) {
  for_each_simd_target([&] {
    Bytes row(2 * 34);
    put_u16(row, 0, kHalfTwo);
    put_u16(row, 34, kHalfEighth);
    for (int j = 0; j < 32; ++j) {
      row[2 + j] = uint8_t(int8_t(8 * j - 128));
      row[34 + 2 + j] = uint8_t(int8_t(127 - j));
    }
    const std::vector<float> out = dequantize(DType::Q8_0, row, 64);
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(out[j], 2.0f * float(8 * j - 128)) << j;
      EXPECT_EQ(out[32 + j], 0.125f * float(127 - j)) << j;
    }
  });
}

// Q4_K: fp16 d, fp16 dmin, 12 bytes of packed 6-bit scales and mins for 8 sub-blocks of 32,
// 128 bytes of nibbles. Element i is in sub-block i / 32. Bytes 32p..32p+31 store elements
// 64p..64p+31 in their low nibbles and 64p+32..64p+63 in their high nibbles.
// Element = d * scale * nibble - dmin * min.
TEST(QuantTest, DequantizesQ4_K) {
  for_each_simd_target([&] {
    const int scales[8] = {1, 2, 3, 63, 17, 33, 48, 5};
    const int mins[8] = {0, 4, 10, 62, 20, 40, 63, 1};
    // Bytes 0-3: scale of sub-block j in bits 0-5, top 2 bits of scale j + 4 in bits 6-7.
    // Bytes 4-7: min of sub-block j in bits 0-5, top 2 bits of min j + 4 in bits 6-7.
    // Bytes 8-11: low 4 bits of scale j + 4, then low 4 bits of min j + 4.
    // For example scale 4 = 17 = 0b01'0001 puts 01 in byte 0 (0x41) and 0001 in byte 8 (0x41).
    const uint8_t packed[12] = {0x41, 0x82, 0xC3, 0x3F, 0x40, 0x84,
                                0xCA, 0x3E, 0x41, 0x81, 0xF0, 0x15};

    Bytes row(2 * 144);
    for (int b = 0; b < 2; ++b) {
      uint8_t* block = row.data() + 144 * b;
      put_u16(row, 144 * b, b == 0 ? kHalfHalf : kHalfTwo);  // d
      put_u16(row, 144 * b + 2, kHalfQuarter);               // dmin
      std::memcpy(block + 4, packed, 12);
      for (int k = 0; k < 128; ++k) block[16 + k] = uint8_t(k * 37 + 11 + b);
    }

    const std::vector<float> out = dequantize(DType::Q4_K, row, 512);
    for (int b = 0; b < 2; ++b) {
      const float d = b == 0 ? 0.5f : 2.0f;
      for (int i = 0; i < 256; ++i) {
        const int sub_block = i / 32;
        const uint8_t byte = uint8_t((32 * (i / 64) + i % 32) * 37 + 11 + b);
        const int nibble = i % 64 < 32 ? byte & 0x0F : byte >> 4;
        const float expected =
            d * float(scales[sub_block] * nibble) - 0.25f * float(mins[sub_block]);
        EXPECT_EQ(out[256 * b + i], expected) << "block " << b << " element " << i;
      }
    }
    // Worked by hand: element 0 is the low nibble of byte 0 (11 = 0x0B), sub-block 0 (scale 1,
    // min 0): 0.5 * 1 * 11 = 5.5. Element 200 is the low nibble of byte 104 (104 * 37 + 11 = 3859,
    // 0x13 mod 256), sub-block 6 (scale 48, min 63): 0.5 * 48 * 3 - 0.25 * 63 = 56.25. Element 240
    // is the high nibble of byte 112 (0x3B), sub-block 7 (scale 5, min 1): 0.5 * 5 * 3 - 0.25
    // = 7.25.
    EXPECT_EQ(out[0], 5.5f);
    EXPECT_EQ(out[200], 56.25f);
    EXPECT_EQ(out[240], 7.25f);
  });
}

// Q6_K: 128 bytes ql, 64 bytes qh, 16 int8 scales, fp16 d. Element i of the block is
// d * scales[i / 16] * (q - 32) with a 6-bit q. In each half h of 128 elements, element
// 128h + 32k + l (k = 0..3, l = 0..31) keeps its low 4 bits in ql[64h + l] (k = 0 low nibble,
// k = 2 high nibble) or ql[64h + 32 + l] (k = 1 low, k = 3 high), and its top 2 bits in bits
// 2k..2k+1 of qh[32h + l].
TEST(QuantTest, DequantizesQ6_K) {
  for_each_simd_target([&] {
    auto q_of = [](int b, int i) { return (i * 13 + 5 + 7 * b) % 64; };
    auto scale_of = [](int g) {
      if (g == 0) return -128;
      if (g == 15) return 127;
      return (g % 2 ? -1 : 1) * (8 * g + 1);
    };

    Bytes row(2 * 210);
    for (int b = 0; b < 2; ++b) {
      uint8_t* block = row.data() + 210 * b;
      for (int i = 0; i < 256; ++i) {
        const int q = q_of(b, i);
        const int half = i / 128, k = (i % 128) / 32, l = i % 32;
        uint8_t& low = block[64 * half + (k % 2 == 1 ? 32 : 0) + l];
        low |= uint8_t(k < 2 ? (q & 0x0F) : (q & 0x0F) << 4);
        block[128 + 32 * half + l] |= uint8_t((q >> 4) << (2 * k));
      }
      for (int g = 0; g < 16; ++g) block[192 + g] = uint8_t(int8_t(scale_of(g)));
      put_u16(row, 210 * b + 208, b == 0 ? kHalfEighth : kHalfMinusOne);
    }

    const std::vector<float> out = dequantize(DType::Q6_K, row, 512);
    for (int b = 0; b < 2; ++b) {
      const float d = b == 0 ? 0.125f : -1.0f;
      for (int i = 0; i < 256; ++i) {
        const float expected = d * float(scale_of(i / 16) * (q_of(b, i) - 32));
        EXPECT_EQ(out[256 * b + i], expected) << "block " << b << " element " << i;
      }
    }
    // Element 0: q = 5, scale -128, so 0.125 * -128 * (5 - 32) = 432.
    EXPECT_EQ(out[0], 432.0f);
  });
}

// Row lengths per type: odd element counts and vector tails for the float types, one and an odd
// number of blocks for the block types, and the model's shapes.
std::vector<int64_t> test_lengths(DType type) {
  switch (dtype_traits(type).block_size) {
    case 1:
      return {1, 3, 7, 15, 16, 17, 31, 33, 37, 64, 100, 576, 1000};
    case 32:
      return {32, 64, 96, 160, 576, 1536};
    default:
      return {256, 512, 768, 1536};
  }
}

std::vector<float> random_vector(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = value(rng);
  return x;
}

// Every dequantized value is exact in float (see reference_decode), so the kernels must return
// the reference value rounded once, on every target.
TEST(QuantTest, DequantizeRowMatchesReferenceExactly) {
  for_each_simd_target([&] {
    std::mt19937 rng(7);
    for (DType type : supported_dtypes()) {
      for (int64_t n : test_lengths(type)) {
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
        const Bytes row = test::random_row(type, n, rng);
        const std::vector<double> expected = test::reference_values(type, row.data(), n);
        const std::vector<float> out = dequantize(type, row, n);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(out[size_t(i)], float(expected[size_t(i)])) << "element " << i;
        }
      }
    }
  });
}

TEST(QuantTest, DotRowMatchesScalarReference) {
  for_each_simd_target([&] {
    std::mt19937 rng(42);
    for (DType type : supported_dtypes()) {
      for (int64_t n : test_lengths(type)) {
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
        for (int trial = 0; trial < 3; ++trial) {
          const Bytes row = test::random_row(type, n, rng);
          const std::vector<float> x = random_vector(rng, n);
          const test::RefDot expected =
              test::reference_dot(test::reference_decode(type, row.data(), n), x.data());
          const float dot = dot_row(type, row.data(), x.data(), n);
          // Float accumulation over at most 1536 terms in many independent lanes.
          EXPECT_NEAR(dot, expected.value, 2e-6 * expected.magnitude + 1e-30);
        }
      }
    }
  });
}

// dot_rows over rows with padding between them gives each row's dot_row.
TEST(QuantTest, DotRowsMatchesDotRowWithStride) {
  for_each_simd_target([&] {
    std::mt19937 rng(3);
    for (DType type : supported_dtypes()) {
      const int64_t n = dtype_traits(type).block_size == 256 ? 512 : 96;
      const size_t bytes = row_bytes(type, n);
      const size_t stride = bytes + 24;
      const int64_t n_rows = 5;
      Bytes rows(stride * n_rows, 0xAB);
      for (int64_t r = 0; r < n_rows; ++r) {
        const Bytes row = test::random_row(type, n, rng);
        std::memcpy(rows.data() + r * stride, row.data(), bytes);
      }
      const std::vector<float> x = random_vector(rng, n);
      std::vector<float> y(n_rows, std::nanf(""));
      dot_rows(type, rows.data(), stride, n_rows, x.data(), n, y.data());
      for (int64_t r = 0; r < n_rows; ++r) {
        EXPECT_EQ(y[r], dot_row(type, rows.data() + r * stride, x.data(), n))
            << dtype_name(type) << " row " << r;
      }
      if (has_q8_dot(type)) {
        Q8Buffer buffer;
        const Q8Vector xq = buffer.quantize(x.data(), n);
        dot_rows_q8(type, rows.data(), stride, n_rows, xq, y.data());
        for (int64_t r = 0; r < n_rows; ++r) {
          EXPECT_EQ(y[r], dot_row_q8(type, rows.data() + r * stride, xq))
              << dtype_name(type) << " int8 row " << r;
        }
      }
    }
  });
}

// ---- Int8 activations ----

TEST(Q8Test, QuantizeMatchesReferenceExactly) {
  for_each_simd_target([&] {
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t n : {32, 64, 576, 1536}) {
      SCOPED_TRACE("n=" + std::to_string(n));
      std::vector<float> x(static_cast<size_t>(n));
      // Blocks of very different ranges, and an all-zero block.
      for (int64_t i = 0; i < n; ++i)
        x[size_t(i)] = normal(rng) * std::ldexp(1.0f, int(i / 32 % 7) * 3 - 9);
      if (n >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);

      const test::RefQ8 expected = test::reference_quantize_q8(x.data(), n);
      std::vector<int8_t> q(size_t(n), 99);
      std::vector<float> d(size_t(n / 32), -1.0f), sum(size_t(n / 32), -1.0f);
      quantize_q8(x.data(), n, q.data(), d.data(), sum.data());
      EXPECT_EQ(q, expected.q);
      EXPECT_EQ(d, expected.d);
      EXPECT_EQ(sum, expected.sum);
      for (int8_t v : q) ASSERT_GE(v, -127);
    }
  });
}

TEST(Q8Test, QuantizeRoundsTiesToEven) {
  // amax 127 makes the scale exactly 1, so x / d is x itself.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -2.5f;
  x[4] = -0.5f;
  x[5] = 0.5f;
  x[6] = 1.4999999f;
  x[7] = -126.5f;
  const std::vector<int8_t> expected_head = {127, 2, 4, -2, 0, 0, 1, -126};
  for_each_simd_target([&] {
    std::vector<int8_t> q(32);
    float d = 0.0f, sum = 0.0f;
    quantize_q8(x.data(), 32, q.data(), &d, &sum);
    EXPECT_EQ(d, 1.0f);
    EXPECT_EQ(std::vector<int8_t>(q.begin(), q.begin() + 8), expected_head);
    EXPECT_EQ(sum, 127.0f + 2 + 4 - 2 + 1 - 126);
  });
}

TEST(Q8Test, BufferReusesItsStorageAndSlices) {
  std::mt19937 rng(5);
  const std::vector<float> x = random_vector(rng, 1536);
  Q8Buffer buffer;
  const Q8Vector big = buffer.quantize(x.data(), 1536);
  const Q8Vector small = buffer.quantize(x.data() + 64, 576);
  EXPECT_EQ(small.q, big.q);  // no reallocation for a shorter vector
  EXPECT_EQ(small.d, big.d);
  EXPECT_EQ(small.n, 576);

  const Q8Vector whole = buffer.quantize(x.data(), 1536);
  const Q8Vector part = whole.slice(64, 576);
  EXPECT_EQ(part.q, whole.q + 64);
  EXPECT_EQ(part.d, whole.d + 2);
  EXPECT_EQ(part.sum, whole.sum + 2);
  EXPECT_EQ(part.n, 576);
}

TEST(Q8Test, HasIntegerDotForBlockTypesOnly) {
  for (DType type : supported_dtypes()) {
    EXPECT_EQ(has_q8_dot(type), dtype_traits(type).block_size > 1) << dtype_name(type);
  }
}

// Checks the integer kernels against the same computation in double precision (the exact
// weights times the values that the int8 vector represents). Also checks them against the float
// dot product, within the bound that 8-bit activations allow.
TEST(Q8Test, DotRowMatchesScalarReference) {
  for_each_simd_target([&] {
    std::mt19937 rng(23);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (DType type : supported_dtypes()) {
      if (!has_q8_dot(type)) continue;
      for (int64_t n : test_lengths(type)) {
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
        for (int trial = 0; trial < 3; ++trial) {
          const Bytes row = test::random_row(type, n, rng);
          std::vector<float> x(static_cast<size_t>(n));
          for (float& v : x) v = normal(rng);
          const std::vector<test::RefWeight> w = test::reference_decode(type, row.data(), n);
          const test::RefQ8 xq = test::reference_quantize_q8(x.data(), n);

          const float dot = dot_row_q8(type, row.data(), xq.view());
          // Same algorithm: only the float products of scales and the block sums round.
          const test::RefDot same = test::reference_dot_q8(w, xq);
          EXPECT_NEAR(dot, same.value, 1e-6 * same.magnitude + 1e-30);

          // Against the float dot product: at most half a quantization step per activation.
          const test::RefDot exact = test::reference_dot(w, x.data());
          const double bound = test::q8_error_bound(w, xq);
          EXPECT_LE(std::abs(dot - exact.value), bound + 1e-6 * exact.magnitude);
          // The bound is loose, and typical errors are far smaller than the dot's terms.
          EXPECT_LT(std::abs(dot - exact.value), 0.02 * exact.magnitude);
        }
      }
    }
  });
}

// Extreme quants (every nibble 15 or 0, Q8_0 weights of -128, Q6_K scales of -128 with quants
// of -32) and activations of +-127 would overflow too narrow int16 or int32 lanes.
TEST(Q8Test, DotRowHandlesExtremeQuants) {
  for_each_simd_target([&] {
    std::mt19937 rng(31);
    for (DType type : supported_dtypes()) {
      if (!has_q8_dot(type)) continue;
      const int64_t n = dtype_traits(type).block_size == 256 ? 512 : 64;
      SCOPED_TRACE(dtype_name(type));
      for (uint8_t fill : {uint8_t(0x00), uint8_t(0xFF), uint8_t(0x80)}) {
        Bytes row = test::random_row(type, n, rng);
        const DTypeTraits& traits = dtype_traits(type);
        for (int64_t b = 0; b < n / traits.block_size; ++b) {
          uint8_t* block = row.data() + b * traits.block_bytes;
          switch (type) {
            case DType::Q4_0:
              std::memset(block + 2, fill, 16);
              break;
            case DType::Q4_1:
              std::memset(block + 4, fill, 16);
              break;
            case DType::Q8_0:
              std::memset(block + 2, fill, 32);
              break;
            case DType::Q4_K:
              std::memset(block + 4, fill, 140);
              break;           // scales, mins, nibbles
            case DType::Q6_K:  // the quants, and scales of -128
              std::memset(block, fill, 192);
              std::memset(block + 192, 0x80, 16);
              break;
            default:
              break;
          }
        }
        std::vector<float> x(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) x[size_t(i)] = i % 3 == 0 ? -1.0f : 1.0f;
        const test::RefQ8 xq = test::reference_quantize_q8(x.data(), n);
        const test::RefDot same =
            test::reference_dot_q8(test::reference_decode(type, row.data(), n), xq);
        EXPECT_NEAR(dot_row_q8(type, row.data(), xq.view()), same.value, 1e-6 * same.magnitude)
            << "fill " << int(fill);
      }
    }
  });
}

TEST(HalfPrecisionTest, Fp16ToFp32IsExactForEveryValue) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const uint16_t h = uint16_t(bits);
    const float f = fp16_to_fp32(h);
    const int exponent = (h >> 10) & 0x1F;
    const bool negative = (h & 0x8000) != 0;
    if (exponent == 0x1F && (h & 0x3FF) == 0) {
      ASSERT_TRUE(std::isinf(f)) << std::hex << h;
      ASSERT_EQ(std::signbit(f), negative) << std::hex << h;
    } else if (exponent == 0x1F) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
    } else {
      ASSERT_EQ(double(f), half_value(h)) << std::hex << h;
      ASSERT_EQ(std::signbit(f), negative) << std::hex << h;  // keeps -0
    }
  }
}

TEST(HalfPrecisionTest, Fp16RoundTripsEveryValue) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const uint16_t h = uint16_t(bits);
    const uint16_t back = fp32_to_fp16(fp16_to_fp32(h));
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) {  // nan stays nan with its sign
      ASSERT_EQ(back & 0x7C00, 0x7C00) << std::hex << h;
      ASSERT_NE(back & 0x3FF, 0) << std::hex << h;
      ASSERT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(HalfPrecisionTest, F16RowsMatchScalarConversion) {
  for_each_simd_target([&] {
    // dequantize_row and dot_row use a vectorizable conversion that must agree with fp16_to_fp32.
    Bytes row(2 * 65536);
    for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) put_u16(row, 2 * bits, uint16_t(bits));
    const std::vector<float> out = dequantize(DType::F16, row, 65536);
    for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
      const float expected = fp16_to_fp32(uint16_t(bits));
      if (std::isnan(expected)) {
        ASSERT_TRUE(std::isnan(out[bits])) << std::hex << bits;
      } else {
        ASSERT_EQ(std::bit_cast<uint32_t>(out[bits]), std::bit_cast<uint32_t>(expected))
            << std::hex << bits;
      }
    }
  });
}

TEST(HalfPrecisionTest, Fp32ToFp16RoundsToNearestEven) {
  struct Case {
    float input;
    uint16_t expected;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const Case cases[] = {
      {1.0f, 0x3C00},
      {-2.0f, 0xC000},
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {std::ldexp(1.0f, -11) + 1.0f, 0x3C00},         // tie between 1 and 1 + 2^-10: even is 1
      {3 * std::ldexp(1.0f, -11) + 1.0f, 0x3C02},     // tie between 0x3C01 and 0x3C02: even
      {std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f), 0x3C01},  // just above the tie
      {65504.0f, 0x7BFF},                              // largest finite half
      {65519.0f, 0x7BFF},                              // below the midpoint to 65536
      {65520.0f, 0x7C00},                              // the midpoint rounds to even: inf
      {1e10f, 0x7C00},
      {inf, 0x7C00},
      {-inf, 0xFC00},
      {std::ldexp(1.0f, -14), 0x0400},                 // smallest normal half
      {std::ldexp(1.0f, -24), 0x0001},                 // smallest subnormal half
      {std::ldexp(1.0f, -25), 0x0000},                 // tie between 0 and 2^-24: even is 0
      {std::nextafter(std::ldexp(1.0f, -25), 1.0f), 0x0001},
      {3 * std::ldexp(1.0f, -25), 0x0002},             // tie between 1 and 2 (x 2^-24): even
      {-5 * std::ldexp(1.0f, -25), 0x8002},            // tie between 2 and 3: even
      {1023.5f * std::ldexp(1.0f, -24), 0x0400},       // largest subnormal tie rounds up to normal
      {1022.5f * std::ldexp(1.0f, -24), 0x03FE},
      {std::ldexp(1.0f, -30), 0x0000},
      {std::numeric_limits<float>::denorm_min(), 0x0000},
      {-std::numeric_limits<float>::denorm_min(), 0x8000},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(fp32_to_fp16(c.input), c.expected) << c.input;
  }

  const uint16_t nan = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  // A float nan whose payload lies only in the low 13 bits must not become inf.
  const uint16_t low_payload = fp32_to_fp16(std::bit_cast<float>(0xFF800001u));
  EXPECT_EQ(low_payload & 0xFC00, 0xFC00);
  EXPECT_NE(low_payload & 0x03FF, 0);
}

TEST(HalfPrecisionTest, Bf16RoundTripsEveryValue) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const uint16_t h = uint16_t(bits);
    const float f = bf16_to_fp32(h);
    ASSERT_EQ(std::bit_cast<uint32_t>(f), bits << 16) << std::hex << h;
    const uint16_t back = fp32_to_bf16(f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(bf16_to_fp32(back))) << std::hex << h;
      ASSERT_EQ(back & 0x8000, h & 0x8000) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(HalfPrecisionTest, Fp32ToBf16RoundsToNearestEven) {
  struct Case {
    uint32_t input;  // float bits
    uint16_t expected;
  };
  const Case cases[] = {
      {0x3F800000, 0x3F80},  // 1
      {0x3F808000, 0x3F80},  // tie between 0x3F80 and 0x3F81: even
      {0x3F818000, 0x3F82},  // tie between 0x3F81 and 0x3F82: even
      {0x3F808001, 0x3F81},  // just above the tie
      {0x3F807FFF, 0x3F80},  // just below the tie
      {0x7F7FFFFF, 0x7F80},  // float max rounds to inf
      {0x7F800000, 0x7F80},  // inf
      {0xFF800000, 0xFF80},  // -inf
      {0x00008000, 0x0000},  // subnormal tie: even is 0
      {0x00018000, 0x0002},  // subnormal tie: even is 2
      {0x80000000, 0x8000},  // -0
  };
  for (const Case& c : cases) {
    EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(c.input)), c.expected) << std::hex << c.input;
  }
  // A nan whose payload lies only in the low 16 bits must not become inf.
  const uint16_t nan = fp32_to_bf16(std::bit_cast<float>(0x7F800001u));
  EXPECT_TRUE(std::isnan(bf16_to_fp32(nan)));
}

}  // namespace
}  // namespace lim
