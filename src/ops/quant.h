// Weight element types as GGUF stores them, and the per-row kernels that read them in place.
//
// Block layouts follow ggml (ggml-common.h, quantization version 2; see ops/block_layout.h). A
// row of n elements of a block type is n / block_size consecutive blocks. Weights stay in their
// stored type in memory: float dot products decode them on the fly, and the int8 dot products
// below read the quants as integers.
//
// Every kernel is compiled for AVX-512, AVX2 and a portable version, and the best one for the
// CPU is chosen at run time (Highway dynamic dispatch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

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

// y[r] = dot_row(type, rows + r * row_stride bytes, x, n) for r < n_rows: one dispatch for many
// rows, which matters for short rows.
void dot_rows(DType type, const void* rows, size_t row_stride, int64_t n_rows, const float* x,
              int64_t n, float* y);

// ---- Int8 activations ----
//
// A float vector x is quantized once into blocks of kQ8Block values: block b has the scale
// d[b] = max_i |x_i| / 127 and quants q_i = round(x_i / d[b]) in [-127, 127] (round to nearest,
// ties to even), so x_i ~= d[b] * q_i. sum[b] = d[b] * sum_i q_i is kept beside it for the
// weight types whose elements carry an offset (the Q4_1 minimum, the Q4_K dmin * min): with
// integer weight quants w_i, their dot product with the block is
// d_w * d[b] * sum_i w_i q_i + offset * sum[b].
// The dot products of the block weight types with such a vector sum integer products exactly and
// use floats once per block. On Zen 4 they run 1.3 to 1.7 times faster than the float dot
// products. Each x_i moves by at most d[b] / 2, so
// |dot_q8 - dot| <= sum_b d[b] / 2 * sum_{i in b} |weight_i|, plus float rounding.

inline constexpr int64_t kQ8Block = 32;

// A quantized vector of n values (n a multiple of kQ8Block); it points into storage it does not
// own: n quants, n / kQ8Block scales and n / kQ8Block sums.
struct Q8Vector {
  const int8_t* q = nullptr;
  const float* d = nullptr;
  const float* sum = nullptr;
  int64_t n = 0;

  // Values [begin, begin + count) as a vector of their own; both must be multiples of kQ8Block.
  Q8Vector slice(int64_t begin, int64_t count) const;
};

// Quantizes n values of x (n a multiple of kQ8Block) into q [n], d [n / kQ8Block] and
// sum [n / kQ8Block].
void quantize_q8(const float* x, int64_t n, int8_t* q, float* d, float* sum);

// Storage for a quantized vector that grows when needed and is otherwise reused, so that a decode
// loop quantizing one activation vector per product allocates only on its first step.
class Q8Buffer {
 public:
  // Quantizes x [n] into this buffer and returns a view of it, valid until the next call.
  Q8Vector quantize(const float* x, int64_t n);

 private:
  std::vector<int8_t> q_;
  std::vector<float> d_;
  std::vector<float> sum_;
};

// Whether dot_row_q8 supports the type: Q4_0, Q4_1, Q8_0, Q4_K and Q6_K. The float types keep
// the float dot products.
bool has_q8_dot(DType type);

// sum_i row[i] * x[i] for a row of x.n elements of a type with has_q8_dot.
float dot_row_q8(DType type, const void* row, const Q8Vector& x);

// y[r] = dot_row_q8(type, rows + r * row_stride bytes, x) for r < n_rows.
void dot_rows_q8(DType type, const void* rows, size_t row_stride, int64_t n_rows, const Q8Vector& x,
                 float* y);

// Half-precision conversions (IEEE binary16 and bfloat16), exact for every finite value.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even

}  // namespace lim
