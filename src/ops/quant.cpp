#include "ops/quant.h"

#include <bit>
#include <cstring>

#include "common.h"

namespace lim {

// GGUF stores every value little-endian, and the kernels below read blocks with memcpy.
static_assert(std::endian::native == std::endian::little, "lessismore needs a little-endian CPU");

namespace {

constexpr DType kSupportedTypes[] = {DType::F32,  DType::F16,  DType::Q4_0, DType::Q4_1,
                                     DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::BF16};

// Independent partial sums in dot products. Each lane is its own accumulator, so GCC can keep
// them in vector registers without reassociating floating-point additions.
constexpr int kLanes = 16;

// Block decoders and sinks below are forced inline, because a call per block would also force
// the lane accumulators out of registers.
#define LIM_ALWAYS_INLINE [[gnu::always_inline]] inline

uint16_t load_u16(const uint8_t* p) {
  uint16_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
inline float half_to_float(uint16_t h) {
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

// The same conversion without branches (from Marat Dukhan's FP16 library), so loops over fp16
// values vectorize and block scales cost no branch. It equals half_to_float for every value
// except signaling nans, which come out quiet.
inline float half_to_float_branchless(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;  // drops the sign bit

  // Normal values: shift exponent and mantissa into place, add 224 to the exponent field, then
  // scale by 2^-112; the net rebias is 112. Inf and nan keep an all-ones exponent.
  const float normalized = std::bit_cast<float>((two_w >> 4) + (0xE0u << 23)) * 0x1p-112f;
  // Subnormals: place the mantissa under the exponent of 0.5, then subtract 0.5, which leaves
  // mantissa * 2^-24 exactly.
  const float denormalized = std::bit_cast<float>((two_w >> 17) | (126u << 23)) - 0.5f;

  // Select with a mask rather than a conditional so GCC vectorizes the SSE2 build too.
  const uint32_t subnormal_mask = two_w < (1u << 27) ? 0xFFFFFFFFu : 0u;  // exponent field 0
  const uint32_t magnitude = (std::bit_cast<uint32_t>(denormalized) & subnormal_mask) |
                             (std::bit_cast<uint32_t>(normalized) & ~subnormal_mask);
  return std::bit_cast<float>(sign | magnitude);
}

float load_fp16(const uint8_t* p) { return half_to_float_branchless(load_u16(p)); }

// Rounds `value >> shift` to nearest, ties to even. Requires 1 <= shift <= 31.
uint32_t shift_right_round_even(uint32_t value, int shift) {
  const uint32_t result = value >> shift;
  const uint32_t remainder = value & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  const bool round_up = remainder > half || (remainder == half && (result & 1));
  return result + (round_up ? 1 : 0);
}

float sum_lanes(const float (&acc)[kLanes]) {
  float sum = 0.0f;
  for (float lane : acc) sum += lane;
  return sum;
}

// Consumers of decoded blocks. A block decoder unpacks its quants into a float array and passes
// them on a group at a time. Elements [start, start + kCount) of the block are scale * q[i], or
// scale * q[i] + offset for types with a per-group offset.
struct DequantizeSink {
  float* out;  // the block's first element

  template <int kCount>
  LIM_ALWAYS_INLINE void scaled(int start, const float* q, float scale) {
    for (int i = 0; i < kCount; ++i) out[start + i] = scale * q[i];
  }

  template <int kCount>
  LIM_ALWAYS_INLINE void affine(int start, const float* q, float scale, float offset) {
    for (int i = 0; i < kCount; ++i) out[start + i] = scale * q[i] + offset;
  }
};

struct DotSink {
  float (&acc)[kLanes];
  const float* x;  // the block's slice of the vector

  template <int kCount>
  LIM_ALWAYS_INLINE void scaled(int start, const float* q, float scale) {
    static_assert(kCount % kLanes == 0);
    for (int j = 0; j < kCount; j += kLanes) {
      for (int k = 0; k < kLanes; ++k) acc[k] += scale * q[j + k] * x[start + j + k];
    }
  }

  template <int kCount>
  LIM_ALWAYS_INLINE void affine(int start, const float* q, float scale, float offset) {
    static_assert(kCount % kLanes == 0);
    for (int j = 0; j < kCount; j += kLanes) {
      for (int k = 0; k < kLanes; ++k) acc[k] += (scale * q[j + k] + offset) * x[start + j + k];
    }
  }
};

// Block decoders. Layouts follow ggml-common.h, quantization version 2. dequantize_row does the
// same float operations in the same order as ggml's dequantize_row_* in ggml-quants.c, so the
// results agree bit for bit unless a compiler contracts a multiply-add into an FMA in only one
// of the two. `d` is the block scale, stored as fp16.

// Q4_0: d, then 16 bytes. Byte j stores element j in its low nibble and element j + 16 in its
// high nibble. Element = d * (q - 8).
struct Q4_0Block {
  static constexpr int64_t kSize = 32;
  static constexpr int64_t kBytes = 2 + 16;

  template <class Sink>
  LIM_ALWAYS_INLINE static void decode(const uint8_t* block, Sink& sink) {
    const float d = load_fp16(block);
    const uint8_t* qs = block + 2;
    float q[32];
    for (int j = 0; j < 16; ++j) {
      q[j] = float(int(qs[j] & 0x0F) - 8);
      q[j + 16] = float(int(qs[j] >> 4) - 8);
    }
    sink.template scaled<32>(0, q, d);
  }
};

// Q4_1: d, then the block minimum m (fp16), then nibbles as in Q4_0. Element = d * q + m.
struct Q4_1Block {
  static constexpr int64_t kSize = 32;
  static constexpr int64_t kBytes = 2 + 2 + 16;

  template <class Sink>
  LIM_ALWAYS_INLINE static void decode(const uint8_t* block, Sink& sink) {
    const float d = load_fp16(block);
    const float m = load_fp16(block + 2);
    const uint8_t* qs = block + 4;
    float q[32];
    for (int j = 0; j < 16; ++j) {
      q[j] = float(qs[j] & 0x0F);
      q[j + 16] = float(qs[j] >> 4);
    }
    sink.template affine<32>(0, q, d, m);
  }
};

// Q8_0: d, then 32 int8 values. Element = d * q.
struct Q8_0Block {
  static constexpr int64_t kSize = 32;
  static constexpr int64_t kBytes = 2 + 32;

  template <class Sink>
  LIM_ALWAYS_INLINE static void decode(const uint8_t* block, Sink& sink) {
    const float d = load_fp16(block);
    const int8_t* qs = reinterpret_cast<const int8_t*>(block + 2);
    float q[32];
    for (int j = 0; j < 32; ++j) q[j] = float(qs[j]);
    sink.template scaled<32>(0, q, d);
  }
};

// Q4_K: a super-block of 8 sub-blocks of 32 elements. Layout: d (fp16), dmin (fp16), 12 bytes of
// 6-bit sub-block scales and mins, 128 bytes of nibbles. Element = d * scale * q - dmin * min.
struct Q4_KBlock {
  static constexpr int64_t kSize = 256;
  static constexpr int64_t kBytes = 2 + 2 + 12 + 128;

  // Sub-blocks 0-3 keep their scale in the low 6 bits of bytes 0-3 and their min in bytes 4-7.
  // Sub-blocks 4-7 keep the low 4 bits of scale and min in the two nibbles of bytes 8-11, and the
  // top 2 bits in the top bits of bytes 0-3 (scales) and 4-7 (mins).
  static void unpack_scale_min(const uint8_t* packed, int j, int& scale, int& min) {
    if (j < 4) {
      scale = packed[j] & 63;
      min = packed[j + 4] & 63;
    } else {
      scale = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
      min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
  }

  template <class Sink>
  LIM_ALWAYS_INLINE static void decode(const uint8_t* block, Sink& sink) {
    const float d = load_fp16(block);
    const float dmin = load_fp16(block + 2);
    const uint8_t* packed = block + 4;
    const uint8_t* qs = block + 16;

    // Each 32 bytes of nibbles contain two sub-blocks: the low nibbles, then the high nibbles.
    float q[256];
    for (int pair = 0; pair < 4; ++pair) {
      for (int l = 0; l < 32; ++l) {
        q[64 * pair + l] = float(qs[32 * pair + l] & 0x0F);
        q[64 * pair + 32 + l] = float(qs[32 * pair + l] >> 4);
      }
    }
    for (int j = 0; j < 8; ++j) {
      int scale, min;
      unpack_scale_min(packed, j, scale, min);
      sink.template affine<32>(32 * j, q + 32 * j, d * float(scale), -(dmin * float(min)));
    }
  }
};

// Q6_K: a super-block of 16 sub-blocks of 16 elements. Layout: 128 bytes ql (low 4 bits),
// 64 bytes qh (high 2 bits), 16 int8 sub-block scales, d (fp16). Element = d * scale * (q - 32),
// where element i uses scale i / 16.
struct Q6_KBlock {
  static constexpr int64_t kSize = 256;
  static constexpr int64_t kBytes = 128 + 64 + 16 + 2;

  template <class Sink>
  LIM_ALWAYS_INLINE static void decode(const uint8_t* block, Sink& sink) {
    const uint8_t* ql = block;
    const uint8_t* qh = block + 128;
    const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
    const float d = load_fp16(block + 208);

    // Each half of 128 elements uses 64 bytes of ql and 32 bytes of qh. Byte l of the half's qh
    // stores the high bits of its elements l, l + 32, l + 64 and l + 96, two bits each.
    float q[256];
    for (int half = 0; half < 2; ++half) {
      for (int l = 0; l < 32; ++l) {
        const int lo = ql[64 * half + l];
        const int hi = ql[64 * half + 32 + l];
        const int high_bits = qh[32 * half + l];
        float* out = q + 128 * half;
        out[l] = float(((lo & 0x0F) | ((high_bits & 3) << 4)) - 32);
        out[l + 32] = float(((hi & 0x0F) | (((high_bits >> 2) & 3) << 4)) - 32);
        out[l + 64] = float(((lo >> 4) | (((high_bits >> 4) & 3) << 4)) - 32);
        out[l + 96] = float(((hi >> 4) | (((high_bits >> 6) & 3) << 4)) - 32);
      }
    }
    for (int g = 0; g < 16; ++g) {
      sink.template scaled<16>(16 * g, q + 16 * g, d * float(scales[g]));
    }
  }
};

// Element types: one value per element, no block scale.
struct F32Element {
  static constexpr int64_t kBytes = 4;
  static float load(const uint8_t* p) {
    float value;
    std::memcpy(&value, p, sizeof(value));
    return value;
  }
};

struct F16Element {
  static constexpr int64_t kBytes = 2;
  static float load(const uint8_t* p) { return load_fp16(p); }
};

struct BF16Element {
  static constexpr int64_t kBytes = 2;
  static float load(const uint8_t* p) { return std::bit_cast<float>(uint32_t(load_u16(p)) << 16); }
};

template <class Block>
[[gnu::always_inline]] inline void dequantize_blocks(const uint8_t* row, float* out, int64_t n) {
  const int64_t n_blocks = n / Block::kSize;
  for (int64_t b = 0; b < n_blocks; ++b) {
    DequantizeSink sink{out + b * Block::kSize};
    Block::decode(row + b * Block::kBytes, sink);
  }
}

template <class Block>
[[gnu::always_inline]] inline float dot_blocks(const uint8_t* row, const float* x, int64_t n) {
  float acc[kLanes] = {};
  const int64_t n_blocks = n / Block::kSize;
  for (int64_t b = 0; b < n_blocks; ++b) {
    DotSink sink{acc, x + b * Block::kSize};
    Block::decode(row + b * Block::kBytes, sink);
  }
  return sum_lanes(acc);
}

template <class Element>
[[gnu::always_inline]] inline void dequantize_elements(const uint8_t* row, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = Element::load(row + i * Element::kBytes);
}

template <class Element>
[[gnu::always_inline]] inline float dot_elements(const uint8_t* row, const float* x, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      acc[k] += Element::load(row + (i + k) * Element::kBytes) * x[i + k];
    }
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += Element::load(row + i * Element::kBytes) * x[i];
  return sum_lanes(acc) + tail;
}

void check_row_length(DType type, int64_t n) {
  LIM_CHECK(n >= 0);
  LIM_CHECK(n % dtype_traits(type).block_size == 0);
}

}  // namespace

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
  static constexpr DTypeTraits kQ4_0{"Q4_0", Q4_0Block::kSize, Q4_0Block::kBytes};
  static constexpr DTypeTraits kQ4_1{"Q4_1", Q4_1Block::kSize, Q4_1Block::kBytes};
  static constexpr DTypeTraits kQ8_0{"Q8_0", Q8_0Block::kSize, Q8_0Block::kBytes};
  static constexpr DTypeTraits kQ4_K{"Q4_K", Q4_KBlock::kSize, Q4_KBlock::kBytes};
  static constexpr DTypeTraits kQ6_K{"Q6_K", Q6_KBlock::kSize, Q6_KBlock::kBytes};

  switch (type) {
    case DType::F32: return kF32;
    case DType::F16: return kF16;
    case DType::BF16: return kBF16;
    case DType::Q4_0: return kQ4_0;
    case DType::Q4_1: return kQ4_1;
    case DType::Q8_0: return kQ8_0;
    case DType::Q4_K: return kQ4_K;
    case DType::Q6_K: return kQ6_K;
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

LIM_MULTIVERSION void dequantize_row(DType type, const void* row, float* out, int64_t n) {
  check_row_length(type, n);
  const auto* bytes = static_cast<const uint8_t*>(row);
  switch (type) {
    case DType::F32: return dequantize_elements<F32Element>(bytes, out, n);
    case DType::F16: return dequantize_elements<F16Element>(bytes, out, n);
    case DType::BF16: return dequantize_elements<BF16Element>(bytes, out, n);
    case DType::Q4_0: return dequantize_blocks<Q4_0Block>(bytes, out, n);
    case DType::Q4_1: return dequantize_blocks<Q4_1Block>(bytes, out, n);
    case DType::Q8_0: return dequantize_blocks<Q8_0Block>(bytes, out, n);
    case DType::Q4_K: return dequantize_blocks<Q4_KBlock>(bytes, out, n);
    case DType::Q6_K: return dequantize_blocks<Q6_KBlock>(bytes, out, n);
  }
}

LIM_MULTIVERSION float dot_row(DType type, const void* row, const float* x, int64_t n) {
  check_row_length(type, n);
  const auto* bytes = static_cast<const uint8_t*>(row);
  switch (type) {
    case DType::F32: return dot_elements<F32Element>(bytes, x, n);
    case DType::F16: return dot_elements<F16Element>(bytes, x, n);
    case DType::BF16: return dot_elements<BF16Element>(bytes, x, n);
    case DType::Q4_0: return dot_blocks<Q4_0Block>(bytes, x, n);
    case DType::Q4_1: return dot_blocks<Q4_1Block>(bytes, x, n);
    case DType::Q8_0: return dot_blocks<Q8_0Block>(bytes, x, n);
    case DType::Q4_K: return dot_blocks<Q4_KBlock>(bytes, x, n);
    case DType::Q6_K: return dot_blocks<Q6_KBlock>(bytes, x, n);
  }
  return 0.0f;
}

float fp16_to_fp32(uint16_t h) { return half_to_float(h); }

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
