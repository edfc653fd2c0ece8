#include "ops/quant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace lim {
namespace {

using Bytes = std::vector<uint8_t>;

// fp16 bit patterns of the block scales used below.
constexpr uint16_t kHalfOne = 0x3C00;
constexpr uint16_t kHalfMinusOne = 0xBC00;
constexpr uint16_t kHalfTwo = 0x4000;
constexpr uint16_t kHalfHalf = 0x3800;       // 0.5
constexpr uint16_t kHalfQuarter = 0x3400;    // 0.25
constexpr uint16_t kHalfEighth = 0x3000;     // 0.125

void put_u16(Bytes& bytes, size_t offset, uint16_t value) {
  std::memcpy(bytes.data() + offset, &value, 2);
}

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
}

// Q4_0: fp16 d, then 16 bytes. Byte j stores element j (low nibble) and j + 16 (high nibble).
// Element = d * (nibble - 8).
TEST(QuantTest, DequantizesQ4_0) {
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
    EXPECT_EQ(out[32 + j], 5.0f) << j;    // -1 * (3 - 8)
    EXPECT_EQ(out[48 + j], -4.0f) << j;   // -1 * (12 - 8)
  }
}

// Q4_1: fp16 d, fp16 m, then 16 bytes of nibbles as in Q4_0. Element = d * nibble + m.
TEST(QuantTest, DequantizesQ4_1) {
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
}

// Q8_0: fp16 d, then 32 int8 values. Element = d * q.
TEST(QuantTest, DequantizesQ8_0) {
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
}

// Q4_K: fp16 d, fp16 dmin, 12 bytes of packed 6-bit scales and mins for 8 sub-blocks of 32,
// 128 bytes of nibbles. Element i is in sub-block i / 32. Bytes 32p..32p+31 store elements
// 64p..64p+31 in their low nibbles and 64p+32..64p+63 in their high nibbles.
// Element = d * scale * nibble - dmin * min.
TEST(QuantTest, DequantizesQ4_K) {
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
    put_u16(row, 144 * b + 2, kHalfQuarter);                // dmin
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
      const float expected = d * float(scales[sub_block] * nibble) - 0.25f * float(mins[sub_block]);
      EXPECT_EQ(out[256 * b + i], expected) << "block " << b << " element " << i;
    }
  }
  // Worked by hand: element 0 is the low nibble of byte 0 (11 = 0x0B), sub-block 0 (scale 1,
  // min 0): 0.5 * 1 * 11 = 5.5. Element 200 is the low nibble of byte 104 (104 * 37 + 11 = 3859,
  // 0x13 mod 256), sub-block 6 (scale 48, min 63): 0.5 * 48 * 3 - 0.25 * 63 = 56.25. Element 240
  // is the high nibble of byte 112 (0x3B), sub-block 7 (scale 5, min 1): 0.5 * 5 * 3 - 0.25 = 7.25.
  EXPECT_EQ(out[0], 5.5f);
  EXPECT_EQ(out[200], 56.25f);
  EXPECT_EQ(out[240], 7.25f);
}

// Q6_K: 128 bytes ql, 64 bytes qh, 16 int8 scales, fp16 d. Element i of the block is
// d * scales[i / 16] * (q - 32) with a 6-bit q. In each half h of 128 elements, element
// 128h + 32k + l (k = 0..3, l = 0..31) keeps its low 4 bits in ql[64h + l] (k = 0 low nibble,
// k = 2 high nibble) or ql[64h + 32 + l] (k = 1 low, k = 3 high), and its top 2 bits in bits
// 2k..2k+1 of qh[32h + l].
TEST(QuantTest, DequantizesQ6_K) {
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
}

// Builds a row of random quants with small random block scales, so no fp16 scale is inf or nan.
Bytes random_row(DType type, int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const size_t bytes = row_bytes(type, n);
  Bytes row(bytes);
  for (uint8_t& b : row) b = uint8_t(byte(rng));

  auto half = [&](float scale) { return fp32_to_fp16(scale * value(rng)); };
  const DTypeTraits& traits = dtype_traits(type);
  const int64_t n_blocks = n / traits.block_size;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const size_t at = size_t(b * traits.block_bytes);
    switch (type) {
      case DType::F32: {
        const float v = value(rng);
        std::memcpy(row.data() + at, &v, 4);
        break;
      }
      case DType::F16: put_u16(row, at, half(2.0f)); break;
      case DType::BF16: put_u16(row, at, fp32_to_bf16(value(rng))); break;
      case DType::Q4_0:
      case DType::Q8_0: put_u16(row, at, half(0.1f)); break;
      case DType::Q4_1:
      case DType::Q4_K:
        put_u16(row, at, half(0.1f));
        put_u16(row, at + 2, half(0.1f));
        break;
      case DType::Q6_K: put_u16(row, at + 208, half(0.01f)); break;
    }
  }
  return row;
}

TEST(QuantTest, DotRowMatchesScalarReference) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (DType type : supported_dtypes()) {
    const int64_t block_size = dtype_traits(type).block_size;
    for (int64_t n : {int64_t(3), int64_t(37), int64_t(256), int64_t(576), int64_t(1536)}) {
      if (n % block_size != 0) continue;
      SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n));
      for (int trial = 0; trial < 5; ++trial) {
        const Bytes row = random_row(type, n, rng);
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) v = value(rng);

        const std::vector<float> w = dequantize(type, row, n);
        double reference = 0.0;
        double magnitude = 0.0;  // sum of |w_i x_i|, the scale of the rounding error
        for (int64_t i = 0; i < n; ++i) {
          reference += double(w[i]) * double(x[i]);
          magnitude += std::abs(double(w[i]) * double(x[i]));
        }

        const float dot = dot_row(type, row.data(), x.data(), n);
        EXPECT_NEAR(dot, reference, 1e-5 * magnitude + 1e-30);
      }
    }
  }
}

// The exact value of a finite binary16 number, computed from its fields.
double half_value(uint16_t h) {
  const int sign = h >> 15;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24)
                                         : std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
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
