// Byte-level facts about the GGUF weight blocks, shared by the float and the int8 kernels.
//
// Layouts follow ggml-common.h, quantization version 2. Every value is little-endian. `d` is a
// block scale stored as fp16.
//
//   Q4_0  32 elements, 18 bytes: d, then 16 bytes. Byte j contains element j in its low nibble
//         and element j + 16 in its high nibble. Element = d * (nibble - 8).
//   Q4_1  32 elements, 20 bytes: d, the block minimum m (fp16), then nibbles as in Q4_0.
//         Element = d * nibble + m.
//   Q8_0  32 elements, 34 bytes: d, then 32 int8 values. Element = d * q.
//   Q4_K  256 elements, 144 bytes: d, dmin (fp16), 12 bytes of 6-bit scales and mins of 8
//         sub-blocks of 32, then 128 bytes of nibbles. Bytes 32p..32p+31 contain sub-block 2p in
//         their low nibbles and sub-block 2p + 1 in their high nibbles.
//         Element = d * scale * nibble - dmin * min.
//   Q6_K  256 elements, 210 bytes: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8
//         scales, d. Element i = d * scales[i / 16] * (q - 32) with a 6-bit q. In each half h of
//         128 elements, element 128h + 32k + l (k < 4, l < 32) keeps its low 4 bits in
//         ql[64h + l] (k = 0 low nibble, k = 2 high nibble) or ql[64h + 32 + l] (k = 1 low,
//         k = 3 high), and its top 2 bits in bits 2k..2k+1 of qh[32h + l].
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace lim::layout {

// GGUF stores every value little-endian, and the kernels read blocks with memcpy and plain loads.
static_assert(std::endian::native == std::endian::little, "lessismore needs a little-endian CPU");

inline constexpr int kQ4_0Bytes = 2 + 16;
inline constexpr int kQ4_1Bytes = 2 + 2 + 16;
inline constexpr int kQ8_0Bytes = 2 + 32;
inline constexpr int kQ4_KBytes = 2 + 2 + 12 + 128;
inline constexpr int kQ6_KBytes = 128 + 64 + 16 + 2;
inline constexpr int kSmallBlock = 32;   // elements of a Q4_0, Q4_1 or Q8_0 block
inline constexpr int kSuperBlock = 256;  // elements of a Q4_K or Q6_K block

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

// Converts binary16 to float without branches (the method of Marat Dukhan's FP16 library), so
// that block scales cost no branch. Exact for every value, but signaling nans come out quiet.
inline float half_to_float(uint16_t h) {
  const uint32_t w = uint32_t(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;  // drops the sign bit

  // Normal values: shift exponent and mantissa into place, add 224 to the exponent field, then
  // scale by 2^-112; the net rebias is 112. Inf and nan keep an all-ones exponent.
  const float normalized = std::bit_cast<float>((two_w >> 4) + (0xE0u << 23)) * 0x1p-112f;
  // Subnormals: place the mantissa under the exponent of 0.5, then subtract 0.5, which leaves
  // mantissa * 2^-24 exactly.
  const float denormalized = std::bit_cast<float>((two_w >> 17) | (126u << 23)) - 0.5f;

  const uint32_t subnormal_mask = two_w < (1u << 27) ? 0xFFFFFFFFu : 0u;  // exponent field 0
  const uint32_t magnitude = (std::bit_cast<uint32_t>(denormalized) & subnormal_mask) |
                             (std::bit_cast<uint32_t>(normalized) & ~subnormal_mask);
  return std::bit_cast<float>(sign | magnitude);
}

// Unpacks the 6-bit scale and min of Q4_K sub-block j from the 12 packed bytes. Sub-blocks 0-3 keep
// their scale in the low 6 bits of bytes 0-3 and their min in bytes 4-7. Sub-blocks 4-7 keep the
// low 4 bits of scale and min in the two nibbles of bytes 8-11, and the top 2 bits in the top bits
// of bytes 0-3 (scales) and 4-7 (mins).
inline void q4_k_scale_min(const uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
    min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

}  // namespace lim::layout
