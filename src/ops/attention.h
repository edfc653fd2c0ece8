// Single-query attention over a list of cached rows, for the query heads that share one KV head.
//
// Cached K and V rows are stored as F32, F16 or BF16 (the KV cache element type). They are
// widened to float as they are read, and every sum is taken in float. The kernels are compiled
// for AVX-512, AVX2 and a portable fallback, and the best one the CPU supports is chosen at run
// time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/quant.h"

namespace lim {

// Whether type can hold KV cache rows (F32, F16 or BF16).
bool is_kv_type(DType type);

// Converts n floats to a row of the KV element type (round to nearest even), and back.
void store_kv_row(DType type, const float* x, void* row, int64_t n);
void load_kv_row(DType type, const void* row, float* x, int64_t n);

// Computes softmax(q_h . k_j * scale) over the rows j, then the weighted sum of v_j, for each of
// the `group` query heads that read the same KV head (grouped-query attention), so that every K
// and V row is read once per group.
//
//   q       [group, head_dim]   queries after RoPE (and q norm where the model has one)
//   k, v    [*, head_dim]       this KV head's cache rows of element type kv_type; row j starts
//                               at byte j * head_dim * element size
//   rows    [n]                 positions to attend, or nullptr for positions 0..n-1
//   logits  [group, n]          receives the scaled logits, in the order of rows
//   probs   [group, n]          receives the softmax probabilities; may equal logits, in which
//                               case the logits are overwritten
//   out     [group, head_dim]   attention output
// n must be at least 1.
void attend_rows(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                 const void* v, const int32_t* rows, int64_t n, float scale, float* logits,
                 float* probs, float* out);

// One part of a split attention ("flash decoding"): rows [begin, end) of the row list, so that
// several threads can share one head's rows. For each head h it writes
//   max[h] = max_j l_j,   sum[h] = sum_j exp(l_j - max[h]),   acc[h] = sum_j exp(l_j - max[h]) v_j
// with l_j = q_h . k_j * scale, and stores l_j at logits[h * ld + j] and exp(l_j - max[h]) at
// probs[h * ld + j] (probs may equal logits). combine_attention_parts merges the parts.
//   max, sum [group]; acc [group, head_dim]; logits, probs [group, ld] with ld >= end.
void attend_rows_part(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                      const void* v, const int32_t* rows, int64_t begin, int64_t end, float scale,
                      float* logits, float* probs, int64_t ld, float* max, float* sum, float* acc);

// Merges n_parts results of attend_rows_part into the normalized output out [group, head_dim].
// Part p's values are at max[p * group + h], sum[p * group + h] and acc[(p * group + h) * head_dim].
void combine_attention_parts(int64_t n_parts, int64_t group, int64_t head_dim, const float* max,
                             const float* sum, const float* acc, float* out);

// Writes the scaled logits q_h . k_j * scale for rows 0..n-1 into logits [group, n] without
// computing the attention output (selection by query, and recall measurement).
void attention_logits(const float* q, int64_t group, int64_t head_dim, DType kv_type, const void* k,
                      int64_t n, float scale, float* logits);

// Float32 rows: the same kernels with kv_type F32.
inline void attend_rows(const float* q, int64_t group, int64_t head_dim, const float* k, const float* v,
                        const int32_t* rows, int64_t n, float scale, float* logits, float* probs,
                        float* out) {
  attend_rows(q, group, head_dim, DType::F32, k, v, rows, n, scale, logits, probs, out);
}
inline void attend_rows_part(const float* q, int64_t group, int64_t head_dim, const float* k,
                             const float* v, const int32_t* rows, int64_t begin, int64_t end,
                             float scale, float* logits, float* probs, int64_t ld, float* max,
                             float* sum, float* acc) {
  attend_rows_part(q, group, head_dim, DType::F32, k, v, rows, begin, end, scale, logits, probs, ld,
                   max, sum, acc);
}
inline void attention_logits(const float* q, int64_t group, int64_t head_dim, const float* k,
                             int64_t n, float scale, float* logits) {
  attention_logits(q, group, head_dim, DType::F32, k, n, scale, logits);
}

}  // namespace lim
