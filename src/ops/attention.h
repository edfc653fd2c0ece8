// Single-query attention over a list of cached rows, for the query heads that share one KV head.
#pragma once

#include <cstdint>

namespace lim {

// Computes softmax(q_h . k_j * scale) over the rows j, then the weighted sum of v_j, for each of
// the `group` query heads that read the same KV head (grouped-query attention), so that every K
// and V row is read once per group.
//
//   q       [group, head_dim]   queries after RoPE (and q norm where the model has one)
//   k, v    [*, head_dim]       this KV head's cache; row j starts at k + j * head_dim
//   rows    [n]                 positions to attend, or nullptr for positions 0..n-1
//   logits  [group, n]          receives the scaled logits, in the order of rows
//   probs   [group, n]          receives the softmax probabilities; may equal logits, in which
//                               case the logits are overwritten
//   out     [group, head_dim]   attention output
// n must be at least 1.
void attend_rows(const float* q, int64_t group, int64_t head_dim, const float* k, const float* v,
                 const int32_t* rows, int64_t n, float scale, float* logits, float* probs,
                 float* out);

// One part of a split attention ("flash decoding"): rows [begin, end) of the row list, so that
// several threads can share one head's rows. For each head h it writes
//   max[h] = max_j l_j,   sum[h] = sum_j exp(l_j - max[h]),   acc[h] = sum_j exp(l_j - max[h]) v_j
// with l_j = q_h . k_j * scale, and stores l_j at logits[h * ld + j] and exp(l_j - max[h]) at
// probs[h * ld + j] (probs may equal logits). combine_attention_parts merges the parts.
//   max, sum [group]; acc [group, head_dim]; logits, probs [group, ld] with ld >= end.
void attend_rows_part(const float* q, int64_t group, int64_t head_dim, const float* k, const float* v,
                      const int32_t* rows, int64_t begin, int64_t end, float scale, float* logits,
                      float* probs, int64_t ld, float* max, float* sum, float* acc);

// Merges n_parts results of attend_rows_part into the normalized output out [group, head_dim].
// Part p's values are at max[p * group + h], sum[p * group + h] and acc[(p * group + h) * head_dim].
void combine_attention_parts(int64_t n_parts, int64_t group, int64_t head_dim, const float* max,
                             const float* sum, const float* acc, float* out);

// Writes the scaled logits q_h . k_j * scale for rows 0..n-1 into logits [group, n] without
// computing the attention output (used to measure recall of a sparse selection).
void attention_logits(const float* q, int64_t group, int64_t head_dim, const float* k, int64_t n,
                      float scale, float* logits);

}  // namespace lim
