// Weight element types as GGUF stores them, and the per-row kernels that read them in place.
//
// Block layouts follow ggml (ggml-common.h, quantization version 2). A row of n elements of a
// block type is n / block_size consecutive blocks. Dot products dequantize on the fly, so weights
// stay in their stored type in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace lim {

// Values are the ggml type ids used in GGUF tensor infos.
enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q4_K = 12,
  Q6_K = 14,
  BF16 = 30,
};

struct DTypeTraits {
  const char* name;    // "Q4_1", as ggml and llama.cpp spell it
  int64_t block_size;  // elements per block (1 for F32, F16, BF16)
  int64_t block_bytes; // bytes per block
};

// Returns the type for a GGUF type id, or nothing for an id this engine does not support.
std::optional<DType> dtype_from_id(uint32_t id);
const DTypeTraits& dtype_traits(DType type);
const char* dtype_name(DType type);

// Every type above, in type id order, for messages that list the supported types and for tests
// that cover each type.
std::span<const DType> supported_dtypes();

// Bytes taken by a row of n elements. Requires n to be a multiple of the block size.
size_t row_bytes(DType type, int64_t n);

// Writes the n elements of a stored row as floats. n must be a multiple of the block size.
void dequantize_row(DType type, const void* row, float* out, int64_t n);

// Returns sum_i row[i] * x[i] over n elements, dequantizing the row on the fly.
float dot_row(DType type, const void* row, const float* x, int64_t n);

// Half-precision conversions (IEEE binary16 and bfloat16), exact for every finite value.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even

}  // namespace lim
