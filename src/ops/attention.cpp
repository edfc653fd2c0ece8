#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>

#include "common.h"
#include "ops/kernels.h"
#include "ops/vector_inline.h"

namespace lim {


LIM_MULTIVERSION void attention_logits(const float* q, int64_t group, int64_t head_dim, const float* k, int64_t n,
                      float scale, float* logits) {
  for (int64_t j = 0; j < n; ++j) {
    const float* kj = k + j * head_dim;
    for (int64_t h = 0; h < group; ++h) logits[h * n + j] = dot_f32(q + h * head_dim, kj, head_dim) * scale;
  }
}

LIM_MULTIVERSION void attend_rows(const float* q, int64_t group, int64_t head_dim, const float* k, const float* v,
                 const int32_t* rows, int64_t n, float scale, float* logits, float* probs,
                 float* out) {
  // Logits: one pass over the K rows, each row dotted with every query head of the group.
  for (int64_t j = 0; j < n; ++j) {
    const int64_t row = rows ? rows[j] : j;
    const float* kj = k + row * head_dim;
    for (int64_t h = 0; h < group; ++h) logits[h * n + j] = dot_f32(q + h * head_dim, kj, head_dim) * scale;
  }

  if (probs != logits) std::memcpy(probs, logits, sizeof(float) * group * n);
  for (int64_t h = 0; h < group; ++h) softmax(probs + h * n, n);

  // Output: one pass over the V rows.
  std::fill(out, out + group * head_dim, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t row = rows ? rows[j] : j;
    const float* vj = v + row * head_dim;
    for (int64_t h = 0; h < group; ++h) axpy(probs[h * n + j], vj, out + h * head_dim, head_dim);
  }
}

LIM_MULTIVERSION void attend_rows_part(const float* q, int64_t group, int64_t head_dim, const float* k,
                                       const float* v, const int32_t* rows, int64_t begin, int64_t end,
                                       float scale, float* logits, float* probs, int64_t ld, float* max,
                                       float* sum, float* acc) {
  for (int64_t j = begin; j < end; ++j) {
    const int64_t row = rows ? rows[j] : j;
    const float* kj = k + row * head_dim;
    for (int64_t h = 0; h < group; ++h) logits[h * ld + j] = dot_f32(q + h * head_dim, kj, head_dim) * scale;
  }

  for (int64_t h = 0; h < group; ++h) {
    const float* l = logits + h * ld;
    float* p = probs + h * ld;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t j = begin; j < end; ++j) m = std::max(m, l[j]);
    double s = 0.0;
    for (int64_t j = begin; j < end; ++j) {
      p[j] = std::isfinite(m) ? std::exp(l[j] - m) : 0.0f;
      s += p[j];
    }
    max[h] = m;
    sum[h] = static_cast<float>(s);
  }

  std::fill(acc, acc + group * head_dim, 0.0f);
  for (int64_t j = begin; j < end; ++j) {
    const int64_t row = rows ? rows[j] : j;
    const float* vj = v + row * head_dim;
    for (int64_t h = 0; h < group; ++h) axpy(probs[h * ld + j], vj, acc + h * head_dim, head_dim);
  }
}

void combine_attention_parts(int64_t n_parts, int64_t group, int64_t head_dim, const float* max,
                             const float* sum, const float* acc, float* out) {
  for (int64_t h = 0; h < group; ++h) {
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < n_parts; ++p) m = std::max(m, max[p * group + h]);
    float* o = out + h * head_dim;
    std::fill(o, o + head_dim, 0.0f);
    if (!std::isfinite(m)) continue;  // no finite logit anywhere: no mass, zero output
    double total = 0.0;
    for (int64_t p = 0; p < n_parts; ++p) {
      const float part_max = max[p * group + h];
      if (!std::isfinite(part_max)) continue;
      const float weight = std::exp(part_max - m);
      total += static_cast<double>(weight) * sum[p * group + h];
      axpy(weight, acc + (p * group + h) * head_dim, o, head_dim);
    }
    const float inv = static_cast<float>(1.0 / total);
    for (int64_t d = 0; d < head_dim; ++d) o[d] *= inv;
  }
}

}  // namespace lim
